//! GRO over a mixed batch of up to 128 arbitrary packets, handled the way linux-tun's writer
//! handles a batch (`crates/linux-tun/src/send.rs`, `send_coalesced`): raw bytes, valid TCP
//! segments and valid UDP datagrams built from arbitrary header fields (by default continuing
//! their flow's sequence numbers and IPv4 IDs, so that runs line up and merge; the UDP flows on
//! the TCP flows' addresses and ports), each optionally corrupted, pushed with arbitrary checksum
//! modes, each packet in one piece or in two parts (cut at its transport header's end, as the
//! splitters leave them, or anywhere); each packet goes to `udp_gro::Coalescer` if it is UDP,
//! else to `tcp_gro::Coalescer` (with one of them switched off, everything goes to the other),
//! and both are drained. No panic; every index is output exactly once across both drains, and
//! by the coalescer it was pushed to; payload bytes out equal payload bytes in; every merged
//! packet is of its coalescer's protocol and GSO type, its bytes are its members' payloads and
//! its header passes `check_emit` (a UDP one also: 2..=64 members in arrival order, the merged
//! UDP length); pass-through packets are untouched behind a zeroed header.
#![no_main]

use arbitrary::Arbitrary;
use inet_hdr::Protocol;
use libfuzzer_sys::fuzz_target;
use tcp_gro::ChecksumStatus;
use testkit::packet::{TcpPacket, TwoPart};
use testkit::udp::{UdpChecksum, UdpPacket};
use virtio_net_hdr::{GsoType, VirtioNetHdr};

#[derive(Arbitrary, Debug)]
struct Fields {
    v6: bool,
    flow: u8,
    /// `None`: where the flow's previous segment ended.
    seq: Option<u16>,
    len: u8,
    scale: u8,
    /// `None`: one past the flow's previous IPv4 ID.
    id: Option<u8>,
    df: bool,
    /// `None`: a bare ACK.
    flags: Option<u8>,
    window: u8,
    ttl: u8,
    tos: u8,
    ack: u8,
    ts: Option<u8>,
    ext: Option<u8>,
    frag_word: Option<u16>,
    corrupt: Option<(u16, u8)>,
}

#[derive(Arbitrary, Debug)]
struct DgramFields {
    v6: bool,
    flow: u8,
    len: u8,
    scale: u8,
    /// `None`: one past the flow's previous IPv4 ID.
    id: Option<u8>,
    df: bool,
    ttl: u8,
    tos: u8,
    label: u8,
    ext: bool,
    checksum: u8,
    udp_len: Option<u16>,
    frag_word: Option<u16>,
    options: bool,
    corrupt: Option<(u16, u8)>,
}

#[derive(Arbitrary, Debug)]
enum Pkt {
    Raw(Vec<u8>),
    Seg(Fields),
    Dgram(DgramFields),
}

/// Which coalescers are on (the writer coalesces with at least one; with neither it writes
/// plain packets and no coalescer is involved).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Switches {
    Both,
    TcpOnly,
    UdpOnly,
}

#[derive(Arbitrary, Debug)]
struct Input {
    switches: Switches,
    out_of_order: bool,
    max_len: Option<u16>,
    udp_max_len: Option<u16>,
    udp_max_segments: Option<u8>,
    packets: Vec<(Pkt, bool, Option<u8>)>,
}

/// Whether a packet (its first part) is UDP: the IPv4 protocol or the IPv6 next header, past
/// any extension headers; anything unreadable is not. A copy of linux-tun's private `is_udp`
/// (`crates/linux-tun/src/send.rs`), which routes the writer's packets: keep the two in step.
fn is_udp(header: &[u8]) -> bool {
    const UDP: u8 = Protocol::UDP.0;
    match header.first().map(|b| b >> 4) {
        Some(4) => header.get(inet_hdr::field::ipv4::PROTOCOL) == Some(&UDP),
        Some(6) => match header.get(inet_hdr::field::ipv6::NEXT_HEADER) {
            Some(&UDP) => true,
            Some(&n) if n == Protocol::TCP.0 => false,
            _ => inet_hdr::classify_prefix(header, header.len())
                .is_ok_and(|info| info.protocol == Protocol::UDP),
        },
        _ => false,
    }
}

/// Where the IP + transport headers end, if the packet looks like TCP or UDP.
fn header_end(p: &[u8]) -> Option<usize> {
    let info = inet_hdr::classify(p).ok()?;
    let l4 = if info.protocol == Protocol::TCP {
        usize::from(*p.get(info.l4_offset + 12)? >> 4) * 4
    } else {
        8
    };
    Some(info.l4_offset + l4).filter(|&e| e <= p.len())
}

