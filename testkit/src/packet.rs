//! The one TCP/IP packet builder of the workspace's tests, fuzz targets and benchmarks.
//!
//! [`TcpPacket`] describes an IPv4 or IPv6 TCP packet with every header field settable and
//! builds it either as a complete segment ([`TcpPacket::build`]: valid IPv4 header and TCP
//! checksums) or as a super-packet the way a TUN with TSO hands it out
//! ([`TcpPacket::build_gso`]: the TCP checksum field holds the pseudo-header sum, and a
//! `virtio_net_hdr` describes the segmentation). Its presets keep the defaults the tests'
//! exact-byte vectors were written against: [`TcpPacket::v4`] for segments,
//! [`TcpPacket::super_v4`] for super-packets, [`TcpPacket::syn_v4`] for a SYN with options.
//!
//! ```
//! use testkit::packet::TcpPacket;
//! let p = TcpPacket::v4().seq(100).payload_len(10).build();
//! assert_eq!(p.len(), 20 + 20 + 10);
//! assert!(inet_csum::verify(&p[..20]));
//! let (hdr, sp) = TcpPacket::super_v6(3000, 1000).ipv6_dest_opts(8).build_gso();
//! assert_eq!((hdr.csum_start(), hdr.gso_size(), sp.len()), (48, 1000, 48 + 20 + 3000));
//! ```

use inet_hdr::{IpVersion, Protocol, TcpFlags};
use virtio_net_hdr::VirtioNetHdr;

/// One TCP/IP packet to build. Every field is public so a test can set any of them; the
/// chainable setters cover the common ones. Option bytes are kept as given: at build time at
/// most 40 are used, padded with NOPs to a multiple of 4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpPacket {
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
    /// IPv4 TOS / IPv6 traffic class (DSCP + ECN).
    pub tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification.
    pub ipv4_id: u16,
    /// The IPv4 flags + fragment-offset word (reserved 0x8000, DF 0x4000, MF 0x2000, offset).
    pub frag_word: u16,
    /// IPv4 options.
    pub ipv4_options: Vec<u8>,
    /// IPv6 flow label (20 bits).
    pub flow_label: u32,
    /// IPv6 extension headers in order, as (type, body after the two-byte prefix, a multiple
    /// of 8 bytes long with the prefix).
    pub ext_headers: Vec<(u8, Vec<u8>)>,
    /// Length of a Destination Options header (one PadN option filling it) after
    /// `ext_headers`: a multiple of 8, 0 for none.
    pub ipv6_dest_opts: usize,
    /// An IPv6 Fragment header (offset 0, M=0) right before TCP.
    pub ipv6_fragment: bool,
    /// TCP source port.
    pub src_port: u16,
    /// TCP destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// TCP flags.
    pub flags: TcpFlags,
    /// The reserved/AE bits (low nibble of TCP byte 12).
    pub tcp_reserved: u8,
    /// Receive window.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// TCP options.
    pub tcp_options: Vec<u8>,
    /// Payload bytes (unless `payload_from_seq` is set).
    pub payload: Vec<u8>,
    /// A payload of this many bytes generated at build time, byte `i` being the low byte of
    /// its sequence number `seq + i`, so any reassembly can be checked by value. Replaces
    /// `payload` when set.
    pub payload_from_seq: Option<usize>,
    /// Store a TCP checksum that is off by one.
    pub bad_checksum: bool,
    /// `gso_size` of [`build_gso`](Self::build_gso)'s virtio header.
    pub gso_size: u16,
    /// The GSO ECN bit of [`build_gso`](Self::build_gso)'s virtio header.
    pub ecn: bool,
}

