//! The `tokio` feature: the same batch halves driven by readiness from tokio's reactor.

use std::io;
use std::sync::Arc;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::device::Queue;
use crate::sys::{ArcFd, register_async};

type QueueFd = ArcFd<Queue>;
use crate::{
    ChecksumStatus, Control, Reader, RecvBatch, RecvError, SendBatch, SendError, Tun, Writer,
};

/// A TUN queue registered with tokio's reactor; divide it with [`into_halves`](AsyncTun::into_halves) into async
/// batch halves.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use linux_tun::{AsyncTun, ChecksumStatus, RecvBatch, SendBatch, Tun};
/// let tun = AsyncTun::new(Tun::builder().name("tun0").offload(true).up().open()?)?;
/// let (mut rx, mut tx) = tun.into_halves();
/// let reader = tokio::spawn(async move {
///     let mut batch = RecvBatch::new(128, 64);
///     loop {
///         rx.recv(&mut batch).await?;
///         for pkt in batch.iter_mut() {
///             let (_headroom, _ip) = pkt.split_headroom_mut(); // encrypt, send to the peer …
///         }
///     }
///     #[allow(unreachable_code)]
///     Ok::<(), linux_tun::RecvError>(())
/// });
/// let mut out = SendBatch::new(128);
/// # let decrypted: Vec<Vec<u8>> = Vec::new();
/// for ip in &decrypted {
///     out.push(ip, ChecksumStatus::KnownGood)?;
/// }
/// tx.send(&mut out).await?;
/// # reader.await??;
/// # Ok(())
/// # }
/// ```
pub struct AsyncTun {
    tun: Tun,
    fd: Arc<AsyncFd<QueueFd>>,
}

impl std::fmt::Debug for AsyncTun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTun").field("tun", &self.tun).finish()
    }
}

impl AsyncTun {
    /// Register `tun` with the current tokio runtime (its reads and writes become
    /// non-blocking).
    ///
    /// # Errors
    /// If registration fails (e.g. no runtime with I/O enabled).
    pub fn new(tun: Tun) -> io::Result<AsyncTun> {
        tun.q.set_blocking(false)?;
        let fd = Arc::new(register_async(ArcFd(Arc::clone(&tun.q)))?);
        Ok(AsyncTun { tun, fd })
    }

    /// The underlying queue (name, capabilities, configuration).
    pub fn get_ref(&self) -> &Tun {
        &self.tun
    }

    /// Device settings and statistics.
    pub fn control(&self) -> Control {
        self.tun.control()
    }

    /// Async batch halves for two tasks.
    pub fn into_halves(self) -> (AsyncReader, AsyncWriter) {
        let (r, w) = self.tun.into_halves();
        (
            AsyncReader {
                inner: r,
                fd: Arc::clone(&self.fd),
            },
            AsyncWriter {
                inner: w,
                fd: self.fd,
            },
        )
    }
}

/// Async receiving half; see [`Reader::recv`] for the batch semantics.
pub struct AsyncReader {
    inner: Reader,
    fd: Arc<AsyncFd<QueueFd>>,
}

impl std::fmt::Debug for AsyncReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl AsyncReader {
    /// Wait until packets arrive, then fill `batch` as [`Reader::recv`] does.
    ///
    /// Waits for readability or an error: a deleted device polls as `EPOLLERR` only
    /// (`tun_chr_poll`, rule book §1.3), which plain readability never reports.
    ///
    /// # Errors
    /// [`RecvError::DeviceRemoved`] once the device has been deleted (then on every call);
    /// [`RecvError::Io`] with the read or reactor error. Never `WouldBlock`.
    pub async fn recv(&mut self, batch: &mut RecvBatch) -> Result<usize, RecvError> {
        loop {
            let mut guard = self
                .fd
                .ready(Interest::READABLE | Interest::ERROR)
                .await
                .map_err(RecvError::Io)?;
            match self.inner.recv(batch) {
                // Nothing queued after all: forget this readiness and wait for the next.
                Err(RecvError::WouldBlock) => guard.clear_ready(),
                r => return r,
            }
        }
    }

    /// The blocking-API half inside (for its control, and the test seam).
    pub fn get_mut(&mut self) -> &mut Reader {
        &mut self.inner
    }
}

/// Async sending half; see [`Writer::send`] for the batch semantics.
pub struct AsyncWriter {
    inner: Writer,
    fd: Arc<AsyncFd<QueueFd>>,
}

impl std::fmt::Debug for AsyncWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl AsyncWriter {
    /// Write the whole batch as [`Writer::send`] does, waiting for writability instead of
    /// returning `WouldBlock`. Returns how many packets were written in total; refusals are in
    /// [`Writer::failures`] (via [`get_ref`](Self::get_ref)), across every attempt of this call.
    ///
    /// # Errors
    /// As [`Writer::send`] but never `WouldBlock`, with the total written before the
    /// failure; the rest stay queued.
    pub async fn send(&mut self, batch: &mut SendBatch) -> Result<usize, SendError> {
        self.until_written(|w, first| {
            if first {
                w.send(batch)
            } else {
                w.send_more(batch)
            }
        })
        .await
    }

    /// Repeat `attempt` (told whether it is the first call) until it stops reporting
    /// `WouldBlock`, waiting for writability in between; counts add up across attempts.
    async fn until_written(
        &mut self,
        mut attempt: impl FnMut(&mut Writer, bool) -> Result<usize, SendError>,
    ) -> Result<usize, SendError> {
        let mut total = 0;
        let mut first = true;
        loop {
            match attempt(&mut self.inner, first) {
                Ok(n) => return Ok(total + n),
                Err(SendError::WouldBlock { written }) => {
                    total += written;
                    let mut guard = self.fd.writable().await.map_err(|source| SendError::Io {
                        written: total,
                        source,
                    })?;
                    guard.clear_ready();
                }
                Err(SendError::Io { written, source }) => {
                    return Err(SendError::Io {
                        written: total + written,
                        source,
                    });
                }
                Err(SendError::DeviceRemoved { written }) => {
                    return Err(SendError::DeviceRemoved {
                        written: total + written,
                    });
                }
                Err(SendError::LinkDown { written }) => {
                    return Err(SendError::LinkDown {
                        written: total + written,
                    });
                }
            }
            first = false;
        }
    }

    /// Write a received batch straight from its slab as [`Writer::send_received`] does,
    /// waiting for writability instead of returning `WouldBlock`. Returns how many packets
    /// were written in total; refusals are in [`Writer::failures`] (via
    /// [`get_ref`](Self::get_ref)), as after [`send`](Self::send).
    ///
    /// # Errors
    /// As [`send`](Self::send); the rest stay in `batch`.
    pub async fn send_received(
        &mut self,
        batch: &mut RecvBatch,
        csum: ChecksumStatus,
    ) -> Result<usize, SendError> {
        self.until_written(|w, first| {
            if first {
                w.send_received(batch, csum)
            } else {
                w.send_received_more(batch, csum)
            }
        })
        .await
    }

    /// The blocking-API half inside: its [`failures`](Writer::failures) and
    /// [`control`](Writer::control).
    pub fn get_ref(&self) -> &Writer {
        &self.inner
    }

    /// The blocking-API half inside.
    pub fn get_mut(&mut self) -> &mut Writer {
        &mut self.inner
    }
}
