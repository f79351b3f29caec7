//! Batched reads: one call returns a super-packet split into segments plus whatever else the
//! kernel had queued, all in one caller-owned slab.

use std::io::{self, IoSliceMut};
use std::sync::Arc;

use tcp_tso::{ChecksumStatus, SegmentRef, Slab, Span};
use virtio_net_hdr::{GsoType, VirtioNetHdr, VirtioNetHdrV1};

use crate::device::{Control, Queue};
use crate::error::RecvError;
use crate::split::{Plan, SplitError, drop_reason};
use crate::stats::{DropReason, Event, bump};

/// Largest IP packet a read accepts: the default `gso_max_size` (65536) bounds what TUN hands
/// out (rule book §3.4, "GSO reads are up to 65535 + vnet_hdr_sz"). A read that fills all of
/// it may have been truncated and is dropped.
const MAX_PACKET: usize = 65536;
/// Slab bytes budgeted per packet by [`RecvBatch::new`] (a 1500-byte MTU segment fits).
const DEFAULT_PACKET_ROOM: usize = 2048;
/// A read's first part: frames up to this long (every packet at MTU 1500) land exactly where
/// they are delivered.
const FIRST_PART: usize = DEFAULT_PACKET_ROOM;
/// Segments and header length the read gap is sized for: a 64 KiB super-packet at MSS 1448
/// is 46 segments; IPv6 + TCP with timestamps is 72 bytes of headers.
const GAP_SEGMENTS: usize = 64;
const GAP_HEADER_LEN: usize = 80;

#[derive(Clone, Copy, Debug)]
struct Meta {
    /// Offset of the IP packet in the slab; the headroom lies just before it.
    offset: usize,
    len: usize,
    checksum: ChecksumStatus,
    /// Position in the batch when it was received (kept when written packets are removed).
    arrival: u32,
    /// A segment split with its payload left in place ([`RecvBatch::zero_copy_split`]): where
    /// the payload lies in the slab, apart from the headers at `offset`. Empty for a packet in
    /// one piece.
    payload: Span,
}

/// Caller-owned storage for one batch of received packets: a slab where every packet is
/// preceded by `headroom` bytes the caller may use (e.g. to prepend a tunnel header in place),
/// plus per-packet offset, length and checksum state. Reused across calls; never allocates
/// after construction.
///
/// ```
/// let batch = linux_tun::RecvBatch::new(128, 64);
/// assert_eq!((batch.capacity(), batch.headroom(), batch.len()), (128, 64, 0));
/// ```
pub struct RecvBatch {
    slab: Box<[u8]>,
    headroom: usize,
    meta: Vec<Meta>,
    cap: usize,
    used: usize,
    spans: Box<[Span]>,
    /// Split super-packets into headers + payload in place instead of contiguous segments.
    zero_copy: bool,
    segs: Box<[SegmentRef]>,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("len", &self.len())
            .field("capacity", &self.cap)
            .field("headroom", &self.headroom)
            .field("slab_len", &self.slab.len())
            .finish()
    }
}

impl RecvBatch {
    /// Room for `packets` packets (at least 1) with `headroom` free bytes before each; the slab
    /// budgets 2 KiB per packet and always holds at least one 64 KiB packet.
    pub fn new(packets: usize, headroom: usize) -> RecvBatch {
        let packets = packets.max(1);
        RecvBatch::with_slab_len(
            packets,
            headroom,
            packets.saturating_mul(headroom.saturating_add(DEFAULT_PACKET_ROOM)),
        )
    }

    /// As [`new`](Self::new) with an explicit slab size (raised to hold at least one 64 KiB
    /// packet with its headroom), e.g. for jumbo MTUs.
    pub fn with_slab_len(packets: usize, headroom: usize, slab_len: usize) -> RecvBatch {
        let cap = packets.max(1);
        let slab_len = slab_len.max(headroom.saturating_add(MAX_PACKET));
        RecvBatch {
            slab: vec![0u8; slab_len].into_boxed_slice(),
            headroom,
            meta: Vec::with_capacity(cap),
            cap,
            used: 0,
            spans: vec![Span::default(); cap].into_boxed_slice(),
            zero_copy: false,
            segs: Box::default(),
        }
    }

    /// Deliver the segments of a super-packet as two parts — headers, then the payload where
    /// the read put it — instead of contiguous packets: the split sums each payload but does
    /// not copy it, and a merged write of consecutive segments gathers their payloads as one
    /// piece of memory. For a forwarder, router or netstack that hands packets on as they are;
    /// a tunnel that encrypts each segment in place wants the default contiguous segments.
    ///
    /// In such a batch a segment's [`RecvPacket::bytes`] and the slices of
    /// [`iter_mut`](Self::iter_mut) are its headers only: read it with [`RecvPacket::parts`].
    /// Plain packets, and a super-packet whose headers do not fit behind it in the slab, are
    /// delivered contiguous as before ([`RecvPacket::is_contiguous`]).
    ///
    /// ```
    /// let batch = linux_tun::RecvBatch::new(64, 0).zero_copy_split(true);
    /// assert!(batch.is_zero_copy_split());
    /// ```
    pub fn zero_copy_split(mut self, on: bool) -> RecvBatch {
        self.zero_copy = on;
        self.segs = if on {
            vec![SegmentRef::default(); self.cap].into_boxed_slice()
        } else {
            Box::default()
        };
        self
    }

    /// Whether [`zero_copy_split`](Self::zero_copy_split) is on.
    #[inline]
    pub fn is_zero_copy_split(&self) -> bool {
        self.zero_copy
    }

    /// Packets in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// Whether the batch holds no packet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Most packets one call delivers.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Free bytes before every packet.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.headroom
    }

    /// Forget all packets (the next receive does this itself).
    pub fn clear(&mut self) {
        self.meta.clear();
        self.used = 0;
    }

    /// The `i`-th packet.
    #[inline]
    pub fn get(&self, i: usize) -> Option<RecvPacket<'_>> {
        let m = *self.meta.get(i)?;
        Some(RecvPacket {
            slab: &self.slab,
            meta: m,
            headroom: self.headroom,
        })
    }

    /// What is known about the checksums of every packet in the batch:
    /// [`KnownGood`](ChecksumStatus::KnownGood) only if it holds for each of them (e.g. all
    /// segments of splits, which computed their checksums), else
    /// [`Unverified`](ChecksumStatus::Unverified). What to hand
    /// [`Writer::send_received`](crate::Writer::send_received) when the packets are written
    /// back as received.
    ///
    /// ```
    /// use linux_tun::{ChecksumStatus, RecvBatch};
    /// assert_eq!(RecvBatch::new(8, 0).checksum(), ChecksumStatus::KnownGood); // empty
    /// ```
    pub fn checksum(&self) -> ChecksumStatus {
        if self.meta.iter().all(|m| m.checksum.is_known_good()) {
            ChecksumStatus::KnownGood
        } else {
            ChecksumStatus::Unverified
        }
    }

    /// The packets in arrival order (segments of a super-packet in sequence order).
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecvPacket<'_>> + '_ {
        self.meta.iter().map(|&meta| RecvPacket {
            slab: &self.slab,
            meta,
            headroom: self.headroom,
        })
    }

    /// The packets, mutable, each with its headroom.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut {
            rest: &mut self.slab,
            base: 0,
            meta: self.meta.iter(),
            headroom: self.headroom,
        }
    }

    /// The whole slab, for callers that work with [`RecvPacket::offset`] directly.
    pub fn slab(&self) -> &[u8] {
        &self.slab
    }

    /// The whole slab, mutable.
    pub fn slab_mut(&mut self) -> &mut [u8] {
        &mut self.slab
    }

    fn is_full(&self) -> bool {
        self.meta.len() >= self.cap
    }

    fn push(&mut self, offset: usize, len: usize, checksum: ChecksumStatus) {
        self.push_parts(offset, len, Span::default(), checksum);
    }

    fn push_parts(&mut self, offset: usize, len: usize, payload: Span, checksum: ChecksumStatus) {
        let arrival = self.meta.len() as u32;
        self.meta.push(Meta {
            offset,
            len,
            checksum,
            arrival,
            payload,
        });
    }

    /// The position packet `i` had when the batch was received.
    pub(crate) fn arrival_index(&self, i: usize) -> usize {
        self.meta.get(i).map_or(i, |m| m.arrival as usize)
    }

    /// Keep only the packets `keep(i)` accepts, in order (after a partial write).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut i = 0;
        self.meta.retain(|_| {
            i += 1;
            keep(i - 1)
        });
    }
}

