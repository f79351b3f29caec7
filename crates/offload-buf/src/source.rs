//! Where a coalescer finds, when it drains a batch, the packets pushed by index:
//! [`PacketSource`], and its implementations for slices, arrays and `Vec`s of buffers.

/// Where a coalescer's `drain` (`tcp_gro::Coalescer::drain`, `udp_gro::Coalescer::drain`)
/// finds the packets pushed by index: a slice, array or `Vec` of buffers (`Vec<u8>`, `&[u8]`,
/// anything `AsRef<[u8]>`), or a caller's own batch type that stores packets elsewhere (e.g.
/// at offsets in one receive buffer), so its packets can be coalesced and written without
/// first being copied into separate buffers. The [`Drain`](crate::Drain) of a batch borrows
/// the source for the payload slices it hands out.
///
/// ```
/// use offload_buf::PacketSource;
///
/// /// Packets back to back in one buffer, found by (offset, length).
/// struct Batch {
///     bytes: Vec<u8>,
///     spans: Vec<(usize, usize)>,
/// }
/// impl PacketSource for Batch {
///     fn packet(&self, index: usize) -> Option<&[u8]> {
///         let &(at, len) = self.spans.get(index)?;
///         self.bytes.get(at..at + len)
///     }
/// }
///
/// let batch = Batch { bytes: b"firstsecond".to_vec(), spans: vec![(0, 5), (5, 6)] };
/// assert_eq!(batch.packet(1), Some(&b"second"[..]));
/// assert_eq!(batch.parts(0), Some((&b"first"[..], &[][..])));
/// assert_eq!(batch.packet(2), None);
/// ```
///
/// A source may also hold a packet in two parts, (header, payload): its headers in one buffer
/// and its payload still in the super-packet it was split from
/// (`tcp_tso::Plan::split_headers`). `packet` gives the header part and
/// [`parts`](PacketSource::parts) both; coalescers take such packets with their `push_parts`.
pub trait PacketSource {
    /// The bytes of the packet pushed as `index` (`None` if there is no such packet: its
    /// output is skipped) — its header part, for a packet held in two.
    fn packet(&self, index: usize) -> Option<&[u8]>;

    /// The packet pushed as `index` as (header, payload): the packet is their concatenation.
    /// By default the whole [`packet`](PacketSource::packet) and an empty payload.
    ///
    /// ```
    /// use offload_buf::PacketSource;
    /// let packets = [vec![1u8, 2, 3]];
    /// assert_eq!(packets.parts(0), Some((&[1u8, 2, 3][..], &[][..])));
    /// ```
    #[inline]
    fn parts(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.packet(index).map(|p| (p, &[][..]))
    }
}

impl<P: AsRef<[u8]>> PacketSource for [P] {
    #[inline]
    fn packet(&self, index: usize) -> Option<&[u8]> {
        self.get(index).map(AsRef::as_ref)
    }
}

impl<P: AsRef<[u8]>, const N: usize> PacketSource for [P; N] {
    #[inline]
    fn packet(&self, index: usize) -> Option<&[u8]> {
        self.get(index).map(AsRef::as_ref)
    }
}

#[cfg(feature = "alloc")]
impl<P: AsRef<[u8]>> PacketSource for alloc::vec::Vec<P> {
    #[inline]
    fn packet(&self, index: usize) -> Option<&[u8]> {
        self.get(index).map(AsRef::as_ref)
    }
}

impl<S: PacketSource + ?Sized> PacketSource for &S {
    #[inline]
    fn packet(&self, index: usize) -> Option<&[u8]> {
        (**self).packet(index)
    }

    #[inline]
    fn parts(&self, index: usize) -> Option<(&[u8], &[u8])> {
        (**self).parts(index)
    }
}
