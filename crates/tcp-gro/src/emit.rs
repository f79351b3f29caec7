//! Writing a drained batch's [`Outputs`]: a packet passed through as it is, or a run's members
//! as one packet behind its first segment's headers patched in place (rule book §2.4
//! `tcp_gro_complete`, §2.2 `inet_gro_complete`, §2.3 `ipv6_gro_complete`, §6 "Writer"), or a
//! run cut around its bad members.

#[cfg(debug_assertions)]
use alloc::vec::Vec;

use inet_hdr::field::{ipv4, ipv6};
use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, Protocol, TcpFlags, TcpHeader};
#[cfg(debug_assertions)]
use offload_buf::Drain;
use offload_buf::{Outputs, PacketSource, Span};
use virtio_net_hdr::VirtioNetHdr;

use crate::table::{Member, NIL, Run, Table};

/// Whether `header` + `payload` is still the shape member `mem` of `r` was pushed in: the same
/// length, and a payload part only behind exactly the headers.
#[inline(always)]
pub(crate) fn member_fits(r: &Run, mem: &Member, header: &[u8], payload: &[u8]) -> bool {
    header.len() + payload.len() == (r.state.hdr_len + mem.payload_len) as usize
        && (payload.is_empty() || header.len() == r.state.hdr_len as usize)
}

/// Write the packet pushed as `index` as it is now, with a plain virtio header (skipped if
/// `packets` no longer has it).
#[inline]
pub(crate) fn pass<S: PacketSource + ?Sized>(out: &mut Outputs, packets: &S, index: usize) {
    let Some((header, payload)) = packets.parts(index) else {
        return;
    };
    out.push_pass(index, header.len(), payload.len());
}

/// Write every member of `r` alone, in sequence order.
#[inline]
pub(crate) fn alone<S: PacketSource + ?Sized>(
    out: &mut Outputs,
    table: &Table,
    packets: &S,
    r: &Run,
) {
    let mut m = r.head;
    while m != NIL {
        let mem = table.member(m);
        pass(out, packets, mem.index);
        m = mem.next;
    }
}

/// Write `count` members of run `r` from member `first` as one packet: patch the header copy
/// at `hdr_at` in place and record the output. With `check` (a run whose members no walk has
/// checked yet: nothing to verify), each member must still be the shape it was pushed in (the
/// caller's promise to `drain`); if one is missing or changed, the whole run is written alone
/// as it is now instead.
pub(crate) fn merged<S: PacketSource + ?Sized>(
    out: &mut Outputs,
    table: &mut Table,
    check: Option<&S>,
    r: &Run,
    first: u32,
    count: u32,
    hdr_at: u32,
) {
    // On a change the whole run is written alone: checked merges are of whole runs.
    debug_assert!(check.is_none() || (first == r.head && count == r.state.count));
    // The members, their payload, and whether the stretch ends at the run's tail.
    let mut payload = 0u32;
    let mut last = first;
    let mut m = first;
    for _ in 0..count {
        let mem = table.member(m);
        if let Some(packets) = check
            && !packets
                .parts(mem.index)
                .is_some_and(|(h, p)| member_fits(r, &mem, h, p))
        {
            out.drop_members();
            alone(out, table, packets, r);
            return;
        }
        out.push_member(
            mem.index,
            Span {
                offset: r.state.hdr_len as usize,
                len: mem.payload_len as usize,
            },
        );
        payload += mem.payload_len;
        last = m;
        m = mem.next;
    }
    let mss = table.member(first).payload_len;
    // Only the run's tail may carry PSH/FIN.
    let tail_flags = if last == r.tail {
        r.state.tail_flags
    } else {
        0
    };
    let total = (r.state.hdr_len + payload) as usize;
    let h = table.header_mut(hdr_at, r.state.hdr_len);
    let ecn = patch(h, r.state.version, r.l4_off as usize, total, tail_flags);
    let vnet = VirtioNetHdr::tcp_gso(
        r.state.version,
        r.l4_off as u16,
        (r.state.hdr_len - r.l4_off) as u16,
        mss as u16,
        ecn,
    );
    let headers = Span {
        offset: hdr_at as usize,
        len: r.state.hdr_len as usize,
    };
    out.push_merged(vnet, headers, total);
}

