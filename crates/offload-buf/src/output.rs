//! What a drained batch looks like to the writer: the batch's outputs as a coalescer records
//! them ([`Outputs`]), and the views that borrow them — [`Drain`], [`Output`] (headers +
//! payload slices) — with the scatter-gather helpers.

use alloc::vec::Vec;
use core::fmt;
use core::iter::FusedIterator;

use virtio_net_hdr::VirtioNetHdr;

use crate::Span;
use crate::source::PacketSource;

/// The bytes at `s` in the packet `header` + `payload`, if they lie within one part (always,
/// for a packet of the shape it was pushed in: the span is all of the payload part or lies in
/// the header part).
#[inline]
fn span_bytes<'a>(header: &'a [u8], payload: &'a [u8], s: Span) -> Option<&'a [u8]> {
    match s.offset.checked_sub(header.len()) {
        Some(t) => bytes_at(
            payload,
            Span {
                offset: t,
                len: s.len,
            },
        ),
        None => bytes_at(header, s),
    }
}

/// The bytes at `s` in `bytes`, if it lies within them.
#[inline]
fn bytes_at(bytes: &[u8], s: Span) -> Option<&[u8]> {
    bytes.get(s.offset..s.offset.checked_add(s.len)?)
}

/// One output packet.
#[derive(Clone, Copy, Debug)]
struct OutEntry {
    vnet: VirtioNetHdr,
    merged: bool,
    /// Patched headers in the coalescer's header buffer (merged only).
    hdr: Span,
    /// Range in `indices` (and `spans`).
    first: u32,
    count: u32,
    /// Total IP packet length.
    len: usize,
}

/// A drained batch's outputs in write order, as a coalescer records them, read back through
/// [`Drain`]. This is the coalescer's side of the API (`tcp-gro` and `udp-gro` fill one per
/// batch); a writer only sees the [`Output`]s a `drain` yields. The storage is kept from batch
/// to batch: after [`clear`](Self::clear), recording as many outputs as before allocates
/// nothing.
///
/// Each output is either a packet passed through as it is ([`push_pass`](Self::push_pass)),
/// or a merged packet ([`push_merged`](Self::push_merged)): headers the coalescer patched,
/// kept in a header buffer of its own, followed by its members' payloads, each left where it
/// lies in its input packet ([`push_member`](Self::push_member)).
///
/// ```
/// use offload_buf::{Drain, Outputs, Span, VirtioNetHdr};
///
/// // A toy batch: packets 0 and 1 are a 4-byte header and a payload; packet 2 is anything.
/// let packets = [b"HDR1aaaa".to_vec(), b"HDR1bbb".to_vec(), b"other".to_vec()];
/// // The coalescer's header buffer: the patched copy of packet 0's header.
/// let headers = b"HDR2".to_vec();
///
/// let mut outs = Outputs::with_capacity(3);
/// outs.push_member(0, Span { offset: 4, len: 4 });
/// outs.push_member(1, Span { offset: 4, len: 3 });
/// outs.push_merged(VirtioNetHdr::udp_gso(20, 4), Span { offset: 0, len: 4 }, 11);
/// outs.push_pass(2, 5, 0);
/// assert_eq!(outs.len(), 2);
///
/// let drained: Vec<_> = Drain::new(&outs, &headers, &packets).collect();
/// assert_eq!(drained[0].indices(), &[0, 1]);
/// assert_eq!(drained[0].headers(), b"HDR2");
/// assert_eq!(drained[0].payloads().collect::<Vec<_>>(), [&b"aaaa"[..], &b"bbb"[..]]);
/// assert_eq!(drained[1].headers(), b"other");
/// ```
#[derive(Debug, Default)]
pub struct Outputs {
    entries: Vec<OutEntry>,
    /// Each output's input indices, one range per output.
    indices: Vec<usize>,
    /// Parallel to `indices`: where each member's payload lies in its packet.
    spans: Vec<Span>,
    /// Where the members of the next merged output start in `indices`.
    open: usize,
}

