//! A TUN-to-TUN forwarder on tun-rs 2.8's offload API (`recv_multiple` splits a super-packet,
//! `send_multiple` coalesces with its `GROTable`), written the way a tun-rs user would write it.
//!
//! It takes the same arguments as our forwarder (crates/linux-tun/examples/forwarder.rs) so that
//! `cargo xtask netns-test` can run both on one topology:
//!
//! ```text
//! tunrs-forwarder --tun-a NAME --tun-b NAME [--ns-a NETNS --ns-b NETNS] [--mtu 1500]
//!                 [--mode verify] [--queues N] [--pin] [--stats-on-stdin]
//! ```
//!
//! `--queues N` opens each device multi-queue (tun-rs's `multi_queue(true)`, one more queue per
//! `SyncDevice::try_clone`) and runs the same threads as ours: per queue, one per direction,
//! named and pinned the harness's way.
//!
//! The command line, `READY` and the `STATS` exchange are the harness's (`testkit::forwarder`,
//! shared with ours); the data path is tun-rs's alone, which is where its independence matters.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use testkit::forwarder::{Args, Mode, QueueStats, Stats, serve, thread_name};
use tun_rs::{DeviceBuilder, GROTable, IDEAL_BATCH_SIZE, SyncDevice, VIRTIO_NET_HDR_LEN};

/// Headroom in front of each packet: `send_multiple` writes the virtio header there.
const OFFSET: usize = VIRTIO_NET_HDR_LEN;

/// One direction of one queue pair; written by its thread alone, on a line of its own.
#[derive(Default)]
#[repr(align(128))]
struct Counters {
    rx_segments: AtomicU64,
    rx_bytes: AtomicU64,
    tx_segments: AtomicU64,
    errors: AtomicU64,
}

/// Our harness's command line, minus what a plain tun-rs forwarder has no counterpart for.
fn parse_args() -> Result<Args, String> {
    let a = Args::parse(std::env::args_os().skip(1))?;
    // tun-rs's GRO always validates checksums; it has no other mode.
    if a.mode != Mode::Verify {
        return Err(format!(
            "tun-rs forwarder supports only --mode verify, not {}",
            a.mode.as_str()
        ));
    }
    if a.impair.is_active() || a.copy_split {
        return Err("tun-rs forwarder has no impairment or --copy-split".into());
    }
    // Built without tun-rs's address management (see Cargo.toml): the harness configures.
    if a.addrs.iter().chain(&a.routes).any(|l| !l.is_empty()) {
        return Err("tun-rs forwarder sets no addresses or routes".into());
    }
    Ok(a)
}

/// Create the device with `queues` queues on a thread that first joins `netns` (if given), so
/// the interface lives there (and `try_clone`, which attaches by name, finds it); the returned
/// fds work from any thread.
fn open(name: &str, netns: Option<&str>, mtu: u16, queues: usize) -> io::Result<Vec<SyncDevice>> {
    let name = name.to_string();
    let netns = netns.map(|n| format!("/run/netns/{n}"));
    thread::spawn(move || {
        if let Some(path) = netns {
            let f = File::open(&path)?;
            // Only this short-lived thread changes namespace.
            rustix::thread::move_into_link_name_space(
                f.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
        }
        let first = DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
            .with(|b| {
                b.offload(true).multi_queue(queues > 1);
            })
            .build_sync()?;
        let mut all = Vec::with_capacity(queues);
        for _ in 1..queues {
            all.push(first.try_clone()?);
        }
        all.insert(0, first);
        Ok(all)
    })
    .join()
    .map_err(|_| io::Error::other("device thread panicked"))?
}

/// Read batches from `from`, write them to `to`, forever.
fn pump(from: &SyncDevice, to: &SyncDevice, mtu: usize, c: &Counters) -> io::Result<()> {
    let mut original = vec![0u8; VIRTIO_NET_HDR_LEN + 65535];
    // Capacity for a whole coalesced super-packet: tun-rs's GRO only appends into a buffer whose
    // capacity can hold it.
    let mut bufs: Vec<Vec<u8>> = (0..IDEAL_BATCH_SIZE)
        .map(|_| {
            let mut v = Vec::with_capacity(2 * OFFSET + 65535);
            v.resize(OFFSET + mtu, 0);
            v
        })
        .collect();
    let mut sizes = vec![0usize; IDEAL_BATCH_SIZE];
    let mut gro = GROTable::default();
    loop {
        for b in bufs.iter_mut() {
            b.resize(OFFSET + mtu, 0);
        }
        let n = match from.recv_multiple(&mut original, &mut bufs, &mut sizes, OFFSET) {
            Ok(n) => n,
            Err(e) if fatal(&e) => return Err(e),
            Err(_) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        c.rx_segments.fetch_add(n as u64, Ordering::Relaxed);
        let bytes: usize = sizes[..n].iter().sum();
        c.rx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        for (b, &len) in bufs.iter_mut().zip(&sizes).take(n) {
            b.truncate(OFFSET + len);
        }
        // A real tunnel would encrypt here and the peer decrypt; this forwarder hands the
        // batch straight across.
        match to.send_multiple(&mut gro, &mut bufs[..n], OFFSET) {
            Ok(_) => {
                c.tx_segments.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if fatal(&e) => return Err(e),
            Err(_) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn fatal(e: &io::Error) -> bool {
    use rustix::io::Errno;
    let code = e.raw_os_error();
    code == Some(Errno::BADF.raw_os_error()) || code == Some(Errno::BADFD.raw_os_error())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tunrs-forwarder: {e}");
            std::process::exit(2);
        }
    };
    let devs = (0..2)
        .map(|i| open(&args.tun[i], args.ns[i].as_deref(), args.mtu, args.queues))
        .collect::<io::Result<Vec<_>>>();
    let devs: Vec<Vec<Arc<SyncDevice>>> = match devs {
        Ok(d) => d
            .into_iter()
            .map(|d| d.into_iter().map(Arc::new).collect())
            .collect(),
        Err(e) => {
            eprintln!("tunrs-forwarder: opening devices: {e}");
            std::process::exit(1);
        }
    };
    // At `2 * queue + from`, as ours.
    let counters: Arc<[Counters]> = (0..2 * args.queues).map(|_| Counters::default()).collect();
    for q in 0..args.queues {
        for (from, to) in [(0, 1), (1, 0)] {
            let (rx, tx) = (Arc::clone(&devs[from][q]), Arc::clone(&devs[to][q]));
            let c = Arc::clone(&counters);
            let (mtu, pin) = (usize::from(args.mtu), args.pin);
            let started = thread::Builder::new()
                .name(thread_name(q, from))
                .spawn(move || {
                    if pin && let Err(e) = testkit::forwarder::pin(q) {
                        eprintln!("tunrs-forwarder: {e}");
                        std::process::exit(1);
                    }
                    if let Err(e) = pump(&rx, &tx, mtu, &c[2 * q + from]) {
                        eprintln!("tunrs-forwarder: {e}");
                        std::process::exit(1);
                    }
                });
            if let Err(e) = started {
                eprintln!("tunrs-forwarder: starting a thread: {e}");
                std::process::exit(1);
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
                s.errors += g(&c.errors);
            }
            s.rx_segments += q.rx_segments;
            s.tx_segments += q.tx_segments;
            s.queues.push(q);
        }
        s
    });
    std::process::exit(0);
}
