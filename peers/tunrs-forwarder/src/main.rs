//! A TUN-to-TUN forwarder on tun-rs 2.8's offload API (`recv_multiple` splits a super-packet,
//! `send_multiple` coalesces with its `GROTable`), written the way a tun-rs user would write it.
//!
//! It takes the same arguments as our forwarder (crates/linux-tun/examples/forwarder.rs) so that
//! `cargo xtask netns-test` can run both on one topology:
//!
//! ```text
//! tunrs-forwarder --tun-a NAME --tun-b NAME [--ns-a NETNS --ns-b NETNS] [--mtu 1500]
//!                 [--mode verify] [--stats-on-stdin]
//! ```
//!
//! Prints `READY` when both devices are up. With `--stats-on-stdin`, each `STATS` line on stdin
//! is answered with `STATS rx_segments=… tx_segments=… errors=…`, and end of input stops it.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use tun_rs::{DeviceBuilder, GROTable, IDEAL_BATCH_SIZE, SyncDevice, VIRTIO_NET_HDR_LEN};

/// Headroom in front of each packet: `send_multiple` writes the virtio header there.
const OFFSET: usize = VIRTIO_NET_HDR_LEN;

#[derive(Default)]
struct Counters {
    rx_segments: AtomicU64,
    tx_segments: AtomicU64,
    errors: AtomicU64,
}

struct Args {
    tun: [String; 2],
    ns: [Option<String>; 2],
    mtu: u16,
    stats_on_stdin: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        tun: [String::new(), String::new()],
        ns: [None, None],
        mtu: 1500,
        stats_on_stdin: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--tun-a" => a.tun[0] = value()?,
            "--tun-b" => a.tun[1] = value()?,
            "--ns-a" => a.ns[0] = Some(value()?),
            "--ns-b" => a.ns[1] = Some(value()?),
            "--mtu" => a.mtu = value()?.parse().map_err(|e| format!("--mtu: {e}"))?,
            // tun-rs's GRO always validates checksums; it has no other mode.
            "--mode" => match value()?.as_str() {
                "verify" => {}
                m => {
                    return Err(format!(
                        "tun-rs forwarder supports only --mode verify, not {m}"
                    ));
                }
            },
            "--stats-on-stdin" => a.stats_on_stdin = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.tun.iter().any(String::is_empty) {
        return Err("usage: tunrs-forwarder --tun-a NAME --tun-b NAME [--ns-a NS --ns-b NS] [--mtu N] [--stats-on-stdin]".into());
    }
    Ok(a)
}

/// Create the device on a thread that first joins `netns` (if given), so the interface lives
/// there; the returned fd works from any thread.
fn open(name: &str, netns: Option<&str>, mtu: u16) -> io::Result<SyncDevice> {
    let name = name.to_string();
    let netns = netns.map(|n| format!("/run/netns/{n}"));
    thread::spawn(move || {
        if let Some(path) = netns {
            let f = File::open(&path)?;
            // SAFETY: setns on a valid namespace fd only changes this (short-lived) thread's
            // network namespace.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        DeviceBuilder::new()
            .name(name)
            .mtu(mtu)
            .with(|b| {
                b.offload(true);
            })
            .build_sync()
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
    matches!(e.raw_os_error(), Some(libc::EBADF | libc::EBADFD))
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
        .map(|i| open(&args.tun[i], args.ns[i].as_deref(), args.mtu).map(Arc::new))
        .collect::<io::Result<Vec<_>>>();
    let devs = match devs {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tunrs-forwarder: opening devices: {e}");
            std::process::exit(1);
        }
    };
    let counters = Arc::new(Counters::default());
    for (from, to) in [(0, 1), (1, 0)] {
        let (from, to) = (Arc::clone(&devs[from]), Arc::clone(&devs[to]));
        let c = Arc::clone(&counters);
        let mtu = usize::from(args.mtu);
        thread::spawn(move || {
            if let Err(e) = pump(&from, &to, mtu, &c) {
                eprintln!("tunrs-forwarder: {e}");
                std::process::exit(1);
            }
        });
    }
    println!("READY");
    io::stdout().flush().ok();
    if args.stats_on_stdin {
        let report = || {
            println!(
                "STATS rx_segments={} tx_segments={} errors={}",
                counters.rx_segments.load(Ordering::Relaxed),
                counters.tx_segments.load(Ordering::Relaxed),
                counters.errors.load(Ordering::Relaxed)
            );
            io::stdout().flush().ok();
        };
        for line in io::stdin().lock().lines() {
            match line {
                Ok(l) if l.trim() == "STATS" => report(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        report();
        std::process::exit(0);
    }
    loop {
        thread::park();
    }
}
