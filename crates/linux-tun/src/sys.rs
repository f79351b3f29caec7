//! The only module with `unsafe`: the TUN and interface ioctls (`include/uapi/linux/if_tun.h`,
//! `drivers/net/tun.c: __tun_chr_ioctl`, `net/core/dev_ioctl.c`). Request numbers and flag
//! values come from `libc`; and `writev_merged`, a `writev` that merges buffers lying back to
//! back in memory into one iovec. Everything else (open, read, write, poll, sockets) goes
//! through rustix's safe wrappers.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The longest interface name (`IFNAMSIZ` − 1 for the NUL).
pub(crate) const MAX_NAME: usize = libc::IFNAMSIZ - 1;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.len() > MAX_NAME || name.bytes().any(|b| b == 0 || b == b'/' || b == b' ') {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: `ifreq` is a plain C struct (a name array and a union of integers, sockaddrs and
    // a pointer); all-zero bytes are a valid value for every field.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

fn name_of(req: &libc::ifreq) -> String {
    let bytes: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `TUNSETIFF`: create or attach `name` (empty: the kernel picks `tunN`) with `flags`;
/// returns the device's name.
pub(crate) fn set_iff(fd: BorrowedFd<'_>, name: &str, flags: libc::c_int) -> io::Result<String> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req` is and which outlives
    // the call; `fd` is an open descriptor.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) })?;
    Ok(name_of(&req))
}

/// `TUNGETIFF`: name and `IFF_*` flags of the device `fd` is attached to.
pub(crate) fn get_iff(fd: BorrowedFd<'_>) -> io::Result<(String, libc::c_int)> {
    let mut req = ifreq("")?;
    // SAFETY: TUNGETIFF writes one `struct ifreq` into `req`, which outlives the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETIFF, &mut req) })?;
    // SAFETY: the kernel filled `ifru_flags` (tun_get_iff); the union member is an integer.
    let flags = unsafe { req.ifr_ifru.ifru_flags } as u16 as libc::c_int;
    Ok((name_of(&req), flags))
}

/// `TUNSETQUEUE` with `IFF_ATTACH_QUEUE` or `IFF_DETACH_QUEUE`.
pub(crate) fn set_queue(fd: BorrowedFd<'_>, attach: bool) -> io::Result<()> {
    let mut req = ifreq("")?;
    req.ifr_ifru.ifru_flags = if attach {
        libc::IFF_ATTACH_QUEUE
    } else {
        libc::IFF_DETACH_QUEUE
    } as libc::c_short;
    // SAFETY: TUNSETQUEUE reads one `struct ifreq` from `req`, which outlives the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETQUEUE, &mut req) })?;
    Ok(())
}

/// `TUNSETOFFLOAD`: the argument is the `TUN_F_*` mask itself, not a pointer.
pub(crate) fn set_offload(fd: BorrowedFd<'_>, mask: u32) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes an integer argument by value; no memory is passed.
    cvt(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETOFFLOAD,
            libc::c_ulong::from(mask),
        )
    })?;
    Ok(())
}

/// `TUNSETPERSIST`: the argument is 0 or 1 by value.
pub(crate) fn set_persist(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    // SAFETY: TUNSETPERSIST takes an integer argument by value; no memory is passed.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETPERSIST, libc::c_ulong::from(on)) })?;
    Ok(())
}

/// `TUNSETOWNER`: the uid by value (`tun_chr_ioctl` maps it through the caller's user
/// namespace; an unmapped uid is `EINVAL`).
pub(crate) fn set_owner(fd: BorrowedFd<'_>, uid: u32) -> io::Result<()> {
    // SAFETY: TUNSETOWNER takes an integer argument by value; no memory is passed.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETOWNER, libc::c_ulong::from(uid)) })?;
    Ok(())
}

/// `TUNSETGROUP`: the gid by value, as `TUNSETOWNER`.
pub(crate) fn set_group(fd: BorrowedFd<'_>, gid: u32) -> io::Result<()> {
    // SAFETY: TUNSETGROUP takes an integer argument by value; no memory is passed.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETGROUP, libc::c_ulong::from(gid)) })?;
    Ok(())
}

/// `TUNSETVNETHDRSZ` (reads an `int` through the pointer).
pub(crate) fn set_vnet_hdr_sz(fd: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    let v = libc::c_int::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: TUNSETVNETHDRSZ reads one `int` from the pointer; `v` outlives the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &v) })?;
    Ok(())
}

