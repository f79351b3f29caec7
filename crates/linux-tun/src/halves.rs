//! A queue divided into the halves that move batches: the one place that knows both the
//! device and the batch I/O built on it (each of which knows only the device).

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use crate::{Reader, Tun, Writer};

impl Tun {
    /// Divide into a batch [`Reader`] and [`Writer`], usable from two threads; device
    /// settings stay reachable from both through `control()`.
    ///
    /// ```no_run
    /// let tun = linux_tun::Tun::builder().name("tun0").up().open()?;
    /// let (rx, tx) = tun.into_halves();
    /// assert_eq!(rx.control().name(), tx.control().name());
    /// # Ok::<(), linux_tun::Error>(())
    /// ```
    pub fn into_halves(self) -> (Reader, Writer) {
        (Reader::new(Arc::clone(&self.q)), Writer::new(self.q))
    }
}

/// The queue's descriptor, for an event loop of the caller's own (`poll`, `epoll`, an async
/// runtime's reactor): readable when [`Reader::recv`] has something to return.
///
/// ```no_run
/// use std::os::fd::AsFd;
/// let (rx, _tx) = linux_tun::Tun::builder().name("tun0").up().open()?.into_halves();
/// let fd = rx.as_fd(); // register with your reactor
/// # let _ = fd;
/// # Ok::<(), linux_tun::Error>(())
/// ```
impl AsFd for Reader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.queue().as_fd()
    }
}

/// The queue's descriptor (the same one as the [`Reader`]'s): writable when
/// [`Writer::send`] can write without waiting.
impl AsFd for Writer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.queue().as_fd()
    }
}
