//! Known-answer vectors: RFC 1071 §3, and IPv4/TCP/UDP/IPv6 packets as the Linux kernel
//! wrote them to a TUN device (full software checksums, captured from a `connect()`/`sendto()`
//! inside a private network namespace).

mod common;
use common::{reference, supported};
use inet_csum::{
    Accumulator, checksum, header_checksum, pseudo_header_v4, pseudo_header_v6, verify,
};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// TCP SYN 10.77.0.1:34366 → 10.77.0.2:8080 with MSS/SACK/timestamp/wscale options.
const TCP4: &str = "4500003cae3f4000400677e00a4d00010a4d0002863e1f908a41a3d400000000\
                    a002faf0821b0000020405b40402080ab1fb3074000000000103030a";
/// UDP 10.77.0.1:43259 → 10.77.0.2:5353, payload "hello, checksum!!" (odd length).
const UDP4: &str = "4500002d5d7840004011c8ab0a4d00010a4d0002a8fb14e90019fb7168656c6c\
                    6f2c20636865636b73756d2121";
/// TCP SYN fd00:77::1 → fd00:77::2 port 8080.
const TCP6: &str = "6002ac3a00280640fd000077000000000000000000000001fd0000770000000000\
                    00000000000002c5d61f90b0b61f7a00000000a002fd20ea820000020405a004\
                    02080aa63809ab000000000103030a";

#[test]
fn rfc1071_section3_example() {
    let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(reference(&d), 0xddf2);
    for imp in supported() {
        assert_eq!(imp.sum(&d), Some(0xddf2), "{imp:?}");
    }
    assert_eq!(checksum(&d), 0x220d);
}

/// Zero the 16-bit field at `at` and return its old value.
fn take_field(p: &mut [u8], at: usize) -> u16 {
    let v = u16::from_be_bytes([p[at], p[at + 1]]);
    p[at..at + 2].fill(0);
    v
}

#[test]
fn kernel_ipv4_tcp() {
    let mut p = hex(TCP4);
    assert!(verify(&p[..20]));
    let ip_check = take_field(&mut p, 10);
    assert_eq!(ip_check, 0x77e0);
    assert_eq!(header_checksum(&p[..20]), ip_check);
    let l4 = &p[20..];
    let ph = pseudo_header_v4([10, 77, 0, 1], [10, 77, 0, 2], 6, l4.len() as u16);
    assert!(
        ph.add(l4).fold() == 0xffff,
        "TCP segment with its checksum verifies"
    );
    let mut seg = l4.to_vec();
    let tcp_check = take_field(&mut seg, 16);
    assert_eq!(tcp_check, 0x821b);
    assert_eq!(ph.add(&seg).finish(), tcp_check);
    // The 40-byte TCP header through the short path.
    assert_eq!(seg.len(), 40);
    assert_eq!(
        !Accumulator::from_sum(ph.fold()).add(&seg).fold(),
        tcp_check
    );
}

#[test]
fn kernel_ipv4_udp_odd_length() {
    let mut p = hex(UDP4);
    assert_eq!(p.len(), 45);
    assert_eq!(take_field(&mut p, 10), 0xc8ab);
    assert_eq!(header_checksum(&p[..20]), 0xc8ab);
    let mut dgram = p[20..].to_vec();
    assert_eq!(dgram.len() % 2, 1);
    let udp_check = take_field(&mut dgram, 6);
    assert_eq!(udp_check, 0xfb71);
    let ph = pseudo_header_v4([10, 77, 0, 1], [10, 77, 0, 2], 17, dgram.len() as u16);
    assert_eq!(ph.add(&dgram).finish(), udp_check);
    // Odd split: header, then the payload in two odd pieces.
    let c = ph.add(&dgram[..8]).add(&dgram[8..13]).add(&dgram[13..]);
    assert_eq!(c.finish(), udp_check);
}

#[test]
fn kernel_ipv6_tcp() {
    let p = hex(TCP6);
    let (src, dst): ([u8; 16], [u8; 16]) =
        (p[8..24].try_into().unwrap(), p[24..40].try_into().unwrap());
    let mut seg = p[40..].to_vec();
    assert_eq!(seg.len(), 40);
    let check = take_field(&mut seg, 16);
    assert_eq!(check, 0xea82);
    let ph = pseudo_header_v6(&src, &dst, 6, seg.len() as u32);
    assert_eq!(ph.add(&seg).finish(), check);
    for imp in supported() {
        let mut c = ph;
        c.update_with(imp, &seg).unwrap();
        assert_eq!(c.finish(), check, "{imp:?}");
    }
}
