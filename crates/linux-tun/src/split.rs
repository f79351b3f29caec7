//! One plan for whatever a read carries: a TCP super-packet is split by `tcp-tso`, a UDP one
//! (USO, `GSO_UDP_L4`) by `udp-gso`, a plain packet passes through `tcp-tso`'s plan (which
//! finishes a partial checksum). Both splitters write the same storage shapes (`offload-buf`'s
//! [`Slab`], [`Span`], [`SegmentRef`], [`Split`]), so the read path is written once, against
//! this type, and dispatches on the GSO kind only here.

use tcp_tso::{ChecksumStatus, SegmentRef, Slab, Span, Split};
use virtio_net_hdr::{GsoType, VirtioNetHdr};

use crate::stats::DropReason;

/// What one frame read turns into.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Plan {
    /// TCP super-packets and every non-GSO packet.
    Tcp(tcp_tso::Plan),
    /// UDP super-packets.
    Udp(udp_gso::Plan),
}

/// Why a split stopped: out of room (the one case the read path continues from), or a
/// reason to drop the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// Not every segment fit; as `tcp_tso::SplitError::OutOfRoom`.
    OutOfRoom {
        written: usize,
        resume_at: usize,
        used: usize,
    },
    /// The frame is dropped, for this reason.
    Drop(DropReason),
}

/// The reason a failed split is dropped under.
pub(crate) fn drop_reason(e: SplitError) -> DropReason {
    match e {
        SplitError::Drop(why) => why,
        // A split that ran out of room is continued, never dropped for it.
        SplitError::OutOfRoom { .. } => DropReason::BadPacket,
    }
}

impl From<tcp_tso::SplitError> for SplitError {
    fn from(e: tcp_tso::SplitError) -> Self {
        use tcp_tso::SplitError as E;
        match e {
            E::OutOfRoom {
                written,
                resume_at,
                used,
            } => SplitError::OutOfRoom {
                written,
                resume_at,
                used,
            },
            E::Header(h) => SplitError::Drop(DropReason::BadHeader(h)),
            E::NothingToSegment { .. } => SplitError::Drop(DropReason::NothingToSegment),
            _ => SplitError::Drop(DropReason::BadPacket),
        }
    }
}

impl From<udp_gso::SplitError> for SplitError {
    fn from(e: udp_gso::SplitError) -> Self {
        use udp_gso::SplitError as E;
        match e {
            E::OutOfRoom {
                written,
                resume_at,
                used,
            } => SplitError::OutOfRoom {
                written,
                resume_at,
                used,
            },
            E::Header(h) => SplitError::Drop(DropReason::BadHeader(h)),
            _ => SplitError::Drop(DropReason::BadPacket),
        }
    }
}

/// Forward a call to whichever splitter the plan is for, its error typed as ours.
macro_rules! each {
    ($plan:expr, $p:ident => $call:expr) => {
        match $plan {
            Plan::Tcp($p) => $call.map_err(SplitError::from),
            Plan::Udp($p) => $call.map_err(SplitError::from),
        }
    };
}

impl Plan {
    /// Decode `hdr` against `packet`: UDP_L4 goes to `udp-gso`, everything else to `tcp-tso`
    /// (which refuses UFO and unknown types, and takes non-GSO packets).
    pub(crate) fn new(hdr: &VirtioNetHdr, packet: &[u8]) -> Result<Plan, SplitError> {
        if hdr.gso_type().base() == GsoType::UDP_L4 {
            Ok(Plan::Udp(udp_gso::Plan::new(hdr, packet)?))
        } else {
            Ok(Plan::Tcp(tcp_tso::Plan::new(hdr, packet)?))
        }
    }

    pub(crate) fn segments(&self) -> usize {
        match self {
            Plan::Tcp(p) => p.segments(),
            Plan::Udp(p) => p.segments(),
        }
    }

    pub(crate) fn header_room(&self, first_segment: usize, headroom: usize) -> usize {
        match self {
            Plan::Tcp(p) => p.header_room(first_segment, headroom),
            Plan::Udp(p) => p.header_room(first_segment, headroom),
        }
    }

    pub(crate) fn split(
        &self,
        packet: &[u8],
        first_segment: usize,
        slab: Slab<'_>,
        spans: &mut [Span],
    ) -> Result<Split, SplitError> {
        each!(self, p => p.split(packet, first_segment, slab, spans))
    }

    pub(crate) fn split_headers(
        &self,
        packet: &[u8],
        first_segment: usize,
        headers: Slab<'_>,
        segs: &mut [SegmentRef],
    ) -> Result<Split, SplitError> {
        each!(self, p => p.split_headers(packet, first_segment, headers, segs))
    }

    pub(crate) fn split_to_buffers<B: AsMut<[u8]>>(
        &self,
        packet: &[u8],
        first_segment: usize,
        bufs: &mut [B],
        lens: &mut [usize],
    ) -> Result<Split, SplitError> {
        each!(self, p => p.split_to_buffers(packet, first_segment, bufs, lens))
    }

    pub(crate) fn checksum_status(&self) -> ChecksumStatus {
        match self {
            Plan::Tcp(p) => p.checksum_status(),
            Plan::Udp(p) => p.checksum_status(),
        }
    }