/// `TUNGETVNETHDRSZ`.
pub(crate) fn get_vnet_hdr_sz(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut v: libc::c_int = 0;
    // SAFETY: TUNGETVNETHDRSZ writes one `int` through the pointer; `v` outlives the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETVNETHDRSZ, &mut v) })?;
    usize::try_from(v).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// `TUNGETDEVNETNS`: a new descriptor for the network namespace the device lives in.
pub(crate) fn get_dev_netns(fd: BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: TUNGETDEVNETNS takes no argument and returns a new descriptor (or -1).
    let nsfd = cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETDEVNETNS) })?;
    // SAFETY: on success the kernel installed `nsfd` as a new descriptor owned by nobody else.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(nsfd) })
}

/// `SIOCGIFMTU` on a control socket of the device's namespace.
pub(crate) fn get_mtu(sock: BorrowedFd<'_>, name: &str) -> io::Result<u32> {
    let mut req = ifreq(name)?;
    // SAFETY: SIOCGIFMTU reads the name from and writes `ifru_mtu` into `req`, which outlives
    // the call; `sock` is an open socket.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU, &mut req) })?;
    // SAFETY: the kernel filled the integer union member `ifru_mtu`.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    u32::try_from(mtu).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// `SIOCSIFMTU`.
pub(crate) fn set_mtu(sock: BorrowedFd<'_>, name: &str, mtu: u32) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_mtu =
        libc::c_int::try_from(mtu).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: SIOCSIFMTU reads one `struct ifreq` from `req`, which outlives the call.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFMTU, &mut req) })?;
    Ok(())
}

/// `SIOCGIFTXQLEN`. The kernel's `ifr_qlen` is the `int` member `ifr_ifindex` also names
/// (`ifru_ivalue` in `include/uapi/linux/if.h`), `ifru_ifindex` in `libc`.
pub(crate) fn get_tx_queue_len(sock: BorrowedFd<'_>, name: &str) -> io::Result<u32> {
    let mut req = ifreq(name)?;
    // SAFETY: SIOCGIFTXQLEN reads the name from and writes `ifr_qlen` into `req`, which
    // outlives the call; `sock` is an open socket.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFTXQLEN, &mut req) })?;
    // SAFETY: the kernel filled the integer union member (`ifr_qlen`).
    let len = unsafe { req.ifr_ifru.ifru_ifindex };
    u32::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// `SIOCSIFTXQLEN` (`dev_change_tx_queue_len`; negative lengths are `EINVAL`).
pub(crate) fn set_tx_queue_len(sock: BorrowedFd<'_>, name: &str, len: u32) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_ifindex =
        libc::c_int::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: SIOCSIFTXQLEN reads one `struct ifreq` from `req`, which outlives the call.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFTXQLEN, &mut req) })?;
    Ok(())
}

