//! Validation of one packet and the per-segment arithmetic (rule book §5.1).

use inet_csum::{Accumulator, fold_u32};
use inet_hdr::field;
use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, Protocol, TcpFlags, TcpHeader, classify};
use offload_buf::Segmenter;
use virtio_net_hdr::{Error as HeaderError, Gso, GsoKind, Offload, VirtioNetHdr};
use zerocopy::byteorder::ByteOrder;

use crate::{ChecksumStatus, Malformed, SplitError};

/// A validated description of what one packet turns into: how many segments, how long each
/// is, and the constant parts of every checksum. Building it reads only the packet's
/// headers; it holds no borrow, so a caller can size its storage before splitting.
///
/// ```
/// use tcp_tso::{IpVersion, Plan, VirtioNetHdr};
/// // 3 × 1000 bytes of payload behind IPv4 (total length 3040) and TCP headers.
/// let mut pkt = vec![
///     0x45, 0, 0x0b, 0xe0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
///     0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0,
/// ];
/// pkt.resize(40 + 3000, 0xab);
/// let hdr = VirtioNetHdr::tcp_gso(IpVersion::V4, 20, 20, 1000, false);
/// let plan = Plan::new(&hdr, &pkt)?;
/// assert_eq!(plan.segments(), 3);
/// assert_eq!(plan.segment_len(2), 40 + 1000);
/// assert_eq!(plan.room(0, 16), 3 * (16 + 40 + 1000));
/// # Ok::<(), tcp_tso::SplitError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The split every splitter shares (`offload-buf`'s), with the TCP fields of each segment.
    pub(crate) inner: offload_buf::Plan<Tcp>,
}

/// The constant parts of a TCP split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tcp {
    version: IpVersion,
    /// TCP header offset (`csum_start`).
    l4: usize,
    /// IP + TCP header length.
    hl: usize,
    /// `gso_size`.
    mss: usize,
    /// Payload bytes after the TCP header.
    payload: usize,
    segments: usize,
    /// IPv4 header sum without total length, ID and checksum, folded to 16 bits.
    ip_base: u32,
    id0: u16,
    seq0: u32,
    flags0: u8,
    /// Byte 12 of the TCP header (data offset, reserved, AE).
    doff_byte: u8,
    /// The TCP header (with the sender's partial sum in its checksum field) without seq and
    /// flag word, minus the whole L4 length, folded to 16 bits.
    tcp_base: u32,
}

impl Plan {
    /// Decode `hdr` against `packet` and validate everything a split needs.
    ///
    /// # Errors
    /// [`SplitError::Header`] for a malformed virtio header, [`SplitError::Unsupported`] for
    /// UDP_L4, [`SplitError::Malformed`] for an IP packet that cannot be segmented.
    pub fn new<O: ByteOrder>(hdr: &VirtioNetHdr<O>, packet: &[u8]) -> Result<Plan, SplitError> {
        Plan::from_offload(hdr.decode(packet)?, packet)
    }

    /// Build a plan from an already decoded header (see
    /// [`VirtioNetHdr::decode`](virtio_net_hdr::VirtioNetHdr::decode)).
    ///
    /// # Errors
    /// As [`Plan::new`], except header decoding errors.
    ///
    /// ```
    /// use tcp_tso::Offload;
    /// let plan = tcp_tso::Plan::from_offload(Offload::DataValid, &[0x45; 20])?;
    /// assert_eq!((plan.segments(), plan.checksum_status()), (1, tcp_tso::ChecksumStatus::KnownGood));
    /// # Ok::<(), tcp_tso::SplitError>(())
    /// ```
    pub fn from_offload(offload: Offload, packet: &[u8]) -> Result<Plan, SplitError> {
        let len = packet.len();
        let inner = match offload {
            Offload::None => offload_buf::Plan::plain(len, ChecksumStatus::Unverified),
            Offload::DataValid => offload_buf::Plan::plain(len, ChecksumStatus::KnownGood),
            // `decode` bounds-checked csum_start + csum_offset + 2; `partial` re-checks so a
            // hand-built `Offload` cannot index out of bounds.
            Offload::Partial {
                csum_start,
                csum_offset,
            } => offload_buf::Plan::partial(len, csum_start, csum_offset).ok_or(
                HeaderError::CsumOutOfBounds {
                    csum_start,
                    csum_offset,
                    packet_len: len,
                },
            )?,
            Offload::Gso(g) => Tcp::plan(g, packet)?,
        };
        Ok(Plan { inner })
    }

