//! `cargo xtask netns-test`: real namespaces, real TUN devices, real kernel TCP.
//!
//! Topology: namespaces A and B each hold one TUN
//! (10.99.0.1/32 + fd99::1/128 in A, 10.99.0.2/32 + fd99::2/128 in B, routes to the other side).
//! A forwarder process in the root namespace opens both TUNs (one thread entered each namespace
//! to create them) and moves packets between them, one thread per direction (and per queue, with
//! `--queues`). A sender in A pushes a deterministic byte pattern to a receiver in B, which
//! checks every byte.
//!
//! Our forwarder gives the devices their addresses and routes itself (`--addr-a`, `--route-a`,
//! …: `linux-tun`'s `Control` over rtnetlink), so every run exercises the library's
//! configuration path; the tun-rs peer sets none, and for it the harness runs `ip`.
//!
//! Every forwarder mode runs on that same topology in one invocation, so the ratios compare like
//! with like on whatever the machine is doing at that moment.

use crate::sys::{self, Proc};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::Netns;
use testkit::forwarder::{self, Prefix, Stats};

/// No receiver progress for this long means the transfer is stuck (a lost packet that TCP cannot
/// recover from, a wedged forwarder, …).
const STALL: Duration = Duration::from_secs(10);

const USAGE: &str = "\
usage: cargo xtask netns-test [--quick] [--seconds S] [--rounds R] [--streams N]
                              [--modes m1,m2,…] [--iperf3] [--no-iperf3] [--seed N] [--cc NAME]
                              [--copy-split] [--queues Q] [--pin] [--udp-rate M[,M…]]
                              [--udp-size B] [--udp-only] [--udp-checkers C]
  (default)    every mode over IPv4 and IPv6, one and N streams, 5 s each, 3 rounds, plus
               iperf3: ~9 minutes
  --quick      CI size: every mode over IPv4 and IPv6 with one stream (ours also with N streams,
               on one queue and on two), 2 s each, one round: about a minute
  --seconds S  length of each transfer (default 5, quick 2)
  --rounds R   measure everything R times, the modes taking turns; the table shows each cell's
               median and range (default 3, quick 1). Single transfers here swing by up to 2x
               (TCP settles into different super-packet sizes), so one round is a smoke test
  --streams N  parallel streams for the multi-stream runs (default 4)
  --modes      subset of: plain, passthrough, verify, trust, tun-rs, impaired (default: all)
  --iperf3     also measure each mode with iperf3 (default on when installed, off with --quick)
  --seed N     seed for the data pattern and the impairment (default 1)
  --cc NAME    the senders' TCP congestion control (default cubic, as in the reference
               measurements; `default` keeps the system's, often bbr)
  --copy-split ours (verify, trust) splits into contiguous segments, copying each payload (the
               layout a VPN encrypts in place), instead of leaving payloads where the read put
               them: run once with and once without to compare the two
  --queues Q   also run each mode's N-stream transfers with Q queues per device (the forwarder
               opens both TUNs multi-queue, two threads per queue), beside the single-queue
               ones, and compare the two per queue: each queue's share of the bytes and its
               threads' CPU s/GiB (default 1: single-queue only; quick 2). E.g. `--modes
               verify --streams 4 --queues 2`
  --pin        the forwarders run each queue's two threads on one CPU of their own
  --udp-rate M UDP transfers (every mode but impaired): a sender writing with UDP_SEGMENT, a
               receiver reading with UDP_GRO, every datagram checked; unpaced and paced at M
               Mbit/s of payload (default 2000; --quick: paced IPv4 only; 0: no UDP). A comma
               list (e.g. 10000,15000,20000) sweeps the offered load: one paced row per rate,
               labelled with it (`UDP4 15000M`)
  --udp-size B UDP datagram payload bytes (default 1200, as QUIC sends)
  --udp-only   only the UDP transfers: unpaced and paced, IPv4 and IPv6 (--quick: IPv4 only)
  --udp-checkers C  the UDP receiver checks the datagrams its reading thread reads on C
               threads of their own (default 0: the reading thread checks each read itself,
               which on two CPUs leaves the forwarders more room than handing reads over)";

/// How the forwarder moves packets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// No vnet header: one packet per read and per write.
    Plain,
    /// vnet header; super-packets forwarded untouched (no userspace work: the ceiling).
    Passthrough,
    /// linux-tun split + GRO, verifying every segment's checksum.
    Verify,
    /// linux-tun split + GRO, trusting checksums (as after a tunnel's authentication).
    Trust,
    /// The same forwarder built on tun-rs's offload API.
    TunRs,
    /// `Verify` with drop, duplication and reordering in the forwarder.
    Impaired,
}

impl Mode {
    const ALL: [Mode; 6] = [
        Mode::Plain,
        Mode::Passthrough,
        Mode::Verify,
        Mode::Trust,
        Mode::TunRs,
        Mode::Impaired,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Passthrough => "passthrough",
            Mode::Verify => "verify",
            Mode::Trust => "trust",
            Mode::TunRs => "tun-rs",
            Mode::Impaired => "impaired",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Mode::Plain => "plain TUN, no vnet header",
            Mode::Passthrough => "vnet pass-through (ceiling)",
            Mode::Verify => "ours: split+GRO, verify",
            Mode::Trust => "ours: split+GRO, trust",
            Mode::TunRs => "tun-rs 2.8 offload",
            Mode::Impaired => "ours verify + impairment",
        }
    }

    fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// One transfer's shape.
#[derive(Clone, Copy)]
struct Variant {
    v6: bool,
    streams: u32,
    /// UDP instead of TCP: the offered load in Mbit/s of payload, 0 for unpaced.
    udp: Option<u32>,
    /// Queues per device the forwarder opens.
    queues: usize,
}

impl Variant {
    /// `IPv4 x4`, and `IPv4 x4 2q` with more than one queue; `UDP4 2000M` (offered Mbit/s) or
    /// `UDP6 max` (unpaced) for UDP.
    fn label(self) -> String {
        if let Some(rate) = self.udp {
            let ip = if self.v6 { "UDP6" } else { "UDP4" };
            return match rate {
                0 => format!("{ip} max"),
                r => format!("{ip} {r}M"),
            };
        }
        let ip = if self.v6 { "IPv6" } else { "IPv4" };
        match self.queues {
            1 => format!("{ip} x{}", self.streams),
            q => format!("{ip} x{} {q}q", self.streams),
        }
    }
}

struct Options {
    quick: bool,
    seconds: f64,
    rounds: u32,
    streams: u32,
    modes: Vec<Mode>,
    iperf3: Option<bool>,
    seed: u64,
    /// Congestion control set in both namespaces (`None`: leave the inherited one).
    cc: Option<String>,
    /// Ours splits into contiguous segments instead of leaving payloads in place.
    copy_split: bool,
    /// Queues per device for the extra multi-queue transfers (1: none).
    queues: usize,
    /// Pin each queue's forwarder threads to a CPU.
    pin: bool,
    /// Offered loads of the paced UDP transfers, Mbit/s of payload (empty: no UDP transfers).
    udp_rates: Vec<u32>,
    /// UDP datagram payload size.
    udp_size: usize,
    /// UDP transfers only.
    udp_only: bool,
    /// Checking threads of the UDP receiver (0: its reading thread checks).
    udp_checkers: usize,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        seconds: 0.0,
        rounds: 0,
        streams: 4,
        modes: Mode::ALL.to_vec(),
        iperf3: None,
        seed: 1,
        cc: Some("cubic".into()),
        copy_split: false,
        queues: 0,
        pin: false,
        udp_rates: vec![2000],
        udp_size: 1200,
        udp_only: false,
        udp_checkers: 0,
    };
    let mut p = lexopt::Parser::from_args(args);
    // A flag's value, parsed, with the flag named in the error.
    fn value<T: std::str::FromStr>(p: &mut lexopt::Parser, flag: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        let v = p.value().map_err(|e| format!("{e}\n{USAGE}"))?;
        let v = v.to_str().ok_or_else(|| format!("{flag}: not UTF-8"))?;
        v.parse().map_err(|e| format!("{flag}: {e}"))
    }
    while let Some(arg) = p.next().map_err(|e| format!("{e}\n{USAGE}"))? {
        use lexopt::Arg::Long;
        match arg {
            Long("quick") => o.quick = true,
            Long("seconds") => o.seconds = value(&mut p, "--seconds")?,
            Long("streams") => o.streams = value(&mut p, "--streams")?,
            Long("rounds") => {
                o.rounds = value(&mut p, "--rounds")?;
                if o.rounds == 0 {
                    return Err("--rounds must be at least 1".into());
                }
            }
            Long("seed") => o.seed = value(&mut p, "--seed")?,
            Long("cc") => {
                let v: String = value(&mut p, "--cc")?;
                o.cc = (v != "default").then_some(v);
            }
            Long("modes") => {
                o.modes = value::<String>(&mut p, "--modes")?
                    .split(',')
                    .map(|m| Mode::parse(m).ok_or_else(|| format!("unknown mode {m}\n{USAGE}")))
                    .collect::<Result<_, _>>()?;
            }
            Long("iperf3") => o.iperf3 = Some(true),
            Long("copy-split") => o.copy_split = true,
            Long("no-iperf3") => o.iperf3 = Some(false),
            Long("queues") => {
                o.queues = value(&mut p, "--queues")?;
                if !(1..=forwarder::MAX_QUEUES).contains(&o.queues) {
                    return Err(format!(
                        "--queues must be in 1..={} (the kernel's limit)",
                        forwarder::MAX_QUEUES
                    ));
                }
            }
            Long("pin") => o.pin = true,
            Long("udp-rate") => o.udp_rates = rates(&value::<String>(&mut p, "--udp-rate")?)?,
            Long("udp-checkers") => {
                o.udp_checkers = value(&mut p, "--udp-checkers")?;
                if o.udp_checkers > 16 {
                    return Err("--udp-checkers must be in 0..=16".into());
                }
            }
            Long("udp-only") => o.udp_only = true,
            Long("udp-size") => {
                o.udp_size = value(&mut p, "--udp-size")?;
                if !(64..=1400).contains(&o.udp_size) {
                    return Err(
                        "--udp-size must be in 64..=1400 (a datagram fits the 1500-byte MTU)"
                            .into(),
                    );
                }
            }
            Long("help") | lexopt::Arg::Short('h') => return Err(USAGE.to_string()),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    if o.seconds <= 0.0 {
        o.seconds = if o.quick { 2.0 } else { 5.0 };
    }
    if o.rounds == 0 {
        o.rounds = if o.quick { 1 } else { 3 };
    }
    if o.queues == 0 {
        o.queues = if o.quick { 2 } else { 1 };
    }
    if o.streams == 0 {
        return Err("--streams must be at least 1".into());
    }
    Ok(o)
}

/// `--udp-rate`'s offered loads: one rate or a comma list, each once, in the order given
/// (`0` alone: no UDP transfers).
fn rates(list: &str) -> Result<Vec<u32>, String> {
    let mut v: Vec<u32> = Vec::new();
    for r in list.split(',') {
        let r: u32 = r
            .trim()
            .parse()
            .map_err(|e| format!("--udp-rate {list}: {r:?}: {e}"))?;
        if !v.contains(&r) {
            v.push(r);
        }
    }
    match v.as_slice() {
        [0] => Ok(Vec::new()),
        x if x.contains(&0) => Err(format!(
            "--udp-rate {list}: 0 (no UDP) cannot be one of several rates; the unpaced \
             transfers run anyway"
        )),
        _ => Ok(v),
    }
}

/// What one transfer measured.
#[derive(Clone, Default)]
struct Sample {
    bytes: u64,
    gbps: f64,
    cpu_pct: f64,
    /// Forwarder CPU seconds per GiB delivered: what the forwarder costs, less sensitive than
    /// Gbit/s to other load on the machine.
    cpu_per_gib: f64,
    /// Segments per read / write syscall of the forwarder (NaN when unknown).
    seg_per_read: f64,
    seg_per_write: f64,
    /// Segments the forwarder dropped, duplicated and reordered during the transfer.
    impairment: (u64, u64, u64),
    /// Each queue pair's part (one entry per queue).
    queues: Vec<QueueSample>,
    /// UDP: the share of the datagrams sent that never arrived.
    loss: Option<f64>,
}

/// What one queue pair of the forwarder did during a transfer.
#[derive(Clone, Default)]
struct QueueSample {
    /// Its share of the bytes the forwarder read (both directions).
    share: f64,
    /// Its two threads' CPU seconds per GiB it carried (the verified bytes times its share);
    /// NaN when it carried nothing.
    cpu_per_gib: f64,
}

/// One transfer (one mode, one traffic shape, one round).
struct Row {
    mode: Mode,
    variant: Variant,
    result: Result<Sample, String>,
}

impl Variant {
    fn same(self, other: Variant) -> bool {
        self.v6 == other.v6
            && self.streams == other.streams
            && self.queues == other.queues
            && self.udp == other.udp
    }
}

/// Binaries the run needs, built in release.
struct Binaries {
    xtask: PathBuf,
    ours: Option<PathBuf>,
    tunrs: Option<PathBuf>,
}

pub(crate) fn main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return 0;
    }
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    if !crate::signal::is_root() {
        println!(
            "netns-test: needs root: it creates network namespaces and TUN devices (run as root or with sudo)"
        );
        return 2;
    }
    if !Path::new("/dev/net/tun").exists() {
        println!("netns-test: /dev/net/tun is missing: this kernel has no TUN support");
        return 2;
    }
    if let Err(e) = crate::signal::install() {
        eprintln!("netns-test: cannot install the Ctrl-C handler: {e}");
        return 1;
    }
    let started = Instant::now();
    let bins = match build(&opts) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("netns-test: build failed: {e}");
            return 1;
        }
    };
    eprintln!("netns-test: builds done in {:.0?}", started.elapsed());

    let (rows, iperf, cleanup) = run_all(&opts, &bins);
    let table = render(&opts, &rows, &iperf);
    print!("{table}");

    let mut code = 0;
    for r in &rows {
        if let Err(e) = &r.result {
            eprintln!(
                "netns-test: FAILED {} {}: {e}",
                r.mode.name(),
                r.variant.label()
            );
            code = 1;
        }
    }
    if let Err(e) = cleanup {
        eprintln!("netns-test: cleanup failed: {e}");
        code = 1;
    }
    if crate::signal::interrupted() {
        eprintln!("netns-test: interrupted; namespaces and processes cleaned up");
        code = 130;
    }
    println!(
        "netns-test: total time {:.0?}, load average now {}",
        started.elapsed(),
        sys::loadavg()
    );
    code
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `cargo build --release` what the run needs and find the executables in cargo's JSON output.
fn build(opts: &Options) -> Result<Binaries, String> {
    let ours_needed = opts.modes.iter().any(|m| {
        matches!(
            m,
            Mode::Plain | Mode::Passthrough | Mode::Verify | Mode::Trust | Mode::Impaired
        )
    });
    let mut jobs: Vec<(&str, Vec<&str>)> = vec![("xtask", vec!["-p", "xtask", "--bins"])];
    if ours_needed {
        jobs.push((
            "forwarder",
            vec![
                "-p",
                "linux-tun",
                "--example",
                "forwarder",
                "--features",
                "netlink",
            ],
        ));
    }
    if opts.modes.contains(&Mode::TunRs) {
        jobs.push(("tunrs-forwarder", vec!["-p", "tunrs-forwarder", "--bins"]));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut found = Vec::new();
    for (name, sel) in jobs {
        let mut args = vec![
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
        ];
        args.extend(sel);
        eprintln!("netns-test: cargo {}", args.join(" "));
        let out = Command::new(&cargo)
            .args(&args)
            .current_dir(workspace_root())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("running cargo: {e}"))?;
        if crate::signal::interrupted() {
            return Err("interrupted".into());
        }
        if !out.status.success() {
            return Err(format!("cargo build for {name} failed"));
        }
        let json = String::from_utf8_lossy(&out.stdout);
        let exe = executables(&json)
            .into_iter()
            .find(|p| p.file_name().is_some_and(|f| f == name))
            .ok_or_else(|| format!("cargo did not report an executable named {name}"))?;
        found.push((name, exe));
    }
    let take = |n: &str| found.iter().find(|(k, _)| *k == n).map(|(_, p)| p.clone());
    Ok(Binaries {
        xtask: take("xtask").ok_or("no xtask executable")?,
        ours: take("forwarder"),
        tunrs: take("tunrs-forwarder"),
    })
}

/// Every `"executable":"…"` value in cargo's JSON messages.
fn executables(json: &str) -> Vec<PathBuf> {
    const KEY: &str = "\"executable\":\"";
    json.lines()
        .filter_map(|l| {
            let start = l.find(KEY)? + KEY.len();
            let end = l[start..].find('"')? + start;
            Some(PathBuf::from(l[start..end].replace("\\\\", "\\")))
        })
        .collect()
}

/// Names and addresses of one run.
struct Topology {
    a: Netns,
    b: Netns,
    tun_a: String,
    tun_b: String,
}

impl Topology {
    fn new() -> Result<Self, String> {
        let pid = std::process::id();
        // testkit names them `tofx-<pid>-<n>`, so two runs never collide.
        let a = Netns::new("tofx").map_err(|e| e.to_string())?;
        let b = Netns::new("tofx").map_err(|e| e.to_string())?;
        for ns in [&a, &b] {
            // Forwarded packets arrive on the TUN with a source routed back through it; keep
            // reverse-path filtering out of the picture anyway.
            for key in [
                "net.ipv4.conf.all.rp_filter",
                "net.ipv4.conf.default.rp_filter",
            ] {
                ns.sysctl(key, "0").map_err(|e| e.to_string())?;
            }
        }
        Ok(Topology {
            a,
            b,
            tun_a: format!("tfa{pid}"),
            tun_b: format!("tfb{pid}"),
        })
    }

    /// Each device's addresses, A's then B's; the routes through each lead to the other's.
    fn addrs() -> [Vec<Prefix>; 2] {
        let p = |s: &str| s.parse::<Prefix>().expect("a valid prefix");
        [
            vec![p("10.99.0.1/32"), p("fd99::1/128")],
            vec![p("10.99.0.2/32"), p("fd99::2/128")],
        ]
    }

    /// Addresses and routes with `ip`, for a forwarder that does not set them (tun-rs), once
    /// it has created and raised both devices.
    fn configure_with_ip(&self) -> Result<(), String> {
        let [a, b] = Self::addrs();
        for (ns, dev, addrs, routes) in [
            (&self.a, &self.tun_a, &a, &b),
            (&self.b, &self.tun_b, &b, &a),
        ] {
            for (what, list) in [("addr", addrs), ("route", routes)] {
                for p in list {
                    let p = p.to_string();
                    let mut args = vec![what, "add", &p, "dev", dev];
                    // Usable at once, as linux-tun adds them (rule book §1.4).
                    if what == "addr" && p.contains(':') {
                        args.push("nodad");
                    }
                    ns.ip(&args).map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
    }

    /// Delete both namespaces (the guards kill anything left inside) and confirm they are gone.
    fn close(self) -> Result<(), String> {
        let names = [self.a.name().to_string(), self.b.name().to_string()];
        drop(self.a);
        drop(self.b);
        let list = sys::run("ip", &["netns", "list"])?;
        for name in names {
            if list
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name.as_str()))
            {
                return Err(format!("namespace {name} still exists after cleanup"));
            }
        }
        Ok(())
    }
}

/// The transfers of one mode in one round. With `--queues Q` each N-stream shape runs again
/// with Q queues per device (a single stream is one flow, so it only ever uses one queue).
fn variants(opts: &Options, mode: Mode) -> Vec<Variant> {
    let one = |v6| Variant {
        v6,
        streams: 1,
        queues: 1,
        udp: None,
    };
    let many = |v6, queues| Variant {
        v6,
        streams: opts.streams,
        queues,
        udp: None,
    };
    let udp = |v6, rate| Variant {
        v6,
        streams: 1,
        udp: Some(rate),
        queues: 1,
    };
    let mut v = match (opts.quick, mode) {
        (true, Mode::Verify | Mode::Trust) => vec![one(false), one(true), many(false, 1)],
        (true, _) => vec![one(false), one(true)],
        (false, _) => vec![one(false), one(true), many(false, 1), many(true, 1)],
    };
    if opts.udp_only {
        v.clear();
    }
    if !opts.udp_rates.is_empty() && mode != Mode::Impaired {
        // Paced: at an offered load every forwarder can carry, loss means something. Quick
        // runs are IPv4 only, and unpaced only with --udp-only.
        let ips: &[bool] = if opts.quick { &[false] } else { &[false, true] };
        if !opts.quick || opts.udp_only {
            v.extend(ips.iter().map(|&v6| udp(v6, 0)));
        }
        for &rate in &opts.udp_rates {
            v.extend(ips.iter().map(|&v6| udp(v6, rate)));
        }
    }
    if opts.queues > 1 {
        let multi: Vec<Variant> = v
            .iter()
            .filter(|x| x.streams > 1)
            .map(|x| many(x.v6, opts.queues))
            .collect();
        v.extend(multi);
    }
    v
}

type IperfRows = Vec<(Mode, Result<f64, String>)>;

fn run_all(opts: &Options, bins: &Binaries) -> (Vec<Row>, IperfRows, Result<(), String>) {
    let mut rows = Vec::new();
    let mut iperf_rows = Vec::new();
    let topo = match Topology::new() {
        Ok(t) => t,
        Err(e) => {
            rows.push(Row {
                mode: opts.modes[0],
                variant: Variant {
                    v6: false,
                    streams: 1,
                    queues: 1,
                    udp: None,
                },
                result: Err(format!("setting up namespaces: {e}")),
            });
            return (rows, iperf_rows, Ok(()));
        }
    };
    let iperf = opts
        .iperf3
        .unwrap_or(!opts.quick && sys::run("iperf3", &["--version"]).is_ok());
    eprintln!(
        "netns-test: namespaces {} and {}; {} s per transfer; congestion control {}; load average {}",
        topo.a.name(),
        topo.b.name(),
        opts.seconds,
        opts.cc.as_deref().unwrap_or("inherited"),
        sys::loadavg()
    );
    let mut port = 5300u16;
    let mut seed = opts.seed;
    // Rounds interleave the modes, so a slow spell of the machine spreads over all of them.
    let turns = (1..=opts.rounds).flat_map(|r| opts.modes.iter().map(move |&m| (r, m)));
    'modes: for (round, mode) in turns {
        if crate::signal::interrupted() {
            break;
        }
        if opts.rounds > 1 && mode == opts.modes[0] {
            eprintln!("netns-test: round {round} of {}", opts.rounds);
        }
        let vs = variants(opts, mode);
        // One forwarder per queue count: the single-queue transfers first, then the
        // multi-queue ones.
        let mut counts: Vec<usize> = vs.iter().map(|v| v.queues).collect();
        counts.dedup();
        for queues in counts {
            let vs: Vec<Variant> = vs.iter().copied().filter(|v| v.queues == queues).collect();
            let mut fwd = match start_forwarder(opts, bins, &topo, mode, queues) {
                Ok(f) => f,
                Err(e) => {
                    for v in vs {
                        rows.push(Row {
                            mode,
                            variant: v,
                            result: Err(e.clone()),
                        });
                    }
                    continue;
                }
            };
            for v in vs {
                if crate::signal::interrupted() {
                    break 'modes;
                }
                port += 1;
                seed += 1;
                let result = if v.udp.is_some() {
                    transfer_udp(opts, bins, &topo, &mut fwd, mode, v, port, seed)
                } else {
                    transfer(opts, bins, &topo, &mut fwd, mode, v, port, seed)
                };
                match &result {
                    Ok(s) => eprintln!(
                        "  {:<28} {:<11} {:>7.2} Gbit/s  {} verified{}",
                        mode.describe(),
                        v.label(),
                        s.gbps,
                        human_bytes(s.bytes),
                        if v.queues > 1 {
                            format!("; queue shares {}", shares(s))
                        } else {
                            String::new()
                        }
                    ),
                    Err(e) => {
                        eprintln!("  {:<28} {:<11} FAILED: {e}", mode.describe(), v.label())
                    }
                }
                rows.push(Row {
                    mode,
                    variant: v,
                    result,
                });
            }
            if iperf && round == 1 && queues == 1 && !crate::signal::interrupted() {
                port += 1;
                let r = iperf3(opts, &topo, port);
                if let Ok(g) = &r {
                    eprintln!("  {:<28} iperf3      {g:>7.2} Gbit/s", mode.describe());
                }
                iperf_rows.push((mode, r));
            }
            if let Err(e) = stop_forwarder(fwd, mode) {
                rows.push(Row {
                    mode,
                    variant: Variant {
                        v6: false,
                        streams: 1,
                        queues,
                        udp: None,
                    },
                    result: Err(e),
                });
            }
        }
    }
    (rows, iperf_rows, topo.close())
}

fn start_forwarder(
    opts: &Options,
    bins: &Binaries,
    topo: &Topology,
    mode: Mode,
    queues: usize,
) -> Result<Proc, String> {
    let exe = match mode {
        Mode::TunRs => bins.tunrs.as_ref(),
        _ => bins.ours.as_ref(),
    }
    .ok_or("forwarder binary was not built")?;
    let impaired = mode == Mode::Impaired;
    // Ours configures its devices; tun-rs's is configured with `ip` once it is ready.
    let (addrs, routes) = match mode {
        Mode::TunRs => Default::default(),
        _ => {
            let [a, b] = Topology::addrs();
            ([a.clone(), b.clone()], [b, a])
        }
    };
    let args = forwarder::Args {
        tun: [topo.tun_a.clone(), topo.tun_b.clone()],
        ns: [Some(topo.a.name().into()), Some(topo.b.name().into())],
        addrs,
        routes,
        mtu: 1500,
        mode: match mode {
            Mode::Plain => forwarder::Mode::Plain,
            Mode::Passthrough => forwarder::Mode::Passthrough,
            Mode::Verify | Mode::TunRs | Mode::Impaired => forwarder::Mode::Verify,
            Mode::Trust => forwarder::Mode::Trust,
        },
        impair: forwarder::Impairment {
            drop: if impaired { 0.002 } else { 0.0 },
            duplicate: if impaired { 0.002 } else { 0.0 },
            reorder: if impaired { 0.02 } else { 0.0 },
            seed: opts.seed,
        },
        copy_split: opts.copy_split && matches!(mode, Mode::Verify | Mode::Trust),
        stats_on_stdin: true,
        queues,
        pin: opts.pin,
    };
    let mut cmd = Command::new(exe);
    cmd.args(args.to_args());
    let fwd = Proc::spawn(&format!("forwarder ({})", mode.name()), cmd)?;
    fwd.expect("READY", Duration::from_secs(15))?;
    if mode == Mode::TunRs {
        topo.configure_with_ip()?;
    }
    Ok(fwd)
}

/// Ask for the counters.
fn forwarder_counts(fwd: &mut Proc) -> Result<Stats, String> {
    fwd.send_line("STATS")?;
    let line = fwd.expect("STATS", Duration::from_secs(5))?;
    Stats::parse(&line).ok_or_else(|| format!("unreadable stats line: {line}"))
}

fn stop_forwarder(mut fwd: Proc, mode: Mode) -> Result<(), String> {
    fwd.close_stdin();
    let st = fwd.finish(Duration::from_secs(10))?;
    if !st.success() {
        return Err(format!("forwarder ({}) exited with {st}", mode.name()));
    }
    Ok(())
}

struct Snapshot {
    at: Instant,
    cpu: f64,
    calls: (u64, u64),
    segs: Stats,
    /// CPU seconds of each queue's threads (by the forwarder's thread names).
    queue_cpu: Vec<f64>,
}

fn snapshot(fwd: &mut Proc) -> Result<Snapshot, String> {
    let segs = forwarder_counts(fwd)?;
    let pid = fwd.pid();
    let mut queue_cpu = Vec::new();
    for (name, cpu) in sys::thread_cpu_seconds(pid) {
        if let Some(q) = forwarder::queue_of_thread(&name) {
            if queue_cpu.len() <= q {
                queue_cpu.resize(q + 1, 0.0);
            }
            queue_cpu[q] += cpu;
        }
    }
    Ok(Snapshot {
        at: Instant::now(),
        cpu: sys::cpu_seconds(pid).unwrap_or(f64::NAN),
        calls: sys::syscalls(pid).unwrap_or((0, 0)),
        segs,
        queue_cpu,
    })
}

/// Each queue pair's part of a transfer, from the forwarder's counters and its threads' CPU
/// time before and after; `bytes` is what the receiver verified.
fn queue_samples(before: &Snapshot, after: &Snapshot, bytes: u64) -> Vec<QueueSample> {
    let n = after.segs.queues.len();
    let zero = forwarder::QueueStats::default();
    let at = |s: &Snapshot, q: usize| s.segs.queues.get(q).copied().unwrap_or(zero);
    let cpu = |s: &Snapshot, q: usize| s.queue_cpu.get(q).copied().unwrap_or(f64::NAN);
    let read: Vec<u64> = (0..n)
        .map(|q| at(after, q).rx_bytes.saturating_sub(at(before, q).rx_bytes))
        .collect();
    let total = read.iter().sum::<u64>().max(1) as f64;
    (0..n)
        .map(|q| {
            let share = read[q] as f64 / total;
            let gib = bytes as f64 * share / f64::from(1u32 << 30);
            QueueSample {
                share,
                cpu_per_gib: if read[q] == 0 {
                    f64::NAN
                } else {
                    (cpu(after, q) - cpu(before, q)) / gib
                },
            }
        })
        .collect()
}

/// `q0 48%, q1 52%`: each queue's share of the bytes.
fn shares(s: &Sample) -> String {
    let parts: Vec<String> = s
        .queues
        .iter()
        .enumerate()
        .map(|(q, x)| format!("q{q} {:.0}%", 100.0 * x.share))
        .collect();
    parts.join(", ")
}

#[allow(clippy::too_many_arguments)]
fn transfer(
    opts: &Options,
    bins: &Binaries,
    topo: &Topology,
    fwd: &mut Proc,
    mode: Mode,
    v: Variant,
    port: u16,
    seed: u64,
) -> Result<Sample, String> {
    let (bind, target) = if v.v6 {
        (format!("[fd99::2]:{port}"), format!("[fd99::2]:{port}"))
    } else {
        (format!("10.99.0.2:{port}"), format!("10.99.0.2:{port}"))
    };
    let xtask = bins.xtask.to_str().ok_or("non-UTF-8 path")?;
    let mut rcmd = Command::new("ip");
    rcmd.args(["netns", "exec", topo.b.name(), xtask, "__recv", &bind])
        .arg(v.streams.to_string())
        .arg(seed.to_string());
    let receiver = Proc::spawn("receiver", rcmd)?;
    receiver.expect("LISTENING", Duration::from_secs(10))?;

    let before = snapshot(fwd)?;
    let mut scmd = Command::new("ip");
    scmd.args(["netns", "exec", topo.a.name(), xtask, "__send", &target])
        .arg(v.streams.to_string())
        .arg(format!("{}", opts.seconds))
        .arg(seed.to_string());
    if let Some(cc) = &opts.cc {
        scmd.arg(cc);
    }
    let sender = Proc::spawn("sender", scmd)?;

    // Follow the receiver: progress, stall detection, Ctrl-C, the result line.
    let mut last_bytes = 0u64;
    let mut last_change = Instant::now();
    let started = Instant::now();
    let tty = is_tty();
    let mut receiver_lines = Vec::new();
    let result_line = loop {
        if crate::signal::interrupted() {
            return Err("interrupted".into());
        }
        match receiver.line(Duration::from_millis(200))? {
            Some(l) if l.starts_with("RESULT") => break l,
            Some(l) if l.starts_with("MISMATCH") => {
                return Err(format!("byte mismatch: {l}"));
            }
            Some(l) if l.starts_with("STREAM") => receiver_lines.push(l),
            Some(l) => {
                if let Some(b) = l
                    .strip_prefix("PROGRESS ")
                    .and_then(|b| b.parse::<u64>().ok())
                    && b > last_bytes
                {
                    if tty {
                        let secs = started.elapsed().as_secs_f64();
                        eprint!(
                            "\r  {:<28} {:<9} {:>5.1} s  {:>9} received ",
                            mode.describe(),
                            v.label(),
                            secs,
                            human_bytes(b)
                        );
                    }
                    last_bytes = b;
                    last_change = Instant::now();
                }
            }
            None => {}
        }
        if last_change.elapsed() > STALL {
            return Err(format!(
                "stall: no progress for {}s at {} received",
                STALL.as_secs(),
                human_bytes(last_bytes)
            ));
        }
    };
    if tty {
        eprint!("\r{:80}\r", "");
    }
    let after = snapshot(fwd)?;
    let sender_lines = {
        let mut s = sender;
        let st = loop {
            if let Some(st) = s.try_wait() {
                break st;
            }
            if last_change.elapsed() > STALL {
                return Err("sender did not finish after the receiver did".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Give the reader thread a moment to forward the last lines.
        std::thread::sleep(Duration::from_millis(50));
        let lines = s.drain();
        if !st.success() {
            return Err(format!("sender failed ({st}): {}", lines.join("; ")));
        }
        lines
    };
    receiver_lines.extend(receiver.drain());
    let st = receiver.finish(Duration::from_secs(5))?;
    if !st.success() {
        return Err(format!("receiver failed ({st})"));
    }

    // The byte count each stream's sender wrote must be what its receiver verified.
    let streams = |lines: &[String]| {
        let mut v: Vec<(u32, u64)> = lines
            .iter()
            .filter_map(|l| {
                let mut it = l.strip_prefix("STREAM ")?.split_whitespace();
                Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
            })
            .collect();
        v.sort_unstable();
        v
    };
    let sent = streams(&sender_lines);
    let got = streams(&receiver_lines);
    if sent.len() != v.streams as usize || sent != got {
        return Err(format!(
            "byte counts differ: sent {sent:?}, verified {got:?}"
        ));
    }

    let mut it = result_line.split_whitespace().skip(1);
    let bytes: u64 = it.next().and_then(|b| b.parse().ok()).ok_or("bad RESULT")?;
    let nanos: u64 = it.next().and_then(|b| b.parse().ok()).ok_or("bad RESULT")?;
    measure(mode, &before, &after, bytes, nanos)
}

/// One UDP transfer: a sender in A writing `opts.udp_size`-byte datagrams with `UDP_SEGMENT`
/// at the variant's offered load, a receiver in B reading with `UDP_GRO` that checks every
/// datagram's bytes and counts what arrived. Loss is measured, not an error (UDP may drop);
/// a corrupted datagram, a duplicate the forwarder did not make, nothing arriving, or a
/// forwarder that never read a super-packet (the sender's `UDP_SEGMENT` writes reach a TUN
/// with USO whole) fail the transfer.
#[allow(clippy::too_many_arguments)]
fn transfer_udp(
    opts: &Options,
    bins: &Binaries,
    topo: &Topology,
    fwd: &mut Proc,
    mode: Mode,
    v: Variant,
    port: u16,
    seed: u64,
) -> Result<Sample, String> {
    let rate = v.udp.ok_or("not a UDP transfer")?;
    let addr = if v.v6 {
        format!("[fd99::2]:{port}")
    } else {
        format!("10.99.0.2:{port}")
    };
    let xtask = bins.xtask.to_str().ok_or("non-UTF-8 path")?;
    let size = opts.udp_size.to_string();
    let mut rcmd = Command::new("ip");
    rcmd.args([
        "netns",
        "exec",
        topo.b.name(),
        xtask,
        "__udp-recv",
        &addr,
        &size,
    ])
    .arg(seed.to_string())
    .arg(format!("{}", opts.seconds + STALL.as_secs_f64()))
    .arg(opts.udp_checkers.to_string());
    let receiver = Proc::spawn("UDP receiver", rcmd)?;
    receiver.expect("LISTENING", Duration::from_secs(10))?;

    let before = snapshot(fwd)?;
    let mut scmd = Command::new("ip");
    scmd.args(["netns", "exec", topo.a.name(), xtask, "__udp-send", &addr])
        .arg(format!("{}", opts.seconds))
        .arg(seed.to_string())
        .arg(&size)
        .arg(rate.to_string());
    let sender = Proc::spawn("UDP sender", scmd)?;
    let sent_line = sender.expect("SENT", Duration::from_secs_f64(opts.seconds + 10.0))?;
    let st = sender.finish(Duration::from_secs(5))?;
    if !st.success() {
        return Err(format!("UDP sender failed ({st})"));
    }
    // The receiver stops by itself once datagrams stop coming.
    let result_line = loop {
        if crate::signal::interrupted() {
            return Err("interrupted".into());
        }
        match receiver.line(Duration::from_secs_f64(STALL.as_secs_f64() + 1.0))? {
            Some(l) if l.starts_with("RESULT") => break l,
            Some(l) if l.starts_with("MISMATCH") => {
                return Err(format!("datagram mismatch: {l}"));
            }
            Some(_) => {}
            None => return Err("the UDP receiver did not finish".into()),
        }
    };
    let after = snapshot(fwd)?;
    let st = receiver.finish(Duration::from_secs(5))?;
    if !st.success() {
        return Err(format!("UDP receiver failed ({st})"));
    }
    let field = |line: &str, i: usize| -> Result<u64, String> {
        line.split_whitespace()
            .nth(i)
            .and_then(|x| x.parse().ok())
            .ok_or_else(|| format!("unreadable line: {line}"))
    };
    let sent = field(&sent_line, 1)?;
    let (got, bytes, nanos, dups) = (
        field(&result_line, 1)?,
        field(&result_line, 2)?,
        field(&result_line, 3)?,
        field(&result_line, 4)?,
    );
    if got == 0 {
        return Err(format!("none of {sent} datagrams arrived"));
    }
    if got > sent {
        return Err(format!("{got} datagrams arrived of {sent} sent"));
    }
    if dups > 0 {
        return Err(format!("{dups} datagrams arrived twice"));
    }
    let mut sample = measure(mode, &before, &after, bytes, nanos)?;
    if mode != Mode::Plain && (sample.seg_per_read.is_nan() || sample.seg_per_read <= 1.0) {
        return Err(format!(
            "the forwarder read {:.2} datagrams per read: the sender's UDP_SEGMENT writes did \
             not reach it as super-packets",
            sample.seg_per_read
        ));
    }
    sample.loss = Some(1.0 - got as f64 / sent as f64);
    Ok(sample)
}

/// The forwarder's side of a transfer that delivered `bytes` in `nanos`, from its counters
/// before and after.
fn measure(
    mode: Mode,
    before: &Snapshot,
    after: &Snapshot,
    bytes: u64,
    nanos: u64,
) -> Result<Sample, String> {
    let wall = after.at.duration_since(before.at).as_secs_f64();
    let rd = after.calls.0.saturating_sub(before.calls.0);
    let wr = after.calls.1.saturating_sub(before.calls.1);
    let d = |f: fn(&Stats) -> u64| f(&after.segs).saturating_sub(f(&before.segs));
    let (rx, tx) = (d(|c| c.rx_segments), d(|c| c.tx_segments));
    let impairment = (d(|c| c.dropped), d(|c| c.duplicated), d(|c| c.reordered));
    // An impaired run that impaired nothing would prove nothing.
    if mode == Mode::Impaired && (impairment.0 == 0 || impairment.1 == 0 || impairment.2 == 0) {
        return Err(format!(
            "the forwarder did not impair (dropped, duplicated, reordered = {impairment:?})"
        ));
    }
    // The two STATS round trips themselves are one read and one write each.
    let rd = rd.saturating_sub(2);
    let wr = wr.saturating_sub(2);
    let ratio = |n: u64, d: u64| {
        if d == 0 {
            f64::NAN
        } else {
            n as f64 / d as f64
        }
    };
    Ok(Sample {
        bytes,
        gbps: bytes as f64 * 8.0 / nanos.max(1) as f64,
        cpu_pct: 100.0 * (after.cpu - before.cpu) / wall,
        cpu_per_gib: (after.cpu - before.cpu) / (bytes.max(1) as f64 / f64::from(1u32 << 30)),
        seg_per_read: ratio(rx, rd),
        seg_per_write: ratio(tx, wr),
        impairment,
        queues: queue_samples(before, after, bytes),
        loss: None,
    })
}

fn iperf3(opts: &Options, topo: &Topology, port: u16) -> Result<f64, String> {
    let p = port.to_string();
    let mut server = Command::new("ip");
    server.args([
        "netns",
        "exec",
        topo.b.name(),
        "iperf3",
        "-s",
        "-1",
        "-B",
        "10.99.0.2",
        "-p",
        &p,
    ]);
    let server = Proc::spawn("iperf3 server", server)?;
    std::thread::sleep(Duration::from_millis(300));
    let secs = format!("{}", opts.seconds.ceil() as u64);
    let mut client = vec!["-c", "10.99.0.2", "-p", &p, "-t", &secs, "-J"];
    if let Some(cc) = &opts.cc {
        client.extend(["-C", cc.as_str()]);
    }
    let out = topo.a.exec("iperf3", &client).map_err(|e| e.to_string())?;
    let _ = server.finish(Duration::from_secs(5));
    // end.sum_received.bits_per_second
    let at = out
        .find("\"sum_received\"")
        .ok_or("no sum_received in iperf3 output")?;
    let rest = &out[at..];
    let key = "\"bits_per_second\":";
    let v = rest.find(key).ok_or("no bits_per_second")? + key.len();
    let num: String = rest[v..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '+')
        .collect();
    num.parse::<f64>()
        .map(|b| b / 1e9)
        .map_err(|e| format!("iperf3 rate {num}: {e}"))
}

fn is_tty() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

fn human_bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}

fn fmt_num(x: f64, prec: usize) -> String {
    if x.is_finite() {
        format!("{x:.prec$}")
    } else {
        "-".into()
    }
}

/// Every round of one mode and traffic shape.
struct Cell<'a> {
    mode: Mode,
    variant: Variant,
    /// Successful rounds, slowest first.
    samples: Vec<&'a Sample>,
    failed: bool,
}

impl Cell<'_> {
    /// The median round by Gbit/s (the lower middle one for an even count); `None` if any
    /// round failed.
    fn median(&self) -> Option<&Sample> {
        if self.failed || self.samples.is_empty() {
            return None;
        }
        Some(self.samples[(self.samples.len() - 1) / 2])
    }
}

/// Group the rows by mode and traffic shape, in first-seen order.
fn cells(rows: &[Row]) -> Vec<Cell<'_>> {
    let mut out: Vec<Cell<'_>> = Vec::new();
    for r in rows {
        let i = match out
            .iter()
            .position(|c| c.mode == r.mode && c.variant.same(r.variant))
        {
            Some(i) => i,
            None => {
                out.push(Cell {
                    mode: r.mode,
                    variant: r.variant,
                    samples: Vec::new(),
                    failed: false,
                });
                out.len() - 1
            }
        };
        match &r.result {
            Ok(s) => out[i].samples.push(s),
            Err(_) => out[i].failed = true,
        }
    }
    for c in &mut out {
        c.samples.sort_by(|a, b| a.gbps.total_cmp(&b.gbps));
    }
    out
}

fn render(opts: &Options, rows: &[Row], iperf: &IperfRows) -> String {
    let mut t = String::new();
    let cells = cells(rows);
    let ranged = opts.rounds > 1;
    if ranged {
        let _ = writeln!(
            t,
            "\n{} rounds of {} s per cell; each cell shows its median round (Gbit/s range in \
             brackets), \"verified\" counts all rounds",
            opts.rounds, opts.seconds
        );
    }
    let _ = writeln!(
        t,
        "\n{:<28} {:<11} {:>8} {:>13} {:>8} {:>8} {:>6} {:>9} {:>10} {:>7}",
        "forwarder",
        "traffic",
        "Gbit/s",
        if ranged { "range" } else { "" },
        "seg/rd",
        "seg/wr",
        "CPU%",
        "CPU s/GiB",
        "verified",
        "UDP loss"
    );
    let _ = writeln!(t, "{}", "-".repeat(118));
    for c in &cells {
        match c.median() {
            Some(s) => {
                let range = match (c.samples.first(), c.samples.last()) {
                    (Some(lo), Some(hi)) if ranged => format!("[{:.1}–{:.1}]", lo.gbps, hi.gbps),
                    _ => String::new(),
                };
                let verified: u64 = c.samples.iter().map(|s| s.bytes).sum();
                let loss = s
                    .loss
                    .map_or_else(String::new, |l| format!("{:.2}%", 100.0 * l));
                let _ = writeln!(
                    t,
                    "{:<28} {:<11} {:>8.2} {:>13} {:>8} {:>8} {:>6.0} {:>9} {:>10} {:>8}",
                    c.mode.describe(),
                    c.variant.label(),
                    s.gbps,
                    range,
                    fmt_num(s.seg_per_read, 1),
                    fmt_num(s.seg_per_write, 1),
                    s.cpu_pct,
                    fmt_num(s.cpu_per_gib, 2),
                    human_bytes(verified),
                    loss
                );
            }
            None => {
                let _ = writeln!(
                    t,
                    "{:<28} {:<11} {:>8}",
                    c.mode.describe(),
                    c.variant.label(),
                    "FAILED"
                );
            }
        }
    }
    for c in cells.iter().filter(|c| c.mode == Mode::Impaired) {
        if c.samples.is_empty() {
            continue;
        }
        let (mut d, mut u, mut o) = (0, 0, 0);
        for s in &c.samples {
            d += s.impairment.0;
            u += s.impairment.1;
            o += s.impairment.2;
        }
        let _ = writeln!(
            t,
            "  impairment {}: {d} segments dropped, {u} duplicated, {o} reordered; stream intact",
            c.variant.label()
        );
    }
    render_queues(&mut t, &cells);
    for (mode, r) in iperf {
        let _ = writeln!(
            t,
            "{:<28} {:<11} {:>8}",
            mode.describe(),
            "iperf3 v4",
            r.as_ref()
                .map_or_else(|e| format!("({e})"), |g| format!("{g:.2}"))
        );
    }
    let gbps = |m: Mode, v6: bool, streams: u32| {
        cells
            .iter()
            .find(|c| {
                let v = Variant {
                    v6,
                    streams,
                    queues: 1,
                    udp: None,
                };
                c.mode == m && c.variant.same(v)
            })
            .and_then(|c| c.median())
            .map(|s| s.gbps)
    };
    let mut shapes = vec![
        (false, 1),
        (true, 1),
        (false, opts.streams),
        (true, opts.streams),
    ];
    shapes.dedup();
    let mut summary = None;
    let mut ratios = Vec::new();
    for (v6, n) in shapes {
        let Some(ours) = gbps(Mode::Verify, v6, n) else {
            continue;
        };
        let shape = Variant {
            v6,
            streams: n,
            queues: 1,
            udp: None,
        };
        let mut line = format!("  {:<9}", shape.label());
        let mut parts = Vec::new();
        for (name, m) in [
            ("ceiling", Mode::Passthrough),
            ("tun-rs", Mode::TunRs),
            ("plain", Mode::Plain),
        ] {
            if let Some(other) = gbps(m, v6, n) {
                let x = ours / other;
                let _ = write!(line, "  ours/{name} {x:>5.2}x");
                parts.push(format!("{x:.2}x {name}"));
            }
        }
        if let Some(trust) = gbps(Mode::Trust, v6, n) {
            let _ = write!(line, "  trust/verify {:>5.2}x", trust / ours);
            parts.push(format!("trust {:.2}x verify", trust / ours));
        }
        if !v6 && n == 1 {
            let mut s = format!("ours {ours:.1} Gbit/s IPv4 single stream");
            if !parts.is_empty() {
                let _ = write!(s, " = {}", parts.join(", "));
            }
            summary = Some(s);
        }
        if !parts.is_empty() {
            ratios.push(line);
        }
    }
    // UDP: goodput and cost beside the same load through the other forwarders, and loss.
    let mut udp_summary = None;
    let udp_shapes: Vec<Variant> = {
        let mut v: Vec<Variant> = cells
            .iter()
            .filter(|c| c.variant.udp.is_some())
            .map(|c| c.variant)
            .collect();
        v.sort_by_key(|x| (x.udp, x.v6));
        v.dedup_by(|a, b| a.same(*b));
        v
    };
    for shape in udp_shapes {
        let at = |m: Mode| {
            cells
                .iter()
                .find(|c| c.mode == m && c.variant.same(shape))
                .and_then(|c| c.median())
        };
        let Some(ours) = at(Mode::Verify) else {
            continue;
        };
        let mut line = format!("  {:<9}", shape.label());
        let mut parts = Vec::new();
        for (name, m) in [
            ("ceiling", Mode::Passthrough),
            ("tun-rs", Mode::TunRs),
            ("plain", Mode::Plain),
        ] {
            if let Some(other) = at(m) {
                let x = ours.gbps / other.gbps;
                let c = ours.cpu_per_gib / other.cpu_per_gib;
                let _ = write!(line, "  ours/{name} {x:>5.2}x ({c:.2}x CPU/GiB)");
                parts.push(format!("{x:.2}x {name}"));
            }
        }
        let loss = |s: &Sample| s.loss.map_or(f64::NAN, |l| 100.0 * l);
        let _ = write!(line, "  loss ours {:.2}%", loss(ours));
        if let Some(p) = at(Mode::Passthrough) {
            let _ = write!(line, ", ceiling {:.2}%", loss(p));
        }
        if udp_summary.is_none() && !shape.v6 {
            udp_summary = Some(format!(
                "UDP ours {:.1} Gbit/s ({}) = {}, loss {:.2}%",
                ours.gbps,
                shape.label(),
                parts.join(", "),
                loss(ours)
            ));
        }
        ratios.push(line);
    }
    if let Some(u) = udp_summary {
        summary = Some(match summary {
            Some(s) => format!("{s}; {u}"),
            None => u,
        });
    }
    if !ratios.is_empty() {
        let _ = writeln!(
            t,
            "\nratios (same run{}, ours = split+GRO with verification):",
            if ranged { ", of the medians" } else { "" }
        );
        for line in ratios {
            let _ = writeln!(t, "{line}");
        }
    }
    let ok = rows.iter().filter(|r| r.result.is_ok()).count();
    let failed = rows.len() - ok;
    let verified: u64 = rows
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .map(|s| s.bytes)
        .sum();
    let _ = writeln!(
        t,
        "\nsummary: {}; {ok} transfers verified byte for byte ({}), {failed} failed",
        summary.unwrap_or_else(|| "ours (verify) not measured".into()),
        human_bytes(verified)
    );
    t
}

/// Each multi-queue cell beside its single-queue twin: throughput, cost, and each queue's
/// share of the bytes and CPU s/GiB.
fn render_queues(t: &mut String, cells: &[Cell<'_>]) {
    let multi: Vec<&Cell<'_>> = cells.iter().filter(|c| c.variant.queues > 1).collect();
    if multi.is_empty() {
        return;
    }
    let _ = writeln!(
        t,
        "\nqueues (median rounds; per queue: its share of the bytes read, its two threads' CPU \
         s/GiB):"
    );
    for m in multi {
        let twin = Variant {
            queues: 1,
            ..m.variant
        };
        let single = cells
            .iter()
            .find(|c| c.mode == m.mode && c.variant.same(twin));
        for c in single.into_iter().chain([m]) {
            let Some(s) = c.median() else {
                let _ = writeln!(
                    t,
                    "  {:<28} {:<11} {:>8}",
                    c.mode.describe(),
                    c.variant.label(),
                    "FAILED"
                );
                continue;
            };
            let per_queue: Vec<String> = s
                .queues
                .iter()
                .enumerate()
                .map(|(q, x)| {
                    format!(
                        "q{q} {:>3.0}% {}",
                        100.0 * x.share,
                        fmt_num(x.cpu_per_gib, 2)
                    )
                })
                .collect();
            let _ = writeln!(
                t,
                "  {:<28} {:<11} {:>6.2} Gbit/s {:>6} CPU s/GiB   {}",
                c.mode.describe(),
                c.variant.label(),
                s.gbps,
                fmt_num(s.cpu_per_gib, 2),
                per_queue.join(", ")
            );
        }
        if let (Some(one), Some(many)) = (single.and_then(Cell::median), m.median()) {
            let _ = writeln!(
                t,
                "  {:<28} {:<11} {}q/1q: {:.2}x Gbit/s, {:.2}x CPU s/GiB",
                "",
                "",
                m.variant.queues,
                many.gbps / one.gbps,
                many.cpu_per_gib / one.cpu_per_gib
            );
        }
        // The kernel picks a flow's queue by its hash: a few flows can all land on one.
        let idle = m
            .samples
            .iter()
            .filter(|s| s.queues.iter().any(|q| q.share < 0.01))
            .count();
        if idle > 0 {
            let _ = writeln!(
                t,
                "  {:<28} {:<11} a queue carried under 1% in {idle} of {} rounds (every flow \
                 hashed to the other queues)",
                "",
                "",
                m.samples.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_are_found_in_cargo_json() {
        let json = r#"{"reason":"compiler-artifact","target":{"name":"x"},"executable":"/t/release/xtask","fresh":true}
{"reason":"compiler-artifact","executable":null}
{"reason":"build-finished","success":true}"#;
        assert_eq!(executables(json), vec![PathBuf::from("/t/release/xtask")]);
    }

    #[test]
    fn cells_take_the_median_round_and_fail_on_any_failed_round() {
        let row = |mode, v6, gbps: Option<f64>| Row {
            mode,
            variant: Variant {
                v6,
                streams: 1,
                queues: 1,
                udp: None,
            },
            result: gbps
                .map(|g| Sample {
                    gbps: g,
                    bytes: 1,
                    ..Sample::default()
                })
                .ok_or_else(|| "stall".to_string()),
        };
        let rows = [
            row(Mode::Verify, false, Some(20.0)),
            row(Mode::Verify, true, Some(9.0)),
            row(Mode::Verify, false, Some(10.0)),
            row(Mode::Trust, false, Some(5.0)),
            row(Mode::Verify, false, Some(30.0)),
            row(Mode::Trust, false, None),
            row(Mode::Verify, true, Some(7.0)),
        ];
        let c = cells(&rows);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].median().map(|s| s.gbps), Some(20.0));
        assert_eq!(c[0].samples.len(), 3);
        // Two rounds: the lower middle one.
        assert_eq!(c[1].median().map(|s| s.gbps), Some(7.0));
        assert!(c[2].failed);
        assert!(c[2].median().is_none());
    }

    #[test]
    fn args_pick_sizes_and_modes() {
        let o = parse_args(&["--quick".into(), "--modes".into(), "verify,tun-rs".into()]).unwrap();
        assert!(o.quick);
        assert_eq!(o.seconds, 2.0);
        assert_eq!(o.modes, vec![Mode::Verify, Mode::TunRs]);
        assert!(parse_args(&["--modes".into(), "bogus".into()]).is_err());
        assert_eq!(o.rounds, 1);
        let d = parse_args(&[]).unwrap();
        assert_eq!((d.seconds, d.rounds), (5.0, 3));
        assert_eq!(d.cc.as_deref(), Some("cubic"));
        let c = parse_args(&[
            "--rounds".into(),
            "5".into(),
            "--cc".into(),
            "default".into(),
        ]);
        let c = c.unwrap();
        assert_eq!((c.rounds, c.cc), (5, None));
        assert!(parse_args(&["--rounds".into(), "0".into()]).is_err());
    }

    #[test]
    fn table_reports_ratios_and_failures() {
        let s = |g| Sample {
            bytes: 1 << 30,
            gbps: g,
            cpu_pct: 100.0,
            cpu_per_gib: 0.5,
            seg_per_read: 40.0,
            seg_per_write: 40.0,
            impairment: (0, 0, 0),
            queues: Vec::new(),
            loss: None,
        };
        let v = Variant {
            v6: false,
            streams: 1,
            queues: 1,
            udp: None,
        };
        let rows = vec![
            Row {
                mode: Mode::Passthrough,
                variant: v,
                result: Ok(s(20.0)),
            },
            Row {
                mode: Mode::Verify,
                variant: v,
                result: Ok(s(18.0)),
            },
            Row {
                mode: Mode::Plain,
                variant: v,
                result: Ok(s(3.0)),
            },
            Row {
                mode: Mode::TunRs,
                variant: v,
                result: Err("stall".into()),
            },
        ];
        let opts = parse_args(&[]).unwrap();
        let t = render(&opts, &rows, &Vec::new());
        assert!(t.contains("ours/ceiling  0.90x"), "{t}");
        assert!(t.contains("ours/plain  6.00x"), "{t}");
        assert!(t.contains("FAILED"), "{t}");
        assert!(t.contains("3 transfers verified"), "{t}");
        assert!(t.contains("1 failed"), "{t}");
        assert!(!t.contains("queues ("), "{t}");
        // Ours alone: its figure, and no ratios to show.
        let alone = render(&opts, &rows[1..2], &Vec::new());
        assert!(!alone.contains("ratios ("), "{alone}");
        assert!(
            alone.contains("summary: ours 18.0 Gbit/s IPv4 single stream; 1 transfers"),
            "{alone}"
        );

        // UDP rows: loss in its column, goodput and cost ratios, loss beside the ceiling's.
        let u = Variant { udp: Some(0), ..v };
        let lossy = |g, cpu, loss| Sample {
            cpu_per_gib: cpu,
            loss: Some(loss),
            ..s(g)
        };
        let mut with_udp = rows;
        with_udp.extend([
            Row {
                mode: Mode::Passthrough,
                variant: u,
                result: Ok(lossy(10.0, 0.2, 0.01)),
            },
            Row {
                mode: Mode::Verify,
                variant: u,
                result: Ok(lossy(9.0, 0.3, 0.02)),
            },
        ]);
        let t = render(&opts, &with_udp, &Vec::new());
        assert!(t.contains("UDP4 max"), "{t}");
        assert!(t.contains("    2.00%"), "{t}");
        assert!(
            t.contains("ours/ceiling  0.90x (1.50x CPU/GiB)  loss ours 2.00%, ceiling 1.00%"),
            "{t}"
        );
        assert!(
            t.contains("; UDP ours 9.0 Gbit/s (UDP4 max) = 0.90x ceiling, loss 2.00%"),
            "{t}"
        );
    }

    #[test]
    fn queues_add_multi_queue_twins_of_the_multi_stream_transfers() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let label = |o: &Options, m| variants(o, m).iter().map(|v| v.label()).collect::<Vec<_>>();
        // (UDP transfers, which are single-flow and single-queue, are left out here.)
        let o = args(&["--udp-rate", "0"]).unwrap();
        assert_eq!(o.queues, 1);
        assert_eq!(
            label(&o, Mode::Verify),
            ["IPv4 x1", "IPv6 x1", "IPv4 x4", "IPv6 x4"]
        );
        // Quick runs ours' four streams on two queues as well.
        let o = args(&["--quick", "--pin", "--udp-rate", "0"]).unwrap();
        assert_eq!(o.queues, 2);
        assert!(o.pin);
        assert_eq!(
            label(&o, Mode::Verify),
            ["IPv4 x1", "IPv6 x1", "IPv4 x4", "IPv4 x4 2q"]
        );
        assert_eq!(label(&o, Mode::Plain), ["IPv4 x1", "IPv6 x1"]);
        let o = args(&["--quick", "--queues", "1", "--udp-rate", "0"]).unwrap();
        assert_eq!(label(&o, Mode::Verify), ["IPv4 x1", "IPv6 x1", "IPv4 x4"]);
        let o = args(&["--queues", "3", "--streams", "8", "--udp-rate", "0"]).unwrap();
        assert_eq!(
            label(&o, Mode::TunRs),
            [
                "IPv4 x1",
                "IPv6 x1",
                "IPv4 x8",
                "IPv6 x8",
                "IPv4 x8 3q",
                "IPv6 x8 3q"
            ]
        );
        for bad in ["0", "257"] {
            let e = args(&["--queues", bad]).err().unwrap();
            assert!(e.contains("1..=256"), "{e}");
        }
    }

    #[test]
    fn udp_transfers_run_in_every_mode_but_the_impaired_one() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let udp = |o: &Options, m| {
            variants(o, m)
                .iter()
                .filter(|v| v.udp.is_some())
                .map(|v| v.label())
                .collect::<Vec<_>>()
        };
        let o = args(&[]).unwrap();
        assert_eq!(
            udp(&o, Mode::TunRs),
            ["UDP4 max", "UDP6 max", "UDP4 2000M", "UDP6 2000M"]
        );
        assert_eq!(udp(&o, Mode::Impaired), Vec::<String>::new());
        let o = args(&["--quick", "--udp-rate", "500"]).unwrap();
        assert_eq!(udp(&o, Mode::Plain), ["UDP4 500M"]);
        let o = args(&["--udp-only"]).unwrap();
        assert_eq!(
            variants(&o, Mode::Verify)
                .iter()
                .map(|v| v.label())
                .collect::<Vec<_>>(),
            ["UDP4 max", "UDP6 max", "UDP4 2000M", "UDP6 2000M"]
        );
        let o = args(&["--quick", "--udp-only"]).unwrap();
        assert_eq!(udp(&o, Mode::Verify), ["UDP4 max", "UDP4 2000M"]);
        assert_eq!(variants(&o, Mode::Verify).len(), 2);
        assert_eq!(
            args(&["--udp-rate", "0"]).unwrap().udp_rates,
            Vec::<u32>::new()
        );
        assert!(args(&["--udp-size", "1401"]).is_err());
        assert_eq!(o.udp_checkers, 0);
        assert_eq!(args(&["--udp-checkers", "2"]).unwrap().udp_checkers, 2);
        assert!(args(&["--udp-checkers", "17"]).is_err());
        assert_eq!(args(&["--udp-size", "64"]).unwrap().udp_size, 64);
    }

    #[test]
    fn a_rate_list_sweeps_the_offered_load() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let labels = |o: &Options| {
            variants(o, Mode::TunRs)
                .iter()
                .map(|v| v.label())
                .collect::<Vec<_>>()
        };
        let o = args(&["--quick", "--udp-only", "--udp-rate", "20000,10000,15000"]).unwrap();
        // In the order given, each with its own label.
        assert_eq!(o.udp_rates, [20000, 10000, 15000]);
        assert_eq!(
            labels(&o),
            ["UDP4 max", "UDP4 20000M", "UDP4 10000M", "UDP4 15000M"]
        );
        let o = args(&["--quick", "--udp-rate", "500,1000"]).unwrap();
        assert_eq!(labels(&o)[2..], ["UDP4 500M", "UDP4 1000M"]);
        let o = args(&["--udp-only", "--udp-rate", "5000, 7000,5000"]).unwrap();
        assert_eq!(
            labels(&o),
            [
                "UDP4 max",
                "UDP6 max",
                "UDP4 5000M",
                "UDP6 5000M",
                "UDP4 7000M",
                "UDP6 7000M"
            ]
        );
        for bad in ["", "10000,", "0,5000", "5000,x", "-1"] {
            assert!(args(&["--udp-rate", bad]).is_err(), "{bad:?}");
        }
        // The table's ratios take each rate in turn, slowest first.
        let row = |mode, rate, g| Row {
            mode,
            variant: Variant {
                v6: false,
                streams: 1,
                queues: 1,
                udp: Some(rate),
            },
            result: Ok(Sample {
                bytes: 1 << 30,
                gbps: g,
                cpu_per_gib: 0.5,
                loss: Some(0.0),
                ..Sample::default()
            }),
        };
        let rows = vec![
            row(Mode::Verify, 20000, 15.0),
            row(Mode::TunRs, 20000, 10.0),
            row(Mode::Verify, 10000, 9.9),
            row(Mode::TunRs, 10000, 9.0),
        ];
        let t = render(&o, &rows, &Vec::new());
        let (at10, at20) = (
            t.find("UDP4 10000M  ours/tun-rs  1.10x").expect(&t),
            t.find("UDP4 20000M  ours/tun-rs  1.50x").expect(&t),
        );
        assert!(at10 < at20, "{t}");
    }

    #[test]
    fn queue_samples_split_bytes_and_cpu_by_queue() {
        let snap = |rx: [u64; 2], cpu: [f64; 2]| Snapshot {
            at: Instant::now(),
            cpu: 0.0,
            calls: (0, 0),
            segs: Stats {
                queues: rx
                    .iter()
                    .map(|&b| forwarder::QueueStats {
                        rx_segments: b / 1000,
                        tx_segments: b / 1000,
                        rx_bytes: b,
                    })
                    .collect(),
                ..Stats::default()
            },
            queue_cpu: cpu.to_vec(),
        };
        let before = snap([1000, 5000], [1.0, 2.0]);
        // q0 read 3/4 of the bytes on 0.6 s, q1 a quarter on 0.1 s; 4 GiB verified.
        let after = snap([301_000, 105_000], [1.6, 2.1]);
        let q = queue_samples(&before, &after, 4 << 30);
        assert_eq!(q.len(), 2);
        assert_eq!((q[0].share, q[1].share), (0.75, 0.25));
        assert!(
            (q[0].cpu_per_gib - 0.2).abs() < 1e-9,
            "{}",
            q[0].cpu_per_gib
        );
        assert!(
            (q[1].cpu_per_gib - 0.1).abs() < 1e-9,
            "{}",
            q[1].cpu_per_gib
        );
        // A queue that carried nothing has no cost per byte.
        let idle = queue_samples(&before, &snap([2000, 5000], [1.5, 2.0]), 1 << 30);
        assert_eq!((idle[0].share, idle[1].share), (1.0, 0.0));
        assert!(idle[1].cpu_per_gib.is_nan());
    }

    #[test]
    fn multi_queue_cells_are_compared_with_their_single_queue_twin() {
        let sample = |gbps, cpu_per_gib, shares: &[f64]| Sample {
            bytes: 1 << 30,
            gbps,
            cpu_per_gib,
            queues: shares
                .iter()
                .map(|&share| QueueSample {
                    share,
                    cpu_per_gib: if share > 0.0 { 0.4 } else { f64::NAN },
                })
                .collect(),
            ..Sample::default()
        };
        let v = |queues| Variant {
            v6: false,
            streams: 4,
            queues,
            udp: None,
        };
        let row = |queues, s| Row {
            mode: Mode::Verify,
            variant: v(queues),
            result: Ok(s),
        };
        let rows = vec![
            row(1, sample(10.0, 0.5, &[1.0])),
            row(2, sample(12.0, 0.55, &[0.6, 0.4])),
            row(2, sample(11.0, 0.6, &[1.0, 0.0])),
            row(2, sample(13.0, 0.5, &[0.5, 0.5])),
        ];
        let opts = parse_args(&["--queues".into(), "2".into()]).unwrap();
        let t = render(&opts, &rows, &Vec::new());
        assert!(t.contains("IPv4 x4 2q"), "{t}");
        assert!(t.contains("q0 100% 0.40"), "{t}");
        // The median of the three two-queue rounds is the 12 Gbit/s one.
        assert!(t.contains("q0  60% 0.40, q1  40% 0.40"), "{t}");
        assert!(t.contains("2q/1q: 1.20x Gbit/s, 1.10x CPU s/GiB"), "{t}");
        assert!(t.contains("under 1% in 1 of 3 rounds"), "{t}");
    }
}
