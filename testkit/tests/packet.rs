//! The packet builder: its presets give exactly the bytes the workspace's vectors were written
//! against, and every packet it builds parses, sums and validates as it says.

use inet_hdr::{IpVersion, Protocol, TcpFlags, classify};
use testkit::packet::TcpPacket;

/// IPv4 (ID 0x1c46, DF, TTL 64) 10.0.0.1 → 10.0.0.2, TCP SYN 40000 → 5201 with MSS 1460,
/// SACK-permitted, timestamps, NOP, window scale 7 (40-byte TCP header); checksums valid.
const IPV4_TCP_SYN: &[u8] = &[
    0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x0a, 0x74, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51, 0x1d, 0x2c, 0x3b, 0x4a, 0x00, 0x00, 0x00, 0x00,
    0xa0, 0x02, 0xfa, 0xf0, 0xc7, 0x58, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
    0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

/// IPv6 (flow label 0x12345, hop limit 64) fd00::1 → fd00::2 with the same TCP SYN.
const IPV6_TCP_SYN: &[u8] = &[
    0x60, 0x01, 0x23, 0x45, 0x00, 0x28, 0x06, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51, 0x1d, 0x2c, 0x3b, 0x4a,
    0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0xe1, 0x56, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    0x04, 0x02, 0x08, 0x0a, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

/// The first bytes of `TcpPacket::super_v4(10, 5).build_gso()`: ID 0x1000, DF, TTL 64, seq
/// 0x01020304, ack 0x0a0b0c0d, ACK, window 501, the pseudo-header sum in the TCP checksum
/// field, payload `i * 7 + 3`.
const SUPER_V4: &[u8] = &[
    0x45, 0x00, 0x00, 0x32, 0x10, 0x00, 0x40, 0x00, 0x40, 0x06, 0x16, 0xc4, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d,
    0x50, 0x10, 0x01, 0xf5, 0x14, 0x27, 0x00, 0x00, 3, 10, 17, 24, 31, 38, 45, 52, 59, 66,
];

#[test]
fn syn_presets_are_the_vectors() {
    assert_eq!(TcpPacket::syn_v4().build(), IPV4_TCP_SYN);
    assert_eq!(TcpPacket::syn_v6().build(), IPV6_TCP_SYN);
}

#[test]
fn super_packet_preset_is_the_vector() {
    let (hdr, p) = TcpPacket::super_v4(10, 5).build_gso();
    assert_eq!(p, SUPER_V4);
    // The checksum field is the pseudo-header sum over 30 bytes of L4.
    let pseudo = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, 30);
    assert_eq!(u16::from_be_bytes([p[36], p[37]]), pseudo.fold());
    assert_eq!(
        (
            hdr.csum_start(),
            hdr.csum_offset(),
            hdr.hdr_len(),
            hdr.gso_size()
        ),
        (20, 16, 40, 5)
    );
    assert_eq!(hdr.check_kernel(&p), Ok(()));
}

/// TCP checksum of `p` (whose L4 starts at `l4`) verifies.
fn tcp_sum_ok(p: &[u8], l4: usize, v6: bool) -> bool {
    let len = p.len() - l4;
    let pseudo = if v6 {
        let (s, d) = (p[8..24].try_into().unwrap(), p[24..40].try_into().unwrap());
        inet_csum::pseudo_header_v6(&s, &d, 6, len as u32)
    } else {
        let (s, d) = (p[12..16].try_into().unwrap(), p[16..20].try_into().unwrap());
        inet_csum::pseudo_header_v4(s, d, 6, len as u16)
    };
    pseudo.add(&p[l4..]).finish() == 0
}

#[test]
fn every_field_lands_where_it_belongs() {
    let p = TcpPacket::v4()
        .addrs4([192, 0, 2, 1], [198, 51, 100, 7])
        .ports(1, 2)
        .tos(0xb8)
        .ttl(9)
        .ip_id(0xbeef)
        .df(false)
        .ipv4_options(&[1, 1, 1, 1, 1, 1])
        .seq(0xffff_fffe)
        .ack(7)
        .flags(TcpFlags::ACK | TcpFlags::PSH)
        .tcp_reserved(0x1)
        .window(0x1234)
        .urgent(3)
        .timestamps(5, 6)
        .payload_len(4)
        .build();
    // Options padded with NOPs to 8 bytes: IHL 7; TCP header 32 bytes.
    assert_eq!(
        &p[..12],
        &[0x47, 0xb8, 0, 64, 0xbe, 0xef, 0, 0, 9, 6, p[10], p[11]]
    );
    assert_eq!(&p[12..20], &[192, 0, 2, 1, 198, 51, 100, 7]);
    assert_eq!(&p[20..28], &[1, 1, 1, 1, 1, 1, 1, 1]);
    assert_eq!(&p[28..36], &[0, 1, 0, 2, 0xff, 0xff, 0xff, 0xfe]);
    assert_eq!(&p[40..44], &[0x81, 0x18, 0x12, 0x34]);
    assert_eq!(&p[46..48], &[0, 3]);
    assert_eq!(&p[48..60], &[1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6]);
    // Payload bytes are the low bytes of their sequence numbers, across the wrap.
    assert_eq!(&p[60..], &[0xfe, 0xff, 0x00, 0x01]);
    assert!(inet_csum::verify(&p[..28]));
    assert!(tcp_sum_ok(&p, 28, false));
    let bad = TcpPacket::v4().payload_len(4).bad_checksum().build();
    assert!(!tcp_sum_ok(&bad, 20, false));
}

#[test]
fn ipv6_extension_headers_chain_in_order() {
    let p = TcpPacket::v6()
        .flow_label(0xabcde)
        .tos(0x21)
        .ext_header(0, &[1, 4, 0, 0, 0, 0])
        .ext_header(43, &[0; 14])
        .ipv6_dest_opts(16)
        .ipv6_fragment_header()
        .payload_len(100)
        .build();
    assert_eq!(&p[..4], &[0x62, 0x1a, 0xbc, 0xde]);
    // Hop-by-Hop (8) → Routing (16) → Destination Options (16) → Fragment (8) → TCP.
    assert_eq!(p[6], 0);
    assert_eq!(&p[40..42], &[43, 0]);
    assert_eq!(&p[48..50], &[60, 1]);
    assert_eq!(&p[64..68], &[44, 1, 1, 12]);
    assert_eq!(&p[80..88], &[6, 0, 0, 0, 0, 0, 0, 1]);
    let info = classify(&p).unwrap();
    assert_eq!(
        (info.version, info.l4_offset, info.protocol, info.fragment),
        (IpVersion::V6, 80, Protocol::FRAGMENT, true)
    );
    assert!(tcp_sum_ok(&p, 88, true));

    let (hdr, sp) = TcpPacket::super_v6(3000, 1000)
        .ipv6_dest_opts(8)
        .build_gso();
    assert_eq!((hdr.csum_start(), hdr.hdr_len()), (48, 68));
    assert_eq!(hdr.check_kernel(&sp), Ok(()));
}

#[test]
fn a_train_is_in_order() {
    let t = TcpPacket::v4().train(0xffff_ff00, 3, 200);
    for (i, p) in t.iter().enumerate() {
        let seq = 0xffff_ff00u32.wrapping_add(200 * i as u32);
        assert_eq!(p[24..28], seq.to_be_bytes());
        assert_eq!(p[4..6], (0xff00 + i as u16).to_be_bytes());
        assert_eq!(p[40], seq as u8);
        assert!(tcp_sum_ok(p, 20, false));
    }
}
