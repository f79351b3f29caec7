//! One test per kernel rule (rule book §3.3 / §3.4): the exact error each malformed header gets.

use inet_hdr::IpVersion;
use proptest::prelude::*;
use testkit::packet::TcpPacket;
use virtio_net_hdr::{Error, Flags, GsoKind, GsoType, Offload, ParseError, VirtioNetHdr};

/// An IPv4 TCP super-packet as a TUN hands it out: `segments × mss` payload bytes, byte `i`
/// being `i as u8`.
fn ipv4_tcp_super_packet(segments: usize, mss: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..segments * mss).map(|i| i as u8).collect();
    TcpPacket::super_v4(0, mss as u16)
        .payload(&payload)
        .build_gso()
        .1
}

fn v4_gso() -> (VirtioNetHdr, Vec<u8>) {
    (
        VirtioNetHdr::tcp_gso(IpVersion::V4, 20, 20, 100, false),
        ipv4_tcp_super_packet(3, 100),
    )
}

/// The same TCP segment over IPv6 (40-byte header, 20-byte TCP, `payload` bytes).
fn v6_packet(payload: usize, ext: usize) -> Vec<u8> {
    let mut p = vec![0u8; 40 + ext + 20 + payload];
    p[0] = 0x60;
    let plen = (ext + 20 + payload) as u16;
    p[4..6].copy_from_slice(&plen.to_be_bytes());
    p[6] = if ext > 0 { 60 } else { 6 };
    p[7] = 64;
    if ext > 0 {
        p[40] = 6;
        p[41] = (ext / 8 - 1) as u8;
    }
    p[40 + ext + 12] = 0x50;
    p
}

#[test]
fn header_round_trips_through_bytes() {
    let h = VirtioNetHdr::tcp_gso(IpVersion::V4, 20, 32, 1448, true);
    let b = h.to_bytes();
    // Host-native order (little-endian on the machines we run on).
    assert_eq!(b, [0x01, 0x81, 52, 0, 0xa8, 0x05, 20, 0, 16, 0]);
    let (back, rest) = VirtioNetHdr::ref_from_packet(&b).unwrap();
    assert_eq!(*back, h);
    assert!(rest.is_empty());
    assert_eq!(
        VirtioNetHdr::ref_from_packet(&b[..9]),
        Err(Error::Truncated)
    );
}

