//! The [`Plan`] methods that write segments (datagrams) into the caller's storage
//! (`offload-buf`'s [`Slab`], [`Span`], [`SegmentRef`], [`Split`]).

use core::ops::Range;

use crate::{ChecksumStatus, Plan, SegmentRef, Slab, Span, Split, SplitError};

impl Plan {
    /// Write segments `first_segment..` of `packet` (the packet this plan was built for) into
    /// `slab`, recording the k-th segment written in `spans[k]`. `first_segment` is 0, or the
    /// `resume_at` of an earlier [`OutOfRoom`](SplitError::OutOfRoom).
    ///
    /// # Errors
    /// [`SplitError::OutOfRoom`] when `spans` or the slab run out (the segments it counts are
    /// written and complete); [`SplitError::ResumePastEnd`] if `first_segment` is not below
    /// [`segments`](Self::segments); [`SplitError::PlanMismatch`] if `packet` is not the plan's
    /// packet (its length differs), before anything is written.
    ///
    /// ```
    /// use udp_gso::{Plan, Slab, Span, SplitError, VirtioNetHdr};
    /// // 5 × 100 bytes of payload behind IPv4 (total length 528) and UDP (length 508) headers.
    /// let mut packet = vec![
    ///     0x45, 0, 0x02, 0x10, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x9c, 0x40, 0x11, 0x51, 0x01, 0xfc, 0, 0,
    /// ];
    /// packet.resize(528, 7);
    /// let plan = Plan::new(&VirtioNetHdr::udp_gso(20, 100), &packet)?;
    ///
    /// // Two spans for five segments: two are written, resume at segment 2.
    /// let (mut buf, mut spans) = ([0u8; 2048], [Span::default(); 2]);
    /// let err = plan.split(&packet, 0, Slab::new(&mut buf, 0), &mut spans).unwrap_err();
    /// assert!(matches!(err, SplitError::OutOfRoom { written: 2, resume_at: 2, .. }));
    /// let mut more = [Span::default(); 3];
    /// let out = plan.split(&packet, 2, Slab::new(&mut buf, 0), &mut more)?;
    /// assert_eq!(out.segments, 3);
    /// # Ok::<(), SplitError>(())
    /// ```
    pub fn split(
        &self,
        packet: &[u8],
        first_segment: usize,
        slab: Slab<'_>,
        spans: &mut [Span],
    ) -> Result<Split, SplitError> {
        self.inner
            .split(packet, first_segment, slab, spans)
            .map_err(SplitError::from_plan)
    }

    /// [`split`](Self::split) without moving the payload: each segment's headers (IP + UDP,
    /// with its per-segment fields and complete checksums) are laid out in `headers`, and
    /// `segs[k]` says where the k-th segment's headers and payload lie. The payload is summed
    /// in `packet` but not copied, so a segment is `header bytes` followed by
    /// `packet[seg.payload.range()]` — the same bytes [`split`](Self::split) would write.
    /// Consecutive segments' payloads are adjacent in `packet`.
    ///
    /// A non-GSO packet is one segment: a plain (or `DATA_VALID`) packet has an empty header
    /// part and the whole packet as payload; a `NEEDS_CSUM` packet's bytes up to its checksum
    /// field are copied into the header part with the checksum finished.
    /// [`header_room`](Self::header_room) says how much header storage a packet needs.
    ///
    /// # Errors
    /// As [`split`](Self::split) (`used` in [`OutOfRoom`](SplitError::OutOfRoom) counts
    /// header-slab bytes).
    ///
    /// ```
    /// use udp_gso::{Plan, SegmentRef, Slab, Span, VirtioNetHdr};
    /// let mut packet = vec![
    ///     0x45, 0, 0x0b, 0xd4, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x9c, 0x40, 0x11, 0x51, 0x0b, 0xc0, 0, 0,
    /// ];
    /// packet.resize(28 + 3000, 0xab);
    /// let plan = Plan::new(&VirtioNetHdr::udp_gso(20, 1000), &packet)?;
    ///
    /// let mut headers = [0u8; 256];
    /// let mut segs = [SegmentRef::default(); 4];
    /// let out = plan.split_headers(&packet, 0, Slab::new(&mut headers, 8), &mut segs)?;
    /// assert_eq!((out.segments, out.used), (3, 3 * (8 + 28)));
    ///
    /// // The same bytes as a copying split.
    /// let (mut buf, mut spans) = (vec![0u8; 4000], [Span::default(); 4]);
    /// plan.split(&packet, 0, Slab::new(&mut buf, 0), &mut spans)?;
    /// for (s, span) in segs.iter().zip(&spans).take(3) {
    ///     let two_part = [&headers[s.header.range()], &packet[s.payload.range()]].concat();
    ///     assert_eq!(two_part, buf[span.range()]);
    /// }
    /// assert_eq!(segs[1].payload.offset, segs[0].payload.offset + 1000); // adjacent payloads
    /// # Ok::<(), udp_gso::SplitError>(())
    /// ```
    pub fn split_headers(
        &self,
        packet: &[u8],
        first_segment: usize,
        headers: Slab<'_>,
        segs: &mut [SegmentRef],
    ) -> Result<Split, SplitError> {
        self.inner
            .split_headers(packet, first_segment, headers, segs)
            .map_err(SplitError::from_plan)
    }