/// The batch's packets by index, for [`Coalescer::drain`](tcp_gro::Coalescer::drain): what
/// lets [`Writer::send_received`](crate::Writer::send_received) coalesce and write them
/// where they lie in the slab.
impl tcp_gro::PacketSource for RecvBatch {
    #[inline]
    fn packet(&self, index: usize) -> Option<&[u8]> {
        let m = self.meta.get(index)?;
        self.slab.get(m.offset..m.offset + m.len)
    }

    #[inline]
    fn parts(&self, index: usize) -> Option<(&[u8], &[u8])> {
        let m = self.meta.get(index)?;
        Some((
            self.slab.get(m.offset..m.offset + m.len)?,
            self.slab.get(m.payload.range())?,
        ))
    }
}

/// A received packet.
#[derive(Clone, Copy, Debug)]
pub struct RecvPacket<'a> {
    slab: &'a [u8],
    meta: Meta,
    headroom: usize,
}

impl<'a> RecvPacket<'a> {
    /// The IP packet — for a segment in two parts ([`RecvBatch::zero_copy_split`]), its
    /// headers only: use [`parts`](Self::parts).
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        &self.slab[self.meta.offset..self.meta.offset + self.meta.len]
    }
    /// The IP packet as (header, payload): its headers and its payload for a segment split
    /// with its payload in place, the whole packet and nothing otherwise — the two parts
    /// `tcp-gro` coalesces.
    #[inline]
    pub fn parts(&self) -> (&'a [u8], &'a [u8]) {
        (self.bytes(), &self.slab[self.meta.payload.range()])
    }
    /// Whether the packet is in one piece (always, unless [`RecvBatch::zero_copy_split`]).
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.meta.payload.len == 0
    }
    /// Offset of the IP packet in [`RecvBatch::slab`]; the headroom precedes it.
    #[inline]
    pub fn offset(&self) -> usize {
        self.meta.offset
    }
    /// Length of the IP packet (both parts).
    #[inline]
    pub fn len(&self) -> usize {
        self.meta.len + self.meta.payload.len
    }
    /// Whether the packet is empty (never for a delivered packet).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// What is known about the packet's IP and L4 checksums:
    /// [`KnownGood`](ChecksumStatus::KnownGood) when computed here while splitting or
    /// finishing a partial checksum, or verified by the kernel (`DATA_VALID`);
    /// [`Unverified`](ChecksumStatus::Unverified) for a packet as received. Hand it to
    /// [`SendBatch::push`](crate::SendBatch::push) or a coalescer unchanged.
    #[inline]
    pub fn checksum(&self) -> ChecksumStatus {
        self.meta.checksum
    }
    /// Headroom and packet together.
    #[inline]
    pub fn with_headroom(&self) -> &'a [u8] {
        &self.slab[self.meta.offset - self.headroom..self.meta.offset + self.meta.len]
    }
}

/// A received packet with mutable access to it and its headroom.
#[derive(Debug)]
pub struct RecvPacketMut<'a> {
    buf: &'a mut [u8],
    headroom: usize,
    checksum: ChecksumStatus,
}

impl<'a> RecvPacketMut<'a> {
    /// The IP packet.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.headroom..]
    }
    /// The IP packet, mutable.
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.headroom..]
    }
    /// `(headroom, packet)`: write a tunnel header into the headroom without copying the
    /// packet. Consumes the handle so the slices live as long as the batch borrow; read
    /// [`checksum`](Self::checksum) first.
    #[inline]
    pub fn split_headroom_mut(self) -> (&'a mut [u8], &'a mut [u8]) {
        self.buf.split_at_mut(self.headroom)
    }
    /// Headroom and packet as one contiguous slice (e.g. after filling the headroom).
    #[inline]
    pub fn headroom_and_packet_mut(self) -> &'a mut [u8] {
        self.buf
    }
    /// See [`RecvPacket::checksum`].
    #[inline]
    pub fn checksum(&self) -> ChecksumStatus {
        self.checksum
    }
}

/// Iterator over [`RecvPacketMut`]s; see [`RecvBatch::iter_mut`].
#[derive(Debug)]
pub struct IterMut<'a> {
    rest: &'a mut [u8],
    base: usize,
    meta: std::slice::Iter<'a, Meta>,
    headroom: usize,
}

impl<'a> Iterator for IterMut<'a> {
    type Item = RecvPacketMut<'a>;

    fn next(&mut self) -> Option<RecvPacketMut<'a>> {
        let m = self.meta.next()?;
        // Packets are laid out in increasing, non-overlapping order, headroom included.
        let start = m
            .offset
            .checked_sub(self.headroom)?
            .checked_sub(self.base)?;
        let rest = std::mem::take(&mut self.rest);
        let (_, tail) = rest.split_at_mut_checked(start)?;
        let (buf, tail) = tail.split_at_mut_checked(self.headroom + m.len)?;
        self.rest = tail;
        self.base = m.offset + m.len;
        Some(RecvPacketMut {
            buf,
            headroom: self.headroom,
            checksum: m.checksum,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.meta.size_hint()
    }
}

/// What [`Reader::recv_into`] delivered into one caller buffer: the packet is
/// `buf[offset..offset + len]`.
///
/// ```
/// use linux_tun::{ChecksumStatus, RecvInfo};
/// let info = [RecvInfo::default(); 64]; // reused call after call
/// assert_eq!((info[0].len, info[0].checksum), (0, ChecksumStatus::Unverified));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecvInfo {
    /// Length of the IP packet.
    pub len: usize,
    /// What is known about its checksums, as [`RecvPacket::checksum`] says.
    pub checksum: ChecksumStatus,
}

/// A packet (or the rest of a super-packet) read but not yet delivered: it sits in the
/// reader's buffer until the next call has room.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// Decoded once, when the frame was read.
    plan: Plan,
    len: usize,
    next_segment: usize,
}

