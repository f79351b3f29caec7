//! How a coalescer merges: [`Config`], and the largest packet the kernel takes from GRO.

/// The largest merged IP packet the kernel accepts from GRO without BIG TCP
/// (`GRO_LEGACY_MAX_SIZE` − 1: `skb_gro_receive` fails at `p->len + len >= 65536`; rule book §2.4
/// item 9). Also the largest IPv4 `tot_len`.
pub const MAX_MERGED_LEN: usize = 65535;

/// How a [`Coalescer`](crate::Coalescer) merges. Start from [`Config::default`] and change
/// fields.
///
/// ```
/// let mut c = tcp_gro::Config::default();
/// assert_eq!(c.max_merged_len, 65535);
/// c.max_merged_len = 16 * 1024; // smaller super-packets, e.g. for a small write buffer
/// let _gro = tcp_gro::Coalescer::new(c);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest merged IP packet (headers included). Values above [`MAX_MERGED_LEN`] are
    /// clamped to it: the kernel would reject more.
    pub max_merged_len: usize,
    /// Also merge segments that arrive out of order within one batch: a segment that ends where
    /// a held run begins is prepended (rule book §0). The kernel's GRO does not do this; the
    /// merged packet is exactly what in-order arrival would have produced. With `false` the
    /// coalescer behaves like the kernel: only appends, and any same-flow packet that does not
    /// merge completes the held run.
    pub out_of_order: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_merged_len: MAX_MERGED_LEN,
            out_of_order: true,
        }
    }
}
