//! Where a segment lies: the one position type of the crate's outputs, shared by the plan
//! (payload positions in the super-packet) and the splits (segments in the caller's slab).

use core::ops::Range;

/// Where one output segment (an IP packet) lies in the caller's slab; the headroom bytes
/// before `offset` are free for the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Offset of the segment's first byte in the slab.
    pub offset: usize,
    /// Segment length.
    pub len: usize,
}

impl Span {
    /// The byte range of the segment, for indexing the slab.
    ///
    /// ```
    /// assert_eq!(tcp_tso::Span { offset: 8, len: 4 }.range(), 8..12);
    /// ```
    #[inline]
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len
    }
}
