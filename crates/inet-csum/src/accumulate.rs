//! The streaming accumulator and the one-shot helpers built on it.

use crate::Impl;
use crate::ones::{adc, fold64, swap};

/// Slices up to this length take the straight-line path (IPv4/TCP headers, IPv6 headers).
const SHORT: usize = 63;

/// Below this length (from [`SHORT`] + 1) one add-with-carry chain and a shifted tail load beat
/// the vector loop's setup, reduction and tail tests.
const MID: usize = 128;

/// Below this length the scalar chains beat the SIMD paths' fixed cost (vector reduction).
const MEDIUM: usize = 256;

/// Streaming RFC 1071 accumulator.
///
/// Slices may be fed in any split: when an odd number of bytes has been added so far, the next
/// slice is summed as if aligned and its sum byte-swapped (RFC 1071 §2(B)), so no byte is ever
/// buffered. The accumulator is `Copy` and 16 bytes; build one per packet on the stack.
///
/// ```
/// use inet_csum::Accumulator;
/// let header = [0x45u8, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
///               0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
/// let mut c = Accumulator::new();
/// c.update(&header[..7]);
/// c.update(&header[7..]);
/// assert_eq!(c.finish(), 0xb861);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct Accumulator {
    /// Unfolded 64-bit one's complement (end-around carry) sum of big-endian words, aligned
    /// to the start of the stream.
    acc: u64,
    /// Whether an odd number of bytes has been added.
    odd: bool,
}

impl Accumulator {
    /// An empty sum.
    ///
    /// ```
    /// assert_eq!(inet_csum::Accumulator::new().fold(), 0);
    /// ```
    #[inline]
    pub const fn new() -> Self {
        Accumulator { acc: 0, odd: false }
    }

    /// An accumulator that starts from a folded 16-bit sum (e.g. a partial checksum read from
    /// a packet), as if that sum were the first two bytes of the stream.
    ///
    /// ```
    /// use inet_csum::Accumulator;
    /// assert_eq!(Accumulator::from_sum(0x1234).add(&[0x00, 0x01]).fold(), 0x1235);
    /// ```
    #[inline]
    pub const fn from_sum(sum: u16) -> Self {
        Accumulator {
            acc: sum as u64,
            odd: false,
        }
    }

    /// Add a slice (builder style).
    ///
    /// ```
    /// use inet_csum::Accumulator;
    /// assert_eq!(Accumulator::new().add(&[0x12]).add(&[0x34]).fold(), 0x1234);
    /// ```
    #[inline]
    #[allow(clippy::should_implement_trait)] // a chaining builder (`.add(a).add(b)`), not `ops::Add`
    pub fn add(mut self, data: &[u8]) -> Self {
        self.update(data);
        self
    }

    /// Add a slice in place.
    ///
    /// ```
    /// let mut c = inet_csum::Accumulator::new();
    /// c.update(&[0xff, 0xff, 0x00, 0x02]);
    /// assert_eq!(c.fold(), 0x0002); // 0xffff + 0x0002 = 0x1_0001 → 0x0002
    /// ```
    // Always inlined: a caller's bulk sum then costs one call (to the outlined long path)
    // instead of two and a length dispatch per call; the short path stays straight-line.
    #[inline(always)]
    pub fn update(&mut self, data: &[u8]) {
        let s = if data.len() <= SHORT {
            short_sum(data)
        } else if data.len() < MEDIUM {
            medium_sum(data)
        } else {
            long_sum(data)
        };
        self.add_aligned_sum(s, data.len() & 1 == 1);
    }

    /// Add the sum of a slice computed with a specific implementation (tests and benchmarks).
    /// Returns `None` (and leaves `self` unchanged) if this CPU does not support `imp`.
    ///
    /// ```
    /// use inet_csum::{Accumulator, Impl};
    /// let mut c = Accumulator::new();
    /// assert!(c.update_with(Impl::Portable, &[1, 2, 3]).is_some());
    /// assert_eq!(c.fold(), 0x0402);
    /// ```
    pub fn update_with(&mut self, imp: Impl, data: &[u8]) -> Option<()> {
        let s = imp.sum(data)?;
        self.add_aligned_sum(u64::from(s), data.len() & 1 == 1);
        Some(())
    }

