//! Checksums (rule book §2.5): a datagram's UDP checksum, as `udp4_gro_receive` /
//! `udp6_gro_receive` validate it before GRO looks at the datagram. A datagram that fails is
//! passed up alone and leaves its flow's held packet as it is.

use inet_csum::ChecksumStatus;
use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, Protocol};

use crate::datagram::Dgram;

/// Whether the datagram's UDP checksum is valid (`skb_gro_checksum_validate_zero_check` with
/// the pseudo header; a zero checksum never gets here); always true for
/// [`ChecksumStatus::KnownGood`].
#[inline]
pub(crate) fn checksum_ok(d: &Dgram<'_>, csum: ChecksumStatus) -> bool {
    csum == ChecksumStatus::KnownGood || valid(d.header, d.payload, d.version, d.l4_off)
}

/// Whether the UDP datagram at `header[l4_off..]` followed by `payload` checks out against the
/// pseudo header of the addresses in `header` (RFC 768, RFC 8200 §8.1: IPv4's 16-bit and
/// IPv6's 32-bit length field add up the same for any length below 2^16). The streaming sum
/// carries an odd byte across the two parts.
#[inline]
pub(crate) fn valid(header: &[u8], payload: &[u8], version: IpVersion, l4_off: usize) -> bool {
    pseudo_addrs(header, version).is_some_and(|a| valid_with(header, payload, l4_off, a))
}

/// [`valid`] with the flow's [`pseudo_addrs`] already summed (a run computes them once for
/// all the datagrams that join it: they carry the same addresses).
// Always inlined: once per segment, and its header sum is inlined into it.
#[inline(always)]
pub(crate) fn valid_with(header: &[u8], payload: &[u8], l4_off: usize, addrs: u16) -> bool {
    let Some(l4) = header.get(l4_off..) else {
        return false;
    };
    inet_csum::Accumulator::from_sum(addrs)
        .add_u32((l4.len() + payload.len()) as u32)
        .add(l4)
        .add(payload)
        .fold()
        == 0xffff
}

/// [`valid`] for a datagram of a run's flow (it carries the run's addresses), against the
/// run's stored address sum `addrs` (`Run::addrs`; 0 when it could not be computed, then
/// from the datagram's own header).
#[inline(always)]
pub(crate) fn valid_in_run(
    addrs: u16,
    header: &[u8],
    payload: &[u8],
    version: IpVersion,
    l4_off: usize,
) -> bool {
    match addrs {
        0 => valid(header, payload, version, l4_off),
        a => valid_with(header, payload, l4_off, a),
    }
}

/// The part of the UDP pseudo header that every datagram of a flow shares: addresses and
/// protocol, folded.
#[inline]
pub(crate) fn pseudo_addrs(header: &[u8], version: IpVersion) -> Option<u16> {
    let sum = match version {
        IpVersion::V4 => {
            let (ip, _) = Ipv4Header::ref_from_packet(header).ok()?;
            inet_csum::pseudo_header_v4(ip.src, ip.dst, Protocol::UDP.0, 0)
        }
        IpVersion::V6 => {
            let (ip, _) = Ipv6Header::ref_from_packet(header).ok()?;
            inet_csum::pseudo_header_v6(&ip.src, &ip.dst, Protocol::UDP.0, 0)
        }
    };
    Some(sum.fold())
}
