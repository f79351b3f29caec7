//! Why bytes could not be read as a header: the one error type of the header views and the
//! classifier.

/// Why a packet could not be classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer ends before a header it must contain.
    Truncated,
    /// The first nibble is neither 4 nor 6.
    BadVersion(u8),
    /// IPv4 IHL below 5.
    BadIhl(u8),
    /// The IP length field disagrees with the buffer length.
    LengthMismatch {
        /// Packet length according to the header.
        header: usize,
        /// Bytes actually present.
        actual: usize,
    },
    /// TCP data offset below 5 or past the end of the packet.
    BadDataOffset(u8),
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::Truncated => f.write_str("packet truncated"),
            ParseError::BadVersion(v) => write!(f, "IP version {v} is neither 4 nor 6"),
            ParseError::BadIhl(i) => write!(f, "IPv4 IHL {i} is below 5"),
            ParseError::LengthMismatch { header, actual } => {
                write!(
                    f,
                    "IP length field says {header} bytes, buffer holds {actual}"
                )
            }
            ParseError::BadDataOffset(d) => write!(f, "TCP data offset {d} is invalid"),
        }
    }
}

impl core::error::Error for ParseError {}