    /// Add a big-endian 16-bit word (as if its two bytes were fed).
    ///
    /// ```
    /// use inet_csum::Accumulator;
    /// assert_eq!(Accumulator::new().add_u16(0xabcd).fold(), Accumulator::new().add(&[0xab, 0xcd]).fold());
    /// ```
    #[inline]
    pub const fn add_u16(mut self, word: u16) -> Self {
        let w = if self.odd { word.swap_bytes() } else { word };
        self.acc = adc(self.acc, w as u64);
        self
    }

    /// Add a 32-bit value as two big-endian 16-bit words (as if its four bytes were fed).
    ///
    /// ```
    /// use inet_csum::Accumulator;
    /// assert_eq!(Accumulator::new().add_u32(0x0001_0002).fold(), 0x0003);
    /// ```
    #[inline]
    pub const fn add_u32(self, word: u32) -> Self {
        self.add_u16((word >> 16) as u16).add_u16(word as u16)
    }

    /// Append `other`, the sum of the bytes that follow this stream, to this sum.
    ///
    /// ```
    /// use inet_csum::Accumulator;
    /// let data = [1u8, 2, 3, 4, 5];
    /// let whole = Accumulator::new().add(&data);
    /// let joined = Accumulator::new().add(&data[..1]).combine(Accumulator::new().add(&data[1..]));
    /// assert_eq!(whole.fold(), joined.fold());
    /// ```
    #[inline]
    pub const fn combine(mut self, other: Accumulator) -> Self {
        self.acc = adc(self.acc, if self.odd { swap(other.acc) } else { other.acc });
        self.odd ^= other.odd;
        self
    }

    /// Whether an odd number of bytes has been added.
    #[inline]
    pub const fn is_odd(&self) -> bool {
        self.odd
    }

    /// The folded, non-inverted 16-bit sum (what a partial checksum field holds for
    /// `CHECKSUM_PARTIAL`, e.g. a pseudo-header sum).
    ///
    /// ```
    /// assert_eq!(inet_csum::Accumulator::new().add(&[0x80, 0x00, 0x80, 0x00]).fold(), 0x0001);
    /// ```
    #[inline]
    pub const fn fold(&self) -> u16 {
        fold64(self.acc)
    }

    /// The value a header stores: the one's complement of the folded sum.
    ///
    /// ```
    /// assert_eq!(inet_csum::Accumulator::new().add(&[0x12, 0x34]).finish(), !0x1234);
    /// ```
    #[inline]
    pub const fn finish(&self) -> u16 {
        !self.fold()
    }

    #[inline(always)]
    const fn add_aligned_sum(&mut self, s: u64, len_odd: bool) {
        self.acc = adc(self.acc, if self.odd { swap(s) } else { s });
        self.odd ^= len_odd;
    }
}

/// Bulk sum on the best path, outlined so that the header path inlined into callers stays
/// small (no register spills for the SIMD dispatch).
#[inline(never)]
fn long_sum(data: &[u8]) -> u64 {
    // The usual case first, with one feature check instead of `best` then `sum_raw`'s; the
    // others out of line, so that this path saves no registers around its one call.
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = crate::x86::sum_packet_vnni(data) {
        return s;
    }
    other_long_sum(data)
}

/// [`long_sum`] off its usual path: another CPU, or more than one SIMD block.
#[inline(never)]
fn other_long_sum(data: &[u8]) -> u64 {
    Impl::best().sum_raw(data)
}

/// Scalar sum for lengths between the header path and the SIMD paths (outlined like
/// [`long_sum`], so the length test for its two halves costs the header path nothing).
#[inline(never)]
fn medium_sum(data: &[u8]) -> u64 {
    if data.len() < MID {
        swap(crate::portable::mid_le(data))
    } else {
        swap(crate::portable::medium_le(data))
    }
}

