//! Validation of one packet and the per-datagram arithmetic (rule book §5.3).

use inet_csum::{Accumulator, fold_u32};
use inet_hdr::field;
use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, Protocol, UdpHeader, classify};
use offload_buf::Segmenter;
use virtio_net_hdr::{Error as HeaderError, Gso, GsoKind, Offload, VirtioNetHdr};
use zerocopy::byteorder::ByteOrder;

use crate::{ChecksumStatus, Malformed, SplitError};

/// A validated description of what one packet turns into: how many datagrams, how long each
/// is, and the constant parts of every checksum. Building it reads only the packet's
/// headers; it holds no borrow, so a caller can size its storage before splitting.
///
/// ```
/// use udp_gso::{Plan, VirtioNetHdr};
/// // 3 × 1000 bytes of payload behind IPv4 (total length 3028) and UDP (length 3008) headers.
/// let mut pkt = vec![
///     0x45, 0, 0x0b, 0xd4, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
///     0x9c, 0x40, 0x11, 0x51, 0x0b, 0xc0, 0, 0,
/// ];
/// pkt.resize(28 + 3000, 0xab);
/// let plan = Plan::new(&VirtioNetHdr::udp_gso(20, 1000), &pkt)?;
/// assert_eq!(plan.segments(), 3);
/// assert_eq!(plan.segment_len(2), 28 + 1000);
/// assert_eq!(plan.room(0, 16), 3 * (16 + 28 + 1000));
/// # Ok::<(), udp_gso::SplitError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The split every splitter shares (`offload-buf`'s), with the UDP fields of each
    /// datagram.
    pub(crate) inner: offload_buf::Plan<Udp>,
}

/// The constant parts of a UDP split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Udp {
    version: IpVersion,
    /// UDP header offset (`csum_start`).
    l4: usize,
    /// IP + UDP header length.
    hl: usize,
    /// `gso_size`.
    mss: usize,
    /// Payload bytes after the UDP header.
    payload: usize,
    segments: usize,
    /// IPv4 header sum without total length, ID and checksum, folded to 16 bits.
    ip_base: u32,
    id0: u16,
    /// The ports and the sender's partial sum minus the UDP length field, folded to 16 bits.
    udp_base: u32,
}

impl Plan {
    /// Decode `hdr` against `packet` and validate everything a split needs.
    ///
    /// # Errors
    /// [`SplitError::Header`] for a malformed virtio header, [`SplitError::Unsupported`] for
    /// TCPV4/TCPV6, [`SplitError::Malformed`] for an IP packet that cannot be segmented.
    ///
    /// ```
    /// use udp_gso::{HeaderError, Plan, SplitError, VirtioNetHdr};
    /// // 3000 bytes of payload behind IPv4 and UDP headers.
    /// let mut pkt = vec![
    ///     0x45, 0, 0x0b, 0xd4, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x9c, 0x40, 0x11, 0x51, 0x0b, 0xc0, 0, 0,
    /// ];
    /// pkt.resize(28 + 3000, 0);
    /// assert_eq!(Plan::new(&VirtioNetHdr::udp_gso(20, 1000), &pkt)?.segments(), 3);
    /// // Not above gso_size: one datagram, its checksum finished (the kernel's virtio parser
    /// // does not make it GSO).
    /// assert_eq!(Plan::new(&VirtioNetHdr::udp_gso(20, 3000), &pkt)?.segments(), 1);
    /// // More than 128 datagrams: refused, as the kernel refuses the header.
    /// assert_eq!(
    ///     Plan::new(&VirtioNetHdr::udp_gso(20, 20), &pkt),
    ///     Err(SplitError::Header(HeaderError::TooManySegments))
    /// );
    /// # Ok::<(), SplitError>(())
    /// ```
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
    /// use udp_gso::Offload;
    /// let plan = udp_gso::Plan::from_offload(Offload::DataValid, &[0x45; 28])?;
    /// assert_eq!((plan.segments(), plan.checksum_status()), (1, udp_gso::ChecksumStatus::KnownGood));
    /// # Ok::<(), udp_gso::SplitError>(())
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
            Offload::Gso(g) => Udp::plan(g, packet)?,
        };
        Ok(Plan { inner })
    }

    /// How many datagrams the packet turns into (1 for a non-GSO packet, and for a
    /// super-packet whose payload is not above `gso_size`).
    #[inline]
    pub fn segments(&self) -> usize {
        self.inner.segments()
    }

    /// Length of datagram `i` (an IP packet), or 0 if `i` is not below
    /// [`segments`](Self::segments).
    #[inline]
    pub fn segment_len(&self, i: usize) -> usize {
        self.inner.segment_len(i)
    }

    /// Slab bytes needed to write datagrams `first_segment..` with `headroom` bytes before
    /// each (0 if `first_segment` is past the end; `usize::MAX` if it overflows).
    pub fn room(&self, first_segment: usize, headroom: usize) -> usize {
        self.inner.room(first_segment, headroom)
    }

    /// Header-buffer bytes [`split_headers`](Self::split_headers) needs for datagrams
    /// `first_segment..` with `headroom` bytes before each (0 if `first_segment` is past the
    /// end; `usize::MAX` if it overflows).
    ///
    /// ```
    /// use udp_gso::{Plan, VirtioNetHdr};
    /// let mut pkt = vec![
    ///     0x45, 0, 0x0b, 0xd4, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x9c, 0x40, 0x11, 0x51, 0x0b, 0xc0, 0, 0,
    /// ];
    /// pkt.resize(28 + 3000, 0xab);
    /// let plan = Plan::new(&VirtioNetHdr::udp_gso(20, 1000), &pkt)?;
    /// assert_eq!(plan.header_room(0, 16), 3 * (16 + 28));
    /// # Ok::<(), udp_gso::SplitError>(())
    /// ```
    pub fn header_room(&self, first_segment: usize, headroom: usize) -> usize {
        self.inner.header_room(first_segment, headroom)
    }

    /// The checksum state of the datagrams this plan produces:
    /// [`KnownGood`](ChecksumStatus::KnownGood) when the split or finish computes them (or the
    /// kernel marked the packet `DATA_VALID`), [`Unverified`](ChecksumStatus::Unverified) for
    /// a plain packet passed through.
    ///
    /// ```
    /// use udp_gso::{ChecksumStatus, Plan, VirtioNetHdr};
    /// let plain = [0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///              0x9c, 0x40, 0x11, 0x51, 0, 8, 0, 0];
    /// let plan = Plan::new(&VirtioNetHdr::plain(), &plain)?;
    /// assert_eq!(plan.checksum_status(), ChecksumStatus::Unverified);
    /// # Ok::<(), udp_gso::SplitError>(())
    /// ```
    pub fn checksum_status(&self) -> ChecksumStatus {
        self.inner.checksum_status()
    }
}