/// The receiving half of a queue; see [`Tun::into_halves`](crate::Tun::into_halves).
///
/// Owns a 64 KiB spill buffer; plain packets are read straight into the caller's batch.
pub struct Reader {
    q: Arc<Queue>,
    /// The vnet header of the frame just read (room for the longest a device uses).
    hdr: [u8; VirtioNetHdrV1::LEN],
    spill: Box<[u8]>,
    pending: Option<Pending>,
    /// Segments and slab bytes of the largest super-packet split in place by this `recv`.
    largest: (usize, usize),
    /// Test seam: frames handed to the next reads instead of the kernel's.
    #[cfg(any(test, feature = "test-seams"))]
    injected: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("device", &self.q.dev.name)
            .field("pending", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// The queue this half moves batches through.
    pub(crate) fn queue(&self) -> &Queue {
        &self.q
    }

    pub(crate) fn new(q: Arc<Queue>) -> Reader {
        Reader {
            q,
            hdr: [0; VirtioNetHdrV1::LEN],
            spill: vec![0u8; MAX_PACKET].into_boxed_slice(),
            pending: None,
            largest: (0, 0),
            #[cfg(any(test, feature = "test-seams"))]
            injected: Vec::new(),
        }
    }

    /// Device settings and statistics.
    pub fn control(&self) -> Control {
        Control::new(Arc::clone(&self.q))
    }

    /// Fill `batch` (cleared first) and return how many packets it holds.
    ///
    /// Waits for the first frame (blocking mode), splits a super-packet into segments with
    /// complete checksums, then keeps reading without waiting until the kernel has nothing
    /// more, the batch is full, or it could not take another super-packet as large as one
    /// already read by this call (that one stays queued in the kernel for the next call). A
    /// super-packet that does not fit is continued by the next call. Malformed frames are
    /// dropped and counted ([`Stats::dropped_malformed`]) and the reading goes on.
    ///
    /// # Errors
    /// [`RecvError::WouldBlock`] in non-blocking mode when nothing is queued;
    /// [`RecvError::DeviceRemoved`] once the device has been deleted (then on every call);
    /// [`RecvError::Io`] with the `read(2)` error otherwise. An error after some packets were
    /// read is returned by the next call.
    ///
    /// [`Stats::dropped_malformed`]: crate::Stats::dropped_malformed
    pub fn recv(&mut self, batch: &mut RecvBatch) -> Result<usize, RecvError> {
        batch.clear();
        self.largest = (0, 0);
        if self.pending.is_some() {
            self.drain_pending(batch);
        }
        while self.pending.is_none() && !batch.is_full() && self.room_for_another(batch) {
            let wait = batch.is_empty() && self.q.is_blocking();
            if let Err(e) = self.read_one(batch, wait) {
                if batch.is_empty() {
                    return Err(self.recv_error(e));
                }
                break;
            }
        }
        bump(&self.q.dev.counters.packets_delivered, batch.len() as u64);
        Ok(batch.len())
    }

    /// Fill the caller's own buffers, one packet per buffer, each packet written at `offset`
    /// (headroom for the caller's own header), and return how many were filled: packet `k`
    /// is `bufs[k].as_mut()[offset..offset + info[k].len]`, its checksum state
    /// `info[k].checksum`. For a data path whose packet buffers come from a pool of its own
    /// instead of a [`RecvBatch`]; otherwise it reads and splits exactly as
    /// [`recv`](Self::recv) does, with the same bytes.
    ///
    /// At most `bufs.len().min(info.len())` packets are delivered (none if that is 0). A plain
    /// packet is read straight into its buffer; a super-packet is split
    /// (`tcp_tso::Plan::split_to_buffers`) into the buffers from the reader's spill buffer,
    /// and the segments that do not fit stay there for the next call, as do later frames
    /// (left queued in the kernel while the buffers left could not take a super-packet as
    /// large as one already read by this call). Size each buffer for `offset` + the largest
    /// packet (the MTU): a packet longer than the buffer it is due for waits for the next
    /// call, or, if no packet came before it in this call, is dropped and counted
    /// ([`DropReason::TooLarge`]). The first `offset` bytes of every buffer are never
    /// written; the rest of a buffer may be, beyond its packet too (a read lands there
    /// first). The same call mixes with [`recv`](Self::recv): either continues what the
    /// other left.
    ///
    /// ```no_run
    /// use linux_tun::{RecvInfo, Tun};
    /// let (mut rx, _tx) = Tun::builder().name("tun0").offload(true).up().open()?.into_halves();
    /// const HEADROOM: usize = 32; // the tunnel's own header goes in front
    /// let mut pool = vec![vec![0u8; HEADROOM + 1500]; 64];
    /// let mut info = [RecvInfo::default(); 64];
    /// let n = rx.recv_into(&mut pool, HEADROOM, &mut info)?;
    /// for (buf, info) in pool.iter_mut().zip(&info).take(n) {
    ///     let (header, packet) = buf.split_at_mut(HEADROOM);
    ///     let packet = &packet[..info.len]; // checksums complete if `info.checksum` is KnownGood
    /// #   let _ = (header, packet);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn recv_into<B: AsMut<[u8]>>(
        &mut self,
        bufs: &mut [B],
        offset: usize,
        info: &mut [RecvInfo],
    ) -> Result<usize, RecvError> {
        let cap = bufs.len().min(info.len());
        let (bufs, info) = (&mut bufs[..cap], &mut info[..cap]);
        let mut filled = self.drain_pending_into(bufs, offset, info, true);
        // Segments of the largest super-packet read by this call.
        let mut largest = 0;
        while self.pending.is_none() && cap - filled >= largest.max(1) {
            let wait = filled == 0 && self.q.is_blocking();
            let first = filled == 0;
            match self.read_into(
                &mut bufs[filled..],
                offset,
                &mut info[filled..],
                wait,
                first,
            ) {
                Ok((delivered, segments)) => {
                    filled += delivered;
                    largest = largest.max(segments);
                }
                Err(e) if filled == 0 => return Err(self.recv_error(e)),
                Err(_) => break,
            }
        }
        bump(&self.q.dev.counters.packets_delivered, filled as u64);
        Ok(filled)
    }

    /// Type a failed read: nothing queued, the device gone, or the kernel's error.
    fn recv_error(&self, e: io::Error) -> RecvError {
        if e.kind() == io::ErrorKind::WouldBlock {
            RecvError::WouldBlock
        } else if self.q.removed_by(&e) {
            RecvError::DeviceRemoved
        } else {
            RecvError::Io(e)
        }
    }

    /// Whether another frame is worth reading into `batch` now: not if a super-packet as large
    /// as the largest of this call would no longer fit (its segments or its slab bytes). Read
    /// anyway, it would be moved to the spill buffer and delivered in part; left in the
    /// kernel's queue, the next call reads it straight into place (and this call needs no
    /// final read that finds the queue empty).
    fn room_for_another(&self, batch: &RecvBatch) -> bool {
        let (segs, bytes) = self.largest;
        let free = batch.slab.len().saturating_sub(batch.used);
        free > batch.headroom && batch.cap - batch.meta.len() >= segs && free >= bytes
    }

    /// Test seam (feature `test-seams`, not for production): queue a raw frame (vnet header
    /// included when enabled) that a later read returns instead of asking the kernel, in the
    /// order queued. Lets tests feed the read path headers the kernel would never produce.
    #[cfg(any(test, feature = "test-seams"))]
    pub fn inject_frame(&mut self, frame: &[u8]) {
        self.injected.insert(0, frame.to_vec());
    }