    /// [`split`](Self::split) into separate caller buffers: the k-th segment written goes to
    /// `bufs[k][..lens[k]]`. Stops (with [`OutOfRoom`](SplitError::OutOfRoom)) at the first
    /// missing buffer or length slot, or a buffer too short for its segment.
    ///
    /// # Errors
    /// As [`split`](Self::split).
    ///
    /// ```
    /// use udp_gso::{Plan, VirtioNetHdr};
    /// // IPv4 total length 2828, UDP length 2808: 2 × 1400 bytes.
    /// let mut packet = vec![
    ///     0x45, 0, 0x0b, 0x0c, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x9c, 0x40, 0x11, 0x51, 0x0a, 0xf8, 0, 0,
    /// ];
    /// packet.resize(28 + 2800, 1);
    /// let plan = Plan::new(&VirtioNetHdr::udp_gso(20, 1400), &packet)?;
    /// let mut bufs = vec![vec![0u8; 1500]; 4];
    /// let mut lens = [0usize; 4];
    /// let out = plan.split_to_buffers(&packet, 0, &mut bufs, &mut lens)?;
    /// assert_eq!((out.segments, lens[0], lens[1]), (2, 1428, 1428));
    /// # Ok::<(), udp_gso::SplitError>(())
    /// ```
    pub fn split_to_buffers<B: AsMut<[u8]>>(
        &self,
        packet: &[u8],
        first_segment: usize,
        bufs: &mut [B],
        lens: &mut [usize],
    ) -> Result<Split, SplitError> {
        self.inner
            .split_to_buffers(packet, first_segment, bufs, lens)
            .map_err(SplitError::from_plan)
    }

    /// [`split`](Self::split) for a super-packet that already lies inside the slab, at
    /// `input` (e.g. read from the TUN straight into it); the plan was built for
    /// `&buf[input]`. The segments are laid out from the start of the slab exactly as
    /// [`split`](Self::split) lays them out, with the same bytes.
    ///
    /// Splitting in place consumes the input, so it is all or nothing: if `spans` or the slab
    /// cannot take every segment ([`room`](Self::room) bytes), nothing is written and
    /// [`OutOfRoom`](SplitError::OutOfRoom) reports `written: 0, resume_at: 0` with the input
    /// intact (retry with more room, or [`split`](Self::split) it elsewhere). The input may
    /// lie anywhere in the slab; it is cheapest where it ends the slab or starts at least
    /// `room(0, headroom) − input.len()` bytes in (otherwise it is first moved to the end of
    /// the slab, one extra copy).
    ///
    /// # Errors
    /// As [`split`](Self::split), plus [`SplitError::InputOutsideSlab`].
    ///
    /// ```
    /// use udp_gso::{Plan, Slab, Span, VirtioNetHdr};
    /// let mut packet = vec![
    ///     0x45, 0, 0x0b, 0xd4, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x9c, 0x40, 0x11, 0x51, 0x0b, 0xc0, 0, 0,
    /// ];
    /// packet.resize(28 + 3000, 0xab);
    /// let hdr = VirtioNetHdr::udp_gso(20, 1000);
    ///
    /// let mut buf = vec![0u8; 4000];
    /// let at = buf.len() - packet.len();
    /// buf[at..].copy_from_slice(&packet); // e.g. read from the TUN straight into the slab
    /// let plan = Plan::new(&hdr, &buf[at..])?;
    /// let mut spans = [Span::default(); 4];
    /// let out = plan.split_in_place(Slab::new(&mut buf, 12), at..4000, &mut spans)?;
    ///
    /// let (mut other, mut other_spans) = (vec![0u8; 4000], [Span::default(); 4]);
    /// plan.split(&packet, 0, Slab::new(&mut other, 12), &mut other_spans)?;
    /// assert_eq!(spans, other_spans);
    /// for s in &spans[..out.segments] {
    ///     assert_eq!(buf[s.range()], other[s.range()]);
    /// }
    /// # Ok::<(), udp_gso::SplitError>(())
    /// ```
    pub fn split_in_place(
        &self,
        slab: Slab<'_>,
        input: Range<usize>,
        spans: &mut [Span],
    ) -> Result<Split, SplitError> {
        self.inner
            .split_in_place(slab, input, spans)
            .map_err(SplitError::from_plan)
    }

    /// Complete a non-GSO packet where it lies (e.g. read straight into a slab): finish a
    /// `NEEDS_CSUM` checksum in place, as the kernel's `skb_checksum_help` does; report a
    /// plain or `DATA_VALID` packet's status without touching it.
    ///
    /// # Errors
    /// [`SplitError::NeedsSplit`] for a GSO packet; [`SplitError::PlanMismatch`] if `packet`
    /// is not the plan's packet (its length differs).
    ///
    /// ```
    /// use udp_gso::{ChecksumStatus, Plan, VirtioNetHdr};
    /// // One UDP datagram whose checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL).
    /// let mut packet = vec![
    ///     0x45, 0, 0, 140, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x9c, 0x40, 0x11, 0x51, 0, 120, 0, 0,
    /// ];
    /// packet.resize(140, 9);
    /// let pseudo = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 17, 120);
    /// packet[26..28].copy_from_slice(&pseudo.fold().to_be_bytes());
    ///
    /// let plan = Plan::new(&VirtioNetHdr::needs_csum(20, 6), &packet)?;
    /// assert_eq!(plan.finish_in_place(&mut packet), Ok(ChecksumStatus::KnownGood));
    /// assert_eq!(pseudo.add(&packet[20..]).fold(), 0xffff); // UDP checksum now valid
    /// # Ok::<(), udp_gso::SplitError>(())
    /// ```
    pub fn finish_in_place(&self, packet: &mut [u8]) -> Result<ChecksumStatus, SplitError> {
        self.inner
            .finish_in_place(packet)
            .map_err(SplitError::from_plan)
    }
}
