//! Builders for valid TCP segments (IPv4 or IPv6, every header field settable, checksums
//! correct) for tests, fuzzing, benchmarks and examples across the workspace.
//!
//! ```
//! use tcp_gro::testdata::Segment;
//! let p = Segment::v4().seq(100).payload_len(10).build();
//! assert_eq!(p.len(), 20 + 20 + 10);
//! assert!(inet_csum::verify(&p[..20]));
//! ```

use alloc::vec::Vec;

use inet_hdr::TcpFlags;

/// One TCP segment to build. Defaults: 10.0.0.1:40000 → 10.0.0.2:5201 (IPv6: fd00::1 →
/// fd00::2, flow label 0x12345), TTL/hop limit 64, TOS 0, IPv4 ID 0 with DF, ACK flag, ack
/// number 1, window 502, no options, empty payload. A generated payload byte is the low byte of
/// its sequence number, so any reassembly can be checked by value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    v6: bool,
    src4: [u8; 4],
    dst4: [u8; 4],
    src6: [u8; 16],
    dst6: [u8; 16],
    tos: u8,
    ttl: u8,
    id: u16,
    frag: u16,
    ihl_options: Vec<u8>,
    flow_label: u32,
    ext: Vec<(u8, Vec<u8>)>,
    frag_header: bool,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    reserved: u8,
    flags: u8,
    window: u16,
    urgent: u16,
    options: Vec<u8>,
    payload: Option<Vec<u8>>,
    payload_len: usize,
    bad_csum: bool,
}

impl Segment {
    /// An IPv4 segment with the defaults.
    pub fn v4() -> Self {
        Segment {
            v6: false,
            src4: [10, 0, 0, 1],
            dst4: [10, 0, 0, 2],
            src6: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            dst6: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            tos: 0,
            ttl: 64,
            id: 0,
            frag: 0x4000,
            ihl_options: Vec::new(),
            flow_label: 0x12345,
            ext: Vec::new(),
            frag_header: false,
            sport: 40000,
            dport: 5201,
            seq: 0,
            ack: 1,
            reserved: 0,
            flags: TcpFlags::ACK.0,
            window: 502,
            urgent: 0,
            options: Vec::new(),
            payload: None,
            payload_len: 0,
            bad_csum: false,
        }
    }

    /// An IPv6 segment with the defaults.
    pub fn v6() -> Self {
        Segment {
            v6: true,
            ..Self::v4()
        }
    }

