//! What both echo examples do to a packet: an ICMP or ICMPv6 echo request becomes its reply,
//! in place, so that every address routed into the TUN answers ping.

use inet_hdr::{IpVersion, Protocol, classify, field};

/// ICMP Echo and Echo Reply (RFC 792).
const ECHO_V4: (u8, u8) = (8, 0);
/// ICMPv6 Echo Request and Echo Reply (RFC 4443 §4.1, §4.2).
const ECHO_V6: (u8, u8) = (128, 129);

/// Turn `ip` into the reply if it is an echo request: source and destination swapped
/// (neither the IPv4 header checksum nor the ICMPv6 pseudo-header sum depends on their
/// order), the type made a reply, the ICMP checksum updated for it (RFC 1624). Whether it was
/// one.
pub(crate) fn reply_in_place(ip: &mut [u8]) -> bool {
    let Ok(info) = classify(ip) else {
        return false;
    };
    let (icmp, (request, reply), addrs) = match info.version {
        IpVersion::V4 => (libc::IPPROTO_ICMP, ECHO_V4, field::ipv4::ADDRS),
        IpVersion::V6 => (libc::IPPROTO_ICMPV6, ECHO_V6, field::ipv6::ADDRS),
    };
    let at = info.l4_offset;
    let is_request = info.protocol == Protocol(icmp as u8)
        && !info.fragment
        && ip.get(at..at + 2) == Some(&[request, 0]);
    if !is_request || ip.len() < at + 4 {
        return false;
    }
    let (src, dst) = ip[addrs.clone()].split_at_mut(addrs.len() / 2);
    src.swap_with_slice(dst);
    ip[at] = reply;
    // The checksum is the ICMP header's bytes 2..4; the type is the high byte of word 0.
    let check = u16::from_be_bytes([ip[at + 2], ip[at + 3]]);
    let check = inet_csum::update_u16(check, u16::from(request) << 8, u16::from(reply) << 8);
    ip[at + 2..at + 4].copy_from_slice(&check.to_be_bytes());
    true
}