fn corrupt(mut p: Vec<u8>, c: Option<(u16, u8)>) -> Vec<u8> {
    if let Some((at, x)) = c
        && !p.is_empty()
    {
        let at = usize::from(at) % p.len();
        p[at] ^= x;
    }
    p
}

/// A flow: IPv6?, protocol, flow number.
type FlowKey = (bool, Route, u8);

/// Where each flow left off: next sequence number and next IPv4 ID. Continuing a flow by
/// default makes runs that line up and merge likely.
#[derive(Default)]
struct Flows(Vec<(FlowKey, (u32, u16))>);

impl Flows {
    fn get(&mut self, key: FlowKey) -> &mut (u32, u16) {
        let at = match self.0.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                self.0.push((key, (0, 0)));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }
}

fn build_segment(f: &Fields, flows: &mut Flows) -> Vec<u8> {
    // Few distinct values per field so that segments of one flow often line up and merge.
    let mut s = if f.v6 {
        TcpPacket::v6()
    } else {
        TcpPacket::v4()
    };
    let len = usize::from(f.len) * (1 + usize::from(f.scale % 8));
    let next = flows.get((f.v6, Route::Tcp, f.flow % 3));
    let seq = f.seq.map_or(next.0, |q| u32::from(q) * 64);
    let id = f.id.map_or(next.1, |i| u16::from(i % 4));
    *next = (seq.wrapping_add(len as u32), id.wrapping_add(1));
    s = s
        .ports(1000 + u16::from(f.flow % 3), 80)
        .seq(seq)
        .payload_len(len)
        .ip_id(id)
        .df(f.df)
        .flags(inet_hdr::TcpFlags(f.flags.unwrap_or(0x10)))
        .window(u16::from(f.window % 2))
        .ttl(64 + f.ttl % 2)
        .tos(f.tos % 2)
        .ack(u32::from(f.ack % 2));
    if let Some(t) = f.ts {
        s = s.timestamps(u32::from(t % 2), 0);
    }
    if let Some(e) = f.ext {
        s = s.ext_header(60, &[e % 2; 6]);
    }
    if let Some(w) = f.frag_word {
        s = s.frag_word(w);
    }
    corrupt(s.build(), f.corrupt)
}

fn build_datagram(f: &DgramFields, flows: &mut Flows) -> Vec<u8> {
    // The TCP flows' addresses and ports: only the protocol tells the flows apart.
    let mut d = if f.v6 {
        UdpPacket::v6()
    } else {
        UdpPacket::v4()
    };
    let next = flows.get((f.v6, Route::Udp, f.flow % 3));
    let id = f.id.map_or(next.1, |i| u16::from(i % 4));
    next.1 = id.wrapping_add(1);
    d = d
        .ports(1000 + u16::from(f.flow % 3), 80)
        .payload_len(usize::from(f.len) * (1 + usize::from(f.scale % 8)))
        .ip_id(id)
        .df(f.df)
        .ttl(64 + f.ttl % 2)
        .tos(f.tos % 2)
        .flow_label(u32::from(f.label % 2))
        .checksum(match f.checksum % 8 {
            0 => UdpChecksum::Zero,
            1 => UdpChecksum::Bad,
            _ => UdpChecksum::Valid,
        });
    if f.ext {
        d = d.ipv6_dest_opts(8);
    }
    if let Some(l) = f.udp_len {
        d = d.udp_len(l);
    }
    if let Some(w) = f.frag_word {
        d = d.frag_word(w);
    }
    if f.options {
        d = d.ipv4_options(&[1, 1, 1, 1]);
    }
    corrupt(d.build(), f.corrupt)
}

/// The transport protocol of a whole packet, if it parses.
fn protocol(p: &[u8]) -> Option<Protocol> {
    inet_hdr::classify(p).ok().map(|i| i.protocol)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Tcp,
    Udp,
}