impl TcpPacket {
    /// An IPv4 segment: 10.0.0.1:40000 → 10.0.0.2:5201, TTL 64, TOS 0, ID 0 with DF, ACK
    /// flag, seq 0, ack 1, window 502, no options, empty payload.
    pub fn v4() -> Self {
        TcpPacket {
            version: IpVersion::V4,
            src4: [10, 0, 0, 1],
            dst4: [10, 0, 0, 2],
            src6: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            dst6: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            tos: 0,
            ttl: 64,
            ipv4_id: 0,
            frag_word: 0x4000,
            ipv4_options: Vec::new(),
            flow_label: 0x12345,
            ext_headers: Vec::new(),
            ipv6_dest_opts: 0,
            ipv6_fragment: false,
            src_port: 40000,
            dst_port: 5201,
            seq: 0,
            ack: 1,
            flags: TcpFlags::ACK,
            tcp_reserved: 0,
            window: 502,
            urgent: 0,
            tcp_options: Vec::new(),
            payload: Vec::new(),
            payload_from_seq: None,
            bad_checksum: false,
            gso_size: 0,
            ecn: false,
        }
    }

    /// An IPv6 segment: fd00::1 → fd00::2, flow label 0x12345, otherwise as [`v4`](Self::v4).
    pub fn v6() -> Self {
        TcpPacket {
            version: IpVersion::V6,
            ..Self::v4()
        }
    }

    /// An IPv4 super-packet of `payload_len` patterned bytes (byte `i` is `i * 7 + 3`) and
    /// `gso_size`: as [`v4`](Self::v4) but ID 0x1000, seq 0x01020304, ack 0x0a0b0c0d,
    /// window 501.
    pub fn super_v4(payload_len: usize, gso_size: u16) -> Self {
        TcpPacket {
            ipv4_id: 0x1000,
            seq: 0x0102_0304,
            ack: 0x0a0b_0c0d,
            window: 501,
            payload: (0..payload_len).map(|i| (i * 7 + 3) as u8).collect(),
            gso_size,
            ..Self::v4()
        }
    }

    /// An IPv6 super-packet, otherwise as [`super_v4`](Self::super_v4).
    pub fn super_v6(payload_len: usize, gso_size: u16) -> Self {
        TcpPacket {
            version: IpVersion::V6,
            ..Self::super_v4(payload_len, gso_size)
        }
    }

    /// An IPv4 SYN (ID 0x1c46, seq 0x1d2c3b4a, ack 0, window 64240) with MSS 1460,
    /// SACK-permitted, timestamps (0x12345678, 0), NOP, window scale 7: a 40-byte TCP header.
    pub fn syn_v4() -> Self {
        Self::v4()
            .ip_id(0x1c46)
            .seq(0x1d2c_3b4a)
            .ack(0)
            .flags(TcpFlags::SYN)
            .window(0xfaf0)
            .tcp_options(&[
                2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 1, 3, 3, 7,
            ])
    }

    /// The SYN of [`syn_v4`](Self::syn_v4) over IPv6.
    pub fn syn_v6() -> Self {
        TcpPacket {
            version: IpVersion::V6,
            ..Self::syn_v4()
        }
    }

    /// IPv4 source and destination.
    pub fn addrs4(mut self, src: [u8; 4], dst: [u8; 4]) -> Self {
        (self.src4, self.dst4) = (src, dst);
        self
    }

    /// IPv6 source and destination.
    pub fn addrs6(mut self, src: [u8; 16], dst: [u8; 16]) -> Self {
        (self.src6, self.dst6) = (src, dst);
        self
    }

    /// Source and destination ports.
    pub fn ports(mut self, src: u16, dst: u16) -> Self {
        (self.src_port, self.dst_port) = (src, dst);
        self
    }

    /// IPv4 TOS byte or IPv6 traffic class (DSCP + ECN).
    pub fn tos(mut self, tos: u8) -> Self {
        self.tos = tos;
        self
    }

