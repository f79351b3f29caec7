//! What a drained batch looks like to the writer: the batch's outputs as drain records them
//! ([`Outputs`]), and the views that borrow them — [`Drain`], [`Output`] (headers + payload
//! slices) — with the scatter-gather helpers.

use alloc::vec::Vec;
use core::fmt;
use core::iter::FusedIterator;

use virtio_net_hdr::VirtioNetHdr;

use crate::source::PacketSource;

/// Where a member's payload lies in its input packet (offsets in the concatenation of the
/// packet's [`parts`](PacketSource::parts)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PayloadSpan {
    pub(crate) off: u32,
    pub(crate) len: u32,
}

/// The bytes at `s` in the packet `header` + `payload`, if they lie within one part (always,
/// for a packet of the shape it was pushed in: the span is all of the payload part or lies in
/// the header part).
#[inline]
pub(crate) fn span_bytes<'a>(
    header: &'a [u8],
    payload: &'a [u8],
    s: PayloadSpan,
) -> Option<&'a [u8]> {
    let (off, len) = (s.off as usize, s.len as usize);
    match off.checked_sub(header.len()) {
        Some(t) => payload.get(t..t + len),
        None => header.get(off..off + len),
    }
}

/// One output packet.
#[derive(Clone, Copy, Debug)]
struct OutEntry {
    vnet: VirtioNetHdr,
    merged: bool,
    /// Patched header range in the header arena (merged only).
    hdr: (u32, u32),
    /// Range in `indices` (and, when merged, `spans`).
    first: u32,
    count: u32,
    /// Total IP packet length.
    len: usize,
}

/// A drained batch's outputs in write order, filled by drain and read through [`Drain`]; the
/// storage is kept from batch to batch. A merged output's headers lie in the header arena that
/// [`Drain`] is given beside these.
#[derive(Debug)]
pub(crate) struct Outputs {
    entries: Vec<OutEntry>,
    /// Each output's input indices, one range per output.
    indices: Vec<usize>,
    /// Parallel to `indices`: where each member's payload lies in its packet.
    spans: Vec<PayloadSpan>,
}

impl Outputs {
    /// Empty outputs with room for `batch` packets.
    pub(crate) fn with_capacity(batch: usize) -> Self {
        Outputs {
            entries: Vec::with_capacity(batch),
            indices: Vec::with_capacity(batch),
            spans: Vec::with_capacity(batch),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.indices.clear();
        self.spans.clear();
    }

    /// A packet written as it is, `header_len` + `payload_len` bytes in its two parts, with a
    /// plain virtio header.
    #[inline]
    pub(crate) fn push_pass(&mut self, index: usize, header_len: usize, payload_len: usize) {
        let first = self.indices.len() as u32;
        self.indices.push(index);
        // Kept parallel to `indices`; a payload part is the output's one payload slice.
        self.spans.push(PayloadSpan {
            off: header_len as u32,
            len: payload_len as u32,
        });
        self.entries.push(OutEntry {
            vnet: VirtioNetHdr::plain(),
            merged: false,
            hdr: (0, 0),
            first,
            count: 1,
            len: header_len + payload_len,
        });
    }

    /// How many members the outputs hold: where the next merged output's members start.
    #[inline]
    pub(crate) fn members_pushed(&self) -> u32 {
        self.indices.len() as u32
    }

    /// A member of the merged output being built (see [`push_merged`](Self::push_merged)).
    #[inline]
    pub(crate) fn push_member(&mut self, index: usize, span: PayloadSpan) {
        self.indices.push(index);
        self.spans.push(span);
    }

    /// A merged output of the members pushed since [`members_pushed`](Self::members_pushed)
    /// was `first`, behind the patched headers at `hdr` (offset, length) in the header arena;
    /// `len` bytes in all.
    #[inline]
    pub(crate) fn push_merged(
        &mut self,
        vnet: VirtioNetHdr,
        hdr: (u32, u32),
        first: u32,
        len: usize,
    ) {
        self.entries.push(OutEntry {
            vnet,
            merged: true,
            hdr,
            first,
            count: self.indices.len() as u32 - first,
            len,
        });
    }
}

/// The packets of a drained batch, in write order (see
/// [`Coalescer::drain`](crate::Coalescer::drain)).
///
/// ```
/// use tcp_gro::{ChecksumStatus, Coalescer, Config};
/// # /// An IPv4 TCP segment 10.0.0.1:40000 → 10.0.0.2:5201 (DF, TTL 64, ACK, window 502), `len`
/// # /// payload bytes, checksums valid.
/// # fn segment(seq: u32, ip_id: u16, len: usize) -> Vec<u8> {
/// #     let mut p = vec![
/// #         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
/// #         0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 0, 0, 0, 0, 1, 0x50, 0x10, 0x01, 0xf6, 0, 0, 0, 0,
/// #     ];
/// #     p[2..4].copy_from_slice(&((40 + len) as u16).to_be_bytes());
/// #     p[4..6].copy_from_slice(&ip_id.to_be_bytes());
/// #     p[24..28].copy_from_slice(&seq.to_be_bytes());
/// #     p.resize(40 + len, 0xab);
/// #     let ip = inet_csum::header_checksum(&p[..20]);
/// #     p[10..12].copy_from_slice(&ip.to_be_bytes());
/// #     let tcp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, (20 + len) as u16)
/// #         .add(&p[20..])
/// #         .finish();
/// #     p[36..38].copy_from_slice(&tcp.to_be_bytes());
/// #     p
/// # }
/// let packets = [segment(0, 1, 10)]; // IPv4 + TCP, 10 bytes of payload
/// let mut gro = Coalescer::new(Config::default());
/// gro.push(0, &packets[0], ChecksumStatus::Unverified);
/// let drain = gro.drain(&packets);
/// assert_eq!(drain.len(), 1);
/// ```
///
/// `S` is the packet source passed to [`Coalescer::drain`](crate::Coalescer::drain) (e.g.
/// `[Vec<u8>]`).
#[derive(Debug)]
pub struct Drain<'a, S: ?Sized> {
    outs: &'a [OutEntry],
    indices: &'a [usize],
    spans: &'a [PayloadSpan],
    hdrs: &'a [u8],
    packets: &'a S,
    pos: usize,
}

