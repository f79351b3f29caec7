//! Decoding headers read from TUN and validating headers written to it.

use inet_hdr::field::{self, CHECKSUM_LEN};
use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, TcpHeader, UdpHeader, classify};
use zerocopy::byteorder::ByteOrder;

use crate::{Error, Flags, GsoType, VirtioNetHdr};

/// `UDP_MAX_SEGMENTS` since Linux 6.9 ("net: change maximum number of UDP segments to 128",
/// 1382e3b6a350, also in the April 2024 stable updates; 64 before; rule book §3.3 item 4).
const UDP_MAX_SEGMENTS: usize = 128;

/// The GSO kinds TUN can hand out or accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GsoKind {
    /// TCP over IPv4.
    TcpV4,
    /// TCP over IPv6.
    TcpV6,
    /// UDP segmentation (USO).
    UdpL4,
}

impl GsoKind {
    /// The IP version this kind travels over, if fixed by the kind.
    pub const fn ip_version(self) -> Option<IpVersion> {
        match self {
            GsoKind::TcpV4 => Some(IpVersion::V4),
            GsoKind::TcpV6 => Some(IpVersion::V6),
            GsoKind::UdpL4 => None,
        }
    }
}

/// A validated GSO super-packet description, ready for a splitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gso {
    /// What to split.
    pub kind: GsoKind,
    /// The ECN bit: the first segment carries CWR.
    pub ecn: bool,
    /// Segment payload size (MSS); never 0.
    pub gso_size: u16,
    /// Offset of the L4 header (`csum_start`).
    pub l4_offset: usize,
    /// L4 header length: TCP data offset × 4 (20..=60), or 8 for UDP.
    pub l4_header_len: usize,
    /// Full header length: `l4_offset + l4_header_len` (derived; `hdr_len` is ignored).
    pub header_len: usize,
}

/// What a header read from TUN asks of the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offload {
    /// A plain packet with complete checksums.
    None,
    /// A plain packet whose checksum the kernel already verified (`DATA_VALID`).
    DataValid,
    /// A plain packet whose L4 checksum must be finished: the field at
    /// `csum_start + csum_offset` holds the pseudo-header sum (bounds already checked).
    Partial {
        /// `csum_start`.
        csum_start: usize,
        /// `csum_offset`.
        csum_offset: usize,
    },
    /// A GSO super-packet.
    Gso(Gso),
}

