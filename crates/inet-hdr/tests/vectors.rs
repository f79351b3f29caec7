//! Byte-vector tests: every accessor read from, and every setter written to, exact bytes.

use inet_hdr::*;

/// IPv4 (ID 0x1c46, DF, TTL 64) 10.0.0.1 → 10.0.0.2, TCP SYN 40000 → 5201 with MSS 1460, SACK-permitted, timestamps, NOP, window scale 7 (40-byte TCP header).
const IPV4_TCP_SYN: &[u8] = &[
    0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x0a, 0x74, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51, 0x1d, 0x2c, 0x3b, 0x4a, 0x00, 0x00, 0x00, 0x00,
    0xa0, 0x02, 0xfa, 0xf0, 0xc7, 0x58, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
    0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

/// IPv6 (flow label 0x12345, hop limit 64) fd00::1 → fd00::2 with the same TCP SYN as [`IPV4_TCP_SYN`].
const IPV6_TCP_SYN: &[u8] = &[
    0x60, 0x01, 0x23, 0x45, 0x00, 0x28, 0x06, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51, 0x1d, 0x2c, 0x3b, 0x4a,
    0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0xe1, 0x56, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    0x04, 0x02, 0x08, 0x0a, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

#[test]
fn ipv4_fields_from_bytes() {
    let (ip, rest) = Ipv4Header::ref_from_packet(IPV4_TCP_SYN).unwrap();
    assert_eq!(rest.len(), 40);
    assert_eq!(ip.version(), 4);
    assert_eq!(ip.ihl(), 5);
    assert_eq!(ip.tos, 0);
    assert_eq!(ip.dscp(), 0);
    assert_eq!(ip.ecn(), Ecn::NotEct);
    assert_eq!(ip.total_len(), 60);
    assert_eq!(ip.id(), 0x1c46);
    assert!(ip.dont_fragment());
    assert!(!ip.more_fragments());
    assert!(!ip.reserved_flag());
    assert_eq!(ip.fragment_offset(), 0);
    assert!(!ip.is_fragment());
    assert_eq!(ip.ttl(), 64);
    assert_eq!(ip.protocol(), Protocol::TCP);
    assert_eq!(ip.src, [10, 0, 0, 1]);
    assert_eq!(ip.dst, [10, 0, 0, 2]);
    assert!(ip.verify_checksum(IPV4_TCP_SYN));
    assert_eq!(
        Ipv4Header::compute_checksum(IPV4_TCP_SYN),
        Some(ip.checksum())
    );
}

#[test]
fn ipv4_offsets_are_the_wire_offsets() {
    assert_eq!(field::ipv4::TOTAL_LEN.start, 2);
    assert_eq!(field::ipv4::ID.start, 4);
    assert_eq!(field::ipv4::CHECKSUM.start, 10);
    assert_eq!(field::ipv6::PAYLOAD_LEN.start, 4);
    assert_eq!(field::tcp::SEQ.start, 4);
    assert_eq!(field::tcp::FLAG_WORD.start, 12);
    assert_eq!(field::tcp::CHECKSUM.start, 16);
    assert_eq!(field::udp::CHECKSUM.start, 6);
}

/// Every named field is where RFC 791 / 8200 / 9293 / 768 put it.
#[test]
fn fields_are_the_wire_offsets() {
    use inet_hdr::field::{CHECKSUM_LEN, ipv4, ipv6, tcp, udp};
    assert_eq!(CHECKSUM_LEN, 2);
    assert_eq!(
        (ipv4::VERSION_IHL, ipv4::TOS, ipv4::TTL, ipv4::PROTOCOL),
        (0, 1, 8, 9)
    );
    assert_eq!(
        [
            ipv4::TOTAL_LEN,
            ipv4::ID,
            ipv4::FLAGS_FRAG_OFF,
            ipv4::CHECKSUM
        ],
        [2..4, 4..6, 6..8, 10..12]
    );
    assert_eq!(
        [ipv4::SRC, ipv4::DST, ipv4::ADDRS],
        [12..16, 16..20, 12..20]
    );
    assert_eq!(ipv4::FRAG_TTL_PROTOCOL, 6..10);
    assert_eq!(Ipv4Header::VERSION_IHL_NO_OPTIONS, 0x45);
    assert_eq!((ipv6::NEXT_HEADER, ipv6::HOP_LIMIT), (6, 7));
    assert_eq!(
        [
            ipv6::VERSION_TC_FLOW,
            ipv6::PAYLOAD_LEN,
            ipv6::NEXT_HEADER_HOP_LIMIT
        ],
        [0..4, 4..6, 6..8]
    );
    assert_eq!([ipv6::SRC, ipv6::DST, ipv6::ADDRS], [8..24, 24..40, 8..40]);
    assert_eq!(
        (
            Ipv6Header::TRAFFIC_CLASS_MASK,
            Ipv6Header::FLOW_LABEL_MASK,
            Ipv6Header::VERSION_FLOW_MASK
        ),
        (0x0ff0_0000, 0x000f_ffff, 0xf00f_ffff)
    );
    assert_eq!((tcp::DATA_OFFSET, tcp::FLAGS), (12, 13));
    assert_eq!(
        [tcp::SRC_PORT, tcp::DST_PORT, tcp::PORTS, tcp::SEQ, tcp::ACK],
        [0..2, 2..4, 0..4, 4..8, 8..12]
    );
    assert_eq!(
        [tcp::WINDOW, tcp::CHECKSUM, tcp::URGENT_PTR, tcp::FLAG_WORD],
        [14..16, 16..18, 18..20, 12..16]
    );
    assert_eq!(
        [udp::SRC_PORT, udp::DST_PORT, udp::LENGTH, udp::CHECKSUM],
        [0..2, 2..4, 4..6, 6..8]
    );
    // The kernel's TCP_FLAG_* values (include/net/tcp.h, big-endian flag word).
    assert_eq!(TcpFlags::FIN.flag_word_bits(), 0x0001_0000);
    assert_eq!(TcpFlags::PSH.flag_word_bits(), 0x0008_0000);
    assert_eq!(TcpFlags::CWR.flag_word_bits(), 0x0080_0000);
}

/// The named fields read the same bytes as the header views.
#[test]
fn fields_read_what_the_views_read() {
    use inet_hdr::field::{ipv4, ipv6, tcp};
    let p = IPV4_TCP_SYN;
    let (ip, _) = Ipv4Header::ref_from_packet(p).unwrap();
    assert_eq!(p[ipv4::SRC], ip.src);
    assert_eq!(p[ipv4::DST], ip.dst);
    assert_eq!(p[ipv4::VERSION_IHL], Ipv4Header::VERSION_IHL_NO_OPTIONS);
    assert_eq!(p[ipv4::TTL], ip.ttl());
    let (t, _) = TcpHeader::ref_from_packet(&p[20..]).unwrap();
    let w = &p[20..][tcp::FLAG_WORD];
    assert_eq!(u32::from_be_bytes([w[0], w[1], w[2], w[3]]), t.flag_word());
    assert_eq!(p[20..][tcp::FLAGS], t.flags().bits());
    let p = IPV6_TCP_SYN;
    let (ip, _) = Ipv6Header::ref_from_packet(p).unwrap();
    assert_eq!(p[ipv6::SRC], ip.src);
    assert_eq!(p[ipv6::DST], ip.dst);
    assert_eq!(p[ipv6::NEXT_HEADER], Protocol::TCP.0);
    assert_eq!(p[ipv6::HOP_LIMIT], ip.hop_limit());
    let w = &p[ipv6::VERSION_TC_FLOW];
    let w = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
    assert_eq!(w & Ipv6Header::FLOW_LABEL_MASK, ip.flow_label());
}

#[test]
fn ipv4_setters_write_exact_bytes() {
    let mut p = IPV4_TCP_SYN.to_vec();
    let (ip, _) = Ipv4Header::mut_from_packet(&mut p).unwrap();
    ip.set_total_len(0x05dc);
    ip.set_id(0xfffe);
    ip.fill_checksum();
    assert_eq!(&p[2..6], &[0x05, 0xdc, 0xff, 0xfe]);
    assert!(inet_csum::verify(&p[..20]));
}

#[test]
fn ipv4_flag_bits() {
    let mut p = IPV4_TCP_SYN.to_vec();
    p[6] = 0x20; // MF is 0x20 in byte 6
    let (ip, _) = Ipv4Header::ref_from_packet(&p).unwrap();
    assert!(ip.more_fragments() && !ip.dont_fragment() && ip.is_fragment());
    p[6] = 0x80;
    let (ip, _) = Ipv4Header::ref_from_packet(&p).unwrap();
    assert!(ip.reserved_flag() && !ip.is_fragment());
    p[6] = 0x1f;
    p[7] = 0xff;
    let (ip, _) = Ipv4Header::ref_from_packet(&p).unwrap();
    assert_eq!(ip.fragment_offset(), 0x1fff);
    p[1] = 0xbb; // DSCP 46 (EF), ECN CE
    let (ip, _) = Ipv4Header::ref_from_packet(&p).unwrap();
    assert_eq!((ip.dscp(), ip.ecn()), (46, Ecn::Ce));
}

#[test]
fn ipv6_fields_from_bytes() {
    let (ip, rest) = Ipv6Header::ref_from_packet(IPV6_TCP_SYN).unwrap();
    assert_eq!(rest.len(), 40);
    assert_eq!(ip.version(), 6);
    assert_eq!(ip.traffic_class(), 0);
    assert_eq!(ip.flow_label(), 0x12345);
    assert_eq!(ip.payload_len(), 40);
    assert_eq!(ip.next_header(), Protocol::TCP);
    assert_eq!(ip.hop_limit(), 64);
    assert_eq!(ip.src[15], 1);
    assert_eq!(ip.dst[15], 2);
    let mut p = IPV6_TCP_SYN.to_vec();
    p[0] = 0x6b; // traffic class 0xb…
    p[1] = 0x91; // …0x9 in the high nibble of byte 1 → TC 0xb9, ECN Ect1
    let (ip, _) = Ipv6Header::ref_from_packet(&p).unwrap();
    assert_eq!(
        (ip.traffic_class(), ip.ecn(), ip.flow_label()),
        (0xb9, Ecn::Ect1, 0x12345)
    );
    let (ip, _) = Ipv6Header::mut_from_packet(&mut p).unwrap();
    ip.set_payload_len(0x1234);
    assert_eq!(&p[4..6], &[0x12, 0x34]);
}

#[test]
fn tcp_fields_from_bytes() {
    let (tcp, opts) = TcpHeader::ref_from_packet(&IPV4_TCP_SYN[20..]).unwrap();
    assert_eq!(tcp.src_port(), 40000);
    assert_eq!(tcp.dst_port(), 5201);
    assert_eq!(tcp.seq(), 0x1d2c_3b4a);
    assert_eq!(tcp.ack(), 0);
    assert_eq!(tcp.data_offset(), 10);
    assert_eq!(tcp.header_len(), 40);
    assert_eq!(tcp.reserved(), 0);
    assert_eq!(tcp.flags(), TcpFlags::SYN);
    assert_eq!(tcp.window(), 64240);
    assert_eq!(tcp.urgent_ptr(), 0);
    assert_eq!(tcp.flag_word(), 0xa002_faf0);
    assert_eq!(&opts[..4], &[2, 4, 0x05, 0xb4]); // MSS 1460
    // The TCP checksum verifies over the pseudo-header.
    let sum =
        inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, 40).add(&IPV4_TCP_SYN[20..]);
    assert_eq!(sum.fold(), 0xffff);
    let sum6 = inet_csum::pseudo_header_v6(
        &IPV6_TCP_SYN[8..24].try_into().unwrap(),
        &IPV6_TCP_SYN[24..40].try_into().unwrap(),
        6,
        40,
    )
    .add(&IPV6_TCP_SYN[40..]);
    assert_eq!(sum6.fold(), 0xffff);
}

#[test]
fn tcp_setters_and_flags() {
    let mut p = IPV4_TCP_SYN[20..].to_vec();
    let (tcp, _) = TcpHeader::mut_from_packet(&mut p).unwrap();
    tcp.set_seq(0xffff_ffff);
    tcp.set_flags(TcpFlags::ACK | TcpFlags::PSH | TcpFlags::CWR | TcpFlags::ECE);
    tcp.set_checksum(0xbeef);
    assert_eq!(&p[4..8], &[0xff; 4]);
    assert_eq!(p[13], 0xd8);
    assert_eq!(&p[16..18], &[0xbe, 0xef]);
    let f = TcpFlags(p[13]);
    assert!(f.contains(TcpFlags::CWR) && f.intersects(TcpFlags::PSH | TcpFlags::FIN));
    assert_eq!(f.without(TcpFlags::PSH | TcpFlags::FIN), TcpFlags(0xd0));
}

#[test]
fn udp_fields() {
    let mut d = [
        0x9c, 0x40, 0x00, 0x35, 0x00, 0x10, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8,
    ];
    let (u, rest) = UdpHeader::ref_from_packet(&d).unwrap();
    assert_eq!(
        (u.src_port(), u.dst_port(), u.len(), u.checksum()),
        (40000, 53, 16, 0x1234)
    );
    assert_eq!(rest.len(), 8);
    let (u, _) = UdpHeader::mut_from_packet(&mut d).unwrap();
    u.set_len(9);
    u.set_checksum(0xffff);
    assert_eq!(&d[4..8], &[0, 9, 0xff, 0xff]);
    assert_eq!(
        UdpHeader::ref_from_packet(&d[..7]).unwrap_err(),
        ParseError::Truncated
    );
}

#[test]
fn truncated_views() {
    assert_eq!(
        Ipv4Header::ref_from_packet(&IPV4_TCP_SYN[..19]).unwrap_err(),
        ParseError::Truncated
    );
    assert_eq!(
        Ipv6Header::ref_from_packet(&IPV6_TCP_SYN[..39]).unwrap_err(),
        ParseError::Truncated
    );
    assert_eq!(
        TcpHeader::ref_from_packet(&[0u8; 19]).unwrap_err(),
        ParseError::Truncated
    );
    assert_eq!(Ipv4Header::compute_checksum(&IPV4_TCP_SYN[..19]), None);
    let mut p = IPV4_TCP_SYN.to_vec();
    p[0] = 0x46; // IHL 6 claims options
    assert_eq!(Ipv4Header::compute_checksum(&p[..23]), None);
    let (ip, _) = Ipv4Header::ref_from_packet(&p).unwrap();
    assert!(ip.has_options());
    assert!(!ip.verify_checksum(&p[..23]));
}
