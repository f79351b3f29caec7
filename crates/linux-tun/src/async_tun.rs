//! The async device, whatever the runtime: the batch halves driven by a reactor's readiness
//! instead of blocking. One loop does it for every runtime — try the non-blocking batch
//! operation; while it would block, wait for the reactor and try again; type the reactor's
//! errors as the halves type the kernel's — and [`Readiness`] is all a runtime supplies.
//! The public types of each runtime (`rt_tokio`, `rt_async_io`) are stamped out by
//! [`async_device!`] around it, so they have the same methods, documented once.

use std::io;

use crate::{Reader, RecvError, SendError, Writer};

/// Which way a batch moves.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// How a runtime's reactor says a queue may be ready: the only part of the async device that
/// differs between runtimes.
pub(crate) trait Readiness {
    /// Run `attempt` (`None`: it would block) when it is worth making. The first attempt of
    /// an operation runs at once (a TUN queue is usually ready: no reactor round trip). After
    /// one that would have blocked (`after_would_block`) it runs once the reactor reports the
    /// queue ready: a reactor that remembers readiness (tokio) also forgets it when the
    /// attempt would block again, so that the next wait is for a new event; one that does not
    /// (async-io) waits for the next event every time.
    async fn attempt<T>(
        &self,
        dir: Direction,
        after_would_block: bool,
        attempt: impl FnOnce() -> Option<T>,
    ) -> io::Result<Option<T>>;
}

/// The one readiness loop: run `attempt` (a non-blocking operation; `None` when it would
/// block) at once and, while it would block, again whenever the reactor says the queue is
/// ready. `Err` is the reactor's.
async fn retry<R: Readiness, T>(
    io: &R,
    dir: Direction,
    mut attempt: impl FnMut() -> Option<T>,
) -> io::Result<T> {
    let mut would_block = false;
    loop {
        if let Some(done) = io.attempt(dir, would_block, &mut attempt).await? {
            return Ok(done);
        }
        would_block = true;
    }
}

/// Repeat a receive (`op` on the reader, non-blocking) until it does not report
/// `WouldBlock`, waiting for readability in between.
///
/// The wait covers errors too: a deleted device polls as `EPOLLERR` only (`tun_chr_poll`,
/// rule book §1.3), so both reactors are asked for it (tokio's `Interest::ERROR`; async-io's
/// poller counts `EPOLLERR` as readable), and the next attempt answers
/// [`RecvError::DeviceRemoved`].
pub(crate) async fn recv<R: Readiness, T>(
    io: &R,
    rx: &mut Reader,
    mut op: impl FnMut(&mut Reader) -> Result<T, RecvError>,
) -> Result<T, RecvError> {
    let r = retry(io, Direction::Read, || match op(rx) {
        Err(RecvError::WouldBlock) => None,
        r => Some(r),
    })
    .await;
    r.unwrap_or_else(|e| {
        Err(if rx.queue().is_removed() {
            RecvError::DeviceRemoved
        } else {
            RecvError::Io(e)
        })
    })
}

/// Repeat a send (`op` on the writer, told whether it is the first attempt of this call,
/// non-blocking) until it does not report `WouldBlock`, waiting for writability in between;
/// the counts of written packets add up across attempts.
pub(crate) async fn send<R: Readiness>(
    io: &R,
    tx: &mut Writer,
    mut op: impl FnMut(&mut Writer, bool) -> Result<usize, SendError>,
) -> Result<usize, SendError> {
    let mut total = 0;
    let mut first = true;
    let r = retry(io, Direction::Write, || {
        let r = op(tx, first);
        first = false;
        match r {
            Err(SendError::WouldBlock { written }) => {
                total += written;
                None
            }
            r => Some(plus_written(r, total)),
        }
    })
    .await;
    r.unwrap_or_else(|source| {
        Err(if tx.queue().is_removed() {
            SendError::DeviceRemoved { written: total }
        } else {
            SendError::Io {
                written: total,
                source,
            }
        })
    })
}

/// `r` with `earlier` more packets written (those of the attempts before it).
fn plus_written(r: Result<usize, SendError>, earlier: usize) -> Result<usize, SendError> {
    match r {
        Ok(n) => Ok(earlier + n),
        Err(SendError::WouldBlock { written }) => Err(SendError::WouldBlock {
            written: earlier + written,
        }),
        Err(SendError::DeviceRemoved { written }) => Err(SendError::DeviceRemoved {
            written: earlier + written,
        }),
        Err(SendError::LinkDown { written }) => Err(SendError::LinkDown {
            written: earlier + written,
        }),
        Err(SendError::Io { written, source }) => Err(SendError::Io {
            written: earlier + written,
            source,
        }),
    }
}

