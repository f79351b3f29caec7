//! The reference "tunnel" on `linux-tun`: read a batch from one TUN, write it to another, in both
//! directions, one thread per direction and queue. Replace `Tunnel::seal` / `Tunnel::open` with
//! your encryption and the hand-over with your transport, and this is a VPN data path.
//!
//! ```text
//! forwarder --tun-a NAME --tun-b NAME [--ns-a NETNS --ns-b NETNS] [--mtu 1500]
//!           [--addr-a IP/LEN]... [--addr-b IP/LEN]... [--route-a IP/LEN]... [--route-b IP/LEN]...
//!           [--mode verify|trust|passthrough|plain]
//!           [--drop P] [--duplicate P] [--reorder P] [--seed N] [--copy-split]
//!           [--queues N] [--pin] [--stats-on-stdin]
//! ```
//!
//! Modes (what `cargo xtask netns-test` compares):
//! - `verify` (default): offload on; every read is one super-packet split into segments plus
//!   whatever else was queued, every write coalesces segments back with GRO, checking each
//!   segment's TCP checksum first (a tunnel that cannot vouch for what it received). The split
//!   leaves each payload where the read put it (`RecvBatch::zero_copy_split`: headers apart,
//!   payload summed, not copied) and the batch is written straight from the receive slab
//!   (`Writer::send_received`): no packet is copied, and a merged write hands the kernel the
//!   consecutive payloads as one piece of memory.
//! - `trust`: the same, but segments are marked known-good (a tunnel whose cryptography
//!   already authenticated them), so GRO skips the checksum pass.
//! - `passthrough`: offload on, each super-packet is written out untouched with its vnet header.
//!   No userspace work at all: the ceiling the other offload modes are measured against.
//! - `plain`: no vnet header, one packet per read and per write: what a TUN without offload does.
//!
//! `--copy-split` makes `verify`/`trust` split into contiguous segments (payload copied, the
//! layout a VPN encrypts in place) instead of leaving payloads in place: to compare the two.
//!
//! `--ns-a`/`--ns-b` create each device inside that network namespace (a thread joins the
//! namespace, opens the device and hands the fd back; the fd works from anywhere).
//! `--addr-a`/`--route-a` (and `-b`, repeatable) give a device its addresses and the routes
//! through it, as a tunnel configures its own interface: from this thread, through the
//! device's `Control` (the `netlink` feature, which this example needs), wherever the device
//! lives.
//!
//! `--queues N` opens each device with N queues (`Builder::multi_queue`, `IFF_MULTI_QUEUE`)
//! and runs two threads per queue: one reads A's queue `q` and writes B's queue `q`, the other
//! the reverse. The kernel hands each flow to one queue by its symmetric flow hash and then
//! follows the queue that last wrote the flow (`tun_automq_select_queue`, `tun_flow_update`
//! in `drivers/net/tun.c`), so both directions of a TCP connection stay on one queue pair.
//! Nothing is shared between queue pairs: each thread owns its batches, its coalescer and its
//! counters (on their own cache line); `--pin` runs queue `q`'s two threads on one CPU. The
//! threads are named `q<N> a>b` / `q<N> b>a`, so `top -H` and `/proc/<pid>/task` show each
//! queue's CPU time, and the `STATS` line gives each queue's segments and bytes.
//!
//! Impairment (`verify`/`trust` only): drop, duplicate or reorder segments with the given
//! probabilities and a fixed seed, so GRO sees gaps, duplicates and out-of-order segments and TCP
//! has to recover; the data must still arrive intact. Impaired batches are copied into a
//! `SendBatch` (the way a tunnel queues packets that arrive from its peer).
//!
//! A device deleted under the forwarder (`ip link del`) ends it with `<name> was removed` and
//! exit status 0: the library reports removal as its own error (`RecvError::DeviceRemoved`,
//! `SendError::DeviceRemoved`; `Control::is_removed` after a raw call). A link that is down
//! drops what is written to it, as the kernel would, and forwarding goes on.
//!
//! The command line, `READY` and the `STATS` exchange on stdin/stdout are the test harness's
//! protocol (`testkit::forwarder`), shared with the tun-rs peer and `cargo xtask netns-test`; the
//! data path below is all `linux-tun`.

use linux_tun::{
    ChecksumStatus, Control, PushError, Reader, RecvBatch, RecvError, SendBatch, SendError, Tun,
    Writer,
};
use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use testkit::forwarder::{Args, Impairment, Mode, Prefix, QueueStats, Stats, serve, thread_name};

