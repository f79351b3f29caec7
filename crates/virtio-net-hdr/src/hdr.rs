//! The header layouts (`include/uapi/linux/virtio_net.h`; rule book §3.1).

use inet_hdr::IpVersion;
use zerocopy::byteorder::{ByteOrder, LittleEndian, NativeEndian, U16};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::Error;

/// `flags` byte.
///
/// ```
/// use virtio_net_hdr::Flags;
/// assert!((Flags::NEEDS_CSUM | Flags::DATA_VALID).contains(Flags::DATA_VALID));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// The L4 checksum is partial: finish it at `csum_start + csum_offset`.
    pub const NEEDS_CSUM: Flags = Flags(1);
    /// The checksum was already verified (read path only).
    pub const DATA_VALID: Flags = Flags(2);
    /// `csum_start`/`csum_offset` carry RSC coalescing info (never used by TUN).
    pub const RSC_INFO: Flags = Flags(4);
    /// No flags.
    pub const EMPTY: Flags = Flags(0);

    /// Whether every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    #[inline]
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// `gso_type` byte: a base type plus the ECN bit.
///
/// ```
/// use virtio_net_hdr::GsoType;
/// let t = GsoType(GsoType::TCPV4.0 | GsoType::ECN.0);
/// assert_eq!(t.base(), GsoType::TCPV4);
/// assert!(t.has_ecn());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GsoType(pub u8);

impl GsoType {
    /// Not a GSO packet.
    pub const NONE: GsoType = GsoType(0);
    /// TCP over IPv4.
    pub const TCPV4: GsoType = GsoType(1);
    /// UDP fragmentation offload (legacy UFO).
    pub const UDP: GsoType = GsoType(3);
    /// TCP over IPv6.
    pub const TCPV6: GsoType = GsoType(4);
    /// UDP segmentation offload (USO).
    pub const UDP_L4: GsoType = GsoType(5);
    /// ECN bit: the TCP super-packet's first segment carries CWR (`SKB_GSO_TCP_ECN`).
    pub const ECN: GsoType = GsoType(0x80);

    /// The type without the ECN bit.
    #[inline]
    pub const fn base(self) -> GsoType {
        GsoType(self.0 & !Self::ECN.0)
    }
    /// Whether the ECN bit is set.
    #[inline]
    pub const fn has_ecn(self) -> bool {
        self.0 & Self::ECN.0 != 0
    }
}

/// `struct virtio_net_hdr`: the 10-byte legacy header TUN uses by default.
///
/// `O` is the byte order of the 16-bit fields: host-native by default (TUN without
/// `TUNSETVNETLE`), [`VirtioNetHdrLe`] for little-endian.
///
/// | offset | field |
/// |---|---|
/// | 0 | flags |
/// | 1 | gso_type |
/// | 2 | hdr_len |
/// | 4 | gso_size |
/// | 6 | csum_start |
/// | 8 | csum_offset |
///
/// ```
/// use virtio_net_hdr::VirtioNetHdr;
/// assert_eq!(core::mem::size_of::<VirtioNetHdr>(), VirtioNetHdr::LEN);
/// let h = VirtioNetHdr::needs_csum(20, 16);
/// assert_eq!(h.csum_start(), 20);
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct VirtioNetHdr<O: ByteOrder = NativeEndian> {
    /// Flags ([`Flags`]).
    pub flags: u8,
    /// GSO type ([`GsoType`]).
    pub gso_type: u8,
    /// Header length hint.
    pub hdr_len: U16<O>,
    /// Segment payload size (MSS).
    pub gso_size: U16<O>,
    /// Offset of the L4 header from the start of the IP packet.
    pub csum_start: U16<O>,
    /// Offset of the checksum field from `csum_start`.
    pub csum_offset: U16<O>,
}

/// [`VirtioNetHdr`] with little-endian fields (`TUNSETVNETLE`, virtio 1.0).
pub type VirtioNetHdrLe = VirtioNetHdr<LittleEndian>;

