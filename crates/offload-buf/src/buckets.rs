//! The hash buckets a coalescer files its runs in: [`Buckets`].

use alloc::vec::Vec;

/// The hash buckets of a coalescer's flow table: for each bucket, the newest run filed in it
/// (older runs of the bucket follow through a chain the coalescer keeps in its runs). This is
/// the coalescer's side of the API, as [`Outputs`](crate::Outputs) is: `tcp-gro` and
/// `udp-gro` keep one each.
///
/// The table keeps at least two buckets per run of the largest batch seen (256 at least,
/// 65536 at most), so chains stay about one run long as the number of flows grows: with a
/// fixed 256 buckets, 1024 flows meant chains of four, each step a likely cache miss. It
/// grows only in [`reset`](Self::reset), between batches, and only when a batch filed more
/// runs than it was sized for (as the coalescer's other tables grow), so steady state
/// allocates nothing; and a reset empties only the buckets the last batch used, so a table
/// grown once for a large batch costs small batches nothing.
///
/// ```
/// use offload_buf::Buckets;
/// let mut b = Buckets::with_capacity(128);
/// assert_eq!(b.len(), 256);
/// let hash = 0xdead_beef_0000_0000u64;
/// let at = b.index(hash);
/// assert_eq!(b.head(at), Buckets::NONE);
/// b.set_head(at, 0); // run 0 is now the newest in its bucket
/// assert_eq!(b.head(at), 0);
/// // Next batch: empty the buckets of the runs filed (here one), sized for 1000 runs.
/// b.reset([hash], 1000);
/// assert_eq!((b.head(b.index(hash)), b.len()), (Buckets::NONE, 2048));
/// ```
#[derive(Clone, Debug)]
pub struct Buckets {
    heads: Vec<u32>,
}

impl Buckets {
    /// No run (an empty bucket, or the end of a chain).
    pub const NONE: u32 = u32::MAX;
    /// Fewest buckets: what the usual 64–128-packet batch needs.
    const MIN: usize = 256;
    /// Most buckets (256 KiB of heads), for batches of 32768 runs and more.
    const MAX: usize = 1 << 16;

    /// Buckets for batches of up to `runs` runs.
    ///
    /// ```
    /// assert_eq!(offload_buf::Buckets::with_capacity(1024).len(), 2048);
    /// ```
    pub fn with_capacity(runs: usize) -> Self {
        Buckets {
            heads: alloc::vec![Self::NONE; Self::count_for(runs)],
        }
    }

    /// The bucket count for `runs` runs: two per run, a power of two within [MIN, MAX].
    fn count_for(runs: usize) -> usize {
        runs.saturating_mul(2)
            .checked_next_power_of_two()
            .unwrap_or(Self::MAX)
            .clamp(Self::MIN, Self::MAX)
    }

    /// Number of buckets (a power of two).
    ///
    /// ```
    /// assert!(offload_buf::Buckets::with_capacity(0).len().is_power_of_two());
    /// ```
    #[allow(clippy::len_without_is_empty)] // never empty: at least 256 buckets
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    /// The bucket of a flow hash (from its high 32 bits).
    ///
    /// ```
    /// let b = offload_buf::Buckets::with_capacity(128);
    /// assert!(b.index(u64::MAX) < b.len());
    /// ```
    #[inline]
    pub fn index(&self, hash: u64) -> usize {
        (hash >> 32) as usize & (self.heads.len() - 1)
    }

    /// The newest run filed in `bucket`, or [`NONE`](Self::NONE).
    ///
    /// # Panics
    /// If `bucket` is not below [`len`](Self::len) (use [`index`](Self::index)).
    ///
    /// ```
    /// let b = offload_buf::Buckets::with_capacity(128);
    /// assert_eq!(b.head(b.index(7)), offload_buf::Buckets::NONE);
    /// ```
    #[inline]
    pub fn head(&self, bucket: usize) -> u32 {
        self.heads[bucket]
    }

    /// File `run` as the newest run of `bucket` (the coalescer chains the previous head
    /// behind it).
    ///
    /// # Panics
    /// If `bucket` is not below [`len`](Self::len).
    ///
    /// ```
    /// let mut b = offload_buf::Buckets::with_capacity(128);
    /// b.set_head(3, 42);
    /// assert_eq!(b.head(3), 42);
    /// ```
    #[inline]
    pub fn set_head(&mut self, bucket: usize, run: u32) {
        self.heads[bucket] = run;
    }

    /// Start a new batch: empty the buckets of `hashes` (those of the `runs` runs the last
    /// batch filed), or, if `runs` is more than half the bucket count, grow to two buckets per
    /// run instead (allocating; every bucket is then empty).
    ///
    /// ```
    /// let mut b = offload_buf::Buckets::with_capacity(128);
    /// let hashes: Vec<u64> = (0..200u64).map(|f| f << 40).collect();
    /// for (run, &h) in hashes.iter().enumerate() {
    ///     b.set_head(b.index(h), run as u32);
    /// }
    /// b.reset(hashes.iter().copied(), hashes.len());
    /// assert_eq!(b.len(), 512);
    /// assert!((0..b.len()).all(|i| b.head(i) == offload_buf::Buckets::NONE));
    /// ```
    pub fn reset(&mut self, hashes: impl IntoIterator<Item = u64>, runs: usize) {
        if runs.saturating_mul(2) > self.heads.len() && self.heads.len() < Self::MAX {
            *self = Self::with_capacity(runs);
            return;
        }
        for h in hashes {
            let i = self.index(h);
            self.heads[i] = Self::NONE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_powers_of_two_within_bounds() {
        for runs in [0, 1, 127, 128, 129, 1000, 1024, 40_000, usize::MAX] {
            let n = Buckets::count_for(runs);
            assert!(n.is_power_of_two(), "{runs}: {n}");
            assert!((Buckets::MIN..=Buckets::MAX).contains(&n), "{runs}: {n}");
            assert!(n >= runs.saturating_mul(2).min(Buckets::MAX), "{runs}: {n}");
        }
    }

    /// A reset leaves every bucket empty whether it grows or not, and keeps the size when
    /// the batch fitted.
    #[test]
    fn reset_empties_exactly_what_was_used() {
        let mut b = Buckets::with_capacity(64);
        let hashes: Vec<u64> = (0..100u64)
            .map(|f| f.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        for (run, &h) in hashes.iter().enumerate() {
            let i = b.index(h);
            b.set_head(i, run as u32);
        }
        b.reset(hashes.iter().copied(), hashes.len());
        assert_eq!(b.len(), 256);
        assert!((0..b.len()).all(|i| b.head(i) == Buckets::NONE));
        // At the largest size it stays, whatever the batch.
        let mut big = Buckets::with_capacity(usize::MAX);
        assert_eq!(big.len(), Buckets::MAX);
        big.set_head(5, 1);
        big.reset([5u64 << 32], usize::MAX);
        assert_eq!((big.len(), big.head(5)), (Buckets::MAX, Buckets::NONE));
    }
}