    pub(crate) fn split_in_place(
        &self,
        slab: Slab<'_>,
        input: core::ops::Range<usize>,
        spans: &mut [Span],
    ) -> Result<Split, SplitError> {
        each!(self, p => p.split_in_place(slab, input, spans))
    }

    pub(crate) fn finish_in_place(&self, packet: &mut [u8]) -> Result<ChecksumStatus, SplitError> {
        each!(self, p => p.finish_in_place(packet))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use testkit::udp::UdpPacket;
    use virtio_net_hdr::VirtioNetHdr;

    use super::*;
    use crate::device::{test_queue, test_super_packet};
    use crate::recv::{Reader, RecvBatch};

    fn frame(h: VirtioNetHdr, p: &[u8]) -> Vec<u8> {
        let mut f = h.to_bytes().to_vec();
        f.extend_from_slice(p);
        f
    }

    /// What `plan` makes of `packet` in one go.
    fn one_shot(h: &VirtioNetHdr, packet: &[u8]) -> Vec<Vec<u8>> {
        let plan = Plan::new(h, packet).unwrap();
        let mut slab = vec![0u8; 200_000];
        let mut spans = vec![Span::default(); 200];
        let out = plan
            .split(packet, 0, Slab::new(&mut slab, 0), &mut spans)
            .unwrap();
        spans[..out.segments]
            .iter()
            .map(|s| slab[s.range()].to_vec())
            .collect()
    }

    /// UDP super-packets go to `udp-gso`, TCP ones to `tcp-tso`, interleaved in one stream of
    /// reads, with batches too small for one super-packet (continued across calls from the
    /// spill buffer), large enough for several (split in place or headers only).
    #[test]
    fn a_read_splits_udp_and_tcp_super_packets_alike() {
        let inputs: Vec<(VirtioNetHdr, Vec<u8>)> = vec![
            UdpPacket::v4()
                .ip_id(0xfffe)
                .payload_len(20_000)
                .gso_size(1472)
                .build_gso(),
            (
                VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 1000, false),
                test_super_packet(12, 1000),
            ),
            UdpPacket::v6()
                .ipv6_dest_opts(8)
                .payload_len(9_999)
                .gso_size(1200)
                .build_gso(),
            // Not above gso_size: one datagram, checksum finished.
            UdpPacket::v4().payload_len(300).gso_size(1200).build_gso(),
        ];
        let want: Vec<Vec<u8>> = inputs.iter().flat_map(|(h, p)| one_shot(h, p)).collect();
        assert_eq!(want.len(), 14 + 12 + 9 + 1);
        assert!(matches!(
            Plan::new(&inputs[0].0, &inputs[0].1),
            Ok(Plan::Udp(_))
        ));
        for (cap, zero_copy) in [(5, false), (5, true), (64, false), (64, true), (128, true)] {
            let q = test_queue(10);
            let mut rx = Reader::new(Arc::clone(&q));
            for (h, p) in &inputs {
                rx.inject_frame(&frame(*h, p));
            }
            let mut batch = RecvBatch::new(cap, 16).zero_copy_split(zero_copy);
            let mut got = Vec::new();
            while let Ok(n) = rx.recv(&mut batch) {
                if n == 0 {
                    break;
                }
                for p in batch.iter() {
                    assert!(p.checksum().is_known_good());
                    let (header, payload) = p.parts();
                    got.push([header, payload].concat());
                }
            }
            assert_eq!(got, want, "cap {cap}, zero copy {zero_copy}");
            let c = &q.dev.counters;
            assert_eq!(c.super_packets_read.load(Ordering::Relaxed), 4);
            assert_eq!(c.dropped_malformed.load(Ordering::Relaxed), 0);
        }
    }

    /// A UDP_L4 frame the kernel would refuse is dropped under the header's reason; a
    /// UDP_L4 header over a TCP packet as a bad packet.
    #[test]
    fn malformed_udp_super_packets_are_dropped_with_their_reason() {
        let (mut h, p) = UdpPacket::v4().payload_len(3000).gso_size(10).build_gso();
        let e = Plan::new(&h, &p).unwrap_err();
        assert_eq!(
            drop_reason(e),
            DropReason::BadHeader(virtio_net_hdr::Error::TooManySegments)
        );
        h.set_gso_size(0);
        assert_eq!(
            drop_reason(Plan::new(&h, &p).unwrap_err()),
            DropReason::BadHeader(virtio_net_hdr::Error::ZeroGsoSize)
        );
        let tcp = test_super_packet(3, 1000);
        assert_eq!(
            drop_reason(Plan::new(&VirtioNetHdr::udp_gso(20, 1000), &tcp).unwrap_err()),
            DropReason::BadPacket
        );
        let q = test_queue(10);
        let mut rx = Reader::new(Arc::clone(&q));
        rx.inject_frame(&frame(h, &p));
        let (h, p) = UdpPacket::v6().payload_len(3000).gso_size(1000).build_gso();
        rx.inject_frame(&frame(h, &p));
        let mut batch = RecvBatch::new(16, 0);
        assert_eq!(rx.recv(&mut batch).unwrap(), 3);
        assert_eq!(q.dev.counters.dropped_malformed.load(Ordering::Relaxed), 1);
    }
}