impl Udp {
    /// What the kernel makes of a `UDP_L4` write: first the virtio parser's rules
    /// (`virtio_net_hdr_to_skb`), which decide whether it is GSO at all, then, for a GSO
    /// packet, `inet_gso_segment` / `ipv6_gso_segment` and `__udp_gso_segment`'s (rule book
    /// §5.3).
    fn plan(g: Gso, packet: &[u8]) -> Result<offload_buf::Plan<Udp>, SplitError> {
        if g.kind != GsoKind::UdpL4 {
            return Err(SplitError::Unsupported(g.kind));
        }
        let l4 = g.l4_offset;
        let mss = usize::from(g.gso_size);
        // virtio_net_hdr_to_skb refuses gso_size 0 and GSO_BY_FRAGS; `decode` already did, a
        // hand-built `Gso` may not have (rule book §5.4.4).
        if mss == 0 {
            return Err(HeaderError::ZeroGsoSize.into());
        }
        if g.gso_size == VirtioNetHdr::GSO_BY_FRAGS {
            return Err(HeaderError::GsoByFrags.into());
        }
        // The 8-byte UDP header must be in the packet (virtio_net_hdr_to_skb: csum_start +
        // sizeof(struct udphdr) pullable); `decode` checked that, a hand-built `Gso` may not
        // have.
        let hl = l4 + UdpHeader::LEN;
        if hl > packet.len() {
            return Err(HeaderError::CsumOutOfBounds {
                csum_start: l4,
                csum_offset: field::udp::CHECKSUM.start,
                packet_len: packet.len(),
            }
            .into());
        }
        let payload = packet.len() - hl;
        // virtio_net_hdr_to_skb: `skb->len - p_off > gso_size * UDP_MAX_SEGMENTS` → -EINVAL.
        // No sender makes such a packet (udp_send_skb refuses it too), so neither do we split
        // one: the number of datagrams stays bounded.
        if payload > mss * VirtioNetHdr::UDP_MAX_SEGMENTS {
            return Err(HeaderError::TooManySegments.into());
        }
        // virtio_net_hdr_to_skb makes the skb GSO only if the payload is above gso_size ("Too
        // small packets are not really GSO ones"); otherwise it is a plain CHECKSUM_PARTIAL
        // packet, passed on as written with its checksum finished by skb_checksum_help at
        // csum_start + 6, and no GSO code looks at it.
        // `hl` is inside the packet, `mss` is not 0 (both checked above) and `segments` is the
        // payload in `mss` pieces, so the shared plan always exists.
        let out_of_bounds = HeaderError::CsumOutOfBounds {
            csum_start: l4,
            csum_offset: field::udp::CHECKSUM.start,
            packet_len: packet.len(),
        };
        if payload <= mss {
            return offload_buf::Plan::partial(packet.len(), l4, field::udp::CHECKSUM.start)
                .ok_or(out_of_bounds.into());
        }
        offload_buf::Plan::segmented(Udp::new(g, packet)?).ok_or(out_of_bounds.into())
    }

