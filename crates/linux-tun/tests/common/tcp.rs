//! A minimal TCP peer "behind" the TUN, written with raw packets through the batch API, so
//! tests can drive real kernel TCP sockets in the namespace from the other side.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use inet_hdr::TcpFlags;
use linux_tun::{ChecksumStatus, Reader, RecvBatch, SendBatch, Writer};
use testkit::packet::TcpPacket;

use super::{LOCAL, PEER, checksums_valid};

pub const SYN: u8 = 0x02;
pub const FIN: u8 = 0x01;
pub const ACK: u8 = 0x10;
pub const PSH: u8 = 0x08;
pub const RST: u8 = 0x04;
pub const MSS: usize = 1400;

/// A parsed TCP/IPv4 segment.
#[derive(Debug, Clone)]
pub struct Seg {
    pub src: (Ipv4Addr, u16),
    pub dst: (Ipv4Addr, u16),
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub payload: Vec<u8>,
}

pub fn parse(p: &[u8]) -> Option<Seg> {
    if p.len() < 40 || p[0] != 0x45 || p[9] != 6 {
        return None;
    }
    let t = &p[20..];
    let doff = usize::from(t[12] >> 4) * 4;
    let ip = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    Some(Seg {
        src: (ip(&p[12..16]), u16::from_be_bytes([t[0], t[1]])),
        dst: (ip(&p[16..20]), u16::from_be_bytes([t[2], t[3]])),
        seq: u32::from_be_bytes(t[4..8].try_into().unwrap()),
        ack: u32::from_be_bytes(t[8..12].try_into().unwrap()),
        flags: t[13],
        window: u16::from_be_bytes([t[14], t[15]]),
        payload: t[doff..].to_vec(),
    })
}

/// What the reading side observed.
#[derive(Debug, Default)]
pub struct Observed {
    pub segments: usize,
    pub largest_packet: usize,
    pub all_checksums_valid: bool,
    pub all_known_good: bool,
}

/// The peer: batch halves of one TUN queue (non-blocking) and its batches.
pub struct Peer {
    pub rx: Reader,
    pub tx: Writer,
    pub inbound: RecvBatch,
    pub outbound: SendBatch,
    id: u16,
    deadline: Instant,
}

impl Peer {
    pub fn new(rx: Reader, tx: Writer) -> Peer {
        Peer {
            rx,
            tx,
            inbound: RecvBatch::new(128, 32),
            outbound: SendBatch::new(128),
            id: 1,
            deadline: Instant::now() + Duration::from_secs(30),
        }
    }