impl<O: ByteOrder> VirtioNetHdr<O> {
    /// Decode a header read from TUN against the packet that follows it (rule book §3.4).
    ///
    /// The real header length is derived from `csum_start` and the TCP data offset (or the
    /// 8-byte UDP header); `hdr_len` is ignored. Every offset is bounds-checked.
    ///
    /// # Errors
    /// A typed [`Error`] for each malformed case: unknown or unsupported GSO type (UFO),
    /// `gso_size` 0 or `GSO_BY_FRAGS` (0xffff), GSO without NEEDS_CSUM, checksum position
    /// outside the packet, `csum_start` below the minimum IP header, IP version not matching
    /// the GSO type, a TCP data offset below 5 or past the end, a wrong `csum_offset` for the
    /// GSO type.
    ///
    /// ```
    /// use virtio_net_hdr::{VirtioNetHdr, Offload, Error};
    /// // IPv4 (total length 50) + TCP (ACK) headers and 10 bytes of payload.
    /// let mut pkt = vec![
    ///     0x45, 0, 0x00, 0x32, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0,
    /// ];
    /// pkt.resize(50, 0xab);
    /// assert_eq!(VirtioNetHdr::plain().decode(&pkt), Ok(Offload::None));
    /// let mut h = VirtioNetHdr::needs_csum(20, 16);
    /// assert!(matches!(h.decode(&pkt), Ok(Offload::Partial { csum_start: 20, csum_offset: 16 })));
    /// h.set_csum_start(1000);
    /// assert!(matches!(h.decode(&pkt), Err(Error::CsumOutOfBounds { .. })));
    /// ```
    pub fn decode(&self, packet: &[u8]) -> Result<Offload, Error> {
        let flags = self.flags();
        let gso_type = self.gso_type();
        if gso_type.base() == GsoType::NONE {
            if gso_type.has_ecn() {
                return Err(Error::UnknownGsoType(gso_type.0));
            }
            if flags.contains(Flags::NEEDS_CSUM) {
                let (start, off) = self.partial_bounds(packet, 0)?;
                if start < Ipv4Header::LEN {
                    return Err(Error::CsumStartTooSmall {
                        csum_start: start,
                        min: Ipv4Header::LEN,
                    });
                }
                return Ok(Offload::Partial {
                    csum_start: start,
                    csum_offset: off,
                });
            }
            if flags.contains(Flags::DATA_VALID) {
                return Ok(Offload::DataValid);
            }
            return Ok(Offload::None);
        }
        let kind = match gso_type.base() {
            GsoType::TCPV4 => GsoKind::TcpV4,
            GsoType::TCPV6 => GsoKind::TcpV6,
            GsoType::UDP_L4 => GsoKind::UdpL4,
            GsoType::UDP => return Err(Error::UnsupportedGsoType(gso_type.0)),
            _ => return Err(Error::UnknownGsoType(gso_type.0)),
        };
        if kind == GsoKind::UdpL4 && gso_type.has_ecn() {
            return Err(Error::EcnNotAllowed);
        }
        let gso_size = self.gso_size();
        if gso_size == 0 {
            return Err(Error::ZeroGsoSize);
        }
        if !flags.contains(Flags::NEEDS_CSUM) {
            return Err(Error::GsoWithoutNeedsCsum);
        }
        let version = ip_version(packet)?;
        if kind.ip_version().is_some_and(|v| v != version) {
            return Err(Error::VersionMismatch);
        }
        let min = match version {
            IpVersion::V4 => Ipv4Header::LEN,
            IpVersion::V6 => Ipv6Header::LEN,
        };
        let (l4_offset, csum_offset) = self.partial_bounds(packet, l4_min_len(kind))?;
        if l4_offset < min {
            return Err(Error::CsumStartTooSmall {
                csum_start: l4_offset,
                min,
            });
        }
        let expected = l4_csum_offset(kind);
        if csum_offset != expected {
            return Err(Error::BadCsumOffset {
                expected,
                found: csum_offset,
            });
        }
        // The kernel never hands this out (gso_size is an MSS), and its own parser of a
        // virtio header refuses it, as check_kernel does (rule book §5.4.4).
        if gso_size == VirtioNetHdr::GSO_BY_FRAGS {
            return Err(Error::GsoByFrags);
        }
        let l4_header_len = l4_header_len(kind, packet, l4_offset, csum_offset)?;
        Ok(Offload::Gso(Gso {
            kind,
            ecn: gso_type.has_ecn(),
            gso_size,
            l4_offset,
            l4_header_len,
            header_len: l4_offset + l4_header_len,
        }))
    }

    /// The GSO description if this is a super-packet, `None` for a plain packet.
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    ///
    /// ```
    /// let pkt = [0x45, 0, 0, 20, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
    /// assert_eq!(virtio_net_hdr::VirtioNetHdr::plain().gso(&pkt), Ok(None));
    /// ```
    pub fn gso(&self, packet: &[u8]) -> Result<Option<Gso>, Error> {
        match self.decode(packet)? {
            Offload::Gso(g) => Ok(Some(g)),
            _ => Ok(None),
        }
    }