/// Largest frame a read can return: vnet header + 64 KiB super-packet.
const MAX_FRAME: usize = virtio_net_hdr::VirtioNetHdrV1::LEN + 65535;
/// Packets per batch: one 64 KiB super-packet at MTU 1500 is 45 segments; 128 holds a few.
const BATCH: usize = 128;
/// Room a tunnel header needs in front of each packet (WireGuard: 16-byte header + UDP/IP are
/// added by the socket; 32 leaves margin for other designs).
const HEADROOM: usize = 32;

/// The counters of one direction of one queue pair, reported on request. Only its own thread
/// writes them, on memory of its own (128 bytes: Intel's spatial prefetcher pulls 64-byte lines
/// in pairs), so forwarding threads never write a cache line another thread writes.
#[derive(Default)]
#[repr(align(128))]
struct Counters {
    rx_segments: AtomicU64,
    rx_bytes: AtomicU64,
    tx_segments: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
}

/// Add to a counter that only the calling thread writes: a load and a store, no locked
/// read-modify-write (the reporting thread only loads).
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// One forwarding thread's loop, given its counters.
type Work = Box<dyn FnOnce(&Counters) -> Result<(), Stop> + Send>;

/// Why one direction stopped forwarding.
enum Stop {
    /// A device was deleted: the one read from (`reading`) or the one written to.
    Removed { reading: bool },
    /// Anything else, said in words.
    Failed(String),
}

/// Open one device with all its queues, inside `netns` when given: a short-lived thread joins
/// the namespace so the interface (and every queue, which `TUNSETIFF` looks up by name) is
/// found there.
fn open(name: &str, netns: Option<&str>, args: &Args) -> Result<Vec<Tun>, String> {
    let builder = Tun::builder()
        .name(name)
        .offload(args.mode != Mode::Plain)
        .multi_queue(args.queues)
        .mtu(u32::from(args.mtu))
        .up();
    let path = netns.map(|n| format!("/run/netns/{n}"));
    thread::scope(|s| {
        s.spawn(|| {
            if let Some(path) = &path {
                let ns = File::open(path).map_err(|e| format!("{path}: {e}"))?;
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&ns),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(|e| format!("entering {path}: {e}"))?;
            }
            builder
                .open_queues()
                .map_err(|e| format!("opening {name}: {e}"))
        })
        .join()
        .map_err(|_| "device thread panicked".to_string())?
    })
}

/// Give the device its addresses, then the routes through it (the link is up already: IPv4
/// routes need that).
fn configure(ctl: &Control, addrs: &[Prefix], routes: &[Prefix]) -> Result<(), linux_tun::Error> {
    for a in addrs {
        ctl.add_address(a.ip, a.len)?;
    }
    for r in routes {
        ctl.add_route(r.ip, r.len)?;
    }
    Ok(())
}

/// `plain` and `passthrough`: one frame per read, written out as it came (with its vnet header
/// in pass-through). The kernel's super-packet goes out as a super-packet. Raw calls return the
/// kernel's errors as they are; `Control::is_removed` tells a deleted device.
fn pump_raw(from: &Tun, to: &Tun, count_segments: bool, c: &Counters) -> Result<(), Stop> {
    let mut frame = vec![0u8; MAX_FRAME];
    let vnet_len = from.control().capabilities().vnet_hdr_len.unwrap_or(0);
    loop {
        let n = match from.read_raw(&mut frame) {
            Ok(n) => n,
            Err(_) if from.control().is_removed() => return Err(Stop::Removed { reading: true }),
            Err(e) => return Err(Stop::Failed(format!("read: {e}"))),
        };
        let segs = if count_segments {
            segments_in_frame(&frame[..n])
        } else {
            1
        };
        bump(&c.rx_segments, segs);
        bump(&c.rx_bytes, n.saturating_sub(vnet_len) as u64);
        // A real tunnel would seal the frame here.
        match to.write_raw(&frame[..n]) {
            Ok(_) => bump(&c.tx_segments, segs),
            // The receiving kernel refused this one frame (EINVAL), or dropped it because the
            // link is down (EIO): count it as lost, keep forwarding.
            Err(e) if is_errno(&e, rustix::io::Errno::INVAL) => bump(&c.dropped, segs),
            Err(_) if to.control().is_removed() => return Err(Stop::Removed { reading: false }),
            Err(e) if is_errno(&e, rustix::io::Errno::IO) => bump(&c.dropped, segs),
            Err(e) => return Err(Stop::Failed(format!("write: {e}"))),
        }
    }
}