/// Fused copy and bulk sum on the best path (outlined like [`long_sum`]).
#[inline(never)]
fn long_copy_sum(dst: &mut [u8], src: &[u8]) -> u64 {
    Impl::best().copy_sum_raw(dst, src)
}

/// Sum of a short slice (headers): straight-line 64-bit adds, one test per length bit, no
/// dispatch and no loop for lengths below 64.
#[inline(always)]
fn short_sum(data: &[u8]) -> u64 {
    swap(crate::portable::short_le(data))
}

/// One-shot: the checksum value a header stores for `data` (the inverted folded sum).
///
/// ```
/// // An IPv4 header with its checksum field zeroed (RFC 1071 style example).
/// let h = [0x45u8, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
///          0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
/// assert_eq!(inet_csum::checksum(&h), 0xb861);
/// ```
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    Accumulator::new().add(data).finish()
}

/// One-shot: whether `data`, including its stored checksum field, sums to 0xffff (valid).
///
/// ```
/// let h = [0x45u8, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
///          0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
/// assert!(inet_csum::verify(&h));
/// ```
#[inline]
pub fn verify(data: &[u8]) -> bool {
    Accumulator::new().add(data).fold() == 0xffff
}

/// Accumulator of a header (IPv4 20–60 bytes, IPv6 40, TCP 20–60): the value the header stores.
/// Below 64 bytes this is a straight-line path with no dispatch and no loop; longer input is
/// accepted and summed correctly by the portable loop.
///
/// ```
/// let h = [0x45u8, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
///          0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
/// assert_eq!(inet_csum::header_checksum(&h), 0xb861);
/// ```
#[inline]
pub fn header_checksum(header: &[u8]) -> u16 {
    !fold64(short_sum(header))
}

/// Whether a header (IPv4 20–60 bytes, with its stored checksum) sums to 0xffff: [`verify`]
/// on the straight-line path of [`header_checksum`]. Per-packet header checks call this rather
/// than [`verify`], whose length dispatch, shared with the payload sums, mispredicts when
/// header and payload sums alternate.
///
/// ```
/// let h = [0x45u8, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
///          0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
/// assert!(inet_csum::verify_header(&h));
/// assert!(!inet_csum::verify_header(&h[..18]));
/// ```
#[inline]
pub fn verify_header(header: &[u8]) -> bool {
    fold64(short_sum(header)) == 0xffff
}

/// Pseudo-header sum for TCP/UDP over IPv4 (RFC 793 §3.1): source, destination, zero,
/// protocol, L4 length. Add the L4 header and payload to it, then [`finish`](Accumulator::finish).
///
/// ```
/// use inet_csum::{pseudo_header_v4, Accumulator};
/// let p = pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, 20);
/// let manual = Accumulator::new().add(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 20]);
/// assert_eq!(p.fold(), manual.fold());
/// ```
#[inline]
pub const fn pseudo_header_v4(
    src: [u8; 4],
    dst: [u8; 4],
    protocol: u8,
    l4_len: u16,
) -> Accumulator {
    Accumulator::new()
        .add_u32(u32::from_be_bytes(src))
        .add_u32(u32::from_be_bytes(dst))
        .add_u16(protocol as u16)
        .add_u16(l4_len)
}

/// Pseudo-header sum for TCP/UDP over IPv6 (RFC 8200 §8.1): source, destination, 32-bit
/// upper-layer length, next header.
///
/// ```
/// use inet_csum::{pseudo_header_v6, Accumulator};
/// let (s, d) = ([0x20u8; 16], [0x30u8; 16]);
/// let p = pseudo_header_v6(&s, &d, 6, 70_000);
/// let mut bytes = [0u8; 40];
/// bytes[..16].copy_from_slice(&s);
/// bytes[16..32].copy_from_slice(&d);
/// bytes[32..36].copy_from_slice(&70_000u32.to_be_bytes());
/// bytes[39] = 6;
/// assert_eq!(p.fold(), Accumulator::new().add(&bytes).fold());
/// ```
#[inline]
pub const fn pseudo_header_v6(
    src: &[u8; 16],
    dst: &[u8; 16],
    next_header: u8,
    l4_len: u32,
) -> Accumulator {
    let mut c = Accumulator::new();
    let mut i = 0;
    while i < 16 {
        c = c.add_u16(u16::from_be_bytes([src[i], src[i + 1]]));
        c = c.add_u16(u16::from_be_bytes([dst[i], dst[i + 1]]));
        i += 2;
    }
    c.add_u32(l4_len).add_u16(next_header as u16)
}