    /// The constant parts of a GSO split, `g` already checked by [`plan`](Self::plan).
    fn new(g: Gso, packet: &[u8]) -> Result<Udp, SplitError> {
        // Kernel IP input trims the skb to tot_len / payload_len and inet_gso_segment /
        // ipv6_gso_segment parse the real IP header: the length field must match the buffer.
        let info = classify(packet).map_err(Malformed::Ip)?;
        let version = info.version;
        // An IPv6 Fragment header ends the extension-header walk of ipv6_gso_segment and no
        // GSO handler takes it: the kernel drops the packet. inet_gso_segment does not look at
        // IPv4's fragment fields: they are copied into every datagram like the rest of the
        // header.
        if info.fragment && version == IpVersion::V6 {
            return Err(Malformed::Fragment.into());
        }
        // inet_gso_segment / ipv6_gso_segment dispatch on the IP header's protocol: UDP_L4
        // behind TCP reaches tcp4_gso_segment, which refuses it.
        if info.protocol != Protocol::UDP {
            return Err(Malformed::NotUdp(info.protocol.0).into());
        }
        // __udp_gso_segment: skb_checksum_start != skb_transport_header → -EINVAL: the
        // partial checksum must start at the UDP header the IP layer found.
        if g.l4_offset != info.l4_offset {
            return Err(HeaderError::CsumStartNotL4 {
                csum_start: g.l4_offset,
                l4_offset: info.l4_offset,
            }
            .into());
        }
        let l4 = g.l4_offset;
        let hl = l4 + UdpHeader::LEN;
        let mss = usize::from(g.gso_size);
        let payload = packet.len() - hl;
        let segments = payload.div_ceil(mss);
        let udp = &packet[l4..hl];
        let len_field = u16::from_be_bytes([udp[4], udp[5]]);
        let partial = u16::from_be_bytes([udp[6], udp[7]]);
        // __udp_gso_segment: check = csum16_add(csum16_sub(uh->check, uh->len), newlen): the
        // length *field* taken out of the sender's partial sum (whatever length the sender
        // summed), each datagram's put in; gso_make_checksum then sums the datagram's UDP
        // header (ports, new length, that check) and payload.
        let udp_base = Accumulator::new()
            .add(&udp[..field::udp::LENGTH.start])
            .add_u16(partial)
            .add_u16(!len_field);

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
        Ok(Udp {
            version,
            l4,
            hl,
            mss,
            payload,
            segments,
            ip_base,
            id0,
            udp_base: u32::from(udp_base.fold()),
        })
    }
}

impl Segmenter for Udp {
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

    /// Rewrite the per-datagram fields of datagram `i`, `len` bytes long (`seg` starts with
    /// the copied headers, followed by the payload or not; `payload_sum` is the payload's
    /// sum). Rule book §5.3: `__udp_gso_segment` and `inet_gso_segment` / `ipv6_gso_segment`.
    ///
    /// `seg` is at least `hl` bytes, so every index is in bounds. The payload starts at an
    /// even offset from the UDP header (IPv4 headers are 4-byte multiples, IPv6 extension
    /// headers 8-byte ones), so its sum adds to the header's as is.
    #[inline(always)]
    fn patch(&self, seg: &mut [u8], len: usize, i: usize, payload_sum: u16) {
        let udp = &mut seg[self.l4..];
        // The UDP length: 8 + the datagram's payload (fits 16 bits: the datagram is no longer
        // than the packet, whose IP length field held it).
        let ulen = (len - self.l4) as u16;
        put16(udp, field::udp::LENGTH.start, ulen);
        // Sixteen-bit words added as plain u32s: four terms below 2^16 each, no overflow;
        // `fold_u32` does the end-around carry once. The new length counts twice: in the
        // pseudo-header and in the UDP header. gso_make_checksum ?: CSUM_MANGLED_0 (rule book
        // §5.3): a zero result is stored as 0xffff, in every datagram.
        let sum = self.udp_base + 2 * u32::from(ulen) + u32::from(payload_sum);
        put16(udp, field::udp::CHECKSUM.start, mangle0(!fold_u32(sum)));
        match self.version {
            IpVersion::V4 => {
                // inet_gso_segment: tot_len per datagram, id = first id + i (u16 wrap; no
                // FIXEDID for UDP), ip_send_check.
                let tot = len as u16;
                let id = self.id0.wrapping_add(i as u16);
                put16(seg, field::ipv4::TOTAL_LEN.start, tot);
                put16(seg, field::ipv4::ID.start, id);
                let check = !fold_u32(self.ip_base + u32::from(tot) + u32::from(id));
                put16(seg, field::ipv4::CHECKSUM.start, check);
            }
            IpVersion::V6 => {
                // ipv6_gso_segment: payload_len = datagram length − 40 (extension headers
                // counted).
                put16(
                    seg,
                    field::ipv6::PAYLOAD_LEN.start,
                    (len - Ipv6Header::LEN) as u16,
                );
            }
        }
    }
}

/// `CSUM_MANGLED_0`: a UDP checksum that computes to 0 is sent as 0xffff (0 means none).
#[inline(always)]
fn mangle0(check: u16) -> u16 {
    if check == 0 { 0xffff } else { check }
}

#[inline(always)]
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
