//! Ground truth for `tcp-gro`: the kernel must accept every super-packet we coalesce, and a
//! real TCP receiver must get the byte stream intact.
//!
//! Topology: two private namespaces, A and B, each with one TUN and no route between them but
//! through this test. A real kernel TCP sender in A writes a patterned stream to a receiver in
//! B. TUN A has no offloads, so we read plain segments from it; we coalesce each batch with
//! `tcp_gro::Coalescer` and write every output to TUN B behind its virtio header, with one
//! `writev` of the header, the patched headers and the payload slices still in the read
//! buffers. TUN B has a virtio header (so super-packet writes are accepted) and an offload mask
//! of 0, so what it hands back (ACKs) is plain; we forward that to A unchanged. We then check
//! that super-packets were written, that no write was refused, and that the receiver read
//! every byte in order.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use linux_tun::{OffloadFlags, Tun};
use tcp_gro::{ChecksumStatus, Coalescer, Config, IoSliceBuf};
use testkit::{Netns, require_root, unique_ifname};
use virtio_net_hdr::VirtioNetHdr;

/// Bytes sent per stream: enough for the congestion window to open and bursts to form.
const STREAM: usize = 8 << 20;
/// Packets read from A per batch at most.
const BATCH: usize = 64;

fn pattern(i: usize) -> u8 {
    // 251 is prime: a lost, duplicated or shifted block shows up as a mismatch.
    (i % 251) as u8
}

/// Two namespaces with one TUN each; dropping removes both (devices go with them).
struct Pair {
    a: Tun,
    b: Tun,
    ns_a: Netns,
    ns_b: Netns,
}

impl Pair {
    fn new() -> Pair {
        let ns_a = Netns::new("kgro-a").unwrap();
        let ns_b = Netns::new("kgro-b").unwrap();
        let (name_a, name_b) = (unique_ifname("kgroa"), unique_ifname("kgrob"));
        let a = {
            let n = name_a.clone();
            ns_a.run(move || {
                Tun::builder()
                    .name(&n)
                    .offload(false)
                    .blocking(false)
                    .up()
                    .open()
            })
            .unwrap()
            .unwrap()
        };
        let b = {
            let n = name_b.clone();
            ns_b.run(move || {
                Tun::builder()
                    .name(&n)
                    .offload(true)
                    .offload_mask(OffloadFlags::NONE)
                    .blocking(false)
                    .up()
                    .open()
            })
            .unwrap()
            .unwrap()
        };
        for (ns, name, v4, v6) in [
            (&ns_a, &name_a, "10.91.0.1/24", "fd91::1/64"),
            (&ns_b, &name_b, "10.91.0.2/24", "fd91::2/64"),
        ] {
            ns.ip(&["addr", "add", v4, "dev", name]).unwrap();
            ns.ip(&["-6", "addr", "add", v6, "dev", name, "nodad"])
                .unwrap();
        }
        Pair { a, b, ns_a, ns_b }
    }
}

/// What the forwarder saw.
#[derive(Debug, Default)]
struct Counts {
    segments_in: usize,
    outputs: usize,
    merged: usize,
    segments_merged: usize,
    largest: usize,
}