/// `struct virtio_net_hdr_v1` / `virtio_net_hdr_mrg_rxbuf`: 12 bytes (`TUNSETVNETHDRSZ` 12).
///
/// ```
/// use virtio_net_hdr::VirtioNetHdrV1;
/// assert_eq!(core::mem::size_of::<VirtioNetHdrV1>(), 12);
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct VirtioNetHdrV1<O: ByteOrder = NativeEndian> {
    /// The 10-byte header.
    pub hdr: VirtioNetHdr<O>,
    /// Number of merged receive buffers (not meaningful on TUN; do not depend on it).
    pub num_buffers: U16<O>,
}

/// [`VirtioNetHdrV1`] with little-endian fields.
pub type VirtioNetHdrV1Le = VirtioNetHdrV1<LittleEndian>;

impl VirtioNetHdrV1 {
    /// Size in bytes: the largest vnet header a TUN device here is set up with
    /// (`TUNSETVNETHDRSZ`), so the room to read any of them into.
    ///
    /// ```
    /// use virtio_net_hdr::{VirtioNetHdr, VirtioNetHdrV1};
    /// assert_eq!((VirtioNetHdr::LEN, VirtioNetHdrV1::LEN), (10, 12));
    /// ```
    pub const LEN: usize = core::mem::size_of::<Self>();
}

const _: () = assert!(core::mem::size_of::<VirtioNetHdr>() == 10);
const _: () = assert!(core::mem::size_of::<VirtioNetHdrLe>() == 10);
const _: () = assert!(core::mem::size_of::<VirtioNetHdrV1>() == 12);
const _: () = assert!(core::mem::offset_of!(VirtioNetHdr, hdr_len) == 2);
const _: () = assert!(core::mem::offset_of!(VirtioNetHdr, gso_size) == 4);
const _: () = assert!(core::mem::offset_of!(VirtioNetHdr, csum_start) == 6);
const _: () = assert!(core::mem::offset_of!(VirtioNetHdr, csum_offset) == 8);
const _: () = assert!(core::mem::offset_of!(VirtioNetHdrV1, num_buffers) == 10);

impl<O: ByteOrder> Default for VirtioNetHdr<O> {
    fn default() -> Self {
        Self::new_zeroed()
    }
}

