//! Child processes (behind a guard that kills and reaps them on drop) and CPU/syscall accounting.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Run a command to completion; an error carries its stderr.
pub(crate) fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{cmd} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A child process whose stdout lines arrive on a channel; killed and reaped on drop.
pub(crate) struct Proc {
    label: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Proc {
    /// Spawn with piped stdin/stdout (stderr passes through to ours).
    pub(crate) fn spawn(label: &str, mut cmd: Command) -> Result<Self, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {label}: {e}"))?;
        let stdout = child.stdout.take().expect("stdout was piped");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Proc {
            label: label.to_string(),
            child: Some(child),
            stdin,
            lines: rx,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Next stdout line within `timeout`; `Ok(None)` on timeout, `Err` when stdout closed.
    pub(crate) fn line(&self, timeout: Duration) -> Result<Option<String>, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(l) => Ok(Some(l)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(format!("{} closed its output", self.label)),
        }
    }

    /// Wait for a line starting with `prefix`, skipping others, polling for Ctrl-C.
    pub(crate) fn expect(&self, prefix: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if crate::signal::interrupted() {
                return Err("interrupted".into());
            }
            if let Some(l) = self.line(Duration::from_millis(100))?
                && l.starts_with(prefix)
            {
                return Ok(l);
            }
        }
        Err(format!(
            "{}: no `{prefix}` line within {timeout:?}",
            self.label
        ))
    }

    /// Write one line to the child's stdin.
    pub(crate) fn send_line(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{}: {e}", self.label))
    }

    /// Close stdin (our forwarders take that as "stop and report").
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Non-blocking exit check.
    pub(crate) fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Wait up to `timeout` for the child to exit by itself; kill it after that.
    pub(crate) fn finish(mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        let mut child = self.child.take().expect("child present until finish");
        loop {
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                return Ok(st);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not exit within {timeout:?}; killed",
                    self.label
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Lines already printed (non-blocking).
    pub(crate) fn drain(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// Cumulative user+system CPU time of a process, in seconds (from `/proc/<pid>/stat`).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// User+system CPU seconds in a `/proc/…/stat` line (of a process or of one thread).
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `state` is field 3 overall (index 0 here); utime/stime are fields 14/15 → 11/12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let hz = rustix::param::clock_ticks_per_second() as f64;
    Some((utime + stime) as f64 / hz)
}

/// Each live thread of a process: its name (`comm`) and user+system CPU seconds so far (from
/// `/proc/<pid>/task/<tid>/`). A thread that ends while being read is left out.
pub(crate) fn thread_cpu_seconds(pid: u32) -> Vec<(String, f64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            let cpu = stat_cpu_seconds(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
            Some((comm.trim_end().to_string(), cpu))
        })
        .collect()
}

/// System-wide load average over one minute (to note how quiet the machine was).
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Read and write syscalls a process has made so far (`syscr`/`syscw` in `/proc/<pid>/io`, summed
/// over its threads): the forwarder-independent way to count syscalls per packet.
pub(crate) fn syscalls(pid: u32) -> Option<(u64, u64)> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((field("syscr:")?, field("syscw:")?))
}

/// Set the socket's TCP congestion control (`TCP_CONGESTION`). Per socket, because a
/// namespace may only default to the algorithms the host allows (`EPERM` otherwise), while a
/// socket owner with CAP_NET_ADMIN may pick any loaded one.
pub(crate) fn set_congestion_control(sock: &std::net::TcpStream, cc: &str) -> std::io::Result<()> {
    rustix::net::sockopt::set_tcp_congestion(sock, cc).map_err(|e| {
        let e = std::io::Error::from(e);
        std::io::Error::new(e.kind(), format!("TCP_CONGESTION {cc}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_user_plus_system_time() {
        let hz = rustix::param::clock_ticks_per_second() as f64;
        // A thread name with a space and a parenthesis, as `q0 a>b` or worse.
        let line = "4242 (q0 a)b) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 5 0 99";
        assert_eq!(stat_cpu_seconds(line), Some(300.0 / hz));
        assert_eq!(stat_cpu_seconds("4242 (x) S 1"), None);
        assert_eq!(stat_cpu_seconds("no parenthesis"), None);
    }

    #[test]
    fn threads_are_listed_by_name_with_their_cpu_time() {
        let (tx, rx) = mpsc::channel::<()>();
        let (ready, done) = mpsc::channel::<()>();
        let worker = thread::Builder::new()
            .name("q7 a>b".into())
            .spawn(move || {
                // Spin until the kernel has charged this thread a clock tick, then wait to be
                // read.
                let own = || std::fs::read_to_string("/proc/thread-self/stat").unwrap();
                let mut x = 0u64;
                while stat_cpu_seconds(&own()) == Some(0.0) {
                    for _ in 0..100_000 {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                }
                ready.send(()).unwrap();
                rx.recv().ok();
            })
            .unwrap();
        done.recv().unwrap();
        let threads = thread_cpu_seconds(std::process::id());
        tx.send(()).unwrap();
        worker.join().unwrap();
        let (_, cpu) = threads
            .iter()
            .find(|(name, _)| name == "q7 a>b")
            .unwrap_or_else(|| panic!("no q7 a>b among {threads:?}"));
        assert!(*cpu > 0.0, "{threads:?}");
        assert!(thread_cpu_seconds(u32::MAX).is_empty());
    }
}