fn is_errno(e: &io::Error, errno: rustix::io::Errno) -> bool {
    e.raw_os_error() == Some(errno.raw_os_error())
}

/// How many wire segments a frame read with a vnet header stands for (for the statistics only).
fn segments_in_frame(frame: &[u8]) -> u64 {
    use virtio_net_hdr::{Offload, VirtioNetHdr};
    let Ok((hdr, packet)) = VirtioNetHdr::ref_from_packet(frame) else {
        return 1;
    };
    match hdr.decode(packet) {
        Ok(Offload::Gso(g)) if g.gso_size > 0 => {
            let payload = packet.len().saturating_sub(g.header_len);
            payload.div_ceil(usize::from(g.gso_size)).max(1) as u64
        }
        _ => 1,
    }
}

/// Where a real tunnel does its work. This one is the identity, so the forwarder measures the
/// packet path alone; a VPN puts its cryptography and transport here.
struct Tunnel;

impl Tunnel {
    /// Where a data path that forwards packets unchanged (a router, NAT, firewall, netstack
    /// bridge) looks at each one: a segment of a split super-packet comes as its headers and
    /// its payload, both where the read put them (a plain packet: the whole packet and
    /// nothing). Returns whether its checksums can be trusted. A VPN instead seals each
    /// segment into a datagram — see `seal` and the impaired path, which take contiguous
    /// segments (`RecvBatch::zero_copy_split(false)`, the default) to encrypt in place.
    fn inspect(&mut self, headers: &[u8], payload: &[u8], trusted: bool) -> bool {
        let _ = (headers, payload);
        trusted
    }

    /// Outbound, for each packet read from the local TUN: write the tunnel header into
    /// `headroom` (right in front of the packet, no copy) and encrypt `ip` in place; then
    /// `headroom + ip` goes to the peer (e.g. one `sendmmsg` for the batch).
    fn seal(&mut self, headroom: &mut [u8], ip: &mut [u8]) -> usize {
        let _ = (headroom, ip);
        0
    }

    /// Inbound, for each datagram from the peer: authenticate and decrypt, returning the IP
    /// packet and whether its checksums can be trusted. AEAD authentication proves the packet
    /// is the one the peer's kernel produced, so `trusted` lets GRO skip re-verifying it.
    fn open<'a>(
        &mut self,
        datagram: &'a [u8],
        header_len: usize,
        trusted: bool,
    ) -> (&'a [u8], bool) {
        (&datagram[header_len..], trusted)
    }
}

/// A tiny seeded generator (splitmix64) so impaired runs repeat exactly.
struct Rng(u64);