#[test]
fn valid_gso_decodes_with_derived_header_length() {
    let (h, p) = v4_gso();
    let mut hint = h;
    hint.set_hdr_len(9999); // the kernel's hdr_len is only a hint on reads
    match hint.decode(&p).unwrap() {
        Offload::Gso(g) => {
            assert_eq!(g.kind, GsoKind::TcpV4);
            assert_eq!(
                (g.l4_offset, g.l4_header_len, g.header_len, g.gso_size),
                (20, 20, 40, 100)
            );
            assert!(!g.ecn);
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(h.check_kernel(&p), Ok(()));
    assert_eq!(h.check_emit(&p), Ok(()));
}

#[test]
fn tcp_options_extend_the_derived_header() {
    let mut p = ipv4_tcp_super_packet(2, 50);
    p[32] = 0x80; // data offset 8: 32-byte TCP header
    let h = VirtioNetHdr::tcp_gso(IpVersion::V4, 20, 20, 50, false);
    let g = h.gso(&p).unwrap().unwrap();
    assert_eq!((g.l4_header_len, g.header_len), (32, 52));
}

#[test]
fn zero_gso_size() {
    let (mut h, p) = v4_gso();
    h.set_gso_size(0);
    assert_eq!(h.decode(&p), Err(Error::ZeroGsoSize));
    assert_eq!(h.check_kernel(&p), Err(Error::ZeroGsoSize));
}

#[test]
fn gso_by_frags() {
    // Rule book §5.4.4: virtio_net_hdr_to_skb refuses it on a write; no read carries it, and
    // a reader refuses it as the kernel's own parser would. All three agree, for every GSO
    // type and whatever else the header says.
    let (mut h, p) = v4_gso();
    h.set_gso_size(0xffff);
    assert_eq!(h.check_kernel(&p), Err(Error::GsoByFrags));
    assert_eq!(h.decode(&p), Err(Error::GsoByFrags));
    assert_eq!(h.check_emit(&p), Err(Error::GsoByFrags));
    let mut udp = h;
    udp.set_gso_type(GsoType::UDP_L4);
    udp.set_csum_offset(6);
    assert_eq!(udp.check_kernel(&p), Err(Error::GsoByFrags));
    assert_eq!(udp.decode(&p), Err(Error::GsoByFrags));
    // One below is an ordinary (if large) gso_size: one segment's worth here.
    h.set_gso_size(0xfffe);
    assert!(matches!(h.decode(&p), Ok(Offload::Gso(g)) if g.gso_size == 0xfffe));
    assert_eq!(h.check_kernel(&p), Ok(()));
}

#[test]
fn check_emit_names_the_ip_rule() {
    // The kernel takes these headers (check_kernel), its IP input then drops the packets;
    // check_emit says why, by the IP rule that failed.
    let (h, mut p) = v4_gso();
    p[0] = 0x41; // IHL 1
    assert_eq!(h.check_kernel(&p), Ok(()));
    assert_eq!(h.check_emit(&p), Err(Error::Ip(ParseError::BadIhl(1))));
    let (h, mut p) = v4_gso();
    p[3] = p[3].wrapping_add(1); // total length one more than the buffer
    assert_eq!(
        h.check_emit(&p),
        Err(Error::Ip(ParseError::LengthMismatch {
            header: p.len() + 1,
            actual: p.len()
        }))
    );
    // The same for a non-GSO NEEDS_CSUM header.
    let csum = VirtioNetHdr::needs_csum(20, 16);
    assert_eq!(csum.check_kernel(&p), Ok(()));
    assert!(matches!(
        csum.check_emit(&p),
        Err(Error::Ip(ParseError::LengthMismatch { .. }))
    ));
    // An IPv6 extension header cut short.
    let mut p6 = v6_packet(0, 8);
    p6[41] = 3; // 32 bytes claimed, 28 there
    let h6 = VirtioNetHdr::needs_csum(48, 16);
    assert_eq!(h6.check_kernel(&p6), Ok(()));
    assert_eq!(h6.check_emit(&p6), Err(Error::Ip(ParseError::Truncated)));
    assert_eq!(
        core::error::Error::source(&Error::Ip(ParseError::Truncated)).map(|e| e.to_string()),
        Some(ParseError::Truncated.to_string())
    );
}

#[test]
fn unknown_and_unsupported_types() {
    let (mut h, p) = v4_gso();
    for t in [2u8, 6, 0x7f, 0x20 | 1, 0x40 | 1, 0x10 | 1] {
        h.set_gso_type(GsoType(t));
        assert_eq!(
            h.check_kernel(&p),
            Err(Error::UnknownGsoType(t)),
            "type {t:#x}"
        );
        assert_eq!(h.decode(&p), Err(Error::UnknownGsoType(t)), "type {t:#x}");
    }
    // ECN alone (no base type) is not a GSO type.
    h.set_gso_type(GsoType::ECN);
    assert_eq!(h.check_kernel(&p), Err(Error::UnknownGsoType(0x80)));
    // UFO is valid for the kernel on write but never handed out on read (§3.4).
    h.set_gso_type(GsoType::UDP);
    assert_eq!(h.decode(&p), Err(Error::UnsupportedGsoType(3)));
}

#[test]
fn hdr_len_longer_than_packet() {
    let (mut h, p) = v4_gso();
    h.set_hdr_len(p.len() as u16 + 1);
    assert_eq!(
        h.check_kernel(&p),
        Err(Error::HdrLenTooLong {
            hdr_len: p.len() + 1,
            packet_len: p.len()
        })
    );
    // NEEDS_CSUM raises hdr_len to csum_start + csum_offset + 2 (tun_vnet_hdr_get).
    let q = &p[..30];
    let h = VirtioNetHdr::needs_csum(20, 16);
    assert_eq!(
        h.check_kernel(q),
        Err(Error::HdrLenTooLong {
            hdr_len: 38,
            packet_len: 30
        })
    );
    // hdr_len 0 is allowed.
    let (mut h, p) = v4_gso();
    h.set_hdr_len(0);
    assert_eq!(h.check_kernel(&p), Ok(()));
}

#[test]
fn csum_out_of_bounds() {
    let p = ipv4_tcp_super_packet(1, 0); // 40 bytes: IP + TCP, no payload
    let mut h = VirtioNetHdr::needs_csum(30, 16);
    h.set_hdr_len(0);
    // 30 + 16 + 2 = 48 > 40: tun_get_user's hdr_len check fires first.
    assert!(matches!(
        h.check_kernel(&p),
        Err(Error::HdrLenTooLong { .. })
    ));
    assert!(matches!(h.decode(&p), Err(Error::CsumOutOfBounds { .. })));
    // A GSO header whose TCP header (thlen 20) would run past the end.
    // csum_start 22: 22 + 16 + 2 = 40 fits, but 22 + thlen 20 = 42 does not.
    let mut h = VirtioNetHdr::tcp_gso(IpVersion::V4, 22, 0, 10, false);
    h.set_hdr_len(0);
    assert_eq!(
        h.check_kernel(&p),
        Err(Error::CsumOutOfBounds {
            csum_start: 22,
            csum_offset: 16,
            packet_len: 40
        })
    );
}

#[test]
fn csum_start_below_network_header() {
    let (_, p) = v4_gso();
    let h = VirtioNetHdr::needs_csum(19, 16);
    assert_eq!(
        h.check_kernel(&p),
        Err(Error::CsumStartTooSmall {
            csum_start: 19,
            min: 20
        })
    );
    assert_eq!(
        h.decode(&p),
        Err(Error::CsumStartTooSmall {
            csum_start: 19,
            min: 20
        })
    );
    // TCPV6 needs 40.
    let p6 = v6_packet(300, 0);
    let h = VirtioNetHdr::tcp_gso(IpVersion::V6, 39, 20, 100, false);
    assert_eq!(
        h.check_kernel(&p6),
        Err(Error::CsumStartTooSmall {
            csum_start: 39,
            min: 40
        })
    );
}

#[test]
fn bad_csum_offset() {
    let (mut h, p) = v4_gso();
    h.set_csum_offset(6);
    assert_eq!(
        h.check_kernel(&p),
        Err(Error::BadCsumOffset {
            expected: 16,
            found: 6
        })
    );
    assert_eq!(
        h.decode(&p),
        Err(Error::BadCsumOffset {
            expected: 16,
            found: 6
        })
    );
}

#[test]
fn udp_l4_rules() {
    // A UDP datagram: IPv4 + 8-byte UDP + 400 bytes.
    let mut p = ipv4_tcp_super_packet(1, 412);
    p[9] = 17;
    let mut h = VirtioNetHdr::needs_csum(20, 6);
    h.set_gso_type(GsoType::UDP_L4);
    h.set_gso_size(100);
    assert_eq!(h.check_kernel(&p), Ok(()));
    let mut e = h;
    e.set_gso_type(GsoType(GsoType::UDP_L4.0 | GsoType::ECN.0));
    assert_eq!(e.check_kernel(&p), Err(Error::EcnNotAllowed));
    let mut n = h;
    n.set_flags(Flags::EMPTY);
    assert_eq!(n.check_kernel(&p), Err(Error::GsoWithoutNeedsCsum));
    let mut o = h;
    o.set_csum_offset(16);
    assert_eq!(
        o.check_kernel(&p),
        Err(Error::BadCsumOffset {
            expected: 6,
            found: 16
        })
    );
    let mut t = h;
    t.set_gso_size(3); // 404 bytes after the UDP header > 3 × 128
    assert_eq!(t.check_kernel(&p), Err(Error::TooManySegments));
}

#[test]
fn ip_version_rules() {
    let (h, mut p) = v4_gso();
    p[0] = 0x55;
    assert_eq!(h.check_kernel(&p), Err(Error::BadIpVersion(5)));
    // TCPV4 header over an IPv6 packet.
    let p6 = v6_packet(300, 0);
    let h = VirtioNetHdr::tcp_gso(IpVersion::V4, 40, 20, 100, false);
    assert_eq!(h.decode(&p6), Err(Error::VersionMismatch));
    let h6 = VirtioNetHdr::tcp_gso(IpVersion::V6, 40, 20, 100, false);
    assert!(matches!(h6.decode(&p6), Ok(Offload::Gso(_))));
    assert_eq!(h6.check_emit(&p6), Ok(()));
}

#[test]
fn ipv6_extension_header_is_part_of_the_headers() {
    let p6 = v6_packet(300, 8);
    let h6 = VirtioNetHdr::tcp_gso(IpVersion::V6, 48, 20, 100, false);
    let g = h6.gso(&p6).unwrap().unwrap();
    assert_eq!((g.l4_offset, g.header_len), (48, 68));
    assert_eq!(h6.check_emit(&p6), Ok(()));
    // csum_start pointing at the extension header instead of TCP.
    let wrong = VirtioNetHdr::tcp_gso(IpVersion::V6, 40, 20, 100, false);
    assert_eq!(
        wrong.check_emit(&p6),
        Err(Error::CsumStartNotL4 {
            csum_start: 40,
            l4_offset: 48
        })
    );
}

#[test]
fn bad_tcp_data_offset() {
    let (h, mut p) = v4_gso();
    p[32] = 0x40; // data offset 4
    assert_eq!(h.decode(&p), Err(Error::BadTcpDataOffset(4)));
    let mut short = ipv4_tcp_super_packet(1, 10);
    short[32] = 0xf0; // 60-byte header in a 30-byte L4 segment
    let h = VirtioNetHdr::tcp_gso(IpVersion::V4, 20, 20, 5, false);
    assert_eq!(h.decode(&short), Err(Error::BadTcpDataOffset(15)));
}

#[test]
fn gso_without_needs_csum() {
    let (mut h, p) = v4_gso();
    h.set_flags(Flags::EMPTY);
    // The kernel takes it (and later fails to segment); we never read or write one.
    assert_eq!(h.check_kernel(&p), Ok(()));
    assert_eq!(h.decode(&p), Err(Error::GsoWithoutNeedsCsum));
    assert_eq!(h.check_emit(&p), Err(Error::GsoWithoutNeedsCsum));
}

#[test]
fn payload_not_above_gso_size() {
    // Kernel rule §3.3-5/6: with TCP options, payload ≤ gso_size < payload + options passes
    // virtio_net_hdr_to_skb but is dropped at segmentation.
    let mut p = ipv4_tcp_super_packet(1, 112);
    p[32] = 0x80; // 32-byte TCP header: payload 100
    let h = VirtioNetHdr::tcp_gso(IpVersion::V4, 20, 32, 100, false);
    assert_eq!(h.check_kernel(&p), Ok(()));
    assert_eq!(
        h.check_emit(&p),
        Err(Error::PayloadNotAboveGsoSize {
            payload: 100,
            gso_size: 100
        })
    );
}

#[test]
fn plain_and_data_valid() {
    let p = ipv4_tcp_super_packet(1, 10);
    assert_eq!(VirtioNetHdr::plain().decode(&p), Ok(Offload::None));
    let mut h = VirtioNetHdr::plain();
    h.set_flags(Flags::DATA_VALID);
    assert_eq!(h.decode(&p), Ok(Offload::DataValid));
    assert_eq!(VirtioNetHdr::plain().check_emit(&p), Ok(()));
}

#[test]
fn little_endian_layout() {
    let le: virtio_net_hdr::VirtioNetHdrLe = VirtioNetHdr::needs_csum(0x0102, 16).convert();
    assert_eq!(&le.to_bytes()[6..8], &[0x02, 0x01]);
    let v1 = virtio_net_hdr::VirtioNetHdrV1 {
        hdr: VirtioNetHdr::plain(),
        num_buffers: 1.into(),
    };
    assert_eq!(zerocopy::IntoBytes::as_bytes(&v1).len(), 12);
}

proptest! {
    #[test]
    fn hostile_headers_never_panic(hdr in proptest::array::uniform10(any::<u8>()),
                                   pkt in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (h, _) = VirtioNetHdr::ref_from_packet(&hdr).unwrap();
        let _ = h.check_kernel(&pkt);
        if h.check_emit(&pkt).is_ok() {
            prop_assert!(h.check_kernel(&pkt).is_ok());
        }
        if let Ok(Offload::Gso(g)) = h.decode(&pkt) {
            prop_assert!(g.header_len <= pkt.len());
            prop_assert!(g.gso_size > 0);
            prop_assert!(g.l4_offset + g.l4_header_len == g.header_len);
        }
        if let Ok(Offload::Partial { csum_start, csum_offset }) = h.decode(&pkt) {
            prop_assert!(csum_start + csum_offset + 2 <= pkt.len());
        }
    }

    #[test]
    fn builder_headers_pass_emit(segments in 2usize..20, mss in 1usize..1400, opt_words in 0usize..=10) {
        let mut p = ipv4_tcp_super_packet(segments, mss);
        // Turn the first payload bytes into TCP options by raising the data offset.
        p[32] = ((5 + opt_words) << 4) as u8;
        prop_assume!(segments * mss > opt_words * 4 + mss);
        let h = VirtioNetHdr::tcp_gso(IpVersion::V4, 20, (20 + opt_words * 4) as u16, mss as u16, false);
        prop_assert_eq!(h.check_emit(&p), Ok(()));
    }
}