/// Forward until `done` reports the receiver finished (A→B through GRO, B→A plain).
fn forward(pair: &Pair, done: &JoinHandle<std::io::Result<usize>>) -> Counts {
    let mut gro = Coalescer::new(Config::default());
    let mut bufs = vec![vec![0u8; 65_600]; BATCH];
    let mut lens = [0usize; BATCH];
    let mut back = vec![0u8; 65_600];
    // Reused across batches without allocating.
    let mut iov = IoSliceBuf::with_capacity(64);
    let mut c = Counts::default();
    // A guard against hanging if something is lost for good; not a timing assertion.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done.is_finished() {
        assert!(Instant::now() < deadline, "stream stalled: {c:?}");
        let mut n = 0;
        while n < BATCH {
            match pair.a.read_raw(&mut bufs[n]) {
                // Nothing read (no packet): not an IP packet to forward.
                Ok(0) => break,
                Ok(len) => {
                    lens[n] = len;
                    n += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read from A: {e}"),
            }
        }
        let packets: Vec<&[u8]> = (0..n).map(|i| &bufs[i][..lens[i]]).collect();
        for (i, p) in packets.iter().enumerate() {
            gro.push(i, p, ChecksumStatus::Unverified);
        }
        c.segments_in += n;
        for out in gro.drain(&packets) {
            // One writev: virtio header, patched headers, payload slices in `bufs`. A refused
            // header would be EINVAL here.
            let written = out
                .with_io_slices(out.vnet_bytes(), &mut iov, |s| pair.b.writev_raw(s))
                .unwrap_or_else(|e| {
                    panic!(
                        "TUN B refused an output ({e}): merged {}, vnet {:02x?}, headers {:02x?}",
                        out.is_merged(),
                        out.vnet_bytes(),
                        &out.headers()[..out.headers().len().min(80)]
                    )
                });
            assert_eq!(written, VirtioNetHdr::LEN + out.len());
            c.outputs += 1;
            if out.is_merged() {
                c.merged += 1;
                c.segments_merged += out.indices().len();
                c.largest = c.largest.max(out.len());
            }
        }
        let mut moved = n > 0;
        loop {
            match pair.b.read_raw(&mut back) {
                Ok(len) => {
                    let (hdr, packet) = VirtioNetHdr::ref_from_packet(&back[..len]).unwrap();
                    // Offload mask 0: the kernel hands over plain packets with full checksums.
                    assert_eq!(hdr.gso_type(), virtio_net_hdr::GsoType::NONE);
                    match pair.a.write_raw(packet) {
                        Ok(_) => {}
                        // Not TCP to A's address (e.g. a router solicitation): dropped.
                        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                        Err(e) => panic!("write to A: {e}"),
                    }
                    moved = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read from B: {e}"),
            }
        }
        if !moved {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    c
}

fn stream(v6: bool) {
    let pair = Pair::new();
    let (src, dst): (IpAddr, IpAddr) = if v6 {
        ("fd91::1".parse().unwrap(), "fd91::2".parse().unwrap())
    } else {
        ("10.91.0.1".parse().unwrap(), "10.91.0.2".parse().unwrap())
    };
    let to = SocketAddr::new(dst, 5201);
    let listener = pair
        .ns_b
        .run(move || TcpListener::bind(to))
        .unwrap()
        .unwrap();
    let receiver = std::thread::spawn(move || -> std::io::Result<usize> {
        let (mut conn, _) = listener.accept()?;
        conn.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = conn.read(&mut buf)?;
            if k == 0 {
                return Ok(got);
            }
            for (j, &b) in buf[..k].iter().enumerate() {
                if b != pattern(got + j) {
                    return Err(std::io::Error::other(format!("byte {} is {b}", got + j)));
                }
            }
            got += k;
        }
    });
    let sender = pair
        .ns_a
        .spawn(move || -> std::io::Result<()> {
            let _ = src; // the kernel picks A's address for the route
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(30))?;
            s.set_write_timeout(Some(Duration::from_secs(60)))?;
            let data: Vec<u8> = (0..STREAM).map(pattern).collect();
            s.write_all(&data)?;
            s.shutdown(std::net::Shutdown::Write)?;
            Ok(())
        })
        .unwrap();
    let counts = forward(&pair, &receiver);
    let received = receiver.join().unwrap().expect("receiver read the stream");
    sender
        .join()
        .unwrap()
        .unwrap()
        .expect("sender wrote the stream");
    let family = if v6 { "IPv6" } else { "IPv4" };
    println!("{family}: {counts:?}");
    assert_eq!(received, STREAM, "{family}: every byte, in order");
    assert!(
        counts.merged > 0,
        "{family}: no super-packet was written: {counts:?}"
    );
    assert!(
        counts.segments_merged * 2 > counts.segments_in,
        "{family}: most data segments should travel merged: {counts:?}"
    );
}

#[test]
fn kernel_accepts_coalesced_ipv4_stream() {
    if !require_root("kernel_accepts_coalesced_ipv4_stream") {
        return;
    }
    stream(false);
}

#[test]
fn kernel_accepts_coalesced_ipv6_stream() {
    if !require_root("kernel_accepts_coalesced_ipv6_stream") {
        return;
    }
    stream(true);
}
