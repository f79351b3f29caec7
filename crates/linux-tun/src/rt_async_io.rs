//! The `async-io` feature: the async device on `async-io`'s reactor (`Async`, the one smol
//! runs on), public as `linux_tun::async_io`. `async-io` keeps no readiness of its own: the
//! shared loop tries first and, when the attempt would block, waits for the reactor's next
//! event (which comes at once if the queue became ready in between).

use async_io::Async;

use crate::async_tun::{Direction, Readiness, async_device};
use crate::device::Queue;
use crate::sys::ArcFd;

type QueueFd = ArcFd<Queue>;

impl Readiness for Async<QueueFd> {
    async fn attempt<T>(
        &self,
        dir: Direction,
        after_would_block: bool,
        attempt: impl FnOnce() -> Option<T>,
    ) -> std::io::Result<Option<T>> {
        if after_would_block {
            // The poller reports `EPOLLERR` (all a deleted device polls as, rule book §1.3)
            // as readable and writable alike, so either wait ends on a removal too.
            match dir {
                Direction::Read => self.readable().await?,
                Direction::Write => self.writable().await?,
            }
        }
        Ok(attempt())
    }
}

fn register(q: std::sync::Arc<Queue>) -> std::io::Result<Async<QueueFd>> {
    Async::new(ArcFd(q))
}

async_device! {
    runtime: "async-io",
    module: "async_io",
    io: Async<QueueFd>,
    register: register,
    register_errors: "If `async-io`'s reactor refuses the registration.",
    example: r#"
```no_run
use linux_tun::async_io::AsyncTun;
use linux_tun::{ChecksumStatus, RecvBatch, SendBatch, Tun};
smol::block_on(async {
    let tun = AsyncTun::new(Tun::builder().name("tun0").offload(true).up().open()?)?;
    let (mut rx, mut tx) = tun.into_halves();
    let reader = smol::spawn(async move {
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
    # reader.await?;
    Ok::<(), Box<dyn std::error::Error>>(())
})?;
# Ok::<(), Box<dyn std::error::Error>>(())
```
"#,
}