impl<'a, S: PacketSource + ?Sized> Drain<'a, S> {
    /// The outputs `outputs`, their merged headers in `headers` (the header arena), their
    /// payloads in `packets`.
    pub(crate) fn new(outputs: &'a Outputs, headers: &'a [u8], packets: &'a S) -> Self {
        Drain {
            outs: &outputs.entries,
            indices: &outputs.indices,
            spans: &outputs.spans,
            hdrs: headers,
            packets,
            pos: 0,
        }
    }
}

impl<'a, S: PacketSource + ?Sized> Iterator for Drain<'a, S> {
    type Item = Output<'a, S>;

    fn next(&mut self) -> Option<Output<'a, S>> {
        let e = self.outs.get(self.pos)?;
        self.pos += 1;
        let first = e.first as usize;
        let indices = self
            .indices
            .get(first..first + e.count as usize)
            .unwrap_or(&[]);
        let (headers, spans) = if e.merged {
            let (at, n) = (e.hdr.0 as usize, e.hdr.1 as usize);
            (
                self.hdrs.get(at..at + n).unwrap_or(&[]),
                self.spans
                    .get(first..first + e.count as usize)
                    .unwrap_or(&[]),
            )
        } else {
            let whole = indices
                .first()
                .and_then(|&i| self.packets.packet(i))
                .unwrap_or_default();
            // A packet passed through in two parts has its payload part as its one payload.
            let payload = self
                .spans
                .get(first..first + 1)
                .filter(|s| s[0].len > 0)
                .unwrap_or(&[]);
            (whole, payload)
        };
        Some(Output {
            entry: e,
            packets: self.packets,
            headers,
            indices,
            spans,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.outs.len() - self.pos;
        (n, Some(n))
    }
}

impl<S: PacketSource + ?Sized> ExactSizeIterator for Drain<'_, S> {}
impl<S: PacketSource + ?Sized> FusedIterator for Drain<'_, S> {}

/// One packet to write: a merged super-packet (patched headers + payload slices borrowed from
/// the input packets) or a packet passed through unchanged.
///
/// `S` is the packet source passed to [`Coalescer::drain`](crate::Coalescer::drain) (e.g.
/// `[Vec<u8>]`).
#[derive(Debug)]
pub struct Output<'a, S: ?Sized = [Vec<u8>]> {
    entry: &'a OutEntry,
    packets: &'a S,
    headers: &'a [u8],
    indices: &'a [usize],
    spans: &'a [PayloadSpan],
}

