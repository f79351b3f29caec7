//! Where [`Coalescer::drain`](crate::Coalescer::drain) finds the packets pushed by index:
//! [`PacketSource`], and its implementations for slices, arrays and `Vec`s of buffers.

/// Where [`Coalescer::drain`](crate::Coalescer::drain) finds the packets pushed by index: a
/// slice, array or `Vec` of buffers (`Vec<u8>`, `&[u8]`, anything `AsRef<[u8]>`), or a
/// caller's own batch type that stores packets elsewhere (e.g. at offsets in one receive slab),
/// so its packets can be coalesced and written without first being copied into separate
/// buffers.
///
/// ```
/// use tcp_gro::{ChecksumStatus, Coalescer, Config, PacketSource};
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
///
/// /// Packets back to back in one buffer, found by (offset, length).
/// struct Slab {
///     bytes: Vec<u8>,
///     spans: Vec<(usize, usize)>,
/// }
/// impl PacketSource for Slab {
///     fn packet(&self, index: usize) -> Option<&[u8]> {
///         let &(at, len) = self.spans.get(index)?;
///         self.bytes.get(at..at + len)
///     }
/// }
///
/// let mut slab = Slab { bytes: Vec::new(), spans: Vec::new() };
/// for i in 0..2u32 {
///     let p = segment(100 * i, 1 + i as u16, 100); // IPv4 + TCP, 100 bytes of payload
///     slab.spans.push((slab.bytes.len(), p.len()));
///     slab.bytes.extend_from_slice(&p);
/// }
/// let mut gro = Coalescer::new(Config::default());
/// for i in 0..2 {
///     gro.push(i, slab.packet(i).unwrap(), ChecksumStatus::Unverified);
/// }
/// let out: Vec<_> = gro.drain(&slab).collect();
/// assert_eq!((out.len(), out[0].len()), (1, 240));
/// ```
///
/// A source may also hold a packet in two parts, (header, payload): its headers in one buffer
/// and its payload still in the super-packet it was split from
/// (`tcp_tso::Plan::split_headers`). `packet` gives the header part and
/// [`parts`](PacketSource::parts) both; push such packets with
/// [`Coalescer::push_parts`](crate::Coalescer::push_parts).
pub trait PacketSource {
    /// The bytes of the packet pushed as `index` (`None` if there is no such packet: its
    /// output is skipped) — its header part, for a packet held in two.
    fn packet(&self, index: usize) -> Option<&[u8]>;

    /// The packet pushed as `index` as (header, payload): the packet is their concatenation.
    /// By default the whole [`packet`](PacketSource::packet) and an empty payload.
    ///
    /// ```
    /// use tcp_gro::PacketSource;
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