impl Outputs {
    /// Empty outputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty outputs with room for a batch of `packets` packets.
    ///
    /// ```
    /// let outs = offload_buf::Outputs::with_capacity(128);
    /// assert!(outs.is_empty());
    /// ```
    pub fn with_capacity(packets: usize) -> Self {
        Outputs {
            entries: Vec::with_capacity(packets),
            indices: Vec::with_capacity(packets),
            spans: Vec::with_capacity(packets),
            open: 0,
        }
    }

    /// Forget every output, keeping the storage.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.indices.clear();
        self.spans.clear();
        self.open = 0;
    }

    /// Outputs recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no output is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Record the packet pushed as `index` as an output of its own, unchanged, behind a plain
    /// (zeroed) virtio header: `header_len` + `payload_len` bytes, its two parts as the packet
    /// source holds them (`payload_len` 0 for a packet in one piece). Members pushed since the
    /// last output and not claimed by [`push_merged`](Self::push_merged) are dropped.
    ///
    /// ```
    /// use offload_buf::{Drain, Outputs};
    /// let packets = [b"headpayload".to_vec()];
    /// let mut outs = Outputs::new();
    /// outs.push_pass(0, 11, 0);
    /// let out = Drain::new(&outs, &[], &packets).next().unwrap();
    /// assert_eq!((out.headers(), out.len(), out.is_merged()), (&b"headpayload"[..], 11, false));
    /// ```
    #[inline]
    pub fn push_pass(&mut self, index: usize, header_len: usize, payload_len: usize) {
        self.drop_members();
        let first = self.indices.len() as u32;
        self.indices.push(index);
        // Kept parallel to `indices`; a payload part is the output's one payload slice.
        self.spans.push(Span {
            offset: header_len,
            len: payload_len,
        });
        self.open = self.indices.len();
        self.entries.push(OutEntry {
            vnet: VirtioNetHdr::plain(),
            merged: false,
            hdr: Span::default(),
            first,
            count: 1,
            len: header_len + payload_len,
        });
    }

    /// Add the packet pushed as `index` to the merged output being built: its payload is the
    /// bytes at `payload` in the packet (offsets in the concatenation of its
    /// [`parts`](PacketSource::parts); the span must lie within one part). Members are written
    /// in the order they are added.
    #[inline]
    pub fn push_member(&mut self, index: usize, payload: Span) {
        self.indices.push(index);
        self.spans.push(payload);
    }

    /// Drop the members added with [`push_member`](Self::push_member) since the last output: a
    /// merged output abandoned half-way (a coalescer that finds a member changed while it adds
    /// the members, and writes them alone instead).
    ///
    /// ```
    /// use offload_buf::{Outputs, Span, VirtioNetHdr};
    /// let mut outs = Outputs::new();
    /// outs.push_member(0, Span { offset: 4, len: 4 });
    /// outs.drop_members();
    /// outs.push_member(1, Span { offset: 4, len: 4 });
    /// outs.push_member(2, Span { offset: 4, len: 4 });
    /// outs.push_merged(VirtioNetHdr::udp_gso(20, 4), Span { offset: 0, len: 4 }, 12);
    /// let packets = [b"HDR1aaaa".to_vec(), b"HDR1bbbb".to_vec(), b"HDR1cccc".to_vec()];
    /// let out = offload_buf::Drain::new(&outs, b"HDR2", &packets).next().unwrap();
    /// assert_eq!(out.indices(), &[1, 2]);
    /// ```
    #[inline]
    pub fn drop_members(&mut self) {
        self.indices.truncate(self.open);
        self.spans.truncate(self.open);
    }

    /// Record a merged output: the headers at `headers` in the coalescer's header buffer (the
    /// one given to [`Drain::new`]), followed by the payloads of the members added with
    /// [`push_member`](Self::push_member) since the last output; `len` bytes in all, behind
    /// `vnet`.
    ///
    /// ```
    /// use offload_buf::{Drain, Outputs, Span, VirtioNetHdr};
    /// let packets = [b"Haa".to_vec(), b"Hbb".to_vec()];
    /// let headers = b"H".to_vec();
    /// let mut outs = Outputs::new();
    /// outs.push_member(0, Span { offset: 1, len: 2 });
    /// outs.push_member(1, Span { offset: 1, len: 2 });
    /// outs.push_merged(VirtioNetHdr::udp_gso(20, 2), Span { offset: 0, len: 1 }, 5);
    /// let out = Drain::new(&outs, &headers, &packets).next().unwrap();
    /// let mut bytes = [0u8; 5];
    /// assert_eq!(out.materialize(&mut bytes), Ok(5));
    /// assert_eq!(&bytes, b"Haabb");
    /// assert_eq!(out.vnet_hdr().gso_size(), 2);
    /// ```
    #[inline]
    pub fn push_merged(&mut self, vnet: VirtioNetHdr, headers: Span, len: usize) {
        let first = self.open;
        self.open = self.indices.len();
        self.entries.push(OutEntry {
            vnet,
            merged: true,
            hdr: headers,
            first: first as u32,
            count: (self.open - first) as u32,
            len,
        });
    }
}

