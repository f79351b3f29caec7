//! Super-packet builder for tests, benchmarks, fuzz seeds and examples across the workspace.

use alloc::vec::Vec;

use inet_hdr::{IpVersion, Ipv4Header, Ipv6Header, Protocol, TcpFlags, TcpHeader};
use virtio_net_hdr::VirtioNetHdr;
use zerocopy::byteorder::network_endian::{U16, U32};

/// A TCP super-packet as a TUN with TSO hands it out: valid IPv4 header checksum, IP length
/// fields covering the whole packet, and the TCP checksum field holding the folded
/// pseudo-header sum over the full L4 length (`CHECKSUM_PARTIAL`).
///
/// ```
/// use tcp_tso::testdata::SuperPacket;
/// let (hdr, pkt) = SuperPacket::v6(3000, 1000).ipv6_dest_opts(8).build();
/// assert_eq!(hdr.csum_start(), 48);
/// assert_eq!(tcp_tso::Plan::new(&hdr, &pkt).map(|p| p.segments()), Ok(3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuperPacket {
    /// IP version.
    pub version: IpVersion,
    /// IPv4 source (used when `version` is V4).
    pub src4: [u8; 4],
    /// IPv4 destination.
    pub dst4: [u8; 4],
    /// IPv6 source (used when `version` is V6).
    pub src6: [u8; 16],
    /// IPv6 destination.
    pub dst6: [u8; 16],
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification of the first segment.
    pub ipv4_id: u16,
    /// IPv4 options (padded with NOPs to a multiple of 4, at most 40 bytes kept).
    pub ipv4_options: Vec<u8>,
    /// Length of an IPv6 Destination Options header between the IPv6 and TCP headers (a
    /// multiple of 8; 0 for none).
    pub ipv6_dest_opts: usize,
    /// TCP source port.
    pub src_port: u16,
    /// TCP destination port.
    pub dst_port: u16,
    /// Sequence number of the first segment.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// TCP flags of the super-packet.
    pub flags: TcpFlags,
    /// Receive window.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// TCP options (padded with NOPs to a multiple of 4, at most 40 bytes kept).
    pub tcp_options: Vec<u8>,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// `gso_size`.
    pub gso_size: u16,
    /// The GSO ECN bit in the virtio header.
    pub ecn: bool,
}

impl SuperPacket {
    /// IPv4 10.0.0.1:40000 → 10.0.0.2:5201, ACK, `payload_len` patterned bytes.
    pub fn v4(payload_len: usize, gso_size: u16) -> Self {
        SuperPacket {
            version: IpVersion::V4,
            src4: [10, 0, 0, 1],
            dst4: [10, 0, 0, 2],
            src6: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            dst6: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            tos: 0,
            ttl: 64,
            ipv4_id: 0x1000,
            ipv4_options: Vec::new(),
            ipv6_dest_opts: 0,
            src_port: 40000,
            dst_port: 5201,
            seq: 0x0102_0304,
            ack: 0x0a0b_0c0d,
            flags: TcpFlags::ACK,
            window: 501,
            urgent: 0,
            tcp_options: Vec::new(),
            payload: (0..payload_len).map(|i| (i * 7 + 3) as u8).collect(),
            gso_size,
            ecn: false,
        }
    }

    /// IPv6 fd00::1 → fd00::2, otherwise as [`v4`](Self::v4).
    pub fn v6(payload_len: usize, gso_size: u16) -> Self {
        SuperPacket {
            version: IpVersion::V6,
            ..Self::v4(payload_len, gso_size)
        }
    }

