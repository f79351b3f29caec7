//! Writing a drained batch's [`Outputs`]: a packet passed through as it is, or a run's members
//! as one packet behind its first datagram's headers patched in place (rule book §2.5
//! `udp4_gro_complete` / `udp6_gro_complete` and `udp_gro_complete_segment`, §2.2
//! `inet_gro_complete`, §2.3 `ipv6_gro_complete`, §6 "Writer").

#[cfg(debug_assertions)]
use alloc::vec::Vec;

use inet_hdr::field::{ipv4, ipv6};
use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, Protocol, UdpHeader};
#[cfg(debug_assertions)]
use offload_buf::Drain;
use offload_buf::{Outputs, PacketSource, Span};
use virtio_net_hdr::VirtioNetHdr;

use crate::table::{NIL, Run, Table};

/// Whether `header` + `payload` is still the shape a member of `r` with `payload_len` bytes
/// of payload was pushed in (the caller's promise to `drain`): the same length, and a payload
/// part only behind exactly the headers.
#[inline(always)]
fn member_fits(r: &Run, payload_len: u32, header: &[u8], payload: &[u8]) -> bool {
    header.len() + payload.len() == (r.state.hdr_len + payload_len) as usize
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

/// Write the members of run `r` from member `first` to its tail alone, in arrival order.
#[inline]
pub(crate) fn alone<S: PacketSource + ?Sized>(
    out: &mut Outputs,
    table: &Table,
    packets: &S,
    first: u32,
) {
    let mut m = first;
    while m != NIL {
        let mem = table.member(m);
        pass(out, packets, mem.index);
        m = mem.next;
    }
}

/// Write the members of run `r` from member `first` to its tail as one packet: patch the
/// header copy at `hdr_at` in place and record the output. If a member is missing or not the
/// shape it was pushed in (the caller broke `drain`'s contract), the members are written alone
/// as they are now instead: the check rides on this walk, the one walk of the run at drain.
pub(crate) fn merged<S: PacketSource + ?Sized>(
    out: &mut Outputs,
    table: &mut Table,
    packets: &S,
    r: &Run,
    first: u32,
    hdr_at: u32,
) {
    let hdr_len = r.state.hdr_len;
    let mut payload = 0u32;
    let mut m = first;
    while m != NIL {
        let mem = table.member(m);
        if !packets
            .parts(mem.index)
            .is_some_and(|(h, p)| member_fits(r, mem.payload_len, h, p))
        {
            out.drop_members();
            alone(out, table, packets, first);
            return;
        }
        out.push_member(
            mem.index,
            Span {
                offset: hdr_len as usize,
                len: mem.payload_len as usize,
            },
        );
        payload += mem.payload_len;
        m = mem.next;
    }
    let gso_size = table.member(first).payload_len;
    let total = (hdr_len + payload) as usize;
    patch(
        table.header_mut(hdr_at, hdr_len),
        r.state.version,
        r.l4_off as usize,
        total,
    );
    // total ≤ max_merged_len ≤ 65535, so every length fits its field.
    let vnet = VirtioNetHdr::udp_gso(r.l4_off as u16, gso_size as u16);
    let headers = Span {
        offset: hdr_at as usize,
        len: hdr_len as usize,
    };
    out.push_merged(vnet, headers, total);
}

/// Patch the headers `h` (UDP at `l4`) of a merged packet `total` bytes long, as
/// `udp4_gro_complete` / `udp6_gro_complete` and `udp_gro_complete` leave it: IPv4 total
/// length and header checksum, or IPv6 payload length; the UDP length the whole UDP length;
/// the UDP checksum field the folded pseudo-header sum over that length
/// (`uh->check = ~udp_v4_check(skb->len - nhoff, saddr, daddr, 0)`), which the kernel finishes
/// (`CHECKSUM_PARTIAL`) or adjusts per segment when it splits the packet
/// (`__udp_gso_segment` takes the old length out of it by the UDP length field's value, so the
/// two must agree).
fn patch(h: &mut [u8], version: IpVersion, l4: usize, total: usize) {
    let l4_len = total - l4;
    let pseudo = match version {
        IpVersion::V4 => {
            if let Ok((ip, _)) = Ipv4Header::mut_from_packet(h) {
                ip.set_total_len(total as u16);
                ip.fill_checksum();
            }
            let mut src = [0u8; 4];
            let mut dst = [0u8; 4];
            src.copy_from_slice(&h[ipv4::SRC]);
            dst.copy_from_slice(&h[ipv4::DST]);
            inet_csum::pseudo_header_v4(src, dst, Protocol::UDP.0, l4_len as u16)
        }
        IpVersion::V6 => {
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&h[ipv6::SRC]);
            dst.copy_from_slice(&h[ipv6::DST]);
            if let Ok((ip, _)) = Ipv6Header::mut_from_packet(h) {
                ip.set_payload_len((total - Ipv6Header::LEN) as u16);
            }
            inet_csum::pseudo_header_v6(&src, &dst, Protocol::UDP.0, l4_len as u32)
        }
    };
    if let Ok((udp, _)) = UdpHeader::mut_from_packet(&mut h[l4..]) {
        udp.set_len(l4_len as u16);
        udp.set_checksum(pseudo.fold());
    }
}

/// A run whose first datagram failed its check at drain: that datagram is written alone, and
/// the rest form a packet of their own behind the second datagram's headers — what the kernel
/// builds when the first is passed up alone (every rule still holds for the rest: its first
/// datagram is full-sized unless it is the last, its IDs continue, its size and count only
/// shrank).
pub(crate) fn without_head<S: PacketSource + ?Sized>(
    out: &mut Outputs,
    table: &mut Table,
    packets: &S,
    r: &Run,
) {
    let head = table.member(r.head);
    pass(out, packets, head.index);
    let second = head.next;
    if second == NIL {
        return;
    }
    let rest = table.member(second);
    if rest.next == NIL {
        pass(out, packets, rest.index);
        return;
    }
    // A packet too short for the headers has changed shape: `merged` would find it so.
    let h = packets
        .packet(rest.index)
        .and_then(|p| p.get(..r.state.hdr_len as usize));
    match h {
        Some(h) => {
            let hdr_at = table.copy_header(h);
            merged(out, table, packets, r, second, hdr_at);
        }
        None => alone(out, table, packets, second),
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
        debug_assert!(o.indices().len() <= crate::MAX_SEGMENTS);
    }
}