    /// IPv4 source and destination.
    pub fn addrs4(mut self, src: [u8; 4], dst: [u8; 4]) -> Self {
        self.src4 = src;
        self.dst4 = dst;
        self
    }
    /// IPv6 source and destination.
    pub fn addrs6(mut self, src: [u8; 16], dst: [u8; 16]) -> Self {
        self.src6 = src;
        self.dst6 = dst;
        self
    }
    /// Source and destination ports.
    pub fn ports(mut self, src: u16, dst: u16) -> Self {
        self.sport = src;
        self.dport = dst;
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
        self.id = id;
        self
    }
    /// IPv4 DF flag.
    pub fn df(mut self, df: bool) -> Self {
        self.frag = (self.frag & !0x4000) | if df { 0x4000 } else { 0 };
        self
    }
    /// The whole IPv4 flags + fragment-offset word (reserved 0x8000, DF 0x4000, MF 0x2000,
    /// offset).
    pub fn frag_word(mut self, word: u16) -> Self {
        self.frag = word;
        self
    }
    /// IPv4 options (padded with zeros to a multiple of 4 bytes).
    pub fn ip_options(mut self, opts: &[u8]) -> Self {
        self.ihl_options = opts.to_vec();
        while !self.ihl_options.len().is_multiple_of(4) {
            self.ihl_options.push(0);
        }
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
        self.ext.push((kind, b));
        self
    }
    /// Put an IPv6 Fragment header (offset 0, M=0) right before TCP.
    pub fn ipv6_fragment_header(mut self) -> Self {
        self.frag_header = true;
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
    /// TCP flags (replaces the default ACK).
    pub fn flags(mut self, flags: TcpFlags) -> Self {
        self.flags = flags.0;
        self
    }
    /// The reserved/AE bits (low nibble of TCP byte 12).
    pub fn tcp_reserved(mut self, bits: u8) -> Self {
        self.reserved = bits & 0x0f;
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
    /// TCP option bytes (padded with zeros (EOL) to a multiple of 4; at most 40).
    pub fn options(mut self, opts: &[u8]) -> Self {
        self.options = opts.to_vec();
        while !self.options.len().is_multiple_of(4) {
            self.options.push(0);
        }
        self.options.truncate(40);
        self
    }
    /// TCP timestamps option (NOP, NOP, TS) with the given values.
    pub fn timestamps(self, tsval: u32, tsecr: u32) -> Self {
        let mut o = [1u8, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        o[4..8].copy_from_slice(&tsval.to_be_bytes());
        o[8..12].copy_from_slice(&tsecr.to_be_bytes());
        self.options(&o)
    }
    /// Payload of `n` generated bytes (byte `i` is `(seq + i) as u8`).
    pub fn payload_len(mut self, n: usize) -> Self {
        self.payload = None;
        self.payload_len = n;
        self
    }
    /// Explicit payload bytes.
    pub fn payload(mut self, bytes: &[u8]) -> Self {
        self.payload = Some(bytes.to_vec());
        self
    }
    /// Store a TCP checksum that is off by one.
    pub fn bad_checksum(mut self) -> Self {
        self.bad_csum = true;
        self
    }

    /// The wire bytes, with a valid IPv4 header checksum and TCP checksum (unless
    /// [`bad_checksum`](Self::bad_checksum)).
    ///
    /// # Panics
    /// If the packet would exceed 65535 bytes (IPv4) or its payload length 65535 (IPv6).
    pub fn build(&self) -> Vec<u8> {
        let payload: Vec<u8> = match &self.payload {
            Some(p) => p.clone(),
            None => (0..self.payload_len)
                .map(|i| self.seq.wrapping_add(i as u32) as u8)
                .collect(),
        };
        let mut tcp = Vec::with_capacity(20 + self.options.len() + payload.len());
        tcp.extend_from_slice(&self.sport.to_be_bytes());
        tcp.extend_from_slice(&self.dport.to_be_bytes());
        tcp.extend_from_slice(&self.seq.to_be_bytes());
        tcp.extend_from_slice(&self.ack.to_be_bytes());
        let doff = ((20 + self.options.len()) / 4) as u8;
        tcp.push(doff << 4 | self.reserved);
        tcp.push(self.flags);
        tcp.extend_from_slice(&self.window.to_be_bytes());
        tcp.extend_from_slice(&[0, 0]);
        tcp.extend_from_slice(&self.urgent.to_be_bytes());
        tcp.extend_from_slice(&self.options);
        tcp.extend_from_slice(&payload);
        let tcp_len = tcp.len();

        let mut p = Vec::with_capacity(100 + tcp_len);
        let pseudo = if self.v6 {
            let mut ext = Vec::new();
            let mut kinds: Vec<u8> = self.ext.iter().map(|(k, _)| *k).collect();
            if self.frag_header {
                kinds.push(44);
            }
            let first = kinds.first().copied().unwrap_or(6);
            for (i, (_, body)) in self.ext.iter().enumerate() {
                let next = kinds.get(i + 1).copied().unwrap_or(6);
                ext.push(next);
                ext.push(((body.len() + 2) / 8 - 1) as u8);
                ext.extend_from_slice(body);
            }
            if self.frag_header {
                ext.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 1]);
            }
            let plen = u16::try_from(ext.len() + tcp_len).expect("IPv6 payload above 65535");
            let w0 = 6u32 << 28 | u32::from(self.tos) << 20 | self.flow_label;
            p.extend_from_slice(&w0.to_be_bytes());
            p.extend_from_slice(&plen.to_be_bytes());
            p.push(first);
            p.push(self.ttl);
            p.extend_from_slice(&self.src6);
            p.extend_from_slice(&self.dst6);
            p.extend_from_slice(&ext);
            inet_csum::pseudo_header_v6(&self.src6, &self.dst6, 6, tcp_len as u32)
        } else {
            let hl = 20 + self.ihl_options.len();
            let total = u16::try_from(hl + tcp_len).expect("IPv4 packet above 65535");
            p.push(0x40 | (hl / 4) as u8);
            p.push(self.tos);
            p.extend_from_slice(&total.to_be_bytes());
            p.extend_from_slice(&self.id.to_be_bytes());
            p.extend_from_slice(&self.frag.to_be_bytes());
            p.push(self.ttl);
            p.push(6);
            p.extend_from_slice(&[0, 0]);
            p.extend_from_slice(&self.src4);
            p.extend_from_slice(&self.dst4);
            p.extend_from_slice(&self.ihl_options);
            let c = inet_csum::checksum(&p[..hl]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            inet_csum::pseudo_header_v4(self.src4, self.dst4, 6, tcp_len as u16)
        };
        let mut c = pseudo.add(&tcp).finish();
        if self.bad_csum {
            c = c.wrapping_add(1);
        }
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(&tcp);
        p
    }
}

/// A train of `n` in-order segments of `mss` payload bytes each, starting at sequence
/// `seq0` (IPv4 IDs counting up from `seq0 as u16`), built from `base`.
///
/// ```
/// use tcp_gro::testdata::{train, Segment};
/// let t = train(&Segment::v4(), 1000, 3, 1448);
/// assert_eq!(t.len(), 3);
/// assert_eq!(t[2].len(), 40 + 1448);
/// ```
pub fn train(base: &Segment, seq0: u32, n: usize, mss: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            base.clone()
                .seq(seq0.wrapping_add((i * mss) as u32))
                .ip_id((seq0 as u16).wrapping_add(i as u16))
                .payload_len(mss)
                .build()
        })
        .collect()
}

/// Packets held in two parts each, (first part, second part) — e.g. headers and payload, the
/// way `tcp_tso::Plan::split_headers` leaves segments — as a [`PacketSource`](crate::PacketSource)
/// for [`Coalescer::push_parts`](crate::Coalescer::push_parts).
///
/// ```
/// use tcp_gro::{PacketSource, testdata::{Segment, TwoPart}};
/// let mut p = Segment::v4().payload_len(10).build();
/// let payload = p.split_off(40);
/// let src = TwoPart(vec![(p, payload)]);
/// assert_eq!(src.parts(0).map(|(h, t)| (h.len(), t.len())), Some((40, 10)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TwoPart(pub Vec<(Vec<u8>, Vec<u8>)>);

impl crate::PacketSource for TwoPart {
    fn packet(&self, index: usize) -> Option<&[u8]> {
        self.0.get(index).map(|p| &p.0[..])
    }

    fn parts(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.0.get(index).map(|p| (&p.0[..], &p.1[..]))
    }
}