    /// How many segments the packet turns into (1 for a non-GSO packet).
    #[inline]
    pub fn segments(&self) -> usize {
        self.inner.segments()
    }

    /// Length of segment `i` (an IP packet), or 0 if `i` is not below
    /// [`segments`](Self::segments).
    #[inline]
    pub fn segment_len(&self, i: usize) -> usize {
        self.inner.segment_len(i)
    }

    /// Slab bytes needed to write segments `first_segment..` with `headroom` bytes before
    /// each (0 if `first_segment` is past the end; `usize::MAX` if it overflows).
    pub fn room(&self, first_segment: usize, headroom: usize) -> usize {
        self.inner.room(first_segment, headroom)
    }

    /// Header-buffer bytes [`split_headers`](Self::split_headers) needs for segments
    /// `first_segment..` with `headroom` bytes before each (0 if `first_segment` is past the
    /// end; `usize::MAX` if it overflows).
    ///
    /// ```
    /// use tcp_tso::{IpVersion, Plan, VirtioNetHdr};
    /// let mut pkt = vec![
    ///     0x45, 0, 0x0b, 0xe0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0,
    /// ];
    /// pkt.resize(40 + 3000, 0xab);
    /// let hdr = VirtioNetHdr::tcp_gso(IpVersion::V4, 20, 20, 1000, false);
    /// let plan = Plan::new(&hdr, &pkt)?;
    /// assert_eq!(plan.header_room(0, 16), 3 * (16 + 40));
    /// # Ok::<(), tcp_tso::SplitError>(())
    /// ```
    pub fn header_room(&self, first_segment: usize, headroom: usize) -> usize {
        self.inner.header_room(first_segment, headroom)
    }

    /// The checksum state of the segments this plan produces.
    pub fn checksum_status(&self) -> ChecksumStatus {
        self.inner.checksum_status()
    }
}

