//! A queue divided into the halves that move batches: the one place that knows both the
//! device and the batch I/O built on it (each of which knows only the device).

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