/// Check one drain's outputs; `route` names the coalescer, `routed[i]` where packet `i` went.
fn check_drain(
    drain: tcp_gro::Drain<'_, TwoPart>,
    route: Route,
    routed: &[Option<Route>],
    packets: &[Vec<u8>],
    seen: &mut [bool],
    buf: &mut [u8],
) -> (usize, usize) {
    let (mut bytes_out, mut header_bytes_saved) = (0, 0);
    for out in drain {
        for &i in out.indices() {
            assert!(i < packets.len(), "index out of range");
            assert!(!seen[i], "index {i} output twice");
            assert_eq!(routed[i], Some(route), "index {i} from the other coalescer");
            seen[i] = true;
        }
        let n = out.materialize(buf).expect("65535 bytes always suffice");
        assert_eq!(n, out.len());
        let pkt = &buf[..n];
        if out.is_merged() {
            let hl = out.headers().len();
            let members = out.indices().len();
            let hdr = out.vnet_hdr();
            assert!(members >= 2);
            assert_eq!(hdr.check_emit(pkt), Ok(()));
            let (gso, proto) = match route {
                Route::Tcp => (&[GsoType::TCPV4, GsoType::TCPV6][..], Protocol::TCP),
                Route::Udp => (&[GsoType::UDP_L4][..], Protocol::UDP),
            };
            assert!(gso.contains(&hdr.gso_type().base()), "{route:?}: {hdr:?}");
            for &i in out.indices() {
                assert_eq!(
                    protocol(&packets[i]),
                    Some(proto),
                    "member {i} of {route:?}"
                );
            }
            if route == Route::Udp {
                assert!(members <= 64);
                assert!(out.indices().windows(2).all(|w| w[0] < w[1]));
                let l4 = usize::from(hdr.csum_start());
                assert_eq!(hl, l4 + 8);
                let udp_len = u16::from_be_bytes([pkt[l4 + 4], pkt[l4 + 5]]);
                assert_eq!(usize::from(udp_len), n - l4);
            }
            // The payload is exactly the members' payloads, in order.
            let mut at = hl;
            for (&i, pay) in out.indices().iter().zip(out.payloads()) {
                assert_eq!(pay, &packets[i][hl..]);
                assert_eq!(&pkt[at..at + pay.len()], pay);
                at += pay.len();
            }
            assert_eq!(at, n);
            header_bytes_saved += hl * (members - 1);
        } else {
            assert_eq!(out.vnet_hdr(), VirtioNetHdr::plain());
            assert_eq!(pkt, &packets[out.indices()[0]][..]);
        }
        bytes_out += n;
    }
    (bytes_out, header_bytes_saved)
}

fuzz_target!(|input: Input| {
    let mut flows = Flows::default();
    let packets: Vec<Vec<u8>> = input
        .packets
        .iter()
        .take(128)
        .map(|(p, _, _)| match p {
            Pkt::Raw(b) => b.clone(),
            Pkt::Seg(f) => build_segment(f, &mut flows),
            Pkt::Dgram(f) => build_datagram(f, &mut flows),
        })
        .collect();
    let mut tcp_cfg = tcp_gro::Config::default();
    tcp_cfg.out_of_order = input.out_of_order;
    if let Some(m) = input.max_len {
        tcp_cfg.max_merged_len = usize::from(m);
    }
    let mut udp_cfg = udp_gro::Config::default();
    if let Some(m) = input.udp_max_len {
        udp_cfg.max_merged_len = usize::from(m);
    }
    if let Some(m) = input.udp_max_segments {
        udp_cfg.max_segments = usize::from(m);
    }
    let parts = TwoPart(
        packets
            .iter()
            .zip(&input.packets)
            .map(|(p, (_, _, cut))| {
                let at = match cut {
                    None => p.len(),
                    Some(0) => header_end(p).unwrap_or(p.len()),
                    Some(c) => usize::from(*c) % (p.len() + 1),
                };
                (p[..at].to_vec(), p[at..].to_vec())
            })
            .collect(),
    );
    let (tcp, udp) = match input.switches {
        Switches::Both => (true, true),
        Switches::TcpOnly => (true, false),
        Switches::UdpOnly => (false, true),
    };
    let mut tcp_gro = tcp_gro::Coalescer::new(tcp_cfg);
    let mut udp_gro = udp_gro::Coalescer::new(udp_cfg);
    let mut routed = vec![None; packets.len()];
    for (i, (header, payload)) in parts.0.iter().enumerate() {
        let csum = if input.packets[i].1 {
            ChecksumStatus::KnownGood
        } else {
            ChecksumStatus::Unverified
        };
        // The writer's routing (send.rs, `send_coalesced`).
        if udp && (!tcp || is_udp(header)) {
            udp_gro.push_parts(i, header, payload, csum);
            routed[i] = Some(Route::Udp);
        } else {
            tcp_gro.push_parts(i, header, payload, csum);
            routed[i] = Some(Route::Tcp);
        }
    }
    let mut seen = vec![false; packets.len()];
    let mut buf = vec![0u8; 65535];
    // TCP's outputs, then UDP's, as the writer writes them.
    let (t_out, t_saved) = check_drain(
        tcp_gro.drain(&parts),
        Route::Tcp,
        &routed,
        &packets,
        &mut seen,
        &mut buf,
    );
    let (u_out, u_saved) = check_drain(
        udp_gro.drain(&parts),
        Route::Udp,
        &routed,
        &packets,
        &mut seen,
        &mut buf,
    );
    assert!(seen.iter().all(|&s| s), "an input was lost");
    // Payload out equals payload in: only the members' repeated headers disappear.
    let bytes_in: usize = packets.iter().map(Vec::len).sum();
    assert_eq!(t_out + t_saved + u_out + u_saved, bytes_in);
});
