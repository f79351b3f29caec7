//! What is known about a packet's checksums: the one trust vocabulary of the workspace.

/// What is known about a packet's IP and L4 checksums, handed from the stage that produced or
/// received the packet to the stage that consumes it.
///
/// A split reports [`KnownGood`](Self::KnownGood) for segments whose checksums it computed (or
/// that the kernel marked `DATA_VALID`), and [`Unverified`](Self::Unverified) for packets
/// passed through as received; a coalescer verifies an `Unverified` segment before merging it
/// (a merged super-packet gets one new checksum, which would bless a corrupt segment) and
/// trusts a `KnownGood` one. A tunnel may also declare packets `KnownGood` after its own
/// authentication. The value flows from one crate to the next unchanged: no mapping by hand.
///
/// ```
/// use inet_csum::ChecksumStatus;
/// let good = ChecksumStatus::KnownGood;
/// assert!(good.is_known_good());
/// assert!(!ChecksumStatus::Unverified.is_known_good());
/// assert_eq!(ChecksumStatus::default(), ChecksumStatus::Unverified); // trust nothing by default
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChecksumStatus {
    /// Nothing is known: a consumer that depends on the checksums must verify them.
    #[default]
    Unverified,
    /// The checksums are correct: computed here, verified by the kernel (`DATA_VALID`), or
    /// vouched for by the caller (e.g. authenticated by a tunnel's crypto).
    KnownGood,
}

impl ChecksumStatus {
    /// Whether a consumer may skip verification.
    ///
    /// ```
    /// assert!(inet_csum::ChecksumStatus::KnownGood.is_known_good());
    /// ```
    #[inline]
    pub const fn is_known_good(self) -> bool {
        matches!(self, ChecksumStatus::KnownGood)
    }
}