/// The packets of a drained batch, in write order: what a coalescer's `drain`
/// (`tcp_gro::Coalescer::drain`, `udp_gro::Coalescer::drain`) returns.
///
/// ```
/// use offload_buf::{Drain, Outputs};
/// let packets = [vec![0x45u8; 20], vec![0x60; 40]];
/// let mut outs = Outputs::new();
/// outs.push_pass(1, 40, 0);
/// outs.push_pass(0, 20, 0);
/// let drain = Drain::new(&outs, &[], &packets);
/// assert_eq!(drain.len(), 2);
/// assert_eq!(drain.map(|o| o.indices()[0]).collect::<Vec<_>>(), [1, 0]);
/// ```
///
/// `S` is the packet source the batch was drained with (e.g. `[Vec<u8>]`).
#[derive(Debug)]
pub struct Drain<'a, S: ?Sized> {
    outs: &'a [OutEntry],
    indices: &'a [usize],
    spans: &'a [Span],
    hdrs: &'a [u8],
    packets: &'a S,
    pos: usize,
}

impl<'a, S: PacketSource + ?Sized> Drain<'a, S> {
    /// The outputs `outputs`, their merged headers in `headers` (the coalescer's header
    /// buffer), their payloads in `packets`. For a coalescer's `drain` to return.
    pub fn new(outputs: &'a Outputs, headers: &'a [u8], packets: &'a S) -> Self {
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
        let members = first..first + e.count as usize;
        let indices = self.indices.get(members.clone()).unwrap_or(&[]);
        let (headers, spans) = if e.merged {
            (
                bytes_at(self.hdrs, e.hdr).unwrap_or(&[]),
                self.spans.get(members).unwrap_or(&[]),
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
/// `S` is the packet source the batch was drained with (e.g. `[Vec<u8>]`).
#[derive(Debug)]
pub struct Output<'a, S: ?Sized = [Vec<u8>]> {
    entry: &'a OutEntry,
    packets: &'a S,
    headers: &'a [u8],
    indices: &'a [usize],
    spans: &'a [Span],
}

impl<S: ?Sized> Clone for Output<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S: ?Sized> Copy for Output<'_, S> {}

impl<'a, S: PacketSource + ?Sized> Output<'a, S> {
    /// The virtio header to write in front of the packet: for a merged packet, the GSO header
    /// its coalescer built (NEEDS_CSUM, `csum_start` = L4 offset; `tcp-gro`: TCPV4/TCPV6 with
    /// `gso_size` = the first segment's payload; `udp-gro`: UDP_L4 with `gso_size` = the first
    /// datagram's payload); all zeros otherwise.
    pub fn vnet_hdr(&self) -> VirtioNetHdr {
        self.entry.vnet
    }

    /// [`vnet_hdr`](Self::vnet_hdr) as the 10 wire bytes (host-native order, as TUN expects
    /// without `TUNSETVNETLE`), borrowed for the whole batch so they can sit in an `IoSlice`
    /// next to the packet.
    pub fn vnet_bytes(&self) -> &'a [u8] {
        zerocopy::IntoBytes::as_bytes(&self.entry.vnet)
    }

    /// The packet's headers: the patched headers of the first member when merged, or the
    /// whole packet when passed through (its header part, if it was pushed in two).
    pub fn headers(&self) -> &'a [u8] {
        self.headers
    }

    /// The payload slices that follow [`headers`](Self::headers), in the order the packet
    /// carries them, each still living in its input packet (none for a pass-through, or its
    /// payload part).
    pub fn payloads(&self) -> Payloads<'a, S> {
        Payloads {
            packets: self.packets,
            indices: self.indices,
            spans: self.spans,
            pos: 0,
        }
    }

