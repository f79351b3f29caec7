//! Fixtures for the workspace's tests, fuzz targets and benchmarks (never published).
//!
//! - [`packet`]: the one TCP/IP packet builder, for segments and super-packets alike.
//! - [`forwarder`]: the harness protocol of the TUN-to-TUN forwarders `cargo xtask netns-test`
//!   drives.
//! - Network namespaces that are always cleaned up, for the privileged tests.
//!
//! Tests that create TUN devices must not touch the host's network. [`Netns`] creates a
//! uniquely named namespace (`ip netns add`), runs code inside it on a fresh thread
//! ([`Netns::run`], [`Netns::spawn`]) or as a command ([`Netns::exec`], [`Netns::ip`]), and on
//! `Drop` — also when the test panics — kills what it started there, deletes its links and
//! deletes the namespace.
//!
//! ```no_run
//! if !testkit::require_root("example") {
//!     return;
//! }
//! let ns = testkit::Netns::new("example").unwrap();
//! ns.ip(&["link", "set", "lo", "up"]).unwrap();
//! ns.sysctl("net.ipv4.ip_forward", "1").unwrap();
//! let here = ns.run(|| std::fs::read_to_string("/proc/thread-self/net/dev").unwrap()).unwrap();
//! assert!(here.contains("lo:"));
//! ```
#![forbid(unsafe_code)]

pub mod forwarder;
pub mod packet;
pub mod udp;

use std::fs::File;
use std::os::fd::AsFd;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

/// Why a fixture operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call or process spawn failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A command ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// Result alias for fixture operations.
pub type Result<T> = std::result::Result<T, Error>;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether the test can run: true as root; otherwise prints the one line
/// `skipped: <test>: needs root (creates network namespaces and TUN devices)` and returns false.
///
/// ```
/// if !testkit::require_root("doc_example") {
///     return; // printed "skipped: doc_example: needs root (...)"
/// }
/// ```
pub fn require_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    println!("skipped: {test}: needs root (creates network namespaces and TUN devices)");
    false
}

/// A process-unique name `<prefix><pid><n>` that fits `IFNAMSIZ` (at most 15 bytes): for
/// devices created outside a private namespace.
///
/// ```
/// let a = testkit::unique_ifname("tt");
/// assert!(a.len() <= 15 && a.starts_with("tt"));
/// assert_ne!(a, testkit::unique_ifname("tt"));
/// ```
pub fn unique_ifname(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tail = format!("{}x{n}", std::process::id() % 100_000);
    let keep = 15usize.saturating_sub(tail.len()).min(prefix.len());
    format!("{}{tail}", &prefix[..keep])
}