    fn readv(&mut self, iov: &mut [IoSliceMut<'_>], wait: bool) -> io::Result<usize> {
        #[cfg(any(test, feature = "test-seams"))]
        if let Some(frame) = self.injected.pop() {
            let mut at = 0;
            for s in iov.iter_mut() {
                let n = s.len().min(frame.len() - at);
                s[..n].copy_from_slice(&frame[at..at + n]);
                at += n;
            }
            return Ok(at);
        }
        if wait {
            self.q.readv_wait(iov)
        } else {
            self.q.readv_nowait(iov)
        }
    }

    /// Read one frame: the vnet header into scratch, the packet straight into the slab after
    /// a headroom gap, and whatever does not fit there into the spill buffer.
    fn read_one(&mut self, batch: &mut RecvBatch, wait: bool) -> io::Result<()> {
        let vl = self.q.dev.vnet_len;
        let pos = batch.used + batch.headroom;
        let avail = batch.slab.len().saturating_sub(pos);
        // The frame lands in up to three places: its first `a` bytes where a plain packet
        // belongs (right after its headroom), the next `b` bytes `gap` further on, and the
        // rest in the spill buffer. The gap is where a super-packet's segments spread: split in
        // place, segment k ends by the end of its own payload in the input when the input
        // starts far enough in (`Plan::split_in_place`), so the payload is copied once, into
        // its segment, instead of first being moved out of the way.
        let a = avail.min(FIRST_PART);
        let want_gap =
            (batch.cap - batch.meta.len()).min(GAP_SEGMENTS) * (batch.headroom + GAP_HEADER_LEN);
        // With the payload left in place there is nothing to spread: read contiguous.
        let gap = if !batch.zero_copy && avail >= a + want_gap + MAX_PACKET {
            want_gap
        } else {
            0
        };
        let second = pos + a + gap;
        let b = avail.saturating_sub(a + gap).min(MAX_PACKET - a);
        let n = {
            let mut hdr = std::mem::take(&mut self.hdr);
            let (_, tail) = batch.slab.split_at_mut(pos.min(batch.slab.len()));
            let (first, tail) = tail.split_at_mut(a);
            let second_part = tail.get_mut(gap..gap + b).unwrap_or_default();
            let mut spill = std::mem::take(&mut self.spill);
            let r = {
                let mut iov = [
                    IoSliceMut::new(&mut hdr[..vl]),
                    IoSliceMut::new(first),
                    IoSliceMut::new(second_part),
                    IoSliceMut::new(&mut spill[a + b..]),
                ];
                self.readv(&mut iov, wait)
            };
            self.hdr = hdr;
            self.spill = spill;
            r?
        };
        let k = a + b;
        let dev = &self.q.dev;
        bump(&dev.counters.frames_read, 1);
        let Some(len) = n.checked_sub(vl).filter(|&l| l > 0) else {
            self.drop_frame(DropReason::Truncated);
            return Ok(());
        };
        if len >= MAX_PACKET {
            self.drop_frame(DropReason::TooLarge);
            return Ok(());
        }
        if len > k {
            // Spilled: make it contiguous in the spill buffer and split from there.
            self.spill[..a].copy_from_slice(&batch.slab[pos..pos + a]);
            self.spill[a..k].copy_from_slice(&batch.slab[second..second + b]);
            if self.is_gso() {
                bump(&dev.counters.super_packets_read, 1);
            }
            match Plan::new(&self.header(), &self.spill[..len]) {
                Ok(plan) => self.split_from_spill(batch, plan, len),
                Err(e) => self.drop_frame(drop_reason(e)),
            }
            return Ok(());
        }
        let hdr = self.header();
        let gso = hdr.gso_type().base() != GsoType::NONE;
        // Where the frame starts once contiguous: a plain packet (or a short frame) at `pos`,
        // a long super-packet just before its second part.
        let start = if len <= a || gap == 0 {
            pos
        } else if gso {
            batch.slab.copy_within(pos..pos + a, second - a);
            second - a
        } else {
            // A long plain packet (jumbo MTU): close the gap behind its first part.
            batch.slab.copy_within(second..second + (len - a), pos + a);
            pos
        };
        if gso {
            bump(&dev.counters.super_packets_read, 1);
        }
        let plan = match Plan::new(&hdr, &batch.slab[start..start + len]) {
            Ok(plan) => plan,
            Err(e) => {
                self.drop_frame(drop_reason(e));
                return Ok(());
            }
        };
        if !gso {
            let pkt = &mut batch.slab[pos..pos + len];
            match plan.finish_in_place(pkt) {
                Ok(state) => {
                    batch.push(pos, len, state);
                    batch.used = pos + len;
                }
                Err(e) => self.drop_frame(drop_reason(e)),
            }
            return Ok(());
        }
        if batch.zero_copy && self.split_headers(batch, &plan, start, len) {
            return Ok(());
        }
        let room = batch.cap - batch.meta.len();
        let base = batch.used;
        let input = (start - base)..(start - base + len);
        match plan.split_in_place(
            Slab::new(&mut batch.slab[base..], batch.headroom),
            input,
            &mut batch.spans[..room],
        ) {
            Ok(s) => {
                let checksum = s.checksum;
                for i in 0..s.segments {
                    let sp = batch.spans[i];
                    batch.push(base + sp.offset, sp.len, checksum);
                }
                batch.used = base + s.used;
                let (segs, bytes) = self.largest;
                self.largest = (segs.max(s.segments), bytes.max(s.used));
            }
            Err(SplitError::OutOfRoom { .. }) => {
                // All or nothing in place: move it aside and deliver what fits now.
                self.spill[..len].copy_from_slice(&batch.slab[start..start + len]);
                self.split_from_spill(batch, plan, len);
            }
            Err(e) => self.drop_frame(drop_reason(e)),
        }
        Ok(())
    }

    /// Split the super-packet at `slab[start..start + len]` with its payload left in place,
    /// the segments' headers written right behind it. `false` (nothing done) when they would
    /// not all fit in the batch: the caller splits by copying instead.
    fn split_headers(
        &mut self,
        batch: &mut RecvBatch,
        plan: &Plan,
        start: usize,
        len: usize,
    ) -> bool {
        let end = start + len;
        let room = batch.cap - batch.meta.len();
        let headers = plan.header_room(0, batch.headroom);
        if plan.segments() > room || batch.slab.len() - end < headers {
            return false;
        }
        let (front, back) = batch.slab.split_at_mut(end);
        let r = plan.split_headers(
            &front[start..],
            0,
            Slab::new(back, batch.headroom),
            &mut batch.segs[..room],
        );
        let s = match r {
            Ok(s) => s,
            // Sized above; a different answer is treated as not fitting.
            Err(SplitError::OutOfRoom { .. }) => return false,
            Err(e) => {
                self.drop_frame(drop_reason(e));
                return true;
            }
        };
        let checksum = s.checksum;
        for i in 0..s.segments {
            let g = batch.segs[i];
            let payload = Span {
                offset: start + g.payload.offset,
                len: g.payload.len,
            };
            batch.push_parts(end + g.header.offset, g.header.len, payload, checksum);
        }
        batch.used = end + s.used;
        let (segs, bytes) = self.largest;
        self.largest = (segs.max(s.segments), bytes.max(len + s.used));
        true
    }

    fn is_gso(&self) -> bool {
        self.header().gso_type().base() != GsoType::NONE
    }

    /// The header of the frame just read (a plain one without a vnet header).
    fn header(&self) -> VirtioNetHdr {
        header_from(&self.hdr, self.q.dev.vnet_len)
    }

    /// Split the `len`-byte packet in the spill buffer into the batch from its first segment;
    /// what does not fit stays pending for the next call.
    fn split_from_spill(&mut self, batch: &mut RecvBatch, plan: Plan, len: usize) {
        self.pending = Some(Pending {
            plan,
            len,
            next_segment: 0,
        });
        self.drain_pending(batch);
    }

    /// Continue a pending packet from the spill buffer into the batch.
    fn drain_pending(&mut self, batch: &mut RecvBatch) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let room = batch.cap - batch.meta.len();
        let base = batch.used;
        let slab = batch.slab.get_mut(base..).unwrap_or_default();
        let r = p.plan.split(
            &self.spill[..p.len],
            p.next_segment,
            Slab::new(slab, batch.headroom),
            &mut batch.spans[..room],
        );
        let (written, used, checksum) = match r {
            Ok(s) => (s.segments, s.used, s.checksum),
            Err(SplitError::OutOfRoom {
                written,
                resume_at,
                used,
            }) => {
                if written == 0 && batch.is_empty() {
                    // Not even one segment fits an empty batch: it never will.
                    self.drop_frame(DropReason::TooLarge);
                    return;
                }
                self.pending = Some(Pending {
                    next_segment: resume_at,
                    ..p
                });
                // Segments of a split are always complete; plain packets never get here
                // partially written.
                (written, used, ChecksumStatus::KnownGood)
            }
            Err(e) => {
                self.drop_frame(drop_reason(e));
                return;
            }
        };
        for i in 0..written {
            let sp = batch.spans[i];
            batch.push(base + sp.offset, sp.len, checksum);
        }
        batch.used = base + used;
    }