    /// The input indices this packet is made of, in the order the packet carries them.
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

    /// Whether this is a super-packet of two or more members (with a GSO header).
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
    /// use offload_buf::{Drain, Outputs, Span, VirtioNetHdr};
    /// // Two toy packets (a 1-byte header, then payload) merged behind the header "H".
    /// let packets = [b"Haaa".to_vec(), b"Hbb".to_vec()];
    /// let mut outs = Outputs::new();
    /// outs.push_member(0, Span { offset: 1, len: 3 });
    /// outs.push_member(1, Span { offset: 1, len: 2 });
    /// outs.push_merged(VirtioNetHdr::udp_gso(20, 3), Span { offset: 0, len: 1 }, 6);
    /// let out = Drain::new(&outs, b"H", &packets).next().unwrap();
    ///
    /// let mut small = [0u8; 4];
    /// assert_eq!(out.materialize(&mut small).unwrap_err().needed, 6);
    /// let mut buf = [0u8; 16];
    /// assert_eq!(out.materialize(&mut buf), Ok(6));
    /// assert_eq!(&buf[..6], b"Haaabb");
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
    /// use offload_buf::{Drain, Outputs, Span, VirtioNetHdr};
    /// // Two toy packets (a 1-byte header, then payload) merged behind the header "H".
    /// let packets = [b"Haaa".to_vec(), b"Hbb".to_vec()];
    /// let mut outs = Outputs::new();
    /// outs.push_member(0, Span { offset: 1, len: 3 });
    /// outs.push_member(1, Span { offset: 1, len: 2 });
    /// outs.push_merged(VirtioNetHdr::udp_gso(20, 3), Span { offset: 0, len: 1 }, 6);
    ///
    /// let mut iov = Vec::new();
    /// for out in Drain::new(&outs, b"H", &packets) {
    ///     out.io_slices(out.vnet_bytes(), &mut iov);
    ///     assert_eq!(iov.len(), 4); // vnet, headers, two payloads
    ///     assert_eq!(iov.iter().map(|s| s.len()).sum::<usize>(), 10 + 6);
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
    /// use offload_buf::{Drain, IoSliceBuf, Outputs};
    /// let mut iov = IoSliceBuf::with_capacity(64);
    /// let mut outs = Outputs::new();
    /// for _batch in 0..2 {
    ///     let packets = [b"a whole packet".to_vec()];
    ///     outs.clear();
    ///     outs.push_pass(0, packets[0].len(), 0);
    ///     for out in Drain::new(&outs, &[], &packets) {
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
    ///
    /// ```
    /// assert!(offload_buf::IoSliceBuf::with_capacity(47).capacity() >= 47);
    /// ```
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

/// Iterator over an [`Output`]'s payload slices (see [`Output::payloads`]).
#[derive(Debug)]
pub struct Payloads<'a, S: ?Sized> {
    packets: &'a S,
    indices: &'a [usize],
    spans: &'a [Span],
    pos: usize,
}

impl<'a, S: PacketSource + ?Sized> Iterator for Payloads<'a, S> {
    type Item = &'a [u8];

    #[inline]
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
///
/// ```
/// use offload_buf::{Drain, Outputs};
/// let packets = [vec![0x45u8; 1500]];
/// let mut outs = Outputs::new();
/// outs.push_pass(0, 1500, 0);
/// let out = Drain::new(&outs, &[], &packets).next().unwrap();
/// let e = out.materialize(&mut [0u8; 1000]).unwrap_err();
/// assert_eq!((e.needed, e.available), (1500, 1000));
/// assert_eq!(e.to_string(), "buffer of 1000 bytes is too small for a 1500-byte packet");
/// ```
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
