//! The two UDP socket options of the UDP traffic endpoints that neither std nor rustix wraps:
//! `UDP_SEGMENT` (send with GSO: the kernel, or a device with USO, splits one send into
//! datagrams) and `UDP_GRO` (receive coalesced datagrams). The only `unsafe` of this crate.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// `setsockopt(SOL_UDP, opt, value)`.
fn set_udp_int(sock: &impl AsFd, opt: libc::c_int, value: libc::c_int) -> io::Result<()> {
    let fd = sock.as_fd().as_raw_fd();
    // SAFETY: `fd` is a live descriptor borrowed for the call; the option value points to a
    // `c_int` on our stack whose size we pass, and the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_UDP,
            opt,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Send every later `send` as datagrams of `size` bytes (the last may be shorter).
pub(crate) fn set_udp_segment(sock: &impl AsFd, size: u16) -> io::Result<()> {
    set_udp_int(sock, libc::UDP_SEGMENT, libc::c_int::from(size))
        .map_err(|e| io::Error::new(e.kind(), format!("UDP_SEGMENT {size}: {e}")))
}

/// Receive same-flow datagrams coalesced (their boundaries are every `size` bytes).
pub(crate) fn set_udp_gro(sock: &impl AsFd) -> io::Result<()> {
    set_udp_int(sock, libc::UDP_GRO, 1)
        .map_err(|e| io::Error::new(e.kind(), format!("UDP_GRO: {e}")))
}