    /// Whether the kernel (Linux ≥ 6.11, or a stable kernel with "net: drop bad gso csum_start
    /// and offset in virtio_net_hdr") accepts this header in front of `packet` on a TUN write
    /// (`IFF_TUN | IFF_NO_PI | IFF_VNET_HDR`): `tun_get_user` and `virtio_net_hdr_to_skb`,
    /// rule by rule (rule book §3.3).
    ///
    /// # Errors
    /// The first rule the kernel would reject the write (`-EINVAL`) by.
    ///
    /// ```
    /// use virtio_net_hdr::{VirtioNetHdr, Error};
    /// // A super-packet as read from a TUN: IPv4 + TCP headers, 3 × 100 bytes of payload.
    /// let mut pkt = vec![
    ///     0x45, 0, 0x01, 0x54, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0,
    /// ];
    /// pkt.resize(340, 0xab);
    /// let h = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 100, false);
    /// assert_eq!(h.check_kernel(&pkt), Ok(()));
    /// let mut bad = h;
    /// bad.set_gso_size(0);
    /// assert_eq!(bad.check_kernel(&pkt), Err(Error::ZeroGsoSize));
    /// ```
    pub fn check_kernel(&self, packet: &[u8]) -> Result<(), Error> {
        let len = packet.len();
        let flags = self.flags();
        let needs_csum = flags.contains(Flags::NEEDS_CSUM);
        let (start, off) = (
            usize::from(self.csum_start()),
            usize::from(self.csum_offset()),
        );
        // tun_get_user / tun_vnet_hdr_get: hdr_len = max(hdr_len, csum_start + csum_offset + 2)
        // and it must not exceed the packet.
        let mut hdr_len = usize::from(self.hdr_len());
        if needs_csum {
            hdr_len = hdr_len.max(start + off + CHECKSUM_LEN);
        }
        if hdr_len > len {
            return Err(Error::HdrLenTooLong {
                hdr_len,
                packet_len: len,
            });
        }
        // virtio_net_hdr_to_skb: GSO type and size; `nh_min_len` is `sizeof(struct iphdr)`, or
        // `sizeof(struct ipv6hdr)` for TCPV6.
        let gso_type = self.gso_type();
        let (thlen, mut nh_min_len, is_gso) = match gso_type.base() {
            GsoType::NONE => (0, Ipv4Header::LEN, false),
            GsoType::TCPV4 => (TcpHeader::LEN, Ipv4Header::LEN, true),
            GsoType::TCPV6 => (TcpHeader::LEN, Ipv6Header::LEN, true),
            GsoType::UDP | GsoType::UDP_L4 => (UdpHeader::LEN, Ipv4Header::LEN, true),
            // Includes the 6.17+ UDP tunnel bits (0x20/0x40), which TUN rejects unless the vnet
            // header is ≥ 24 bytes (`virtio_net_hdr_tnl_to_skb`), and the proposed AccECN bit
            // (not in mainline uapi): rejecting them is never less strict than the kernel.
            _ => return Err(Error::UnknownGsoType(gso_type.0)),
        };
        if !is_gso && gso_type.has_ecn() {
            return Err(Error::UnknownGsoType(gso_type.0));
        }
        if is_gso && self.gso_size() == 0 {
            return Err(Error::ZeroGsoSize);
        }
        let p_off;
        if needs_csum {
            let needed = start + thlen.max(off + CHECKSUM_LEN);
            if needed > len {
                return Err(Error::CsumOutOfBounds {
                    csum_start: start,
                    csum_offset: off,
                    packet_len: len,
                });
            }
            if start < nh_min_len {
                return Err(Error::CsumStartTooSmall {
                    csum_start: start,
                    min: nh_min_len,
                });
            }
            nh_min_len = start;
            p_off = nh_min_len + thlen;
            if p_off > len {
                return Err(Error::CsumOutOfBounds {
                    csum_start: start,
                    csum_offset: off,
                    packet_len: len,
                });
            }
        } else {
            // Without NEEDS_CSUM the TUN path cannot dissect (no network header yet): only the
            // minimum headers must be present.
            p_off = nh_min_len + thlen;
            if is_gso && p_off > len {
                return Err(Error::CsumOutOfBounds {
                    csum_start: start,
                    csum_offset: off,
                    packet_len: len,
                });
            }
        }
        if is_gso {
            let gso_size = usize::from(self.gso_size());
            match gso_type.base() {
                GsoType::UDP_L4 => {
                    if !needs_csum {
                        return Err(Error::GsoWithoutNeedsCsum);
                    }
                    if off != field::udp::CHECKSUM.start {
                        return Err(Error::BadCsumOffset {
                            expected: field::udp::CHECKSUM.start,
                            found: off,
                        });
                    }
                    if len - p_off > gso_size * UDP_MAX_SEGMENTS {
                        return Err(Error::TooManySegments);
                    }
                    if gso_type.has_ecn() {
                        return Err(Error::EcnNotAllowed);
                    }
                }
                GsoType::TCPV4 | GsoType::TCPV6
                    if needs_csum && off != field::tcp::CHECKSUM.start =>
                {
                    return Err(Error::BadCsumOffset {
                        expected: field::tcp::CHECKSUM.start,
                        found: off,
                    });
                }
                _ => {}
            }
            if self.gso_size() == VirtioNetHdr::GSO_BY_FRAGS {
                return Err(Error::GsoByFrags);
            }
        }
        // tun_get_user with IFF_NO_PI: the first nibble decides the protocol.
        ip_version(packet)?;
        Ok(())
    }