impl Rng {
    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// `verify` and `trust`: split on read, (impair,) coalesce on write.
fn pump_batches(
    mut rx: Reader,
    mut tx: Writer,
    trust: bool,
    copy_split: bool,
    impair: Impairment,
    lane: u64,
    c: &Counters,
) -> Result<(), Stop> {
    // Impaired batches are copied packet by packet into a send batch: they take contiguous
    // segments. Otherwise segments stay as headers + payload in place.
    let zero_copy = !copy_split && !impair.is_active();
    let mut inbound = RecvBatch::new(BATCH, HEADROOM).zero_copy_split(zero_copy);
    // Duplicates and held-back packets can make the outgoing batch longer than the incoming one.
    let mut outbound = SendBatch::new(2 * BATCH);
    let mut tunnel = Tunnel;
    // Each thread (queue pair and direction) draws its own sequence.
    let mut rng = Rng(impair.seed ^ lane.wrapping_mul(0x5851_F42D_4C95_7F2D));
    // Packets held back by the reorder impairment, sent after the rest of their batch. The
    // vectors are reused, so steady state allocates nothing.
    let mut late: Vec<Vec<u8>> = Vec::new();
    let mut late_len = 0usize;
    let csum = |known_good: bool| {
        if known_good {
            ChecksumStatus::KnownGood
        } else {
            ChecksumStatus::Unverified
        }
    };
    loop {
        let n = match rx.recv(&mut inbound) {
            Ok(n) => n,
            Err(RecvError::DeviceRemoved) => return Err(Stop::Removed { reading: true }),
            Err(e) => return Err(Stop::Failed(format!("read: {e}"))),
        };
        bump(&c.rx_segments, n as u64);
        if !impair.is_active() {
            // The common path: every packet passes the hook where it lies, then the batch is
            // written straight from its slab (GRO + one writev per super-packet, no copy).
            let (mut trusted, mut bytes) = (true, 0);
            for pkt in inbound.iter() {
                let (headers, payload) = pkt.parts();
                bytes += headers.len() + payload.len();
                trusted &= tunnel.inspect(headers, payload, trust);
            }
            bump(&c.rx_bytes, bytes as u64);
            send_received(&mut tx, &mut inbound, csum(trusted), c)?;
            continue;
        }
        // Impairment drops, duplicates and holds back packets: copy into a send batch.
        for pkt in inbound.iter_mut() {
            let frame = pkt.headroom_and_packet_mut();
            let (headroom, ip) = frame.split_at_mut(HEADROOM);
            let header_len = tunnel.seal(headroom, ip);
            // … the datagram crosses the network; on the peer:
            let datagram = &frame[HEADROOM - header_len..];
            let (ip, trusted) = tunnel.open(datagram, header_len, trust);
            bump(&c.rx_bytes, ip.len() as u64);
            if rng.chance(impair.drop) {
                bump(&c.dropped, 1);
                continue;
            }
            if rng.chance(impair.reorder) {
                if late.len() == late_len {
                    late.push(Vec::with_capacity(2048));
                }
                late[late_len].clear();
                late[late_len].extend_from_slice(ip);
                late_len += 1;
                bump(&c.reordered, 1);
                continue;
            }
            if rng.chance(impair.duplicate) {
                push(&mut tx, &mut outbound, ip, csum(trusted), c)?;
                bump(&c.duplicated, 1);
            }
            push(&mut tx, &mut outbound, ip, csum(trusted), c)?;
        }
        for held in late.iter().take(late_len) {
            push(&mut tx, &mut outbound, held, csum(trust), c)?;
        }
        late_len = 0;
        flush(&mut tx, &mut outbound, c)?;
    }
}

/// Queue one packet, writing the batch first if it is full.
fn push(
    tx: &mut Writer,
    batch: &mut SendBatch,
    ip: &[u8],
    csum: ChecksumStatus,
    c: &Counters,
) -> Result<(), Stop> {
    let queueing = |e: PushError| Stop::Failed(format!("queueing a packet: {e}"));
    match batch.push(ip, csum) {
        Ok(()) => Ok(()),
        Err(PushError::Full) => {
            flush(tx, batch, c)?;
            batch.push(ip, csum).map_err(queueing)
        }
        // A packet the batch cannot carry (empty or over 64 KiB) never comes out of a split.
        Err(e) => Err(queueing(e)),
    }
}

/// Write a received batch as it lies in its slab (GRO + one `writev` per super-packet). Packets
/// the kernel refused one by one are counted as dropped; TCP retransmits them.
fn send_received(
    tx: &mut Writer,
    batch: &mut RecvBatch,
    csum: ChecksumStatus,
    c: &Counters,
) -> Result<(), Stop> {
    let queued = batch.len();
    let r = account(tx.send_received(batch, csum), queued, c);
    batch.clear(); // what a down link left in it is dropped
    r
}

/// Write the batch (GRO + one `writev` per super-packet). Packets the kernel refused one by one
/// are counted as dropped; TCP retransmits them.
fn flush(tx: &mut Writer, batch: &mut SendBatch, c: &Counters) -> Result<(), Stop> {
    if batch.is_empty() {
        return Ok(());
    }
    let queued = batch.len();
    let r = account(tx.send(batch), queued, c);
    batch.clear(); // what a down link left in it is dropped
    r
}

/// Count what a send wrote; packets refused one by one, or not written because the link is
/// down, are counted as dropped (TCP retransmits them). A deleted device or another I/O
/// error ends the forwarder.
fn account(sent: Result<usize, SendError>, queued: usize, c: &Counters) -> Result<(), Stop> {
    match sent {
        Ok(written) | Err(SendError::LinkDown { written }) => {
            bump(&c.tx_segments, written as u64);
            bump(&c.dropped, (queued - written) as u64);
            Ok(())
        }
        Err(SendError::DeviceRemoved { .. }) => Err(Stop::Removed { reading: false }),
        Err(SendError::Io { written, source }) => Err(Stop::Failed(format!(
            "write failed after {written} packets: {source}"
        ))),
        Err(e) => Err(Stop::Failed(format!("write: {e}"))),
    }
}

fn main() {
    let args = match Args::parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("forwarder: {e}");
            std::process::exit(2);
        }
    };
    let devs = match (
        open(&args.tun[0], args.ns[0].as_deref(), &args),
        open(&args.tun[1], args.ns[1].as_deref(), &args),
    ) {
        (Ok(a), Ok(b)) => [a, b],
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("forwarder: {e}");
            std::process::exit(1);
        }
    };
    for (dev, (addrs, routes)) in devs.iter().zip(args.addrs.iter().zip(&args.routes)) {
        if let Err(e) = configure(&dev[0].control(), addrs, routes) {
            eprintln!("forwarder: configuring {}: {e}", dev[0].control().name());
            std::process::exit(1);
        }
    }
    let names = Arc::new(devs.each_ref().map(|d| d[0].control().name().to_string()));
    // One set of counters per queue and direction, at `2 * queue + from`.
    let counters: Arc<[Counters]> = (0..2 * args.queues).map(|_| Counters::default()).collect();
    let fail = move |from: usize, stop: Stop| match stop {
        // Deleting a device is how an operator takes a tunnel down: say so and end cleanly.
        Stop::Removed { reading } => {
            let gone = if reading { from } else { 1 - from };
            eprintln!("forwarder: {} was removed; stopping", names[gone]);
            std::process::exit(0);
        }
        Stop::Failed(e) => {
            eprintln!("forwarder: {} -> {}: {e}", names[from], names[1 - from]);
            std::process::exit(1);
        }
    };
    // The thread that forwards queue `q` from device `from` to the other: named for `top -H`
    // and the harness, pinned if asked, its own counters.
    let spawn = |q: usize, from: usize, work: Work| {
        let (pin, counters, fail) = (args.pin, Arc::clone(&counters), fail.clone());
        let started = thread::Builder::new()
            .name(thread_name(q, from))
            .spawn(move || {
                if pin && let Err(e) = testkit::forwarder::pin(q) {
                    fail(from, Stop::Failed(e));
                }
                if let Err(stop) = work(&counters[2 * q + from]) {
                    fail(from, stop);
                }
            });
        if let Err(e) = started {
            eprintln!("forwarder: starting thread {}: {e}", thread_name(q, from));
            std::process::exit(1);
        }
    };
    match args.mode {
        Mode::Plain | Mode::Passthrough => {
            let count = args.mode == Mode::Passthrough;
            let [a, b] = devs.map(|d| d.into_iter().map(Arc::new).collect::<Vec<_>>());
            for (q, (a, b)) in a.into_iter().zip(b).enumerate() {
                for (from, rx, tx) in [(0, Arc::clone(&a), Arc::clone(&b)), (1, b, a)] {
                    spawn(q, from, Box::new(move |c| pump_raw(&rx, &tx, count, c)));
                }
            }
        }
        Mode::Verify | Mode::Trust => {
            // Each queue splits into a reading and a writing half; the thread of queue `q`
            // reads one device's queue `q` and writes the other's.
            let [a, b] = devs;
            let (rx_a, tx_a): (Vec<Reader>, Vec<Writer>) =
                a.into_iter().map(Tun::into_halves).unzip();
            let (rx_b, tx_b): (Vec<Reader>, Vec<Writer>) =
                b.into_iter().map(Tun::into_halves).unzip();
            let (trust, impair, copy_split) =
                (args.mode == Mode::Trust, args.impair, args.copy_split);
            let a_to_b = rx_a.into_iter().zip(tx_b).enumerate();
            let a_to_b = a_to_b.map(|(q, (rx, tx))| (q, 0, rx, tx));
            let b_to_a = rx_b.into_iter().zip(tx_a).enumerate();
            let b_to_a = b_to_a.map(|(q, (rx, tx))| (q, 1, rx, tx));
            for (q, from, rx, tx) in a_to_b.chain(b_to_a) {
                let lane = (2 * q + from) as u64;
                spawn(
                    q,
                    from,
                    Box::new(move |c| pump_batches(rx, tx, trust, copy_split, impair, lane, c)),
                );
            }
        }
    }
    serve(args.stats_on_stdin, || {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = Stats::default();
        for both_directions in counters.chunks(2) {
            let mut q = QueueStats::default();
            for c in both_directions {
                q.rx_segments += g(&c.rx_segments);
                q.tx_segments += g(&c.tx_segments);
                q.rx_bytes += g(&c.rx_bytes);
                s.dropped += g(&c.dropped);
                s.duplicated += g(&c.duplicated);
                s.reordered += g(&c.reordered);
            }
            s.rx_segments += q.rx_segments;
            s.tx_segments += q.tx_segments;
            s.queues.push(q);
        }
        s
    });
    std::process::exit(0);
}