    /// Read one frame for [`recv_into`](Self::recv_into): a plain packet straight into
    /// `bufs[0]` at `offset`, anything else made contiguous in the spill buffer and split
    /// from there into `bufs`. `first`: nothing was delivered by this call yet. Returns the
    /// packets delivered and, for a super-packet, its segment count.
    fn read_into<B: AsMut<[u8]>>(
        &mut self,
        bufs: &mut [B],
        offset: usize,
        info: &mut [RecvInfo],
        wait: bool,
        first: bool,
    ) -> io::Result<(usize, usize)> {
        let vl = self.q.dev.vnet_len;
        let Some(buf) = bufs.first_mut() else {
            return Ok((0, 0));
        };
        let room = buf.as_mut().get_mut(offset..).unwrap_or_default();
        // The frame lands in the caller's buffer and, past its end, in the spill buffer.
        let a = room.len().min(MAX_PACKET);
        let n = {
            let mut hdr = std::mem::take(&mut self.hdr);
            let mut spill = std::mem::take(&mut self.spill);
            let r = {
                let mut iov = [
                    IoSliceMut::new(&mut hdr[..vl]),
                    IoSliceMut::new(&mut room[..a]),
                    IoSliceMut::new(&mut spill[a..]),
                ];
                self.readv(&mut iov, wait)
            };
            self.hdr = hdr;
            self.spill = spill;
            r?
        };
        let dev = &self.q.dev;
        bump(&dev.counters.frames_read, 1);
        let Some(len) = n.checked_sub(vl).filter(|&l| l > 0) else {
            self.drop_frame(DropReason::Truncated);
            return Ok((0, 0));
        };
        if len >= MAX_PACKET {
            self.drop_frame(DropReason::TooLarge);
            return Ok((0, 0));
        }
        let hdr = self.header();
        let gso = hdr.gso_type().base() != GsoType::NONE;
        if gso {
            bump(&dev.counters.super_packets_read, 1);
        } else if len <= a {
            // A plain packet, where it belongs: finish a partial checksum in place.
            let pkt = &mut room[..len];
            let done = Plan::new(&hdr, pkt).and_then(|plan| plan.finish_in_place(pkt));
            return match done {
                Ok(checksum) => {
                    info[0] = RecvInfo { len, checksum };
                    Ok((1, 0))
                }
                Err(e) => {
                    self.drop_frame(drop_reason(e));
                    Ok((0, 0))
                }
            };
        }
        // A super-packet (its segments go to buffers of their own) or a packet longer than
        // its buffer: contiguous in the spill buffer, split from there.
        let k = a.min(len);
        self.spill[..k].copy_from_slice(&room[..k]);
        let plan = match Plan::new(&hdr, &self.spill[..len]) {
            Ok(plan) => plan,
            Err(e) => {
                self.drop_frame(drop_reason(e));
                return Ok((0, 0));
            }
        };
        self.pending = Some(Pending {
            plan,
            len,
            next_segment: 0,
        });
        let delivered = self.drain_pending_into(bufs, offset, info, first);
        Ok((delivered, if gso { plan.segments() } else { 0 }))
    }

    /// Continue a pending packet from the spill buffer into `bufs`, one segment per buffer
    /// at `offset`; what does not fit stays pending. `first`: nothing was delivered by this
    /// call yet, so a segment its buffer cannot hold is dropped rather than kept (it would
    /// stall every later call). Returns the packets delivered.
    fn drain_pending_into<B: AsMut<[u8]>>(
        &mut self,
        bufs: &mut [B],
        offset: usize,
        info: &mut [RecvInfo],
        first: bool,
    ) -> usize {
        let Some(p) = self.pending.take() else {
            return 0;
        };
        let packet = &self.spill[..p.len];
        let checksum = p.plan.checksum_status();
        let mut next = p.next_segment;
        let mut written = 0;
        let mut lens = [0usize];
        for (buf, info) in bufs.iter_mut().zip(info.iter_mut()) {
            let mut dst = [buf.as_mut().get_mut(offset..).unwrap_or_default()];
            // One segment per call: its buffer starts `offset` bytes into the caller's.
            match p.plan.split_to_buffers(packet, next, &mut dst, &mut lens) {
                Ok(_) => {
                    *info = RecvInfo {
                        len: lens[0],
                        checksum,
                    };
                    return written + 1;
                }
                Err(SplitError::OutOfRoom { written: 1, .. }) => {
                    *info = RecvInfo {
                        len: lens[0],
                        checksum,
                    };
                    written += 1;
                    next += 1;
                }
                Err(SplitError::OutOfRoom { .. }) if written == 0 && first => {
                    // Too long for its buffer, and nothing came before it: drop it.
                    self.drop_frame(DropReason::TooLarge);
                    return 0;
                }
                Err(SplitError::OutOfRoom { .. }) => break,
                Err(e) => {
                    self.drop_frame(drop_reason(e));
                    return written;
                }
            }
        }
        self.pending = Some(Pending {
            next_segment: next,
            ..p
        });
        written
    }

    fn drop_frame(&self, why: DropReason) {
        bump(&self.q.dev.counters.dropped_malformed, 1);
        self.q.dev.emit(Event::MalformedRead(why));
    }
}

