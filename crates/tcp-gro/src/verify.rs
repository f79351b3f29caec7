//! Checksums (rule book §2.4): a segment's TCP checksum, when the check of a segment joining a
//! run is made (at push, or deferred to drain with the run's first segment), the deferred checks
//! at drain, and the order in which a batch is pushed again when one of them fails, so that the
//! output is what checking at push gives.

use alloc::vec::Vec;

use inet_csum::ChecksumStatus;
use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, Protocol};
use offload_buf::PacketSource;

use crate::emit::member_fits;
use crate::segment::Seg;
use crate::table::{JoinCheck, NIL, Slot, Table};

/// Whether the segment's TCP checksum is valid (the kernel's `skb_gro_checksum_validate` with
/// the pseudo header, rule book §2.4); always true for [`ChecksumStatus::KnownGood`].
#[inline]
pub(crate) fn checksum_ok(seg: &Seg<'_>, mode: ChecksumStatus) -> bool {
    mode == ChecksumStatus::KnownGood
        || pseudo_addrs(seg.header, seg.version)
            .is_some_and(|a| l4_checksum_valid(seg.header, seg.payload, seg.l4_off, a))
}

/// The part of the TCP pseudo header (RFC 793 §3.1, RFC 8200 §8.1) that every segment of a
/// flow shares: addresses and protocol, folded. A run computes it once for all its members.
#[inline]
pub(crate) fn pseudo_addrs(header: &[u8], version: IpVersion) -> Option<u16> {
    let sum = match version {
        IpVersion::V4 => {
            let (ip, _) = Ipv4Header::ref_from_packet(header).ok()?;
            inet_csum::pseudo_header_v4(ip.src, ip.dst, Protocol::TCP.0, 0)
        }
        IpVersion::V6 => {
            let (ip, _) = Ipv6Header::ref_from_packet(header).ok()?;
            inet_csum::pseudo_header_v6(&ip.src, &ip.dst, Protocol::TCP.0, 0)
        }
    };
    Some(sum.fold())
}

/// Whether the TCP segment at `header[l4_off..]` followed by `payload` checks out against the
/// flow's [`pseudo_addrs`]: the pseudo header's length is the segment's (IPv4's 16-bit and
/// IPv6's 32-bit length field add up the same for any length below 2^16). The streaming sum
/// carries an odd byte across the two parts.
// Always inlined: once per segment, and its header sum is inlined into it.
#[inline(always)]
pub(crate) fn l4_checksum_valid(header: &[u8], payload: &[u8], l4_off: usize, addrs: u16) -> bool {
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

/// Settle the checksum of a segment about to join a run: known good, deferred to drain (when
/// `defer`: the normal case; a run's members are then verified one after another, see
/// [`verify_members`]), or — with deferral off, as during a replay — verified now.
#[inline]
pub(crate) fn join_check(seg: &Seg<'_>, csum: ChecksumStatus, defer: bool) -> JoinCheck {
    if csum == ChecksumStatus::KnownGood {
        JoinCheck::KnownGood
    } else if defer {
        JoinCheck::Deferred
    } else {
        join_check_now(seg, csum)
    }
}

/// [`join_check`] off the hot path: a replay, or deferral off.
#[cold]
#[inline(never)]
fn join_check_now(seg: &Seg<'_>, csum: ChecksumStatus) -> JoinCheck {
    if checksum_ok(seg, csum) {
        JoinCheck::Verified
    } else {
        JoinCheck::Bad
    }
}

/// Verify the members of run `run_id` not verified at push (the head, and the joiners whose
/// check was deferred); record the results. In the same walk, check what
/// [`members_match`](crate::emit::members_match) checks: `None` if a member changed shape
/// since push (the run is then written as its members). Otherwise `Some(true)` if a deferred
/// one failed (the batch must be replayed).
pub(crate) fn verify_members<S: PacketSource + ?Sized>(
    table: &mut Table,
    packets: &S,
    run_id: usize,
) -> Option<bool> {
    let r = *table.run(run_id);
    let mut replay = false;
    let mut bad = 0;
    // The addresses of the headers the merged packet is written with.
    let addrs = pseudo_addrs(table.run_header(&r), r.state.version);
    let l4_off = r.l4_off as usize;
    let mut m = r.head;
    while m != NIL {
        let mem = table.member(m);
        let (header, payload) = packets.parts(mem.index)?;
        if !member_fits(&r, &mem, header, payload) {
            return None;
        }
        if !mem.verified {
            let ok = addrs.is_some_and(|a| l4_checksum_valid(header, payload, l4_off, a));
            table.set_verified(m, ok);
            bad += u32::from(!ok);
            replay |= !ok && mem.deferred;
        }
        m = mem.next;
    }
    table.set_unverified(run_id, bad);
    Some(replay)
}

/// The batch's pushes (index and checksum mode) in push order, from `table`, into `log`: what
/// a replay pushes again.
pub(crate) fn replay_order(table: &Table, log: &mut Vec<(usize, ChecksumStatus)>) {
    log.clear();
    for slot in table.slots() {
        if let Slot::Pass(index, csum) = *slot {
            log.push((index, csum));
        }
    }
    for m in table.members() {
        let csum = if m.known_good {
            ChecksumStatus::KnownGood
        } else {
            ChecksumStatus::Unverified
        };
        log.push((m.index, csum));
    }
    // Indices increase within a batch (`push`'s contract).
    log.sort_unstable_by_key(|&(index, _)| index);
}