impl Tcp {
    /// The shared plan of a TCP GSO packet: this segmentation's sizes and constant parts.
    fn plan(g: Gso, packet: &[u8]) -> Result<offload_buf::Plan<Tcp>, SplitError> {
        let version = match g.kind {
            GsoKind::TcpV4 => IpVersion::V4,
            GsoKind::TcpV6 => IpVersion::V6,
            other => return Err(SplitError::Unsupported(other)),
        };
        // Kernel IP input trims the skb to tot_len / payload_len and inet_gso_segment /
        // ipv6_gso_segment parse the real IP header: the length field must match the buffer.
        let info = classify(packet).map_err(Malformed::Ip)?;
        if info.version != version {
            return Err(HeaderError::VersionMismatch.into());
        }
        if info.fragment {
            return Err(Malformed::Fragment.into());
        }
        if info.protocol != Protocol::TCP {
            return Err(Malformed::NotTcp(info.protocol.0).into());
        }
        // tcp_gso_segment works on the transport header found by the IP layer; the partial
        // checksum must start there (rule book §5.1, "csum_start == TCP header").
        if g.l4_offset != info.l4_offset {
            return Err(HeaderError::CsumStartNotL4 {
                csum_start: g.l4_offset,
                l4_offset: info.l4_offset,
            }
            .into());
        }
        let l4 = g.l4_offset;
        let mss = usize::from(g.gso_size);
        if mss == 0 {
            return Err(HeaderError::ZeroGsoSize.into());
        }
        // virtio_net_hdr_to_skb refuses GSO_BY_FRAGS; `decode` already did (rule book §5.4.4).
        if g.gso_size == VirtioNetHdr::GSO_BY_FRAGS {
            return Err(HeaderError::GsoByFrags.into());
        }
        // The 20 fixed TCP header bytes must be in the packet (virtio_net_hdr_to_skb:
        // csum_start + thlen pullable); `decode` checked that, a hand-built `Gso` may not have.
        let (tcp, _) =
            TcpHeader::ref_from_packet(packet.get(l4..).unwrap_or_default()).map_err(|_| {
                HeaderError::CsumOutOfBounds {
                    csum_start: l4,
                    csum_offset: field::tcp::CHECKSUM.start,
                    packet_len: packet.len(),
                }
            })?;
        // tcp_gso_segment: doff*4 >= 20 and the whole TCP header inside the packet. The
        // header length is derived here, not taken from `Gso` (nor from `hdr_len`).
        let hl = l4 + tcp.header_len();
        if tcp.header_len() < TcpHeader::LEN || hl > packet.len() {
            return Err(HeaderError::BadTcpDataOffset(tcp.data_offset()).into());
        }
        let payload = packet.len() - hl;
        // gso_segs = DIV_ROUND_UP(payload, mss). A payload that is not above gso_size either
        // reaches tcp_gso_segment, which drops it, or never becomes GSO and is passed on
        // unsplit: virtio_net_hdr_to_skb decides with a fixed 20-byte TCP header, so TCP
        // options decide which (rule book §5.4.1).
        let tcp_options = tcp.header_len() - TcpHeader::LEN;
        if payload <= mss && payload + tcp_options > mss {
            return Err(SplitError::NothingToSegment {
                payload,
                tcp_options,
                gso_size: mss,
            });
        }
        let segments = payload.div_ceil(mss).max(1);

        let seq0 = tcp.seq();
        let flags0 = tcp.flags().bits();
        let doff_byte = tcp.data_offset_reserved;
        let flag_word0 = u16::from_be_bytes([doff_byte, flags0]);
        // Every segment's checksum is derived from the partial sum the sender left in the
        // checksum field, as tcp_gso_segment does: that sum with the whole L4 length taken
        // out and the segment's put in. So whatever destination the sender's pseudo-header
        // used (an IPv6 Routing header's final destination; rule book §5.4.3) carries over.
        let l4_len = (packet.len() - l4) as u32;
        let tcp_base = Accumulator::new()
            .add(&packet[l4..hl])
            .add_u32(!seq0)
            .add_u16(!flag_word0)
            .add_u32(!l4_len);

        let (ip_base, id0) = match version {
            IpVersion::V4 => {
                let (ip, _) = Ipv4Header::ref_from_packet(packet).map_err(Malformed::Ip)?;
                let ip_base = Accumulator::new()
                    .add(&packet[..info.l3_len])
                    .add_u16(!ip.total_len())
                    .add_u16(!ip.id())
                    .add_u16(!ip.checksum());
                (u32::from(ip_base.fold()), ip.id())
            }
            IpVersion::V6 => (0, 0),
        };
        let fields = Tcp {
            version,
            l4,
            hl,
            mss,
            payload,
            segments,
            ip_base,
            id0,
            seq0,
            flags0,
            doff_byte,
            tcp_base: u32::from(tcp_base.fold()),
        };
        // `mss` is not 0 (checked above) and `segments` is the payload in `mss` pieces, so the
        // shared plan accepts these sizes.
        offload_buf::Plan::segmented(fields)
            .ok_or_else(|| HeaderError::BadTcpDataOffset(tcp.data_offset()).into())
    }
}

impl Segmenter for Tcp {
    #[inline(always)]
    fn header_len(&self) -> usize {
        self.hl
    }

