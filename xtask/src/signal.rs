//! Ctrl-C / SIGTERM turn into a flag, so the harness unwinds normally and every cleanup guard runs
//! (namespaces deleted, processes reaped) instead of the process dying with them still in place.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use signal_hook::consts::{SIGINT, SIGTERM};

static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Route SIGINT and SIGTERM to the flag.
pub(crate) fn install() -> std::io::Result<()> {
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&INTERRUPTED))?;
    }
    Ok(())
}

/// Whether Ctrl-C (or SIGTERM) arrived.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Whether we run as root (creating namespaces and TUN devices needs it).
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