/// The public async device of one runtime: `AsyncTun`, `AsyncReader` and `AsyncWriter`
/// around the registration type `$io` (a [`Readiness`]), created by `$register` from the
/// queue (failing as `$register_errors` says). `$runtime` names the runtime in the docs,
/// `$module` is the public module the types are reached by (for the doc examples), and
/// `$example` is the runtime's example of `AsyncTun`.
macro_rules! async_device {
    (
        runtime: $runtime:literal,
        module: $module:literal,
        io: $io:ty,
        register: $register:path,
        register_errors: $register_errors:literal,
        example: $example:literal $(,)?
    ) => {
        use std::io;
        use std::sync::Arc;

        use crate::async_tun;
        use crate::{
            ChecksumStatus, Control, PacketSource, Reader, RecvBatch, RecvError, RecvInfo,
            SendBatch, SendError, Tun, Writer,
        };

        #[doc = concat!("A TUN queue registered with ", $runtime, "'s reactor; divide it with")]
        /// [`into_halves`](AsyncTun::into_halves) into async batch halves, which do what the
        /// blocking [`Reader`] and [`Writer`] do, with the same method names, and wait for the
        /// reactor instead of a blocking system call.
        ///
        #[doc = $example]
        pub struct AsyncTun {
            tun: Tun,
            io: Arc<$io>,
        }

        impl std::fmt::Debug for AsyncTun {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("AsyncTun").field("tun", &self.tun).finish()
            }
        }

        impl AsyncTun {
            #[doc = concat!("Register `tun` with ", $runtime, "'s reactor (its reads and writes")]
            /// become non-blocking).
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// let tun = AsyncTun::new(linux_tun::Tun::builder().name("tun0").up().open()?)?;
            /// # let _ = tun;
            /// # Ok(())
            /// # }
            /// ```
            ///
            /// # Errors
            #[doc = $register_errors]
            pub fn new(tun: Tun) -> io::Result<AsyncTun> {
                tun.q.set_blocking(false)?;
                let io = Arc::new($register(Arc::clone(&tun.q))?);
                Ok(AsyncTun { tun, io })
            }

            /// The underlying queue (name, capabilities, configuration).
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// let tun = AsyncTun::new(linux_tun::Tun::builder().name("tun0").up().open()?)?;
            /// println!("{:?}", tun.get_ref());
            /// # Ok(())
            /// # }
            /// ```
            pub fn get_ref(&self) -> &Tun {
                &self.tun
            }

            /// Device settings and statistics.
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// let tun = AsyncTun::new(linux_tun::Tun::builder().name("tun0").up().open()?)?;
            /// let ctl = tun.control();
            /// let (_rx, _tx) = tun.into_halves();
            /// println!("{}: {:?}", ctl.name(), ctl.stats());
            /// # Ok(())
            /// # }
            /// ```
            pub fn control(&self) -> Control {
                self.tun.control()
            }

            /// Async batch halves for two tasks.
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// let tun = AsyncTun::new(linux_tun::Tun::builder().name("tun0").up().open()?)?;
            /// let (rx, tx) = tun.into_halves();
            /// assert_eq!(rx.get_ref().control().name(), tx.get_ref().control().name());
            /// # Ok(())
            /// # }
            /// ```
            pub fn into_halves(self) -> (AsyncReader, AsyncWriter) {
                let (r, w) = self.tun.into_halves();
                (
                    AsyncReader {
                        inner: r,
                        io: Arc::clone(&self.io),
                    },
                    AsyncWriter {
                        inner: w,
                        io: self.io,
                    },
                )
            }
        }

        /// Async receiving half; see [`Reader`] for the batch semantics.
        pub struct AsyncReader {
            inner: Reader,
            io: Arc<$io>,
        }

        impl std::fmt::Debug for AsyncReader {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.inner.fmt(f)
            }
        }

        impl AsyncReader {
            /// Wait until packets arrive, then fill `batch` as [`Reader::recv`] does.
            ///
            /// Waits for readability or an error: a deleted device polls as an error only
            /// (`tun_chr_poll`, rule book §1.3), which plain readability never reports.
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// use linux_tun::{RecvBatch, Tun};
            /// let tun = AsyncTun::new(Tun::builder().name("tun0").offload(true).up().open()?)?;
            /// let (mut rx, _tx) = tun.into_halves();
            /// let mut batch = RecvBatch::new(128, 64);
            /// rx.recv(&mut batch).await?;
            /// for pkt in batch.iter_mut() {
            ///     let (_headroom, _ip) = pkt.split_headroom_mut(); // seal, send to the peer …
            /// }
            /// # Ok(())
            /// # }
            /// ```
            ///
            /// # Errors
            /// [`RecvError::DeviceRemoved`] once the device has been deleted (then on every
            /// call); [`RecvError::Io`] with the read or reactor error. Never `WouldBlock`.
            pub async fn recv(&mut self, batch: &mut RecvBatch) -> Result<usize, RecvError> {
                async_tun::recv(&*self.io, &mut self.inner, |rx| rx.recv(batch)).await
            }

            /// Wait until packets arrive, then fill the caller's own buffers as
            /// [`Reader::recv_into`] does: packet `k` is
            /// `bufs[k].as_mut()[offset..offset + info[k].len]`.
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// use linux_tun::{RecvInfo, Tun};
            /// let tun = AsyncTun::new(Tun::builder().name("tun0").offload(true).up().open()?)?;
            /// let (mut rx, _tx) = tun.into_halves();
            /// let mut pool = vec![[0u8; 16 + 1500]; 64]; // 16 bytes of headroom each
            /// let mut info = [RecvInfo::default(); 64];
            /// let n = rx.recv_into(&mut pool, 16, &mut info).await?;
            /// for (buf, info) in pool.iter().zip(&info).take(n) {
            ///     let ip = &buf[16..16 + info.len];
            /// #   let _ = ip;
            /// }
            /// # Ok(())
            /// # }
            /// ```
            ///
            /// # Errors
            /// As [`recv`](Self::recv).
            pub async fn recv_into<B: AsMut<[u8]>>(
                &mut self,
                bufs: &mut [B],
                offset: usize,
                info: &mut [RecvInfo],
            ) -> Result<usize, RecvError> {
                let op = |rx: &mut Reader| rx.recv_into(bufs, offset, info);
                async_tun::recv(&*self.io, &mut self.inner, op).await
            }

            /// The blocking-API half inside: its [`control`](Reader::control).
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// let tun = AsyncTun::new(linux_tun::Tun::builder().name("tun0").up().open()?)?;
            /// let (rx, _tx) = tun.into_halves();
            /// println!("{:?}", rx.get_ref().control().stats());
            /// # Ok(())
            /// # }
            /// ```
            pub fn get_ref(&self) -> &Reader {
                &self.inner
            }

            /// The blocking-API half inside (for the test seam).
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// let tun = AsyncTun::new(linux_tun::Tun::builder().name("tun0").up().open()?)?;
            /// let (mut rx, _tx) = tun.into_halves();
            /// let _reader: &mut linux_tun::Reader = rx.get_mut();
            /// # Ok(())
            /// # }
            /// ```
            pub fn get_mut(&mut self) -> &mut Reader {
                &mut self.inner
            }
        }

        /// Async sending half; see [`Writer`] for the batch semantics.
        pub struct AsyncWriter {
            inner: Writer,
            io: Arc<$io>,
        }

        impl std::fmt::Debug for AsyncWriter {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.inner.fmt(f)
            }
        }

        impl AsyncWriter {
            /// Write the whole batch as [`Writer::send`] does, waiting for writability instead
            /// of returning `WouldBlock`. Returns how many packets were written in total;
            /// refusals are in [`Writer::failures`] (via [`get_ref`](Self::get_ref)), across
            /// every attempt of this call.
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// use linux_tun::{ChecksumStatus, SendBatch, Tun};
            /// let tun = AsyncTun::new(Tun::builder().name("tun0").offload(true).up().open()?)?;
            /// let (_rx, mut tx) = tun.into_halves();
            /// let mut out = SendBatch::new(128);
            /// # let decrypted: Vec<Vec<u8>> = Vec::new();
            /// for ip in &decrypted {
            ///     out.push(ip, ChecksumStatus::KnownGood)?;
            /// }
            /// tx.send(&mut out).await?;
            /// # Ok(())
            /// # }
            /// ```
            ///
            /// # Errors
            /// As [`Writer::send`] but never `WouldBlock`, with the total written before the
            /// failure; the rest stay queued.
            pub async fn send(&mut self, batch: &mut SendBatch) -> Result<usize, SendError> {
                let op = |w: &mut Writer, first: bool| {
                    if first {
                        w.send(batch)
                    } else {
                        w.send_more(batch)
                    }
                };
                async_tun::send(&*self.io, &mut self.inner, op).await
            }

            /// Write a received batch straight from its slab as [`Writer::send_received`]
            /// does, waiting for writability instead of returning `WouldBlock`. Returns how
            /// many packets were written in total; refusals are in [`Writer::failures`] (via
            /// [`get_ref`](Self::get_ref)), as after [`send`](Self::send).
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// use linux_tun::{RecvBatch, Tun};
            /// let a = AsyncTun::new(Tun::builder().name("tuna").offload(true).up().open()?)?;
            /// let b = AsyncTun::new(Tun::builder().name("tunb").offload(true).up().open()?)?;
            /// let ((mut rx, _), (_, mut tx)) = (a.into_halves(), b.into_halves());
            /// let mut batch = RecvBatch::new(128, 0);
            /// loop {
            ///     rx.recv(&mut batch).await?;
            ///     let checksum = batch.checksum();
            ///     tx.send_received(&mut batch, checksum).await?;
            /// }
            /// # }
            /// ```
            ///
            /// # Errors
            /// As [`send`](Self::send); the rest stay in `batch`.
            pub async fn send_received(
                &mut self,
                batch: &mut RecvBatch,
                csum: ChecksumStatus,
            ) -> Result<usize, SendError> {
                let op = |w: &mut Writer, first: bool| {
                    if first {
                        w.send_received(batch, csum)
                    } else {
                        w.send_received_more(batch, csum)
                    }
                };
                async_tun::send(&*self.io, &mut self.inner, op).await
            }

            /// Write the packets of any [`PacketSource`] (the caller's own buffers) as
            /// [`Writer::send_from`] does, waiting for writability instead of returning
            /// `WouldBlock` (nothing is written twice). Returns how many packets were written
            /// in total; refusals are in [`Writer::failures`] (via [`get_ref`](Self::get_ref)),
            /// by index in the source.
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// use linux_tun::{ChecksumStatus, Tun};
            /// let tun = AsyncTun::new(Tun::builder().name("tun0").offload(true).up().open()?)?;
            /// let (_rx, mut tx) = tun.into_halves();
            /// # let pool: Vec<Vec<u8>> = Vec::new();
            /// tx.send_from(&pool, ChecksumStatus::KnownGood).await?;
            /// # Ok(())
            /// # }
            /// ```
            ///
            /// # Errors
            /// As [`send`](Self::send); [`Writer::unsent`] (via [`get_ref`](Self::get_ref))
            /// lists the packets not written.
            pub async fn send_from<S: PacketSource + ?Sized>(
                &mut self,
                packets: &S,
                csum: ChecksumStatus,
            ) -> Result<usize, SendError> {
                let op = |w: &mut Writer, first: bool| {
                    if first {
                        w.send_from(packets, csum)
                    } else {
                        w.resume_from(packets, csum)
                    }
                };
                async_tun::send(&*self.io, &mut self.inner, op).await
            }

            /// The blocking-API half inside: its [`failures`](Writer::failures) and
            /// [`control`](Writer::control).
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// use linux_tun::{ChecksumStatus, SendBatch, Tun};
            /// let (_rx, mut tx) = AsyncTun::new(Tun::builder().name("tun0").up().open()?)?.into_halves();
            /// let mut batch = SendBatch::new(8);
            /// batch.push(&[0x10, 0, 0, 0], ChecksumStatus::Unverified)?; // not IP: refused
            /// tx.send(&mut batch).await?;
            /// assert_eq!(tx.get_ref().failures().len(), 1);
            /// # Ok(())
            /// # }
            /// ```
            pub fn get_ref(&self) -> &Writer {
                &self.inner
            }

            /// The blocking-API half inside.
            ///
            /// ```no_run
            /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
            #[doc = concat!("use linux_tun::", $module, "::AsyncTun;")]
            /// let tun = AsyncTun::new(linux_tun::Tun::builder().name("tun0").up().open()?)?;
            /// let (_rx, mut tx) = tun.into_halves();
            /// let _writer: &mut linux_tun::Writer = tx.get_mut();
            /// # Ok(())
            /// # }
            /// ```
            pub fn get_mut(&mut self) -> &mut Writer {
                &mut self.inner
            }
        }
    };
}

pub(crate) use async_device;