    /// The contract our writers keep, stricter than [`check_kernel`](Self::check_kernel): every
    /// GSO header carries NEEDS_CSUM (rule book §3.3 item 3), the IP packet parses (the kernel's
    /// IP input would drop it otherwise), `csum_start` is the packet's real L4 offset, the IP
    /// version matches the GSO type, and the payload after the real L4 header exceeds
    /// `gso_size` (items 5–6: otherwise the kernel may drop it at segmentation, §5.4.1).
    ///
    /// # Errors
    /// The first violated rule.
    ///
    /// ```
    /// use virtio_net_hdr::{VirtioNetHdr, Error};
    /// // IPv4 + TCP headers, 100 bytes of payload.
    /// let mut pkt = vec![
    ///     0x45, 0, 0x00, 0x8c, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0,
    /// ];
    /// pkt.resize(140, 0xab);
    /// // One segment's worth of payload behind a GSO header: the kernel takes it, we never write it.
    /// let h = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, 100, false);
    /// assert_eq!(h.check_kernel(&pkt), Ok(()));
    /// assert!(matches!(h.check_emit(&pkt), Err(Error::PayloadNotAboveGsoSize { .. })));
    /// ```
    pub fn check_emit(&self, packet: &[u8]) -> Result<(), Error> {
        self.check_kernel(packet)?;
        let needs_csum = self.flags().contains(Flags::NEEDS_CSUM);
        let is_gso = self.gso_type().base() != GsoType::NONE;
        if !is_gso && !needs_csum {
            return Ok(());
        }
        // The kernel's IP input drops what does not parse (after check_kernel accepted it).
        let info = classify(packet).map_err(Error::Ip)?;
        let start = usize::from(self.csum_start());
        if needs_csum && start != info.l4_offset {
            return Err(Error::CsumStartNotL4 {
                csum_start: start,
                l4_offset: info.l4_offset,
            });
        }
        if is_gso {
            match self.decode(packet)? {
                Offload::Gso(g) => {
                    let payload = packet.len() - g.header_len;
                    if payload <= usize::from(g.gso_size) {
                        return Err(Error::PayloadNotAboveGsoSize {
                            payload,
                            gso_size: usize::from(g.gso_size),
                        });
                    }
                }
                _ => return Err(Error::GsoWithoutNeedsCsum),
            }
        }
        Ok(())
    }

    /// `(csum_start, csum_offset)` if `csum_start + max(min_l4, csum_offset + 2) <= len` (2:
    /// [`CHECKSUM_LEN`]).
    fn partial_bounds(&self, packet: &[u8], min_l4: usize) -> Result<(usize, usize), Error> {
        let (start, off) = (
            usize::from(self.csum_start()),
            usize::from(self.csum_offset()),
        );
        if start + min_l4.max(off + CHECKSUM_LEN) > packet.len() {
            return Err(Error::CsumOutOfBounds {
                csum_start: start,
                csum_offset: off,
                packet_len: packet.len(),
            });
        }
        Ok((start, off))
    }
}

fn ip_version(packet: &[u8]) -> Result<IpVersion, Error> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => Ok(IpVersion::V4),
        Some(6) => Ok(IpVersion::V6),
        Some(v) => Err(Error::BadIpVersion(v)),
        None => Err(Error::BadIpVersion(0)),
    }
}

const fn l4_min_len(kind: GsoKind) -> usize {
    match kind {
        GsoKind::TcpV4 | GsoKind::TcpV6 => TcpHeader::LEN,
        GsoKind::UdpL4 => UdpHeader::LEN,
    }
}

const fn l4_csum_offset(kind: GsoKind) -> usize {
    match kind {
        GsoKind::TcpV4 | GsoKind::TcpV6 => field::tcp::CHECKSUM.start,
        GsoKind::UdpL4 => field::udp::CHECKSUM.start,
    }
}

/// Length of the L4 header at `l4_offset` (already known to hold the fixed header).
fn l4_header_len(
    kind: GsoKind,
    packet: &[u8],
    l4_offset: usize,
    csum_offset: usize,
) -> Result<usize, Error> {
    let l4 = packet.get(l4_offset..).unwrap_or_default();
    match kind {
        GsoKind::UdpL4 => Ok(UdpHeader::LEN),
        GsoKind::TcpV4 | GsoKind::TcpV6 => {
            // The fixed header not in the packet is the bounds rule `partial_bounds` checks.
            let (tcp, _) = TcpHeader::ref_from_packet(l4).map_err(|_| Error::CsumOutOfBounds {
                csum_start: l4_offset,
                csum_offset,
                packet_len: packet.len(),
            })?;
            let hl = tcp.header_len();
            if hl < TcpHeader::LEN || hl > l4.len() {
                return Err(Error::BadTcpDataOffset(tcp.data_offset()));
            }
            Ok(hl)
        }
    }
}