/// Constructors live on the native-order type so `VirtioNetHdr::plain()` needs no annotation
/// (`NativeEndian` is `LittleEndian` on little-endian hosts); use
/// [`convert`](VirtioNetHdr::convert) for another order.
macro_rules! constructors {
    ($order:ty) => {
        impl VirtioNetHdr<$order> {
            /// Size in bytes.
            pub const LEN: usize = core::mem::size_of::<Self>();
            /// `GSO_BY_FRAGS`: a `gso_size` that means "segment along the frag list", which
            /// the kernel never hands out on TUN and refuses on a write (rule book §5.4.4).
            pub const GSO_BY_FRAGS: u16 = 0xffff;
            /// `UDP_MAX_SEGMENTS` (`include/linux/udp.h`; 128 since Linux 6.9, commit 1382e3b6a350, also
            /// in the April 2024 stable updates; 64 before): a
            /// `UDP_L4` write whose payload exceeds `gso_size` × this is refused by
            /// `virtio_net_hdr_to_skb`, and no sender makes more segments (`udp_send_skb`).
            ///
            /// ```
            /// assert_eq!(virtio_net_hdr::VirtioNetHdr::UDP_MAX_SEGMENTS, 128);
            /// ```
            pub const UDP_MAX_SEGMENTS: usize = 128;

            /// A zeroed header: a plain packet with complete checksums.
            ///
            /// ```
            /// assert_eq!(virtio_net_hdr::VirtioNetHdr::plain().to_bytes(), [0u8; 10]);
            /// ```
            #[inline]
            pub fn plain() -> Self {
                Self::new_zeroed()
            }

            /// A non-GSO header asking the kernel to finish the checksum at
            /// `csum_start + csum_offset`.
            ///
            /// ```
            /// use virtio_net_hdr::{VirtioNetHdr, Flags};
            /// let h = VirtioNetHdr::needs_csum(20, 16);
            /// assert_eq!(h.flags(), Flags::NEEDS_CSUM);
            /// ```
            #[inline]
            pub fn needs_csum(csum_start: u16, csum_offset: u16) -> Self {
                let mut h = Self::plain();
                h.flags = Flags::NEEDS_CSUM.0;
                h.csum_start.set(csum_start);
                h.csum_offset.set(csum_offset);
                h
            }

            /// The header for a TCP super-packet we write (rule book §6, "Writer"): NEEDS_CSUM,
            /// `csum_offset` 16, `gso_type` TCPV4/TCPV6 (+ECN), `hdr_len = csum_start + tcp_header_len`.
            ///
            /// ```
            /// use virtio_net_hdr::{VirtioNetHdr, GsoType};
            /// let h = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V6, 40, 32, 1428, true);
            /// assert_eq!(h.gso_type(), GsoType(GsoType::TCPV6.0 | GsoType::ECN.0));
            /// assert_eq!((h.hdr_len(), h.gso_size(), h.csum_offset()), (72, 1428, 16));
            /// ```
            #[inline]
            pub fn tcp_gso(
                version: IpVersion,
                csum_start: u16,
                tcp_header_len: u16,
                gso_size: u16,
                ecn: bool,
            ) -> Self {
                let mut h =
                    Self::needs_csum(csum_start, inet_hdr::field::tcp::CHECKSUM.start as u16);
                let base = match version {
                    IpVersion::V4 => GsoType::TCPV4,
                    IpVersion::V6 => GsoType::TCPV6,
                };
                h.gso_type = if ecn { base.0 | GsoType::ECN.0 } else { base.0 };
                h.hdr_len.set(csum_start.saturating_add(tcp_header_len));
                h.gso_size.set(gso_size);
                h
            }

            /// The header for a UDP super-packet we write (USO, rule book §6, "Writer"):
            /// NEEDS_CSUM, `csum_offset` 6, `gso_type` UDP_L4 (for IPv4 and IPv6 alike),
            /// `hdr_len = csum_start + 8`.
            ///
            /// ```
            /// use virtio_net_hdr::{VirtioNetHdr, GsoType};
            /// let h = VirtioNetHdr::udp_gso(20, 1472);
            /// assert_eq!(h.gso_type(), GsoType::UDP_L4);
            /// assert_eq!((h.hdr_len(), h.gso_size(), h.csum_offset()), (28, 1472, 6));
            /// ```
            #[inline]
            pub fn udp_gso(csum_start: u16, gso_size: u16) -> Self {
                let mut h =
                    Self::needs_csum(csum_start, inet_hdr::field::udp::CHECKSUM.start as u16);
                h.gso_type = GsoType::UDP_L4.0;
                h.hdr_len.set(
                    csum_start.saturating_add(core::mem::size_of::<inet_hdr::UdpHeader>() as u16),
                );
                h.gso_size.set(gso_size);
                h
            }

            /// View the header at the start of `buf`; returns it and the packet after it.
            ///
            /// # Errors
            /// [`Error::Truncated`] if `buf` is shorter than 10 bytes.
            ///
            /// ```
            /// let buf = [0u8; 30];
            /// let (h, packet) = virtio_net_hdr::VirtioNetHdr::ref_from_packet(&buf).unwrap();
            /// assert_eq!((h.gso_size(), packet.len()), (0, 20));
            /// ```
            #[inline]
            pub fn ref_from_packet(buf: &[u8]) -> Result<(&Self, &[u8]), Error> {
                Self::ref_from_prefix(buf).map_err(|_| Error::Truncated)
            }

            /// Mutable view of the header at the start of `buf`.
            ///
            /// # Errors
            /// [`Error::Truncated`] if `buf` is shorter than 10 bytes.
            #[inline]
            pub fn mut_from_packet(buf: &mut [u8]) -> Result<(&mut Self, &mut [u8]), Error> {
                Self::mut_from_prefix(buf).map_err(|_| Error::Truncated)
            }
        }
    };
}

