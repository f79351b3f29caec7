//! Shared fixtures for the privileged device tests: a namespace with a configured TUN, a UDP
//! packet builder (TCP packets come from `testkit::packet`) and a checksum check.
#![allow(dead_code, unreachable_pub)]

use std::net::Ipv4Addr;

pub mod tcp;

use linux_tun::{Builder, Tun};
use testkit::Netns;

/// Our side of the TUN (the namespace's address).
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The peer "behind" the TUN (us, in the test).
pub const PEER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

/// A namespace with a TUN opened by `builder` inside it, `LOCAL/24` assigned and up. With the
/// `netlink` feature (as `cargo test --all-features` runs) the address is set through the
/// library, from outside the namespace; without it, with `ip`.
pub fn netns_with_tun(test: &str, builder: Builder) -> (Netns, Tun) {
    let ns = Netns::new(test).unwrap();
    let tun = ns.run(move || builder.up().open()).unwrap().unwrap();
    #[cfg(feature = "netlink")]
    tun.control().add_address(LOCAL.into(), 24).unwrap();
    #[cfg(not(feature = "netlink"))]
    ns.ip(&["addr", "add", "10.77.0.1/24", "dev", tun.control().name()])
        .unwrap();
    (ns, tun)
}

/// An IPv4 header (no options, DF, TTL 64) in front of `l4`, with a valid header checksum.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, id: u16, l4: &[u8]) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = inet_csum::header_checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

/// A UDP/IPv4 packet with a complete checksum.
pub fn udp4(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::with_capacity(len as usize);
    u.extend_from_slice(&src.1.to_be_bytes());
    u.extend_from_slice(&dst.1.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let sum = inet_csum::pseudo_header_v4(src.0.octets(), dst.0.octets(), 17, len)
        .add(&u)
        .finish();
    let sum = if sum == 0 { 0xffff } else { sum };
    u[6..8].copy_from_slice(&sum.to_be_bytes());
    ipv4(src.0, dst.0, 17, 0x4242, &u)
}

/// Whether the IPv4 header checksum and the L4 (TCP/UDP) checksum of `p` are both valid.
pub fn checksums_valid(p: &[u8]) -> bool {
    let info = inet_hdr::classify(p).expect("parsable IP packet");
    assert_eq!(info.version, inet_hdr::IpVersion::V4, "tests use IPv4");
    if !inet_csum::verify(&p[..20]) {
        return false;
    }
    let l4 = &p[info.l4_offset..];
    let src: [u8; 4] = p[12..16].try_into().unwrap();
    let dst: [u8; 4] = p[16..20].try_into().unwrap();
    inet_csum::pseudo_header_v4(src, dst, p[9], l4.len() as u16)
        .add(l4)
        .finish()
        == 0
}