/// A network namespace owned by a test; deleted with everything in it on `Drop`.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create a namespace named `<prefix>-<pid>-<counter>` with `lo` up.
    ///
    /// # Errors
    /// If `ip netns add` fails (e.g. not root).
    pub fn new(prefix: &str) -> Result<Netns> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        run_cmd(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (as `ip netns` knows it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`: the bind mount that keeps the namespace alive.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    fn open(&self) -> Result<File> {
        File::open(self.path()).map_err(|source| Error::Io {
            context: format!("open {}", self.path()),
            source,
        })
    }

    /// Run `f` on a fresh thread that has joined this namespace, and return its result.
    ///
    /// Sockets and TUN devices created inside `f` belong to the namespace; their file
    /// descriptors stay usable from any thread afterwards. A panic in `f` is re-raised here.
    ///
    /// # Errors
    /// If the namespace cannot be entered.
    pub fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let file = self.open()?;
        std::thread::scope(|s| {
            let h = s.spawn(move || {
                enter(&file)?;
                Ok(f())
            });
            match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Start `f` on a new thread inside this namespace (a server, a receiver) and return its
    /// handle; the thread reports a failure to enter the namespace through its result.
    ///
    /// # Errors
    /// If the namespace file cannot be opened.
    pub fn spawn<F, R>(&self, f: F) -> Result<JoinHandle<Result<R>>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let file = self.open()?;
        Ok(std::thread::spawn(move || {
            enter(&file)?;
            Ok(f())
        }))
    }

    /// `ip <args>` inside the namespace; returns stdout.
    ///
    /// # Errors
    /// [`Error::Command`] with the command's stderr if it fails.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        run_cmd(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// Run `cmd args…` inside the namespace (`ip netns exec`); returns stdout.
    ///
    /// # Errors
    /// [`Error::Command`] with the command's stderr if it fails.
    pub fn exec(&self, cmd: &str, args: &[&str]) -> Result<String> {
        run_cmd(
            Command::new("ip")
                .args(["netns", "exec", &self.name, cmd])
                .args(args),
        )
    }

    /// Start `cmd args…` inside the namespace as a background process, killed when the
    /// returned guard drops (and by the namespace guard, which kills everything inside).
    ///
    /// Returns once the process has joined the namespace (or already exited): `ip netns
    /// exec` enters it a moment after the spawn, and a process still outside would escape
    /// the namespace guard's `ip netns pids` sweep.
    ///
    /// # Errors
    /// If the process cannot be spawned, or has not joined the namespace within 10 s.
    pub fn spawn_process(&self, cmd: &str, args: &[&str]) -> Result<Process> {
        let io = |context: String| move |source| Error::Io { context, source };
        let want = ns_id(&self.path()).map_err(io(format!("stat {}", self.path())))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, cmd])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io(format!("spawn {cmd}")))?;
        let mut p = Process { child: Some(child) };
        let pid = p.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if ns_id(&format!("/proc/{pid}/ns/net")).ok() == Some(want) {
                return Ok(p);
            }
            let c = p.child.as_mut().expect("child present until wait or drop");
            if c.try_wait().map_err(io("wait".into()))?.is_some() {
                return Ok(p); // exited (e.g. a bad command): the caller reads why from wait()
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::Io {
                    context: format!("{cmd} did not join namespace {}", self.name),
                    source: std::io::ErrorKind::TimedOut.into(),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Set a sysctl inside the namespace (`sysctl -w key=value`).
    ///
    /// # Errors
    /// If the write fails.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let value = value.to_owned();
        self.run(move || std::fs::write(&path, value).map_err(|source| (path, source)))?
            .map_err(|(path, source)| Error::Io {
                context: format!("write {path}"),
                source,
            })
    }

    /// Names of the links in the namespace (`lo` included).
    ///
    /// # Errors
    /// If `ip link` fails.
    pub fn links(&self) -> Result<Vec<String>> {
        let out = self.ip(&["-o", "link", "show"])?;
        Ok(out
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_owned())
            .filter(|n| !n.is_empty())
            .collect())
    }
}

/// The identity (device, inode) of the namespace a `/proc/<pid>/ns/net` link or a
/// `/run/netns/<name>` bind mount refers to.
fn ns_id(path: &str) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// Whether `pid` is gone or a zombie (exited, waiting to be reaped by its parent).
fn has_exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the last ')' (the command name may itself contain one).
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes started inside (by this test) first, then links (a persistent TUN
        // outlives its fds), then the namespace itself.
        if let Ok(pids) = run_cmd(Command::new("ip").args(["netns", "pids", &self.name])) {
            let pids: Vec<i32> = pids.lines().filter_map(|p| p.trim().parse().ok()).collect();
            for &pid in &pids {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            // SIGKILL is delivered asynchronously: wait (bounded) until every process has
            // exited, so nothing of this namespace outlives the guard.
            for _ in 0..500 {
                if pids.iter().all(|&pid| has_exited(pid)) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        if let Ok(links) = self.links() {
            for link in links.iter().filter(|l| l.as_str() != "lo") {
                let _ = self.ip(&["link", "del", "dev", link]);
            }
        }
        if let Err(e) = run_cmd(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("warning: could not delete namespace {}: {e}", self.name);
        }
    }
}

/// A background process started by [`Netns::spawn_process`]; killed (by its pid) and reaped
/// on drop.
#[derive(Debug)]
pub struct Process {
    child: Option<Child>,
}

impl Process {
    /// Wait for the process to exit and return its output.
    ///
    /// # Errors
    /// If waiting fails.
    pub fn wait(mut self) -> Result<Output> {
        let child = self.child.take().expect("child present until wait or drop");
        child.wait_with_output().map_err(|source| Error::Io {
            context: "wait".into(),
            source,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn enter(file: &File) -> Result<()> {
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(|e| Error::Io {
        context: "setns".into(),
        source: e.into(),
    })
}

fn run_cmd(cmd: &mut Command) -> Result<String> {
    let line = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|source| Error::Io {
        context: format!("run {line}"),
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: line,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