/// Fold a plain `u32` sum of 16-bit words (at most 65537 of them, so it cannot overflow) to
/// their 16-bit one's complement sum (RFC 1071 §4.1): the cheap way to add a handful of
/// known words, such as per-segment header fields, to a [`Accumulator::fold`]ed base without
/// an add-with-carry chain. Like [`Accumulator::fold`], never 0 for a non-zero sum.
///
/// ```
/// use inet_csum::{fold_u32, Accumulator};
/// let base = Accumulator::new().add(&[0xff, 0xf0, 0x12, 0x34]).fold();
/// let sum = u32::from(base) + 0xabcd + 0x0040;
/// let stream = Accumulator::new().add(&[0xff, 0xf0, 0x12, 0x34, 0xab, 0xcd, 0x00, 0x40]);
/// assert_eq!(fold_u32(sum), stream.fold());
/// ```
#[inline]
pub const fn fold_u32(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// RFC 1624 eqn. 3 incremental update: the new stored checksum after a 16-bit field changed
/// from `old` to `new`: `HC' = ~(~HC + ~m + m')`.
///
/// ```
/// use inet_csum::{checksum, update_u16};
/// let mut h = [0x45u8, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
///              0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
/// let before = checksum(&h);
/// h[2..4].copy_from_slice(&0x05dcu16.to_be_bytes());
/// assert_eq!(update_u16(before, 0x0073, 0x05dc), checksum(&h));
/// ```
#[inline]
pub const fn update_u16(check: u16, old: u16, new: u16) -> u16 {
    let s = (!check) as u64 + (!old) as u64 + new as u64;
    !fold64(s)
}

/// RFC 1624 incremental update for a changed 32-bit field (e.g. a TCP sequence number).
///
/// ```
/// use inet_csum::{checksum, update_u32};
/// let mut d = [0u8, 1, 2, 3, 4, 5, 6, 7];
/// let before = checksum(&d);
/// d[0..4].copy_from_slice(&0xdead_beefu32.to_be_bytes());
/// assert_eq!(update_u32(before, 0x0001_0203, 0xdead_beef), checksum(&d));
/// ```
#[inline]
pub const fn update_u32(check: u16, old: u32, new: u32) -> u16 {
    let c = update_u16(check, (old >> 16) as u16, (new >> 16) as u16);
    update_u16(c, old as u16, new as u16)
}

/// Copy `src` into `dst` and return the sum of the copied bytes, in one pass over the data.
///
/// # Panics
/// If `dst.len() != src.len()` (like [`slice::copy_from_slice`]).
///
/// ```
/// let src = [0x00u8, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
/// let mut dst = [0u8; 8];
/// let sum = inet_csum::copy_and_sum(&mut dst, &src);
/// assert_eq!(dst, src);
/// assert_eq!(sum.fold(), 0xddf2);
/// ```
#[inline]
pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> Accumulator {
    assert_eq!(dst.len(), src.len(), "copy_and_sum: length mismatch");
    let s = if src.len() <= SHORT {
        crate::portable::short_copy(dst, src);
        short_sum(src)
    } else if src.len() < MEDIUM {
        // Short enough that the second pass reads from L1 and the latency-tuned sum wins.
        dst.copy_from_slice(src);
        medium_sum(src)
    } else {
        long_copy_sum(dst, src)
    };
    Accumulator {
        acc: s,
        odd: src.len() & 1 == 1,
    }
}