    /// IPv4 TTL or IPv6 hop limit.
    pub fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }

    /// IPv4 identification.
    pub fn ip_id(mut self, id: u16) -> Self {
        self.ipv4_id = id;
        self
    }

    /// IPv4 DF flag.
    pub fn df(mut self, df: bool) -> Self {
        self.frag_word = (self.frag_word & !0x4000) | if df { 0x4000 } else { 0 };
        self
    }

    /// The whole IPv4 flags + fragment-offset word.
    pub fn frag_word(mut self, word: u16) -> Self {
        self.frag_word = word;
        self
    }

    /// IPv4 options.
    pub fn ipv4_options(mut self, options: &[u8]) -> Self {
        self.ipv4_options = options.to_vec();
        self
    }

    /// IPv6 flow label (20 bits).
    pub fn flow_label(mut self, label: u32) -> Self {
        self.flow_label = label & 0xf_ffff;
        self
    }

    /// Append an IPv6 extension header of type `kind` (0 Hop-by-Hop, 43 Routing, 60
    /// Destination Options) whose body after the two-byte prefix is `body`, zero-padded to a
    /// multiple of 8 bytes overall.
    pub fn ext_header(mut self, kind: u8, body: &[u8]) -> Self {
        let mut b = body.to_vec();
        while !(b.len() + 2).is_multiple_of(8) {
            b.push(0);
        }
        self.ext_headers.push((kind, b));
        self
    }

    /// A Destination Options header of `len` bytes (a multiple of 8) right before TCP (or the
    /// Fragment header).
    pub fn ipv6_dest_opts(mut self, len: usize) -> Self {
        self.ipv6_dest_opts = len;
        self
    }

    /// Put an IPv6 Fragment header (offset 0, M=0) right before TCP.
    pub fn ipv6_fragment_header(mut self) -> Self {
        self.ipv6_fragment = true;
        self
    }

    /// Sequence number.
    pub fn seq(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }

    /// Acknowledgment number.
    pub fn ack(mut self, ack: u32) -> Self {
        self.ack = ack;
        self
    }

    /// TCP flags (replace the preset's).
    pub fn flags(mut self, flags: TcpFlags) -> Self {
        self.flags = flags;
        self
    }

    /// The reserved/AE bits (low nibble of TCP byte 12).
    pub fn tcp_reserved(mut self, bits: u8) -> Self {
        self.tcp_reserved = bits & 0x0f;
        self
    }

    /// Receive window.
    pub fn window(mut self, window: u16) -> Self {
        self.window = window;
        self
    }

    /// Urgent pointer.
    pub fn urgent(mut self, urgent: u16) -> Self {
        self.urgent = urgent;
        self
    }

    /// TCP option bytes.
    pub fn tcp_options(mut self, options: &[u8]) -> Self {
        self.tcp_options = options.to_vec();
        self
    }

    /// TCP timestamps option (NOP, NOP, TS) with the given values.
    pub fn timestamps(self, tsval: u32, tsecr: u32) -> Self {
        let mut o = [1u8, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        o[4..8].copy_from_slice(&tsval.to_be_bytes());
        o[8..12].copy_from_slice(&tsecr.to_be_bytes());
        self.tcp_options(&o)
    }

    /// Payload of `n` bytes generated from the sequence number at build time (see
    /// [`payload_from_seq`](Self::payload_from_seq)).
    pub fn payload_len(mut self, n: usize) -> Self {
        self.payload_from_seq = Some(n);
        self
    }

    /// Explicit payload bytes.
    pub fn payload(mut self, bytes: &[u8]) -> Self {
        self.payload = bytes.to_vec();
        self.payload_from_seq = None;
        self
    }

    /// Store a TCP checksum that is off by one.
    pub fn bad_checksum(mut self) -> Self {
        self.bad_checksum = true;
        self
    }

    /// The wire bytes of a complete segment: valid IPv4 header checksum and TCP checksum
    /// (unless [`bad_checksum`](Self::bad_checksum)).
    ///
    /// # Panics
    /// If the packet does not fit its IP length field.
    pub fn build(&self) -> Vec<u8> {
        self.assemble(false).1
    }

    /// A super-packet as a TUN with TSO hands it out: the TCP checksum field holds the folded
    /// pseudo-header sum over the whole L4 length (`CHECKSUM_PARTIAL`; off by one with
    /// [`bad_checksum`](Self::bad_checksum)), and its virtio header (`TCPV4`/`TCPV6`,
    /// [`gso_size`](Self::gso_size), [`ecn`](Self::ecn)).
    ///
    /// # Panics
    /// If the packet does not fit its IP length field.
    pub fn build_gso(&self) -> (VirtioNetHdr, Vec<u8>) {
        let (l4, p) = self.assemble(true);
        let thl = 20 + padded(&self.tcp_options).len();
        let hdr =
            VirtioNetHdr::tcp_gso(self.version, l4 as u16, thl as u16, self.gso_size, self.ecn);
        (hdr, p)
    }

    /// A train of `n` in-order segments of `mss` generated payload bytes each, starting at
    /// sequence `seq0`, IPv4 IDs counting up from `seq0 as u16`.
    ///
    /// ```
    /// let t = testkit::packet::TcpPacket::v4().train(1000, 3, 1448);
    /// assert_eq!(t.len(), 3);
    /// assert_eq!(t[2].len(), 40 + 1448);
    /// ```
    pub fn train(&self, seq0: u32, n: usize, mss: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                self.clone()
                    .seq(seq0.wrapping_add((i * mss) as u32))
                    .ip_id((seq0 as u16).wrapping_add(i as u16))
                    .payload_len(mss)
                    .build()
            })
            .collect()
    }

    /// (L4 offset, packet) with a complete TCP checksum, or the pseudo-header sum if
    /// `partial`.
    fn assemble(&self, partial: bool) -> (usize, Vec<u8>) {
        let generated: Vec<u8>;
        let payload = match self.payload_from_seq {
            Some(n) => {
                generated = (0..n)
                    .map(|i| self.seq.wrapping_add(i as u32) as u8)
                    .collect();
                &generated
            }
            None => &self.payload,
        };
        let options = padded(&self.tcp_options);
        let thl = 20 + options.len();
        let mut tcp = Vec::with_capacity(thl + payload.len());
        tcp.extend_from_slice(&self.src_port.to_be_bytes());
        tcp.extend_from_slice(&self.dst_port.to_be_bytes());
        tcp.extend_from_slice(&self.seq.to_be_bytes());
        tcp.extend_from_slice(&self.ack.to_be_bytes());
        tcp.push(((thl / 4) as u8) << 4 | self.tcp_reserved);
        tcp.push(self.flags.0);
        tcp.extend_from_slice(&self.window.to_be_bytes());
        tcp.extend_from_slice(&[0, 0]);
        tcp.extend_from_slice(&self.urgent.to_be_bytes());
        tcp.extend_from_slice(&options);
        tcp.extend_from_slice(payload);
        let tcp_len = tcp.len();

        let mut p = Vec::with_capacity(100 + tcp_len);
        let pseudo = match self.version {
            IpVersion::V4 => {
                let ip_options = padded(&self.ipv4_options);
                let hl = 20 + ip_options.len();
                let total = u16::try_from(hl + tcp_len).expect("IPv4 packet above 65535 bytes");
                p.push(0x40 | (hl / 4) as u8);
                p.push(self.tos);
                p.extend_from_slice(&total.to_be_bytes());
                p.extend_from_slice(&self.ipv4_id.to_be_bytes());
                p.extend_from_slice(&self.frag_word.to_be_bytes());
                p.push(self.ttl);
                p.push(Protocol::TCP.0);
                p.extend_from_slice(&[0, 0]);
                p.extend_from_slice(&self.src4);
                p.extend_from_slice(&self.dst4);
                p.extend_from_slice(&ip_options);
                let c = inet_csum::header_checksum(&p[..hl]);
                p[10..12].copy_from_slice(&c.to_be_bytes());
                inet_csum::pseudo_header_v4(self.src4, self.dst4, Protocol::TCP.0, tcp_len as u16)
            }
            IpVersion::V6 => {
                let ext = self.ipv6_ext_bytes();
                let plen = u16::try_from(ext.len() + tcp_len).expect("IPv6 payload above 65535");
                let w0 = 6u32 << 28 | u32::from(self.tos) << 20 | (self.flow_label & 0xf_ffff);
                p.extend_from_slice(&w0.to_be_bytes());
                p.extend_from_slice(&plen.to_be_bytes());
                p.push(
                    self.ipv6_chain()
                        .first()
                        .copied()
                        .unwrap_or(Protocol::TCP.0),
                );
                p.push(self.ttl);
                p.extend_from_slice(&self.src6);
                p.extend_from_slice(&self.dst6);
                p.extend_from_slice(&ext);
                inet_csum::pseudo_header_v6(&self.src6, &self.dst6, Protocol::TCP.0, tcp_len as u32)
            }
        };
        let mut c = if partial {
            pseudo.fold()
        } else {
            pseudo.add(&tcp).finish()
        };
        if self.bad_checksum {
            c = c.wrapping_add(1);
        }
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        let l4 = p.len();
        p.extend_from_slice(&tcp);
        (l4, p)
    }

    /// The types of the IPv6 extension headers in order.
    fn ipv6_chain(&self) -> Vec<u8> {
        let mut kinds: Vec<u8> = self.ext_headers.iter().map(|(k, _)| *k).collect();
        if self.ipv6_dest_opts > 0 {
            kinds.push(Protocol::DEST_OPTS.0);
        }
        if self.ipv6_fragment {
            kinds.push(Protocol::FRAGMENT.0);
        }
        kinds
    }

    /// The IPv6 extension headers' bytes.
    fn ipv6_ext_bytes(&self) -> Vec<u8> {
        let kinds = self.ipv6_chain();
        let next = |i: usize| kinds.get(i + 1).copied().unwrap_or(Protocol::TCP.0);
        let mut ext = Vec::new();
        for (i, (_, body)) in self.ext_headers.iter().enumerate() {
            ext.push(next(i));
            ext.push(((body.len() + 2) / 8 - 1) as u8);
            ext.extend_from_slice(body);
        }
        let mut i = self.ext_headers.len();
        let len = self.ipv6_dest_opts;
        if len > 0 {
            assert!(
                len.is_multiple_of(8) && len <= 2048,
                "Destination Options length {len}"
            );
            // Next header, length, one PadN option filling the rest.
            ext.extend_from_slice(&[next(i), (len / 8 - 1) as u8, 1, (len - 4) as u8]);
            ext.resize(ext.len() + len - 4, 0);
            i += 1;
        }
        if self.ipv6_fragment {
            ext.extend_from_slice(&[next(i), 0, 0, 0, 0, 0, 0, 1]);
        }
        ext
    }
}