impl<S: ?Sized> Clone for Output<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S: ?Sized> Copy for Output<'_, S> {}

impl<'a, S: PacketSource + ?Sized> Output<'a, S> {
    /// The virtio header to write in front of the packet: a GSO header (NEEDS_CSUM,
    /// `csum_start` = L4 offset, `csum_offset` = 16, `gso_size` = first segment's payload,
    /// TCPV4/TCPV6) for a merged packet, all zeros otherwise.
    pub fn vnet_hdr(&self) -> VirtioNetHdr {
        self.entry.vnet
    }

    /// [`vnet_hdr`](Self::vnet_hdr) as the 10 wire bytes (host-native order, as TUN expects
    /// without `TUNSETVNETLE`), borrowed for the whole batch so they can sit in an `IoSlice`
    /// next to the packet.
    pub fn vnet_bytes(&self) -> &'a [u8] {
        zerocopy_bytes(&self.entry.vnet)
    }

    /// The packet's headers: the patched IP + TCP headers of the first segment when merged, or
    /// the whole packet when passed through (its header part, if it was pushed in two).
    pub fn headers(&self) -> &'a [u8] {
        self.headers
    }

    /// The payload slices that follow [`headers`](Self::headers), in sequence order, each still
    /// living in its input packet (none for a pass-through, or its payload part).
    pub fn payloads(&self) -> Payloads<'a, S> {
        Payloads {
            packets: self.packets,
            indices: self.indices,
            spans: self.spans,
            pos: 0,
        }
    }

    /// The input indices this packet is made of, in sequence order.
    pub fn indices(&self) -> &'a [usize] {
        self.indices
    }

    /// Total IP packet length (headers + payloads).
    pub fn len(&self) -> usize {
        self.entry.len
    }

    /// Whether the packet is empty (never, for a real IP packet).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is a super-packet of two or more segments (with a GSO header).
    pub fn is_merged(&self) -> bool {
        self.entry.merged
    }

    /// Copy the whole IP packet into `dst` (for writers without scatter-gather). The capacity
    /// is checked before anything is written.
    ///
    /// # Errors
    /// [`TooSmall`] if `dst` is shorter than [`len`](Self::len); `dst` is left untouched.
    ///
    /// ```
    /// use tcp_gro::{ChecksumStatus, Coalescer, Config};
    /// # /// An IPv4 TCP segment 10.0.0.1:40000 → 10.0.0.2:5201 (DF, TTL 64, ACK, window 502), `len`
    /// # /// payload bytes, checksums valid.
    /// # fn segment(seq: u32, ip_id: u16, len: usize) -> Vec<u8> {
    /// #     let mut p = vec![
    /// #         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    /// #         0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 0, 0, 0, 0, 1, 0x50, 0x10, 0x01, 0xf6, 0, 0, 0, 0,
    /// #     ];
    /// #     p[2..4].copy_from_slice(&((40 + len) as u16).to_be_bytes());
    /// #     p[4..6].copy_from_slice(&ip_id.to_be_bytes());
    /// #     p[24..28].copy_from_slice(&seq.to_be_bytes());
    /// #     p.resize(40 + len, 0xab);
    /// #     let ip = inet_csum::header_checksum(&p[..20]);
    /// #     p[10..12].copy_from_slice(&ip.to_be_bytes());
    /// #     let tcp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, (20 + len) as u16)
    /// #         .add(&p[20..])
    /// #         .finish();
    /// #     p[36..38].copy_from_slice(&tcp.to_be_bytes());
    /// #     p
    /// # }
    /// // `segment(seq, ip_id, payload_len)`: IPv4 + TCP.
    /// let packets = [segment(0, 1, 100), segment(100, 2, 100)];
    /// let mut gro = Coalescer::new(Config::default());
    /// for (i, p) in packets.iter().enumerate() {
    ///     gro.push(i, p, ChecksumStatus::Unverified);
    /// }
    /// let out = gro.drain(&packets).next().unwrap();
    /// let mut small = [0u8; 100];
    /// assert_eq!(out.materialize(&mut small).unwrap_err().needed, 240);
    /// let mut buf = [0u8; 300];
    /// assert_eq!(out.materialize(&mut buf), Ok(240));
    /// assert_eq!(&buf[40..140], &packets[0][40..]);
    /// ```
    pub fn materialize(&self, dst: &mut [u8]) -> Result<usize, TooSmall> {
        let needed = self.len();
        if dst.len() < needed {
            return Err(TooSmall {
                needed,
                available: dst.len(),
            });
        }
        let mut at = 0;
        for part in core::iter::once(self.headers).chain(self.payloads()) {
            // `needed` is the sum of the part lengths, so every part fits.
            if let Some(d) = dst.get_mut(at..at + part.len()) {
                d.copy_from_slice(part);
            }
            at += part.len();
        }
        Ok(at)
    }

    /// Fill `out` (cleared first) with `[vnet, headers, payloads…]` for `writev`. Pass
    /// [`vnet_bytes`](Self::vnet_bytes) (or your own encoding of [`vnet_hdr`](Self::vnet_hdr),
    /// e.g. 12-byte or little-endian). One `Vec` serves a whole batch; to keep one across
    /// batches without allocating, use [`with_io_slices`](Self::with_io_slices).
    ///
    /// ```
    /// use tcp_gro::{ChecksumStatus, Coalescer, Config};
    /// # /// An IPv4 TCP segment 10.0.0.1:40000 → 10.0.0.2:5201 (DF, TTL 64, ACK, window 502), `len`
    /// # /// payload bytes, checksums valid.
    /// # fn segment(seq: u32, ip_id: u16, len: usize) -> Vec<u8> {
    /// #     let mut p = vec![
    /// #         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    /// #         0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 0, 0, 0, 0, 1, 0x50, 0x10, 0x01, 0xf6, 0, 0, 0, 0,
    /// #     ];
    /// #     p[2..4].copy_from_slice(&((40 + len) as u16).to_be_bytes());
    /// #     p[4..6].copy_from_slice(&ip_id.to_be_bytes());
    /// #     p[24..28].copy_from_slice(&seq.to_be_bytes());
    /// #     p.resize(40 + len, 0xab);
    /// #     let ip = inet_csum::header_checksum(&p[..20]);
    /// #     p[10..12].copy_from_slice(&ip.to_be_bytes());
    /// #     let tcp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, (20 + len) as u16)
    /// #         .add(&p[20..])
    /// #         .finish();
    /// #     p[36..38].copy_from_slice(&tcp.to_be_bytes());
    /// #     p
    /// # }
    /// // `segment(seq, ip_id, payload_len)`: IPv4 + TCP.
    /// let packets = [segment(0, 1, 100), segment(100, 2, 100)];
    /// let mut gro = Coalescer::new(Config::default());
    /// for (i, p) in packets.iter().enumerate() {
    ///     gro.push(i, p, ChecksumStatus::Unverified);
    /// }
    /// let mut iov = Vec::new();
    /// for out in gro.drain(&packets) {
    ///     out.io_slices(out.vnet_bytes(), &mut iov);
    ///     assert_eq!(iov.len(), 4); // vnet, headers, two payloads
    ///     assert_eq!(iov.iter().map(|s| s.len()).sum::<usize>(), 10 + 240);
    /// }
    /// ```
    #[cfg(feature = "std")]
    pub fn io_slices<'b>(&self, vnet: &'b [u8], out: &mut Vec<std::io::IoSlice<'b>>)
    where
        'a: 'b,
    {
        out.clear();
        out.push(std::io::IoSlice::new(vnet));
        out.push(std::io::IoSlice::new(self.headers));
        out.extend(self.payloads().map(std::io::IoSlice::new));
    }

    /// Call `f` with `[vnet, headers, payloads…]` built in `buf`'s reused storage: no
    /// allocation once `buf` has grown to the largest packet's slice count.
    ///
    /// ```
    /// use tcp_gro::{ChecksumStatus, Coalescer, Config, IoSliceBuf};
    /// # /// An IPv4 TCP segment 10.0.0.1:40000 → 10.0.0.2:5201 (DF, TTL 64, ACK, window 502), `len`
    /// # /// payload bytes, checksums valid.
    /// # fn segment(seq: u32, ip_id: u16, len: usize) -> Vec<u8> {
    /// #     let mut p = vec![
    /// #         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    /// #         0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 0, 0, 0, 0, 1, 0x50, 0x10, 0x01, 0xf6, 0, 0, 0, 0,
    /// #     ];
    /// #     p[2..4].copy_from_slice(&((40 + len) as u16).to_be_bytes());
    /// #     p[4..6].copy_from_slice(&ip_id.to_be_bytes());
    /// #     p[24..28].copy_from_slice(&seq.to_be_bytes());
    /// #     p.resize(40 + len, 0xab);
    /// #     let ip = inet_csum::header_checksum(&p[..20]);
    /// #     p[10..12].copy_from_slice(&ip.to_be_bytes());
    /// #     let tcp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, (20 + len) as u16)
    /// #         .add(&p[20..])
    /// #         .finish();
    /// #     p[36..38].copy_from_slice(&tcp.to_be_bytes());
    /// #     p
    /// # }
    /// let mut gro = Coalescer::new(Config::default());
    /// let mut iov = IoSliceBuf::with_capacity(64);
    /// for _batch in 0..2 {
    ///     let packets = [segment(0, 1, 100)]; // IPv4 + TCP, 100 bytes of payload
    ///     gro.push(0, &packets[0], ChecksumStatus::Unverified);
    ///     for out in gro.drain(&packets) {
    ///         let n = out.with_io_slices(out.vnet_bytes(), &mut iov, |s| s.len());
    ///         assert_eq!(n, 2); // vnet and the whole (passed-through) packet
    ///     }
    /// }
    /// ```
    #[cfg(feature = "std")]
    pub fn with_io_slices<R>(
        &self,
        vnet: &[u8],
        buf: &mut IoSliceBuf,
        f: impl FnOnce(&[std::io::IoSlice<'_>]) -> R,
    ) -> R {
        // Covariance turns the stored `IoSlice<'static>` vector into a shorter-lived one for
        // free; `recycle` turns it back without touching the allocation.
        let mut v: Vec<std::io::IoSlice<'_>> = core::mem::take(&mut buf.slices);
        self.io_slices(vnet, &mut v);
        let r = f(&v);
        buf.slices = recycle(v);
        r
    }
}

/// Reusable storage for [`Output::with_io_slices`]: keeps its capacity across batches.
#[cfg(feature = "std")]
#[derive(Debug, Default)]
pub struct IoSliceBuf {
    slices: Vec<std::io::IoSlice<'static>>,
}

#[cfg(feature = "std")]
impl IoSliceBuf {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Storage for `n` slices (a 64 KB super-packet of 1448-byte segments needs 47).
    pub fn with_capacity(n: usize) -> Self {
        IoSliceBuf {
            slices: Vec::with_capacity(n),
        }
    }

    /// Current capacity in slices.
    pub fn capacity(&self) -> usize {
        self.slices.capacity()
    }
}

/// Empty `v` and give it back with a `'static` element lifetime, keeping its allocation (the
/// standard library collects a `vec::IntoIter` adapter of a same-layout type in place).
#[cfg(feature = "std")]
fn recycle(mut v: Vec<std::io::IoSlice<'_>>) -> Vec<std::io::IoSlice<'static>> {
    v.clear();
    // `filter` cannot change the element lifetime; the closure never runs (the vector is empty).
    #[allow(clippy::unnecessary_filter_map)]
    v.into_iter().filter_map(|_| None).collect()
}

fn zerocopy_bytes(h: &VirtioNetHdr) -> &[u8] {
    inet_hdr::zerocopy::IntoBytes::as_bytes(h)
}

/// Iterator over an [`Output`]'s payload slices (see [`Output::payloads`]).
#[derive(Debug)]
pub struct Payloads<'a, S: ?Sized> {
    packets: &'a S,
    indices: &'a [usize],
    spans: &'a [PayloadSpan],
    pos: usize,
}

impl<'a, S: PacketSource + ?Sized> Iterator for Payloads<'a, S> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let s = *self.spans.get(self.pos)?;
        let index = *self.indices.get(self.pos)?;
        self.pos += 1;
        // Lengths were checked against `packets` when the batch was drained; `get` keeps a
        // source that changes its answer from causing a panic.
        let bytes = self
            .packets
            .parts(index)
            .and_then(|(header, payload)| span_bytes(header, payload, s));
        Some(bytes.unwrap_or(&[]))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.spans.len() - self.pos;
        (n, Some(n))
    }
}

impl<S: PacketSource + ?Sized> ExactSizeIterator for Payloads<'_, S> {}

/// [`Output::materialize`] was given a buffer shorter than the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TooSmall {
    /// Bytes the packet needs.
    pub needed: usize,
    /// Bytes the buffer has.
    pub available: usize,
}

impl fmt::Display for TooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buffer of {} bytes is too small for a {}-byte packet",
            self.available, self.needed
        )
    }
}

impl core::error::Error for TooSmall {}
