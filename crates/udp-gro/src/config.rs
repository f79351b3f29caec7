//! How a coalescer merges: [`Config`], and the limits the kernel puts on a merged packet.

/// The largest merged IP packet: `skb_gro_receive` refuses a datagram once
/// `p->len + len >= 65536` (`GRO_LEGACY_MAX_SIZE`; rule book §2.5), so a merged packet of
/// exactly 65535 bytes is the largest. Also the largest IPv4 `tot_len`, and the largest UDP
/// length field.
pub const MAX_MERGED_LEN: usize = 65535;

/// The most datagrams in one merged packet: the kernel's `UDP_GRO_CNT_MAX` (64,
/// `udp_gro_receive_segment` completes a packet once it holds that many; rule book §2.5).
/// Receivers size their GRO buffers for it (a `UDP_GRO` socket reader such as quinn-udp
/// expects at most 64 datagrams per read), and a TUN write of more than `UDP_MAX_SEGMENTS`
/// segments (128 since Linux 6.9, 64 before) is refused.
pub const MAX_SEGMENTS: usize = 64;

/// How a [`Coalescer`](crate::Coalescer) merges. Start from [`Config::default`] and change
/// fields.
///
/// ```
/// let mut c = udp_gro::Config::default();
/// assert_eq!((c.max_merged_len, c.max_segments), (65535, 64));
/// c.max_segments = 16; // smaller super-packets, e.g. for a receiver with a smaller buffer
/// let _gro = udp_gro::Coalescer::new(c);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest merged IP packet (headers included). Values above [`MAX_MERGED_LEN`] are
    /// clamped to it: the kernel would reject more.
    pub max_merged_len: usize,
    /// Most datagrams per merged packet. Values above [`MAX_SEGMENTS`] are clamped to it; 0
    /// and 1 turn merging off.
    pub max_segments: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_merged_len: MAX_MERGED_LEN,
            max_segments: MAX_SEGMENTS,
        }
    }
}