constructors!(NativeEndian);

impl<O: ByteOrder> VirtioNetHdr<O> {
    /// The 10 wire bytes.
    ///
    /// ```
    /// let b = virtio_net_hdr::VirtioNetHdr::needs_csum(20, 16).to_bytes();
    /// assert_eq!((b[0], u16::from_ne_bytes([b[6], b[7]])), (1, 20));
    /// ```
    #[inline]
    pub fn to_bytes(&self) -> [u8; VirtioNetHdr::LEN] {
        let mut b = [0u8; VirtioNetHdr::LEN];
        b.copy_from_slice(IntoBytes::as_bytes(self));
        b
    }

    /// Write the header into the first 10 bytes of `buf`.
    ///
    /// # Errors
    /// [`Error::Truncated`] if `buf` is shorter than 10 bytes.
    #[inline]
    pub fn write_to(&self, buf: &mut [u8]) -> Result<(), Error> {
        self.write_to_prefix(buf).map_err(|_| Error::Truncated)
    }

    /// Flags.
    #[inline]
    pub fn flags(&self) -> Flags {
        Flags(self.flags)
    }
    /// GSO type.
    #[inline]
    pub fn gso_type(&self) -> GsoType {
        GsoType(self.gso_type)
    }
    /// Header-length hint.
    #[inline]
    pub fn hdr_len(&self) -> u16 {
        self.hdr_len.get()
    }
    /// Segment payload size.
    #[inline]
    pub fn gso_size(&self) -> u16 {
        self.gso_size.get()
    }
    /// L4 header offset.
    #[inline]
    pub fn csum_start(&self) -> u16 {
        self.csum_start.get()
    }
    /// Checksum field offset from `csum_start`.
    #[inline]
    pub fn csum_offset(&self) -> u16 {
        self.csum_offset.get()
    }
    /// Set the flags.
    #[inline]
    pub fn set_flags(&mut self, f: Flags) {
        self.flags = f.0;
    }
    /// Set the GSO type.
    #[inline]
    pub fn set_gso_type(&mut self, t: GsoType) {
        self.gso_type = t.0;
    }
    /// Set the header-length hint.
    #[inline]
    pub fn set_hdr_len(&mut self, v: u16) {
        self.hdr_len.set(v);
    }
    /// Set the segment payload size.
    #[inline]
    pub fn set_gso_size(&mut self, v: u16) {
        self.gso_size.set(v);
    }
    /// Set the L4 header offset.
    #[inline]
    pub fn set_csum_start(&mut self, v: u16) {
        self.csum_start.set(v);
    }
    /// Set the checksum field offset.
    #[inline]
    pub fn set_csum_offset(&mut self, v: u16) {
        self.csum_offset.set(v);
    }

    /// The same header in another byte order.
    ///
    /// ```
    /// use virtio_net_hdr::{VirtioNetHdr, VirtioNetHdrLe};
    /// let le: VirtioNetHdrLe = VirtioNetHdr::needs_csum(20, 16).convert();
    /// assert_eq!(le.csum_start(), 20);
    /// ```
    #[inline]
    pub fn convert<P: ByteOrder>(&self) -> VirtioNetHdr<P> {
        VirtioNetHdr {
            flags: self.flags,
            gso_type: self.gso_type,
            hdr_len: U16::new(self.hdr_len()),
            gso_size: U16::new(self.gso_size()),
            csum_start: U16::new(self.csum_start()),
            csum_offset: U16::new(self.csum_offset()),
        }
    }
}