/// At most 40 option bytes, padded with NOPs to a multiple of 4.
fn padded(options: &[u8]) -> Vec<u8> {
    let mut o = options[..options.len().min(40)].to_vec();
    while !o.len().is_multiple_of(4) {
        o.push(1);
    }
    o
}

/// Packets held in two parts each, (first part, second part) — e.g. headers and payload, the
/// way `tcp_tso::Plan::split_headers` leaves segments — as an [`offload_buf::PacketSource`]
/// (`tcp_gro::PacketSource` and `udp_gro::PacketSource` are that trait) for a coalescer's
/// `push_parts`.
///
/// ```
/// use offload_buf::PacketSource;
/// use testkit::packet::{TcpPacket, TwoPart};
/// let mut p = TcpPacket::v4().payload_len(10).build();
/// let payload = p.split_off(40);
/// let src = TwoPart(vec![(p, payload)]);
/// assert_eq!(src.parts(0).map(|(h, t)| (h.len(), t.len())), Some((40, 10)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TwoPart(pub Vec<(Vec<u8>, Vec<u8>)>);

impl offload_buf::PacketSource for TwoPart {
    fn packet(&self, index: usize) -> Option<&[u8]> {
        self.0.get(index).map(|p| &p.0[..])
    }

    fn parts(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.0.get(index).map(|p| (&p.0[..], &p.1[..]))
    }
}