    #[inline(always)]
    fn gso_size(&self) -> usize {
        self.mss
    }

    #[inline(always)]
    fn payload_len(&self) -> usize {
        self.payload
    }

    #[inline(always)]
    fn segments(&self) -> usize {
        self.segments
    }

    /// Rewrite the per-segment fields of segment `i`, `len` bytes long (`seg` starts with the
    /// copied headers, followed by the payload or not; `payload_sum` is the payload's sum).
    /// Rule book §5.1: `tcp_gso_segment` and `inet_gso_segment` / `ipv6_gso_segment`.
    ///
    /// The fields are written through the offsets `inet-hdr` names: each value is computed
    /// once, stored once and added to the checksum, with no re-parse of the copied headers.
    /// `seg` is at least `hl` bytes, so every index is in bounds.
    ///
    /// A packet passed on unsplit (one segment: rule book §5.4.1) is what the kernel hands on
    /// as is, its checksum finished by `skb_checksum_help`: only the TCP checksum changes.
    #[inline(always)]
    fn patch(&self, seg: &mut [u8], len: usize, i: usize, payload_sum: u16) {
        let unsplit = self.segments == 1;
        match self.version {
            _ if unsplit => {}
            IpVersion::V4 => {
                // inet_gso_segment: tot_len per segment, id = first id + i (u16 wrap; TUN
                // cannot express FIXEDID), ip_send_check.
                let tot = len as u16;
                let id = self.id0.wrapping_add(i as u16);
                put16(seg, field::ipv4::TOTAL_LEN.start, tot);
                put16(seg, field::ipv4::ID.start, id);
                let check = !fold_u32(self.ip_base + u32::from(tot) + u32::from(id));
                put16(seg, field::ipv4::CHECKSUM.start, check);
            }
            IpVersion::V6 => {
                // ipv6_gso_segment: payload_len = segment length − 40 (extension headers
                // counted).
                put16(
                    seg,
                    field::ipv6::PAYLOAD_LEN.start,
                    (len - Ipv6Header::LEN) as u16,
                );
            }
        }
        // tcp_gso_segment: seq advances by mss (u32 wrap); FIN and PSH only on the last
        // segment; CWR only on the first (cleared on the rest with or without the GSO ECN
        // bit: rule book §1.1); urgent pointer and options unchanged.
        let seq = self
            .seq0
            .wrapping_add((i as u32).wrapping_mul(self.mss as u32));
        let mut flags = TcpFlags(self.flags0);
        if i + 1 < self.segments {
            flags = flags.without(TcpFlags::FIN | TcpFlags::PSH);
        }
        if i > 0 {
            flags = flags.without(TcpFlags::CWR);
        }
        // The flag word (data offset byte, then flags) is written whole: the data offset
        // byte is the original one.
        let flag_word = u16::from_be_bytes([self.doff_byte, flags.bits()]);
        let tcp = &mut seg[self.l4..];
        put32(tcp, field::tcp::SEQ.start, seq);
        put16(tcp, field::tcp::FLAG_WORD.start, flag_word);
        let l4_len = (len - self.l4) as u32;
        // Sixteen-bit words added as plain u32s (no carry chain): at most eight terms below
        // 2^16 each, so no overflow; `fold_u32` does the end-around carry once.
        let sum = self.tcp_base
            + (l4_len >> 16)
            + (l4_len & 0xffff)
            + (seq >> 16)
            + (seq & 0xffff)
            + u32::from(flag_word)
            + u32::from(payload_sum);
        let mut check = !fold_u32(sum);
        // A sum of zero: skb_checksum_help stores CSUM_MANGLED_0 (0xffff), gso_make_checksum
        // stores 0 (rule book §5.4.2).
        if unsplit && check == 0 {
            check = 0xffff;
        }
        put16(tcp, field::tcp::CHECKSUM.start, check);
    }
}

#[inline(always)]
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