/// `SIOCGIFINDEX`: the interface index of `name` in the socket's namespace.
pub(crate) fn get_ifindex(sock: BorrowedFd<'_>, name: &str) -> io::Result<u32> {
    let mut req = ifreq(name)?;
    // SAFETY: SIOCGIFINDEX reads the name from and writes `ifr_ifindex` into `req`, which
    // outlives the call; `sock` is an open socket.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFINDEX, &mut req) })?;
    // SAFETY: the kernel filled the integer union member `ifru_ifindex`.
    let index = unsafe { req.ifr_ifru.ifru_ifindex };
    u32::try_from(index).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// `SIOCGIFFLAGS` then `SIOCSIFFLAGS` with `IFF_UP` set or cleared.
pub(crate) fn set_up(sock: BorrowedFd<'_>, name: &str, up: bool) -> io::Result<()> {
    let mut req = ifreq(name)?;
    // SAFETY: SIOCGIFFLAGS reads the name from and writes `ifru_flags` into `req`.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: the kernel filled the integer union member `ifru_flags`.
    let mut flags = unsafe { req.ifr_ifru.ifru_flags };
    if up {
        flags |= libc::IFF_UP as libc::c_short;
    } else {
        flags &= !(libc::IFF_UP as libc::c_short);
    }
    req.ifr_ifru.ifru_flags = flags;
    // SAFETY: SIOCSIFFLAGS reads one `struct ifreq` from `req`, which outlives the call.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req) })?;
    Ok(())
}

/// `SIOCGIFFLAGS`: whether `IFF_UP` is set.
pub(crate) fn is_up(sock: BorrowedFd<'_>, name: &str) -> io::Result<bool> {
    let mut req = ifreq(name)?;
    // SAFETY: SIOCGIFFLAGS reads the name from and writes `ifru_flags` into `req`.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: the kernel filled the integer union member `ifru_flags`.
    Ok(unsafe { req.ifr_ifru.ifru_flags } & libc::IFF_UP as libc::c_short != 0)
}

/// A queue's descriptor as a reactor (tokio's or async-io's) sees it, kept open by the `Arc`
/// that owns it for as long as the reactor has it registered.
#[cfg(any(feature = "tokio", feature = "async-io"))]
pub(crate) struct ArcFd<T>(pub(crate) std::sync::Arc<T>);

#[cfg(any(feature = "tokio", feature = "async-io"))]
impl<T: std::os::fd::AsFd> AsRawFd for ArcFd<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

#[cfg(any(feature = "tokio", feature = "async-io"))]
impl<T: std::os::fd::AsFd> std::os::fd::AsFd for ArcFd<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Register a descriptor with tokio's reactor. `T` must own its descriptor for its whole
/// life and never replace it (a queue holds an `OwnedFd` it never swaps).
#[cfg(feature = "tokio")]
pub(crate) fn register_tokio<T: std::os::fd::AsFd>(
    q: ArcFd<T>,
) -> io::Result<tokio::io::unix::AsyncFd<ArcFd<T>>> {
    // SAFETY: `ArcFd` holds an `Arc` of the owner, whose descriptor is never replaced and is
    // closed only when the last `Arc` drops, i.e. not while the `AsyncFd` holds this one; so
    // the descriptor stays valid and open for the registration's whole lifetime.
    Ok(unsafe { tokio::io::unix::AsyncFd::register(q) }?)
}

/// Most iovecs [`writev_merged`] builds on its stack; a write that still needs more after
/// merging is passed on unmerged.
const MERGED_IOV: usize = 64;

/// `writev(2)` with adjacent buffers merged: where one slice ends exactly where the next one
/// begins in memory (consecutive payloads of a super-packet split with its payload left in
/// place), the kernel gets one iovec for both. Same bytes, fewer chunks: the TUN write copies
/// each iovec separately (copy start-up and hardened-usercopy checks per chunk, ~29 ns each
/// on the reference machine). Empty slices are skipped.
pub(crate) fn writev_merged(
    fd: BorrowedFd<'_>,
    bufs: &[std::io::IoSlice<'_>],
) -> rustix::io::Result<usize> {
    let empty = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut iov = [empty; MERGED_IOV];
    let mut n = 0usize;
    for b in bufs.iter().filter(|b| !b.is_empty()) {
        let base = b.as_ptr();
        if let Some(last) = n.checked_sub(1).map(|k| &mut iov[k])
            && (last.iov_base as usize).wrapping_add(last.iov_len) == base as usize
        {
            last.iov_len += b.len();
            continue;
        }
        if n == MERGED_IOV {
            return rustix::io::writev(fd, bufs);
        }
        iov[n] = libc::iovec {
            iov_base: base.cast_mut().cast(),
            iov_len: b.len(),
        };
        n += 1;
    }
    // SAFETY: `iov[..n]` describes readable memory for the duration of the call: each entry
    // is one of the caller's borrowed slices, or the union of slices that lie back to back in
    // memory (the same bytes, no gap). No Rust reference is made over a merged range; only
    // the kernel reads it. `n` ≤ 64 < UIO_MAXIOV.
    let r = unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), n as libc::c_int) };
    if r < 0 {
        Err(rustix::io::Errno::from_raw_os_error(
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        ))
    } else {
        Ok(r as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_before_any_syscall() {
        assert!(ifreq("0123456789abcde").is_ok());
        assert!(ifreq("0123456789abcdef").is_err());
        assert!(ifreq("a/b").is_err());
        assert!(ifreq("a\0b").is_err());
        let r = ifreq("tun7").unwrap();
        assert_eq!(name_of(&r), "tun7");
    }

    /// Adjacent slices are merged, others kept apart, empties skipped: the bytes written are
    /// exactly the slices' concatenation.
    #[test]
    fn writev_merged_writes_the_same_bytes() {
        use std::io::{IoSlice, Read};
        use std::os::fd::AsFd;
        let (mut r, w) = std::io::pipe().unwrap();
        let data: Vec<u8> = (0..300u16).map(|i| (i * 7) as u8).collect();
        let other = [0xabu8; 5];
        let bufs = [
            IoSlice::new(&data[..100]),
            IoSlice::new(&data[100..150]), // adjacent: merged
            IoSlice::new(&[]),
            IoSlice::new(&other),
            IoSlice::new(&data[150..300]), // not adjacent to `other`
        ];
        let n = writev_merged(w.as_fd(), &bufs).unwrap();
        assert_eq!(n, 305);
        let mut got = vec![0u8; 305];
        r.read_exact(&mut got).unwrap();
        let want = [&data[..150], &other[..], &data[150..]].concat();
        assert_eq!(got, want);
    }
}