fn header_from(bytes: &[u8; VirtioNetHdrV1::LEN], vnet_len: usize) -> VirtioNetHdr {
    if vnet_len == 0 {
        return VirtioNetHdr::plain();
    }
    VirtioNetHdr::ref_from_packet(bytes).map_or_else(|_| VirtioNetHdr::plain(), |(h, _)| *h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_queue;
    use proptest::prelude::*;
    use std::sync::atomic::Ordering;

    use crate::device::test_super_packet as super_packet;
    use testkit::udp::UdpPacket;

    fn frame(h: VirtioNetHdr, p: &[u8]) -> Vec<u8> {
        let mut f = h.to_bytes().to_vec();
        f.extend_from_slice(p);
        f
    }

    /// Every packet of every call, in order, until the reader has nothing left.
    fn drain_all(rx: &mut Reader, batch: &mut RecvBatch) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        while let Ok(n) = rx.recv(batch) {
            assert_eq!(n, batch.len());
            assert!(n <= batch.capacity());
            for p in batch.iter() {
                assert!(p.offset() >= batch.headroom());
                let (header, payload) = p.parts();
                assert!(p.offset() + header.len() <= batch.slab().len());
                out.push(([header, payload].concat(), p.checksum().is_known_good()));
            }
            if n == 0 {
                break;
            }
        }
        out
    }

    /// Every packet [`Reader::recv_into`] delivers into `count` buffers of `len` bytes at
    /// `offset`, call after call, until the reader has nothing left; the bytes before `offset`
    /// must stay as the caller left them.
    fn drain_all_into(
        rx: &mut Reader,
        count: usize,
        len: usize,
        offset: usize,
    ) -> Vec<(Vec<u8>, bool)> {
        let mut bufs = vec![vec![0xeeu8; len]; count];
        let mut info = vec![RecvInfo::default(); count];
        let mut out = Vec::new();
        while let Ok(n) = rx.recv_into(&mut bufs, offset, &mut info) {
            assert!(n <= count);
            for (buf, info) in bufs.iter_mut().zip(&info).take(n) {
                assert!(buf[..offset].iter().all(|&b| b == 0xee), "headroom written");
                let end = offset + info.len;
                out.push((buf[offset..end].to_vec(), info.checksum.is_known_good()));
                buf.fill(0xee);
            }
            if n == 0 {
                break;
            }
        }
        out
    }

    #[test]
    fn recv_into_splits_a_super_packet_across_calls_behind_the_offset() {
        let q = test_queue(10);
        let mut rx = Reader::new(Arc::clone(&q));
        let pkt = super_packet(40, 1000);
        let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 1000, false);
        rx.inject_frame(&frame(hdr, &pkt));
        let mut plain = super_packet(1, 300);
        plain[40] = 0x77;
        rx.inject_frame(&frame(VirtioNetHdr::plain(), &plain));
        let mut bufs = vec![[0xeeu8; 24 + 1040]; 16];
        let mut info = [RecvInfo::default(); 16];
        let mut calls = Vec::new();
        let mut segs = Vec::new();
        loop {
            let n = rx.recv_into(&mut bufs, 24, &mut info).unwrap();
            calls.push(n);
            for (buf, info) in bufs.iter().zip(&info).take(n) {
                assert_eq!(buf[..24], [0xee; 24]);
                segs.push((buf[24..24 + info.len].to_vec(), info.checksum));
            }
            if segs.len() == 41 {
                break;
            }
        }
        // The super-packet's rest first, then the plain packet behind it.
        assert_eq!(calls, [16, 16, 9]);
        for (i, (seg, checksum)) in segs[..40].iter().enumerate() {
            assert_eq!(seg.len(), 1040);
            assert_eq!(*checksum, ChecksumStatus::KnownGood);
            let seq = u32::from_be_bytes(seg[24..28].try_into().unwrap());
            assert_eq!(seq, 0x0102_0304 + 1000 * i as u32);
        }
        assert_eq!(segs[40], (plain, ChecksumStatus::Unverified));
        assert!(matches!(
            rx.recv_into(&mut bufs, 24, &mut info),
            Err(RecvError::WouldBlock)
        ));
        let c = &q.dev.counters;
        assert_eq!(c.super_packets_read.load(Ordering::Relaxed), 1);
        assert_eq!(c.packets_delivered.load(Ordering::Relaxed), 41);
        assert_eq!(c.dropped_malformed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn recv_into_finishes_a_partial_checksum_in_place() {
        let q = test_queue(10);
        let mut rx = Reader::new(q);
        let pkt = super_packet(1, 200); // its TCP checksum field holds the pseudo-header sum
        rx.inject_frame(&frame(VirtioNetHdr::needs_csum(20, 16), &pkt));
        let mut bufs = [[0u8; 300]; 2];
        let mut info = [RecvInfo::default(); 2];
        assert_eq!(rx.recv_into(&mut bufs, 8, &mut info).unwrap(), 1);
        assert_eq!(info[0].len, 240);
        assert_eq!(info[0].checksum, ChecksumStatus::KnownGood);
        let got = &bufs[0][8..248];
        assert_eq!((&got[..36], &got[38..]), (&pkt[..36], &pkt[38..]));
        let pseudo = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, 220);
        assert_eq!(
            pseudo.add(&got[20..]).fold(),
            0xffff,
            "TCP checksum complete"
        );
    }

    #[test]
    fn a_packet_longer_than_its_buffer_waits_unless_it_comes_first() {
        let q = test_queue(0);
        let mut rx = Reader::new(Arc::clone(&q));
        let short = super_packet(1, 100); // 140 bytes
        let long = super_packet(1, 1000); // 1040 bytes
        for p in [&short, &long, &long, &short] {
            rx.inject_frame(p);
        }
        let mut bufs = vec![vec![0u8; 4 + 600]; 4];
        let mut info = [RecvInfo::default(); 4];
        // The first long packet comes after a short one: kept for the next call.
        assert_eq!(rx.recv_into(&mut bufs, 4, &mut info).unwrap(), 1);
        assert_eq!(&bufs[0][4..4 + info[0].len], &short[..]);
        assert!(rx.pending.is_some());
        // Now it comes first and still does not fit: dropped, counted, and reading goes on
        // (the second long one is dropped the same way, the short one delivered).
        assert_eq!(rx.recv_into(&mut bufs, 4, &mut info).unwrap(), 1);
        assert_eq!(&bufs[0][4..4 + info[0].len], &short[..]);
        assert_eq!(q.dev.counters.dropped_malformed.load(Ordering::Relaxed), 2);
        // With room, a long packet that spilled past its buffer is delivered whole.
        rx.inject_frame(&long);
        let mut big = vec![vec![0u8; 4 + 1040]; 1];
        assert_eq!(rx.recv_into(&mut big, 4, &mut info).unwrap(), 1);
        assert_eq!(&big[0][4..], &long[..]);
    }

    #[test]
    fn recv_and_recv_into_continue_each_others_super_packet() {
        let q = test_queue(10);
        let mut rx = Reader::new(q);
        let pkt = super_packet(30, 500);
        let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 500, false);
        let mut slab = vec![0u8; 100_000];
        let mut spans = vec![Span::default(); 30];
        Plan::new(&hdr, &pkt)
            .and_then(|p| p.split(&pkt, 0, Slab::new(&mut slab, 0), &mut spans))
            .unwrap();
        let want: Vec<Vec<u8>> = spans.iter().map(|s| slab[s.range()].to_vec()).collect();
        rx.inject_frame(&frame(hdr, &pkt));
        rx.inject_frame(&frame(hdr, &pkt));
        let mut got = Vec::new();
        let mut bufs = vec![vec![0u8; 600]; 10];
        let mut info = [RecvInfo::default(); 10];
        let mut batch = RecvBatch::new(10, 0);
        for call in 0..6 {
            if call % 2 == 0 {
                let n = rx.recv_into(&mut bufs, 0, &mut info).unwrap();
                got.extend(
                    bufs.iter()
                        .zip(&info)
                        .take(n)
                        .map(|(b, i)| b[..i.len].to_vec()),
                );
            } else {
                rx.recv(&mut batch).unwrap();
                got.extend(batch.iter().map(|p| p.bytes().to_vec()));
            }
        }
        assert_eq!(got, [want.clone(), want].concat());
    }

    #[test]
    fn recv_into_with_no_buffer_reads_nothing() {
        let q = test_queue(0);
        let mut rx = Reader::new(Arc::clone(&q));
        rx.inject_frame(&super_packet(1, 10));
        let mut none: [Vec<u8>; 0] = [];
        assert_eq!(rx.recv_into(&mut none, 0, &mut []).unwrap(), 0);
        let mut one = [vec![0u8; 100]];
        assert_eq!(rx.recv_into(&mut one, 0, &mut []).unwrap(), 0);
        assert_eq!(q.dev.counters.frames_read.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn super_packet_larger_than_the_batch_continues_across_calls() {
        let q = test_queue(10);
        let mut rx = Reader::new(Arc::clone(&q));
        let pkt = super_packet(40, 1000);
        let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 1000, false);
        rx.inject_frame(&frame(hdr, &pkt));
        let mut batch = RecvBatch::new(16, 8);
        let mut calls = Vec::new();
        let mut all = Vec::new();
        while let Ok(n) = rx.recv(&mut batch) {
            calls.push(n);
            all.extend(batch.iter().map(|p| p.bytes().to_vec()));
        }
        assert_eq!(calls, [16, 16, 8]);
        assert_eq!(all.len(), 40);
        for (i, seg) in all.iter().enumerate() {
            assert_eq!(seg.len(), 1040);
            let seq = u32::from_be_bytes(seg[24..28].try_into().unwrap());
            assert_eq!(seq, 0x0102_0304 + 1000 * i as u32);
        }
        let c = &q.dev.counters;
        assert_eq!(c.super_packets_read.load(Ordering::Relaxed), 1);
        assert_eq!(c.packets_delivered.load(Ordering::Relaxed), 40);
    }

    #[test]
    fn super_packets_split_in_place_from_the_read_gap_and_stop_before_overflowing() {
        let q = test_queue(10);
        let mut rx = Reader::new(Arc::clone(&q));
        let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 1400, false);
        let pkt = super_packet(45, 1400);
        let mut want = Vec::new();
        let mut slab = vec![0u8; 200_000];
        let mut spans = vec![Span::default(); 64];
        let s = Plan::new(&hdr, &pkt)
            .and_then(|p| p.split(&pkt, 0, Slab::new(&mut slab, 0), &mut spans))
            .unwrap();
        for sp in &spans[..s.segments] {
            want.push(slab[sp.range()].to_vec());
        }
        for _ in 0..2 {
            rx.inject_frame(&frame(hdr, &pkt));
        }
        // Room for 64 packets: one super-packet of 45 fits, a second would not.
        let mut batch = RecvBatch::new(64, 32);
        for call in 0..2 {
            assert_eq!(rx.recv(&mut batch).unwrap(), 45, "call {call}");
            let c = &q.dev.counters;
            assert_eq!(c.frames_read.load(Ordering::Relaxed), call + 1);
            let got: Vec<Vec<u8>> = batch.iter().map(|p| p.bytes().to_vec()).collect();
            assert_eq!(got, want);
            assert_eq!(batch.get(0).unwrap().offset(), 32);
        }
        assert!(rx.pending.is_none());
    }

    #[test]
    fn zero_copy_split_leaves_payloads_in_place_and_adjacent() {
        use tcp_gro::PacketSource;
        let q = test_queue(10);
        let mut rx = Reader::new(Arc::clone(&q));
        let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 1400, false);
        let pkt = super_packet(45, 1400);
        let mut slab = vec![0u8; 200_000];
        let mut spans = vec![Span::default(); 64];
        let s = Plan::new(&hdr, &pkt)
            .and_then(|p| p.split(&pkt, 0, Slab::new(&mut slab, 0), &mut spans))
            .unwrap();
        rx.inject_frame(&frame(hdr, &pkt));
        let mut batch = RecvBatch::new(64, 32).zero_copy_split(true);
        assert_eq!(rx.recv(&mut batch).unwrap(), s.segments);
        let mut next_payload = None;
        for (i, p) in batch.iter().enumerate() {
            assert!(!p.is_contiguous());
            let (header, payload) = p.parts();
            assert_eq!(
                [header, payload].concat(),
                &slab[spans[i].range()],
                "segment {i}"
            );
            assert_eq!(batch.parts(i), Some((header, payload)));
            assert_eq!(p.len(), spans[i].len);
            // The payload is where the read put it: right after the previous one.
            let at = payload.as_ptr() as usize;
            if let Some(want) = next_payload {
                assert_eq!(at, want);
            }
            next_payload = Some(at + payload.len());
            assert!(p.checksum().is_known_good());
        }
        assert!(rx.pending.is_none());
    }

    #[test]
    fn a_long_plain_packet_is_delivered_whole_where_it_belongs() {
        let q = test_queue(10);
        let mut rx = Reader::new(q);
        let jumbo: Vec<u8> = (0..9000u32).map(|i| (i % 253) as u8).collect();
        rx.inject_frame(&frame(VirtioNetHdr::plain(), &jumbo));
        let mut batch = RecvBatch::new(128, 16);
        assert_eq!(rx.recv(&mut batch).unwrap(), 1);
        let p = batch.get(0).unwrap();
        assert_eq!((p.offset(), p.bytes()), (16, &jumbo[..]));
    }

    #[test]
    fn iter_mut_yields_disjoint_headroom_and_packet() {
        let q = test_queue(0);
        let mut rx = Reader::new(q);
        for i in 0..3u8 {
            let mut p = super_packet(1, 10 + usize::from(i));
            p[40] = i;
            rx.inject_frame(&p);
        }
        let mut batch = RecvBatch::new(8, 4);
        assert_eq!(rx.recv(&mut batch).unwrap(), 3);
        for (i, p) in batch.iter_mut().enumerate() {
            assert!(
                !p.checksum().is_known_good(),
                "plain packets are as received"
            );
            let (head, ip) = p.split_headroom_mut();
            assert_eq!((head.len(), ip.len(), ip[40]), (4, 50 + i, i as u8));
            head.copy_from_slice(&[0xab; 4]);
        }
        for p in batch.iter() {
            assert_eq!(&p.with_headroom()[..4], &[0xab; 4]);
            assert_eq!(p.bytes()[0], 0x45);
        }
    }

    #[test]
    fn batch_is_a_packet_source_and_keeps_arrival_order_when_trimmed() {
        use tcp_gro::PacketSource;
        let q = test_queue(0);
        let mut rx = Reader::new(q);
        for i in 0..4u8 {
            let mut p = super_packet(1, 10);
            p[40] = i;
            rx.inject_frame(&p);
        }
        let mut batch = RecvBatch::new(8, 6);
        assert_eq!(rx.recv(&mut batch).unwrap(), 4);
        for i in 0..4 {
            assert_eq!(batch.packet(i), Some(batch.get(i).unwrap().bytes()));
        }
        assert_eq!(batch.packet(4), None);
        batch.retain(|i| i % 2 == 1);
        assert_eq!(batch.len(), 2);
        assert_eq!((batch.arrival_index(0), batch.arrival_index(1)), (1, 3));
        assert_eq!(batch.packet(0).map(|p| p[40]), Some(1));
        assert_eq!(batch.packet(1).map(|p| p[40]), Some(3));
        // Still disjoint, in order, with their headroom.
        assert_eq!(batch.iter_mut().count(), 2);
    }

    /// Rule book §5.4.1: payload ≤ gso_size < payload + options. The kernel's segmentation
    /// drops it, so the reader drops it too, counted, under its own reason.
    #[test]
    fn nothing_to_segment_is_dropped_under_its_own_reason() {
        let mut pkt = super_packet(1, 28);
        pkt[32] = 0x80; // a 32-byte TCP header: 12 option bytes, 16 payload bytes
        let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 32, 19, false);
        let e = Plan::new(&hdr, &pkt).unwrap_err();
        assert_eq!(drop_reason(e), DropReason::NothingToSegment);
        for zero_copy in [false, true] {
            let q = test_queue(10);
            let mut rx = Reader::new(Arc::clone(&q));
            rx.inject_frame(&frame(hdr, &pkt));
            // One segment's worth at gso_size 28 is delivered: the rule, not the packet.
            let mut at_28 = hdr;
            at_28.set_gso_size(28);
            rx.inject_frame(&frame(at_28, &pkt));
            let mut batch = RecvBatch::new(8, 4).zero_copy_split(zero_copy);
            let got = drain_all(&mut rx, &mut batch);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].0.len(), pkt.len());
            let c = &q.dev.counters;
            assert_eq!(c.dropped_malformed.load(Ordering::Relaxed), 1);
            assert_eq!(c.frames_read.load(Ordering::Relaxed), 2);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any bytes the kernel (or an attacker with the fd) could hand over give packets or
        /// counted drops, never a panic or an out-of-bounds packet.
        #[test]
        fn hostile_frames_never_panic(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..8),
            vnet in prop_oneof![Just(0usize), Just(10), Just(12)],
            cap in prop_oneof![1usize..8, 100usize..140],
            headroom in 0usize..64,
            zero_copy in any::<bool>(),
        ) {
            let q = test_queue(vnet);
            let mut rx = Reader::new(Arc::clone(&q));
            for f in &frames {
                rx.inject_frame(f);
            }
            let mut batch = RecvBatch::new(cap, headroom).zero_copy_split(zero_copy);
            let got = drain_all(&mut rx, &mut batch);
            let c = &q.dev.counters;
            prop_assert_eq!(c.frames_read.load(Ordering::Relaxed), frames.len() as u64);
            prop_assert!(got.len() as u64 >= frames.len() as u64 - c.dropped_malformed.load(Ordering::Relaxed));
        }

        /// The caller's buffers get exactly the packets, checksum states and drops a
        /// `RecvBatch` gets from the same frames, whatever the buffer count, offset and
        /// frames (hostile ones included), as long as each buffer holds the longest packet.
        #[test]
        fn recv_into_delivers_what_recv_delivers(
            frames in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..3000),
                    (1usize..40, 1usize..1400).prop_map(|(segments, mss)| {
                        let hdr = VirtioNetHdr::tcp_gso(
                            inet_hdr::IpVersion::V4, 20, 20, mss as u16, false);
                        frame(hdr, &super_packet(segments, mss))
                    }),
                    // USO super-packets go through the other splitter behind the same plan.
                    (1usize..40, 1usize..1400, any::<bool>()).prop_map(|(segments, size, v6)| {
                        let d = if v6 { UdpPacket::v6() } else { UdpPacket::v4() };
                        let (hdr, p) = d.payload_len(segments * size).gso_size(size as u16).build_gso();
                        frame(hdr, &p)
                    }),
                ],
                1..8,
            ),
            count in prop_oneof![1usize..8, 60usize..70],
            offset in 0usize..64,
            zero_copy in any::<bool>(),
        ) {
            let mut want = Vec::new();
            let mut drops = Vec::new();
            for into in [false, true] {
                let q = test_queue(10);
                let mut rx = Reader::new(Arc::clone(&q));
                for f in &frames {
                    rx.inject_frame(f);
                }
                let got = if into {
                    // Room for any packet (at most 3000 bytes, or 40 + 1400 for a segment).
                    drain_all_into(&mut rx, count, offset + 3000, offset)
                } else {
                    drain_all(&mut rx, &mut RecvBatch::new(count, offset).zero_copy_split(zero_copy))
                };
                want.push(got);
                drops.push(q.dev.counters.dropped_malformed.load(Ordering::Relaxed));
            }
            prop_assert_eq!(&want[1], &want[0]);
            prop_assert_eq!(drops[1], drops[0]);
        }

        /// Any frames, any buffers (short ones too): packets or counted drops, never a panic,
        /// never a byte in the headroom.
        #[test]
        fn recv_into_survives_hostile_frames_and_short_buffers(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..8),
            vnet in prop_oneof![Just(0usize), Just(10), Just(12)],
            count in 1usize..8,
            len in 0usize..2000,
            offset in 0usize..64,
        ) {
            let q = test_queue(vnet);
            let mut rx = Reader::new(Arc::clone(&q));
            for f in &frames {
                rx.inject_frame(f);
            }
            let got = drain_all_into(&mut rx, count, len, offset);
            let c = &q.dev.counters;
            prop_assert_eq!(c.frames_read.load(Ordering::Relaxed), frames.len() as u64);
            prop_assert_eq!(c.packets_delivered.load(Ordering::Relaxed), got.len() as u64);
            prop_assert!(got.iter().all(|(p, _)| offset + p.len() <= len));
        }

        /// Header fields mutated around a valid super-packet: the result is exactly what
        /// `Plan::split` produces in one go, or one counted drop.
        #[test]
        fn mutated_headers_match_a_one_shot_split(
            segments in 1usize..30,
            mss in 1usize..1500,
            field in 0usize..10,
            value in any::<u8>(),
            cap in prop_oneof![1usize..12, 100usize..140],
            headroom in 0usize..40,
            zero_copy in any::<bool>(),
        ) {
            prop_assume!(segments * mss + 40 <= 65535);
            let pkt = super_packet(segments, mss);
            let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, mss as u16, false);
            let mut f = frame(hdr, &pkt);
            f[field] = value;
            let (h, p) = VirtioNetHdr::ref_from_packet(&f).unwrap();
            let mut want = Vec::new();
            let mut slab = vec![0u8; 200_000];
            let mut spans = vec![Span::default(); 70_000];
            let expected = Plan::new(h, p)
                .and_then(|plan| plan.split(p, 0, Slab::new(&mut slab, 0), &mut spans))
                .map(|s| {
                    for sp in &spans[..s.segments] {
                        want.push(slab[sp.range()].to_vec());
                    }
                })
                .is_ok();
            let q = test_queue(10);
            let mut rx = Reader::new(Arc::clone(&q));
            rx.inject_frame(&f);
            let mut batch = RecvBatch::new(cap, headroom).zero_copy_split(zero_copy);
            let got: Vec<Vec<u8>> = drain_all(&mut rx, &mut batch).into_iter().map(|(b, _)| b).collect();
            let dropped = q.dev.counters.dropped_malformed.load(Ordering::Relaxed);
            if expected {
                prop_assert_eq!(dropped, 0);
                prop_assert_eq!(got, want);
            } else {
                prop_assert_eq!(dropped, 1);
                prop_assert!(got.is_empty());
            }
        }
    }
}