    /// Set the TCP flags.
    pub fn flags(mut self, flags: TcpFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Set the TCP options.
    pub fn tcp_options(mut self, options: &[u8]) -> Self {
        self.tcp_options = options.to_vec();
        self
    }

    /// Set the IPv4 options.
    pub fn ipv4_options(mut self, options: &[u8]) -> Self {
        self.ipv4_options = options.to_vec();
        self
    }

    /// Add an IPv6 Destination Options header of `len` bytes (multiple of 8).
    pub fn ipv6_dest_opts(mut self, len: usize) -> Self {
        self.ipv6_dest_opts = len;
        self
    }

    /// The virtio header and the packet bytes.
    ///
    /// # Panics
    /// If the packet would not fit its IP length field.
    pub fn build(&self) -> (VirtioNetHdr, Vec<u8>) {
        let opts = pad4(&self.tcp_options);
        let thl = TcpHeader::LEN + opts.len();
        let l4_len = thl + self.payload.len();
        let mut p = Vec::with_capacity(100 + l4_len);
        let l4 = match self.version {
            IpVersion::V4 => {
                let ip_opts = pad4(&self.ipv4_options);
                let ihl = Ipv4Header::LEN + ip_opts.len();
                p.resize(Ipv4Header::LEN, 0);
                p.extend_from_slice(&ip_opts);
                let (ip, _) = Ipv4Header::mut_from_packet(&mut p).expect("20 bytes");
                ip.version_ihl = 0x40 | (ihl / 4) as u8;
                ip.tos = self.tos;
                ip.set_total_len(u16::try_from(ihl + l4_len).expect("IPv4 packet too long"));
                ip.set_id(self.ipv4_id);
                ip.flags_frag_off = U16::new(Ipv4Header::FLAG_DF);
                ip.ttl = self.ttl;
                ip.protocol = Protocol::TCP.0;
                ip.src = self.src4;
                ip.dst = self.dst4;
                ip.set_checksum(0);
                let c = inet_csum::header_checksum(&p[..ihl]);
                let (ip, _) = Ipv4Header::mut_from_packet(&mut p).expect("20 bytes");
                ip.set_checksum(c);
                ihl
            }
            IpVersion::V6 => {
                let ext = self.ipv6_dest_opts;
                p.resize(Ipv6Header::LEN + ext, 0);
                let (ip, rest) = Ipv6Header::mut_from_packet(&mut p).expect("40 bytes");
                ip.version_tc_flow = U32::new((6 << 28) | (u32::from(self.tos) << 20) | 0x12345);
                ip.set_payload_len(u16::try_from(ext + l4_len).expect("IPv6 payload too long"));
                ip.hop_limit = self.ttl;
                ip.src = self.src6;
                ip.dst = self.dst6;
                if ext >= 8 {
                    ip.next_header = Protocol::DEST_OPTS.0;
                    // Destination Options: next header TCP, length, one PadN option filling it.
                    rest[0] = Protocol::TCP.0;
                    rest[1] = (ext / 8 - 1) as u8;
                    rest[2] = 1;
                    rest[3] = (ext - 4) as u8;
                } else {
                    ip.next_header = Protocol::TCP.0;
                }
                Ipv6Header::LEN + ext
            }
        };
        p.resize(l4 + TcpHeader::LEN, 0);
        {
            let (tcp, _) = TcpHeader::mut_from_packet(&mut p[l4..]).expect("20 bytes");
            tcp.src_port = U16::new(self.src_port);
            tcp.dst_port = U16::new(self.dst_port);
            tcp.set_seq(self.seq);
            tcp.ack = U32::new(self.ack);
            tcp.data_offset_reserved = ((thl / 4) as u8) << 4;
            tcp.set_flags(self.flags);
            tcp.window = U16::new(self.window);
            tcp.urgent_ptr = U16::new(self.urgent);
        }
        p.extend_from_slice(&opts);
        p.extend_from_slice(&self.payload);
        let pseudo = match self.version {
            IpVersion::V4 => {
                inet_csum::pseudo_header_v4(self.src4, self.dst4, Protocol::TCP.0, l4_len as u16)
            }
            IpVersion::V6 => {
                inet_csum::pseudo_header_v6(&self.src6, &self.dst6, Protocol::TCP.0, l4_len as u32)
            }
        };
        let (tcp, _) = TcpHeader::mut_from_packet(&mut p[l4..]).expect("20 bytes");
        tcp.set_checksum(pseudo.fold());
        let hdr =
            VirtioNetHdr::tcp_gso(self.version, l4 as u16, thl as u16, self.gso_size, self.ecn);
        (hdr, p)
    }
}

/// At most 40 option bytes, padded with NOPs to a multiple of 4.
fn pad4(options: &[u8]) -> Vec<u8> {
    let mut o = options.to_vec();
    o.truncate(40);
    while !o.len().is_multiple_of(4) {
        o.push(1);
    }
    o
}