/// Patch the headers `h` (TCP at `l4`) of a merged packet `total` bytes long: IPv4 total length
/// and header checksum, or IPv6 payload length; TCP flags with the tail's PSH/FIN; the TCP
/// checksum field set to the folded pseudo-header sum over the merged length. Returns whether
/// the GSO header must say ECN.
fn patch(h: &mut [u8], version: IpVersion, l4: usize, total: usize, tail_flags: u8) -> bool {
    let l4_len = total - l4;
    let pseudo = match version {
        IpVersion::V4 => {
            if let Ok((ip, _)) = Ipv4Header::mut_from_packet(h) {
                // total ≤ max_merged_len ≤ 65535.
                ip.set_total_len(total as u16);
                ip.fill_checksum();
            }
            let mut src = [0u8; 4];
            let mut dst = [0u8; 4];
            src.copy_from_slice(&h[ipv4::SRC]);
            dst.copy_from_slice(&h[ipv4::DST]);
            inet_csum::pseudo_header_v4(src, dst, Protocol::TCP.0, l4_len as u16)
        }
        IpVersion::V6 => {
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&h[ipv6::SRC]);
            dst.copy_from_slice(&h[ipv6::DST]);
            if let Ok((ip, _)) = Ipv6Header::mut_from_packet(h) {
                ip.set_payload_len((total - Ipv6Header::LEN) as u16);
            }
            inet_csum::pseudo_header_v6(&src, &dst, Protocol::TCP.0, l4_len as u32)
        }
    };
    let mut ecn = false;
    if let Ok((tcp, _)) = TcpHeader::mut_from_packet(&mut h[l4..]) {
        let flags = tcp.flags() | TcpFlags(tail_flags);
        tcp.set_flags(flags);
        // CHECKSUM_PARTIAL: the folded, non-inverted pseudo-header sum over the merged L4
        // length (`tcp_gro_complete`: `th->check = ~tcp_v4_check(len, …)`).
        tcp.set_checksum(pseudo.fold());
        // SKB_GSO_TCP_ECN if the first header has CWR — never in practice: a CWR segment
        // never merges (rule book §0).
        ecn = flags.contains(TcpFlags::CWR);
    }
    ecn
}

/// A run with a bad member (its head, verified late): the bad members pass through alone and
/// the good stretches between them are written as runs of their own — what the kernel builds
/// when a bad segment is dropped from GRO (every rule still holds for a stretch: its first
/// segment is full-sized, its IDs continue, its tail is the run's tail or a full-sized segment
/// without PSH/FIN).
pub(crate) fn split<S: PacketSource + ?Sized>(
    out: &mut Outputs,
    table: &mut Table,
    packets: &S,
    r: &Run,
) {
    let mut start = NIL;
    let mut count = 0;
    let mut m = r.head;
    loop {
        let mem = (m != NIL).then(|| table.member(m));
        if mem.is_some_and(|x| x.verified) {
            if count == 0 {
                start = m;
            }
            count += 1;
        } else {
            // End of a stretch.
            if count == 1 {
                pass(out, packets, table.member(start).index);
            } else if count >= 2 {
                let hdr_at = if start == r.head {
                    r.hdr_at
                } else {
                    // The stretch's own first segment supplies its headers.
                    let first = table.member(start).index;
                    // `verify_members` checked that the header part holds the headers.
                    let p = packets.packet(first).unwrap_or_default();
                    match p.get(..r.state.hdr_len as usize) {
                        Some(h) => table.copy_header(h),
                        None => return,
                    }
                };
                // `verify_members` checked every member's shape.
                merged(out, table, None::<&S>, r, start, count, hdr_at);
            }
            count = 0;
            match mem {
                Some(bad) => pass(out, packets, bad.index),
                None => break,
            }
        }
        m = mem.map_or(NIL, |x| x.next);
    }
}

/// Debug builds: every merged output's header passes `check_emit` on the contiguous packet,
/// built in `scratch` as a writer without scatter-gather would.
#[cfg(debug_assertions)]
pub(crate) fn debug_check<S: PacketSource + ?Sized>(
    out: &Outputs,
    headers: &[u8],
    packets: &S,
    scratch: &mut Vec<u8>,
) {
    for o in Drain::new(out, headers, packets).filter(|o| o.is_merged()) {
        scratch.clear();
        scratch.resize(o.len(), 0);
        let n = o.materialize(scratch).unwrap_or(0);
        debug_assert_eq!(
            o.vnet_hdr().check_emit(&scratch[..n]),
            Ok(()),
            "emitted header fails check_emit"
        );
    }
}