    /// Receive one non-empty batch (the device is non-blocking; the deadline turns a hang
    /// into a failure).
    pub fn recv(&mut self) -> usize {
        loop {
            match self.rx.recv(&mut self.inbound) {
                Ok(n) => return n,
                Err(linux_tun::RecvError::WouldBlock) => {
                    assert!(
                        Instant::now() < self.deadline,
                        "peer: nothing arrived in time"
                    );
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    pub fn next_id(&mut self) -> u16 {
        self.id = self.id.wrapping_add(1);
        self.id
    }

    /// Queue one of our segments (PEER:port → LOCAL:dport).
    #[allow(clippy::too_many_arguments)]
    pub fn queue(
        &mut self,
        port: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        opts: &[u8],
        payload: &[u8],
    ) {
        let id = self.next_id();
        let p = TcpPacket::v4()
            .addrs4(PEER.octets(), LOCAL.octets())
            .ports(port, dport)
            .ip_id(id)
            .seq(seq)
            .ack(ack)
            .flags(TcpFlags(flags))
            .window(65535)
            .tcp_options(opts)
            .payload(payload)
            .build();
        self.outbound.push(&p, ChecksumStatus::Unverified).unwrap();
    }

    pub fn flush(&mut self) -> usize {
        let n = self.tx.send(&mut self.outbound).unwrap();
        assert!(self.tx.failures().is_empty(), "{:?}", self.tx.failures());
        n
    }

    /// Accept a connection the namespace opens to PEER:`port` and read the stream to its FIN.
    pub fn receive_stream(&mut self, port: u16) -> (Vec<u8>, Observed) {
        let iss: u32 = 7_000_000;
        let mut obs = Observed {
            all_checksums_valid: true,
            all_known_good: true,
            ..Observed::default()
        };
        let (remote_port, mut rcv_nxt) = loop {
            self.recv();
            let syn = self
                .inbound
                .iter()
                .filter_map(|p| parse(p.bytes()))
                .find(|s| s.dst.1 == port && s.flags & SYN != 0);
            if let Some(s) = syn {
                break (s.src.1, s.seq.wrapping_add(1));
            }
        };
        let mss = (MSS as u16).to_be_bytes();
        self.queue(
            port,
            remote_port,
            iss,
            rcv_nxt,
            SYN | ACK,
            &[2, 4, mss[0], mss[1]],
            &[],
        );
        self.flush();
        let mut data = Vec::new();
        loop {
            self.recv();
            let mut fin = false;
            for p in self.inbound.iter() {
                let Some(s) = parse(p.bytes()) else { continue };
                if s.src.1 != remote_port || s.dst.1 != port {
                    continue;
                }
                obs.segments += 1;
                obs.largest_packet = obs.largest_packet.max(p.len());
                obs.all_checksums_valid &= checksums_valid(p.bytes());
                obs.all_known_good &= p.checksum().is_known_good();
                assert_eq!(s.flags & RST, 0, "connection reset");
                if s.seq == rcv_nxt {
                    data.extend_from_slice(&s.payload);
                    rcv_nxt = rcv_nxt.wrapping_add(s.payload.len() as u32);
                    if s.flags & FIN != 0 {
                        rcv_nxt = rcv_nxt.wrapping_add(1);
                        fin = true;
                    }
                }
            }
            self.queue(
                port,
                remote_port,
                iss.wrapping_add(1),
                rcv_nxt,
                ACK,
                &[],
                &[],
            );
            self.flush();
            if fin {
                return (data, obs);
            }
        }
    }

    /// Connect to LOCAL:`dport` from PEER:`port` and send `data` in MSS segments, at most
    /// `per_round` per batch; `between(round, self)` runs before each round.
    pub fn send_stream(
        &mut self,
        port: u16,
        dport: u16,
        data: &[u8],
        per_round: usize,
        mut between: impl FnMut(usize, &mut Peer),
    ) {
        let iss: u32 = 0xfff0_0000; // wraps during the transfer
        let mss = (MSS as u16).to_be_bytes();
        self.queue(port, dport, iss, 0, SYN, &[2, 4, mss[0], mss[1]], &[]);
        self.flush();
        let rcv_nxt = loop {
            self.recv();
            let synack = self
                .inbound
                .iter()
                .filter_map(|p| parse(p.bytes()))
                .find(|s| s.src.1 == dport && s.flags & (SYN | ACK) == SYN | ACK);
            if let Some(s) = synack {
                break s.seq.wrapping_add(1);
            }
        };
        let mut snd_nxt = iss.wrapping_add(1);
        self.queue(port, dport, snd_nxt, rcv_nxt, ACK, &[], &[]);
        self.flush();
        let mut window = 65535usize;
        let mut off = 0;
        let mut round = 0;
        while off < data.len() {
            between(round, self);
            round += 1;
            let segs = per_round.min(window / MSS).max(1);
            for _ in 0..segs {
                if off >= data.len() {
                    break;
                }
                let end = (off + MSS).min(data.len());
                self.queue(port, dport, snd_nxt, rcv_nxt, ACK, &[], &data[off..end]);
                snd_nxt = snd_nxt.wrapping_add((end - off) as u32);
                off = end;
            }
            self.flush();
            window = self.wait_ack(dport, snd_nxt);
        }
        self.queue(port, dport, snd_nxt, rcv_nxt, FIN | ACK, &[], &[]);
        self.flush();
        self.wait_ack(dport, snd_nxt.wrapping_add(1));
    }

    /// Read until the namespace acknowledges `upto`; returns the advertised window.
    fn wait_ack(&mut self, dport: u16, upto: u32) -> usize {
        loop {
            self.recv();
            for p in self.inbound.iter() {
                if let Some(s) = parse(p.bytes())
                    && s.src.1 == dport
                {
                    assert_eq!(s.flags & RST, 0, "connection reset");
                    if s.flags & ACK != 0 && s.ack == upto {
                        return usize::from(s.window);
                    }
                }
            }
        }
    }
}
