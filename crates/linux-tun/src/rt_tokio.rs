//! The `tokio` feature: the async device on tokio's reactor (`AsyncFd`), public as
//! `linux_tun::tokio` (and, as before, at the crate root). Tokio remembers readiness: after
//! an attempt that would block, the next one waits for it and clears it if that one would
//! block too (a first wait may find readiness left from before).

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::async_tun::{Direction, Readiness, async_device};
use crate::device::Queue;
use crate::sys::{ArcFd, register_tokio};

type QueueFd = ArcFd<Queue>;

impl Readiness for AsyncFd<QueueFd> {
    async fn attempt<T>(
        &self,
        dir: Direction,
        after_would_block: bool,
        attempt: impl FnOnce() -> Option<T>,
    ) -> std::io::Result<Option<T>> {
        if !after_would_block {
            return Ok(attempt());
        }
        let interest = match dir {
            Direction::Read => Interest::READABLE,
            Direction::Write => Interest::WRITABLE,
        };
        // A deleted device polls as an error only (rule book §1.3): wait for that too.
        let mut ready = AsyncFd::ready(self, interest | Interest::ERROR).await?;
        let done = attempt();
        if done.is_none() {
            // Nothing to do after all: forget this readiness and wait for the next.
            ready.clear_ready();
        }
        Ok(done)
    }
}

fn register(q: std::sync::Arc<Queue>) -> std::io::Result<AsyncFd<QueueFd>> {
    register_tokio(ArcFd(q))
}

async_device! {
    runtime: "tokio",
    module: "tokio",
    io: AsyncFd<QueueFd>,
    register: register,
    register_errors: "If tokio's reactor refuses the registration. Panics outside a tokio \
        runtime with I/O enabled, as tokio's `AsyncFd` does.",
    example: r#"
```no_run
# async fn run() -> Result<(), Box<dyn std::error::Error>> {
use linux_tun::tokio::AsyncTun;
use linux_tun::{ChecksumStatus, RecvBatch, SendBatch, Tun};
let tun = AsyncTun::new(Tun::builder().name("tun0").offload(true).up().open()?)?;
let (mut rx, mut tx) = tun.into_halves();
let reader = tokio::spawn(async move {
    let mut batch = RecvBatch::new(128, 64);
    loop {
        rx.recv(&mut batch).await?;
        for pkt in batch.iter_mut() {
            let (_headroom, _ip) = pkt.split_headroom_mut(); // encrypt, send to the peer …
        }
    }
    #[allow(unreachable_code)]
    Ok::<(), linux_tun::RecvError>(())
});
let mut out = SendBatch::new(128);
# let decrypted: Vec<Vec<u8>> = Vec::new();
for ip in &decrypted {
    out.push(ip, ChecksumStatus::KnownGood)?;
}
tx.send(&mut out).await?;
# reader.await??;
# Ok(())
# }
```
"#,
}
