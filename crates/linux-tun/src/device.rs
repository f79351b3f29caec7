//! Opening and configuring the device, and unbatched I/O.

use std::fmt;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::io::ReadWriteFlags;
use virtio_net_hdr::{VirtioNetHdr, VirtioNetHdrV1};

use crate::GroConfig;
use crate::error::DeviceOp;
use crate::stats::{Counters, Event, EventHook, Stats};
use crate::{Error, sys};

/// Default vnet header length: the 10-byte legacy `struct virtio_net_hdr`.
const DEFAULT_VNET_HDR_LEN: usize = VirtioNetHdr::LEN;

/// A `TUNSETOFFLOAD` mask (`TUN_F_*`, `include/uapi/linux/if_tun.h`).
///
/// ```
/// use linux_tun::OffloadFlags;
/// let f = OffloadFlags::CSUM | OffloadFlags::TSO4;
/// assert!(f.contains(OffloadFlags::TSO4) && !f.contains(OffloadFlags::TSO6));
/// assert_eq!(f.bits(), 0x03);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OffloadFlags(u32);

impl OffloadFlags {
    /// No offloads: the kernel segments and checksums before handing packets over.
    pub const NONE: OffloadFlags = OffloadFlags(0);
    /// `TUN_F_CSUM`: reads may carry partial checksums (`NEEDS_CSUM`).
    pub const CSUM: OffloadFlags = OffloadFlags(libc::TUN_F_CSUM);
    /// `TUN_F_TSO4`: reads may be TCP/IPv4 super-packets (needs `CSUM`).
    pub const TSO4: OffloadFlags = OffloadFlags(libc::TUN_F_TSO4);
    /// `TUN_F_TSO6`: reads may be TCP/IPv6 super-packets (needs `CSUM`).
    pub const TSO6: OffloadFlags = OffloadFlags(libc::TUN_F_TSO6);
    /// `TUN_F_TSO_ECN`: super-packets may carry CWR (needs `TSO4` or `TSO6`).
    pub const TSO_ECN: OffloadFlags = OffloadFlags(libc::TUN_F_TSO_ECN);
    /// `TUN_F_USO4`: reads may be UDP/IPv4 super-packets (USO, Linux ≥ 6.2; needs `CSUM`,
    /// and the kernel refuses it without `USO6`).
    pub const USO4: OffloadFlags = OffloadFlags(libc::TUN_F_USO4);
    /// `TUN_F_USO6`: reads may be UDP/IPv6 super-packets (needs `CSUM` and `USO4`).
    pub const USO6: OffloadFlags = OffloadFlags(libc::TUN_F_USO6);
    /// Everything this crate can serve on reads: TCP super-packets split by `tcp-tso`, UDP
    /// ones by `udp-gso`.
    pub const ALL: OffloadFlags = OffloadFlags(
        libc::TUN_F_CSUM
            | libc::TUN_F_TSO4
            | libc::TUN_F_TSO6
            | libc::TUN_F_TSO_ECN
            | libc::TUN_F_USO4
            | libc::TUN_F_USO6,
    );

    /// The raw mask.
    pub const fn bits(self) -> u32 {
        self.0
    }
    /// A mask from raw bits (unknown bits are kept; [`Control::set_offload`] rejects them).
    pub const fn from_bits(bits: u32) -> OffloadFlags {
        OffloadFlags(bits)
    }
    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: OffloadFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Whether the kernel may hand out TCP super-packets.
    pub const fn has_tso(self) -> bool {
        self.0 & (libc::TUN_F_TSO4 | libc::TUN_F_TSO6) != 0
    }
    /// Whether the kernel may hand out UDP super-packets (USO: both `USO4` and `USO6`, the
    /// only way the kernel grants them).
    ///
    /// ```
    /// use linux_tun::OffloadFlags;
    /// assert!(OffloadFlags::ALL.has_uso());
    /// assert!(!(OffloadFlags::CSUM | OffloadFlags::USO4).has_uso());
    /// ```
    pub const fn has_uso(self) -> bool {
        self.contains(OffloadFlags(libc::TUN_F_USO4 | libc::TUN_F_USO6))
    }
}

impl std::ops::BitOr for OffloadFlags {
    type Output = OffloadFlags;
    fn bitor(self, rhs: OffloadFlags) -> OffloadFlags {
        OffloadFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for OffloadFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(OffloadFlags, &str); 6] = [
            (OffloadFlags::CSUM, "CSUM"),
            (OffloadFlags::TSO4, "TSO4"),
            (OffloadFlags::TSO6, "TSO6"),
            (OffloadFlags::TSO_ECN, "TSO_ECN"),
            (OffloadFlags::USO4, "USO4"),
            (OffloadFlags::USO6, "USO6"),
        ];
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        let rest = self.0 & !Self::ALL.0;
        if rest != 0 {
            if !first {
                f.write_str(" | ")?;
            }
            write!(f, "{rest:#x}")?;
        } else if first {
            f.write_str("NONE")?;
        }
        Ok(())
    }
}

/// What the kernel granted for this device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The virtio header length in front of every packet (10 or 12), or `None` without
    /// `IFF_VNET_HDR`.
    pub vnet_hdr_len: Option<usize>,
    /// The `TUNSETOFFLOAD` mask in force (what reads may carry).
    pub offload: OffloadFlags,
    /// Whether writes coalesce TCP segments into super-packets (GRO). Turned off by the user,
    /// or by the device after repeated `EINVAL` on TCP super-packet writes.
    pub gro: bool,
    /// Whether writes coalesce UDP datagrams into USO super-packets (UDP GRO): only with USO
    /// granted ([`OffloadFlags::has_uso`]), a kernel that knows `GSO_UDP_L4`. Turned off by the
    /// user (some paths, e.g. some vxlan/geneve setups, drop coalesced UDP), or by the device
    /// after repeated `EINVAL` on UDP super-packet writes; independent of [`gro`](Self::gro).
    pub udp_gro: bool,
    /// Whether the device is multi-queue (`IFF_MULTI_QUEUE`).
    pub multi_queue: bool,
}

impl Device {
    /// Whether writes coalesce UDP: asked for, and USO granted (a kernel that reads
    /// `GSO_UDP_L4` super-packets also accepts them on writes; one that does not know USO
    /// may refuse them).
    pub(crate) fn udp_gro(&self) -> bool {
        self.udp_gro.load(Ordering::Relaxed)
            && OffloadFlags(self.offload.load(Ordering::Relaxed)).has_uso()
    }
}

/// Device-wide state shared by all handles of one queue (and its halves).
pub(crate) struct Device {
    pub(crate) name: String,
    /// An `AF_INET` datagram socket created where the device was opened: MTU and link state
    /// are set through it, so they work from any thread afterwards.
    ctl: OwnedFd,
    pub(crate) vnet_len: usize,
    pub(crate) multi_queue: bool,
    offload: AtomicU32,
    pub(crate) gro: AtomicBool,
    /// UDP write coalescing asked for (in force only while USO is granted: [`Device::udp_gro`]).
    pub(crate) udp_gro: AtomicBool,
    /// Rejected UDP super-packet writes, towards turning UDP GRO off alone.
    pub(crate) udp_gso_rejections: std::sync::atomic::AtomicU64,
    pub(crate) counters: Counters,
    pub(crate) hook: Option<EventHook>,
    /// How each writer's coalescer merges ([`Builder::gro_config`]).
    pub(crate) gro_config: GroConfig,
    /// The device was found deleted ([`Queue::is_removed`]); it never comes back.
    removed: AtomicBool,
    /// Test seam: the next this-many super-packet writes fail with `EINVAL` before reaching
    /// the kernel. Set through [`Control::inject_gso_einval`]; absent from production builds.
    #[cfg(any(test, feature = "test-seams"))]
    pub(crate) inject_gso_einval: AtomicU32,
}

impl Device {
    pub(crate) fn emit(&self, event: Event) {
        if let Some(h) = &self.hook {
            h(&event);
        }
    }

    /// Test seam: whether this super-packet write is to fail with `EINVAL` instead of reaching
    /// the kernel (see [`Control::inject_gso_einval`]). Without the seam, a constant `false`:
    /// the write path reads nothing.
    #[inline(always)]
    pub(crate) fn take_injected_gso_einval(&self) -> bool {
        #[cfg(any(test, feature = "test-seams"))]
        {
            self.inject_gso_einval
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        }
        #[cfg(not(any(test, feature = "test-seams")))]
        {
            false
        }
    }
}

/// An IPv4 TCP super-packet of `segments × mss` payload bytes as a TUN hands it out
/// (10.0.0.1:12345 → 10.0.0.2:443, seq 0x01020304, ACK|PSH, ID 1, payload bytes counting up), its checksum
/// field holding the pseudo-header sum (`CHECKSUM_PARTIAL`). For unit tests, which cannot use
/// the workspace's dev-only packet builder (it is not part of this crate's package).
#[cfg(test)]
pub(crate) fn test_super_packet(segments: usize, mss: usize) -> Vec<u8> {
    let payload = segments * mss;
    let total = 40 + payload;
    #[rustfmt::skip]
    let mut p = vec![
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
        0x30, 0x39, 0x01, 0xbb, 1, 2, 3, 4, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0, // TCP
    ];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let ip_sum = inet_csum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    p.extend((0..payload).map(|i| i as u8));
    let pseudo = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, (total - 20) as u16);
    p[36..38].copy_from_slice(&pseudo.fold().to_be_bytes());
    p
}

/// A queue over a non-blocking UDP socket (reads find nothing) for unit tests that feed the
/// read path through the injection seam, without root or a TUN.
#[cfg(test)]
pub(crate) fn test_queue(vnet_len: usize) -> Arc<Queue> {
    test_queue_on(test_udp_socket(), vnet_len)
}

#[cfg(test)]
fn test_udp_socket() -> OwnedFd {
    rustix::net::socket_with(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
        None,
    )
    .expect("UDP socket")
}

/// A non-blocking queue over `fd` (e.g. one end of a datagram socket pair, whose other end
/// receives every write as one datagram), for unit tests of the write path.
#[cfg(test)]
pub(crate) fn test_queue_on(fd: OwnedFd, vnet_len: usize) -> Arc<Queue> {
    Arc::new(Queue {
        fd,
        nowait: AtomicU8::new(NOWAIT_UNSUPPORTED),
        dev: Arc::new(Device {
            name: "test".into(),
            ctl: test_udp_socket(),
            vnet_len,
            multi_queue: false,
            offload: AtomicU32::new(OffloadFlags::ALL.bits()),
            gro: AtomicBool::new(vnet_len != 0),
            udp_gro: AtomicBool::new(vnet_len != 0),
            udp_gso_rejections: std::sync::atomic::AtomicU64::new(0),
            counters: Counters::default(),
            hook: None,
            gro_config: GroConfig::default(),
            removed: AtomicBool::new(false),
            inject_gso_einval: AtomicU32::new(0),
        }),
        blocking: AtomicBool::new(false),
    })
}

/// `RWF_NOWAIT` reads have not been tried on this queue yet.
const NOWAIT_UNTRIED: u8 = 0;
/// The kernel honours `RWF_NOWAIT` on this queue's reads.
const NOWAIT_WORKS: u8 = 1;
/// The kernel refused `RWF_NOWAIT` (`EOPNOTSUPP`/`EINVAL`): blocking mode uses an
/// `O_NONBLOCK` fd and `poll` instead.
const NOWAIT_UNSUPPORTED: u8 = 2;

/// One queue's file descriptor plus the shared device state.
///
/// Blocking mode keeps the fd blocking: the first read of a batch sleeps in the kernel, and the
/// batch is drained with `preadv2(RWF_NOWAIT)`, which `tun_chr_read_iter` answers with `EAGAIN`
/// at once when the queue is empty (`IOCB_NOWAIT`). That is one syscall per wake-up instead of
/// an `EAGAIN` read, a `poll` and another read. Where the kernel refuses `RWF_NOWAIT`, the fd
/// is made `O_NONBLOCK` and blocking reads and writes wait in `poll` (detected once per
/// queue). Non-blocking mode is a plain `O_NONBLOCK` fd.
pub(crate) struct Queue {
    pub(crate) fd: OwnedFd,
    pub(crate) dev: Arc<Device>,
    /// The caller's mode: calls wait (blocking) or return `WouldBlock`.
    pub(crate) blocking: AtomicBool,
    /// `RWF_NOWAIT` support: `NOWAIT_UNTRIED`, `NOWAIT_WORKS` or `NOWAIT_UNSUPPORTED`.
    nowait: AtomicU8,
}

impl AsFd for Queue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Queue {
    fn new(fd: OwnedFd, dev: Arc<Device>, blocking: bool) -> io::Result<Queue> {
        let q = Queue {
            fd,
            dev,
            blocking: AtomicBool::new(blocking),
            nowait: AtomicU8::new(NOWAIT_UNTRIED),
        };
        q.set_blocking(blocking)?;
        Ok(q)
    }

    /// Switch the caller's mode and the fd's `O_NONBLOCK` to match: blocking mode has a
    /// blocking fd unless `RWF_NOWAIT` was found unsupported.
    pub(crate) fn set_blocking(&self, on: bool) -> io::Result<()> {
        self.blocking.store(on, Ordering::Relaxed);
        let fd_blocks = on && self.nowait.load(Ordering::Relaxed) != NOWAIT_UNSUPPORTED;
        set_nonblock(&self.fd, !fd_blocks)
    }

    /// Whether the fd itself blocks (blocking mode with `RWF_NOWAIT` draining).
    fn fd_blocks(&self) -> bool {
        self.is_blocking() && self.nowait.load(Ordering::Relaxed) != NOWAIT_UNSUPPORTED
    }

    /// Wait until the fd is ready for `events` (blocking mode only).
    pub(crate) fn wait(&self, events: PollFlags) -> io::Result<()> {
        let mut fds = [PollFd::new(&self.fd, events)];
        loop {
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => {
                    let r = fds[0].revents();
                    if r.intersects(PollFlags::ERR | PollFlags::NVAL) {
                        // `tun_chr_poll` answers `EPOLLERR` only for a device that is gone or
                        // being unregistered (rule book §1.3).
                        self.dev.removed.store(true, Ordering::Relaxed);
                        return Err(io::Error::from_raw_os_error(libc::EBADFD));
                    }
                    return Ok(());
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub(crate) fn is_blocking(&self) -> bool {
        self.blocking.load(Ordering::Relaxed)
    }

    /// Whether the device was deleted. Once the kernel has unregistered it, every queue's
    /// file is detached and `TUNGETIFF` answers `EBADFD` (`tun_detach_all`, `tun_get`); a
    /// detached queue of a live multi-queue device still answers (rule book §1.3).
    /// Remembered once seen.
    pub(crate) fn is_removed(&self) -> bool {
        if self.dev.removed.load(Ordering::Relaxed) {
            return true;
        }
        let gone =
            sys::get_iff(self.fd.as_fd()).is_err_and(|e| e.raw_os_error() == Some(libc::EBADFD));
        if gone {
            self.dev.removed.store(true, Ordering::Relaxed);
        }
        gone
    }

    /// Whether a failed read or write means the device was deleted. The kernel answers a
    /// read blocked at that moment with `EFAULT`: `tun_detach_all` sets `RCV_SHUTDOWN` on
    /// every queue and wakes its readers (`tun_ring_recv`), the only source of `EFAULT` for
    /// buffers that are valid, as ours always are; it clears the queue's device pointer just
    /// after the wake-up, so asking `TUNGETIFF` then could still find it. Later calls get
    /// `EBADFD`, and writes get `EIO` while the link is being taken down first: those are
    /// checked with [`is_removed`]. Other errors are not about the device (rule book §1.3).
    ///
    /// [`is_removed`]: Self::is_removed
    pub(crate) fn removed_by(&self, e: &io::Error) -> bool {
        match e.raw_os_error() {
            Some(libc::EFAULT) => {
                self.dev.removed.store(true, Ordering::Relaxed);
                true
            }
            Some(libc::EBADFD | libc::EIO | libc::ENODEV) => self.is_removed(),
            _ => false,
        }
    }

    /// `read(2)` honouring the blocking mode; `EINTR` is retried.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match rustix::io::read(&self.fd, &mut *buf) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) if self.is_blocking() => self.wait(PollFlags::IN)?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `readv(2)` that waits for a frame in blocking mode (and returns `WouldBlock` in
    /// non-blocking mode); `EINTR` is retried.
    pub(crate) fn readv_wait(&self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        loop {
            match rustix::io::readv(&self.fd, bufs) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => {}
                // An O_NONBLOCK fd in blocking mode: the poll fallback.
                Err(rustix::io::Errno::AGAIN) if self.is_blocking() && !self.fd_blocks() => {
                    self.wait(PollFlags::IN)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `readv(2)` without waiting: `WouldBlock` when nothing is queued. On a blocking fd this
    /// is `preadv2(…, RWF_NOWAIT)`; if the kernel refuses that flag, the queue switches to
    /// the `O_NONBLOCK` + `poll` fallback for good and reads again.
    pub(crate) fn readv_nowait(&self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        loop {
            let r = if self.fd_blocks() {
                // Offset `u64::MAX` is -1: the current position, as `readv` (TUN ignores it).
                match rustix::io::preadv2(&self.fd, bufs, u64::MAX, ReadWriteFlags::NOWAIT) {
                    Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::INVAL)
                        if self.nowait.load(Ordering::Relaxed) == NOWAIT_UNTRIED =>
                    {
                        self.nowait.store(NOWAIT_UNSUPPORTED, Ordering::Relaxed);
                        set_nonblock(&self.fd, true)?;
                        continue;
                    }
                    r => {
                        // Stored once: the reader and writer threads share this cache line.
                        if (r.is_ok() || r == Err(rustix::io::Errno::AGAIN))
                            && self.nowait.load(Ordering::Relaxed) == NOWAIT_UNTRIED
                        {
                            self.nowait.store(NOWAIT_WORKS, Ordering::Relaxed);
                        }
                        r
                    }
                }
            } else {
                rustix::io::readv(&self.fd, bufs)
            };
            match r {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `writev(2)` honouring the blocking mode. TUN writes are one packet per call and never
    /// partial (`tun_get_user` consumes the whole iov or fails).
    pub(crate) fn writev(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            match crate::sys::writev_merged(self.fd.as_fd(), bufs) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) if self.is_blocking() => self.wait(PollFlags::OUT)?,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Set or clear `O_NONBLOCK` on `fd`, keeping its other status flags.
fn set_nonblock(fd: &OwnedFd, on: bool) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    let want = if on {
        flags | OFlags::NONBLOCK
    } else {
        flags - OFlags::NONBLOCK
    };
    if want != flags {
        rustix::fs::fcntl_setfl(fd, want)?;
    }
    Ok(())
}

/// Configures and opens a TUN device; see [`Tun::builder`].
///
/// Defaults: kernel-chosen name, offload on (10-byte vnet header, `CSUM | TSO4 | TSO6 |
/// TSO_ECN | USO4 | USO6` asked for, USO dropped where the kernel predates it), GRO on, one queue, blocking, persistence and link state untouched.
///
/// ```no_run
/// use linux_tun::{OffloadFlags, Tun};
/// let tun = Tun::builder()
///     .name("wg0")
///     .offload(true)
///     .offload_mask(OffloadFlags::CSUM | OffloadFlags::TSO4 | OffloadFlags::TSO6)
///     .vnet_hdr_len(12)
///     .gro(false) // a kernel that refuses super-packet writes
///     .mtu(1420)
///     .up()
///     .open()?;
/// assert!(!tun.control().capabilities().gro);
/// # Ok::<(), linux_tun::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct Builder {
    name: String,
    offload: bool,
    offload_mask: OffloadFlags,
    gro: bool,
    udp_gro: bool,
    vnet_hdr_len: usize,
    queues: usize,
    persist: Option<bool>,
    owner: Option<u32>,
    group: Option<u32>,
    mtu: Option<u32>,
    tx_queue_len: Option<u32>,
    up: bool,
    blocking: bool,
    hook: Option<EventHook>,
    gro_config: GroConfig,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("offload", &self.offload)
            .field("offload_mask", &self.offload_mask)
            .field("gro", &self.gro)
            .field("udp_gro", &self.udp_gro)
            .field("gro_config", &self.gro_config)
            .field("vnet_hdr_len", &self.vnet_hdr_len)
            .field("queues", &self.queues)
            .field("persist", &self.persist)
            .field("owner", &self.owner)
            .field("group", &self.group)
            .field("mtu", &self.mtu)
            .field("tx_queue_len", &self.tx_queue_len)
            .field("up", &self.up)
            .field("blocking", &self.blocking)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            name: String::new(),
            offload: true,
            offload_mask: OffloadFlags::ALL,
            gro: true,
            udp_gro: true,
            vnet_hdr_len: DEFAULT_VNET_HDR_LEN,
            queues: 1,
            persist: None,
            owner: None,
            group: None,
            mtu: None,
            tx_queue_len: None,
            up: false,
            blocking: true,
            hook: None,
            gro_config: GroConfig::default(),
        }
    }
}

impl Builder {
    /// Device name; an existing (persistent) device of that name is attached to. Without a
    /// name the kernel picks `tunN` ([`Control::name`] tells which). A `%d` in the name is
    /// replaced by the kernel with the first free number.
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// Virtio header and segmentation offload (default on): reads may be super-packets (split
    /// for you by [`Reader::recv`](crate::Reader::recv)) and writes coalesce segments. Off:
    /// no virtio header, one packet per read and write, offload mask set to 0.
    pub fn offload(mut self, on: bool) -> Self {
        self.offload = on;
        self
    }

    /// The offload mask to ask for when offload is on (default [`OffloadFlags::ALL`]); the
    /// kernel's refusals are probed down as in [`Control::negotiate_offload`].
    pub fn offload_mask(mut self, mask: OffloadFlags) -> Self {
        self.offload_mask = mask;
        self
    }

    /// Coalesce written segments into super-packets (default on when offload is on). Turn off
    /// for kernels that reject super-packet writes while still reading super-packets.
    pub fn gro(mut self, on: bool) -> Self {
        self.gro = on;
        self
    }

    /// Coalesce written UDP datagrams into USO super-packets (default on; in force only when
    /// the kernel grants USO, Linux ≥ 6.2, and [`gro`](Self::gro) is on). Turn off for paths
    /// that drop coalesced UDP (some vxlan/geneve setups) while keeping TCP coalescing.
    ///
    /// ```no_run
    /// use linux_tun::Tun;
    /// let tun = Tun::builder().name("tun0").udp_gro(false).open()?;
    /// assert!(!tun.control().capabilities().udp_gro);
    /// # Ok::<(), linux_tun::Error>(())
    /// ```
    pub fn udp_gro(mut self, on: bool) -> Self {
        self.udp_gro = on;
        self
    }

    /// How writes coalesce (default [`GroConfig::default`]: super-packets up to 65535 bytes,
    /// segments arriving out of order within a batch merged too). E.g. smaller super-packets
    /// for a receiver with small buffers, or `out_of_order: false` to merge exactly as the
    /// kernel's GRO would. Applies to every [`Writer`](crate::Writer) of the device.
    ///
    /// ```no_run
    /// use linux_tun::{GroConfig, Tun};
    /// let mut gro = GroConfig::default();
    /// gro.max_merged_len = 16 * 1024;
    /// gro.out_of_order = false;
    /// let tun = Tun::builder().name("tun0").gro_config(gro).open()?;
    /// # Ok::<(), linux_tun::Error>(())
    /// ```
    pub fn gro_config(mut self, config: GroConfig) -> Self {
        self.gro_config = config;
        self
    }

    /// Virtio header length: 10 (legacy, default) or 12 (`virtio_net_hdr_v1`).
    pub fn vnet_hdr_len(mut self, len: usize) -> Self {
        self.vnet_hdr_len = len;
        self
    }

    /// A multi-queue device (`IFF_MULTI_QUEUE`) with `queues` queues for
    /// [`open_queues`](Self::open_queues); 1 (default) is a single-queue device.
    pub fn multi_queue(mut self, queues: usize) -> Self {
        self.queues = queues;
        self
    }

    /// Make the device persistent (it outlives its file descriptors) or clear persistence.
    /// Unset (default): left as it is.
    pub fn persist(mut self, on: bool) -> Self {
        self.persist = Some(on);
        self
    }

    /// Let the user `uid` attach to the device without `CAP_NET_ADMIN` (`TUNSETOWNER`). With
    /// [`persist(true)`](Self::persist) a privileged step creates the device once, and a
    /// daemon running as `uid` opens it by name later — the kernel checks the owner on
    /// `TUNSETIFF` (`tun_not_capable`). With [`group`](Self::group) too, an attacher must
    /// match both. Unset (default): left as it is.
    ///
    /// The unprivileged open may attach, read, write and set offloads, but not change MTU,
    /// transmit queue length or link state (those need `CAP_NET_ADMIN`): leave
    /// [`mtu`](Self::mtu), [`tx_queue_len`](Self::tx_queue_len) and [`up`](Self::up) to the
    /// privileged step.
    ///
    /// ```no_run
    /// use linux_tun::Tun;
    /// // Privileged, once (e.g. at boot): create `vpn0` for uid 1000 and let it stay.
    /// Tun::builder().name("vpn0").persist(true).owner(1000).mtu(1420).up().open()?;
    /// // Later, in the daemon running as uid 1000 without CAP_NET_ADMIN:
    /// let tun = Tun::builder().name("vpn0").open()?;
    /// # Ok::<(), linux_tun::Error>(())
    /// ```
    pub fn owner(mut self, uid: u32) -> Self {
        self.owner = Some(uid);
        self
    }

    /// Let members of group `gid` attach to the device without `CAP_NET_ADMIN`
    /// (`TUNSETGROUP`); see [`owner`](Self::owner). Unset (default): left as it is.
    pub fn group(mut self, gid: u32) -> Self {
        self.group = Some(gid);
        self
    }

    /// Set the MTU after opening.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Set the transmit queue length after opening: how many packets the kernel queues
    /// towards the reader before it drops (the `qlen` of `ip link`; 500 for a new TUN). See
    /// [`Control::set_tx_queue_len`].
    pub fn tx_queue_len(mut self, len: u32) -> Self {
        self.tx_queue_len = Some(len);
        self
    }

    /// Bring the link up after opening.
    pub fn up(mut self) -> Self {
        self.up = true;
        self
    }

    /// Blocking (default) or non-blocking reads and writes (`WouldBlock` errors).
    pub fn blocking(mut self, on: bool) -> Self {
        self.blocking = on;
        self
    }

    /// Called for noteworthy device events (malformed reads dropped, super-packet writes
    /// rejected, GRO turned off). Runs on the thread that hit the event; keep it short.
    pub fn on_event(mut self, hook: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    fn validate(&self) -> Result<(), Error> {
        if self.name.len() > sys::MAX_NAME
            || self.name.bytes().any(|b| b == 0 || b == b'/' || b == b' ')
        {
            return Err(Error::InvalidName(self.name.clone()));
        }
        // The message names the two lengths.
        const _: () = assert!(VirtioNetHdr::LEN == 10 && VirtioNetHdrV1::LEN == 12);
        if self.vnet_hdr_len != VirtioNetHdr::LEN && self.vnet_hdr_len != VirtioNetHdrV1::LEN {
            return Err(Error::InvalidConfig("vnet_hdr_len must be 10 or 12"));
        }
        if self.queues == 0 {
            return Err(Error::InvalidConfig("multi_queue needs at least one queue"));
        }
        if self.offload_mask.bits() & !OffloadFlags::ALL.bits() != 0 {
            return Err(Error::UnsupportedOffload(self.offload_mask.bits()));
        }
        Ok(())
    }

    fn iff_flags(&self) -> libc::c_int {
        let mut flags = libc::IFF_TUN | libc::IFF_NO_PI;
        if self.offload {
            flags |= libc::IFF_VNET_HDR;
        }
        if self.queues > 1 {
            flags |= libc::IFF_MULTI_QUEUE;
        }
        flags
    }

    /// Open the device (the first queue of a multi-queue device), negotiate offloads, apply
    /// owner, group, persistence, MTU, transmit queue length and link state.
    ///
    /// The device is created in the network namespace of the calling thread.
    ///
    /// # Errors
    /// [`Error::Open`], [`Error::Device`] naming the failed ioctl, or a configuration error.
    pub fn open(&self) -> Result<Tun, Error> {
        self.validate()?;
        let fd = open_dev()?;
        let name = sys::set_iff(fd.as_fd(), &self.name, self.iff_flags())
            .map_err(|e| Error::device(DeviceOp::SetIff, &self.name, e))?;
        self.finish(fd, name, self.offload, self.queues > 1)
    }

    /// Open all queues of a multi-queue device (see [`multi_queue`](Self::multi_queue)).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_queues(&self) -> Result<Vec<Tun>, Error> {
        let first = self.open()?;
        let mut all = Vec::with_capacity(self.queues);
        for _ in 1..self.queues {
            all.push(first.open_queue()?);
        }
        all.insert(0, first);
        Ok(all)
    }

    /// Adopt a TUN file descriptor handed over by a privileged parent (already attached with
    /// `TUNSETIFF`). Its name, vnet header and multi-queue mode are read from the kernel; the
    /// offload mask is set explicitly (a previous owner's mask stays on the device otherwise),
    /// then MTU and link state are applied. `offload(true)` on an fd without `IFF_VNET_HDR`
    /// falls back to plain packets (the flag cannot be added after `TUNSETIFF`).
    ///
    /// # Errors
    /// [`Error::Device`] if `fd` is not an attached TUN.
    pub fn adopt(&self, fd: OwnedFd) -> Result<Tun, Error> {
        self.validate()?;
        let (name, flags) =
            sys::get_iff(fd.as_fd()).map_err(|e| Error::device(DeviceOp::GetIff, "", e))?;
        if flags & libc::IFF_TUN == 0 {
            return Err(Error::InvalidConfig(
                "adopted fd is not a TUN (IFF_TUN unset)",
            ));
        }
        if flags & libc::IFF_NO_PI == 0 {
            return Err(Error::InvalidConfig(
                "adopted fd carries packet information (IFF_NO_PI unset)",
            ));
        }
        rustix::fs::fcntl_setfl(&fd, OFlags::RDWR | OFlags::NONBLOCK)
            .map_err(|e| Error::device(DeviceOp::SetFileFlags, &name, e.into()))?;
        let vnet = flags & libc::IFF_VNET_HDR != 0;
        self.finish(fd, name, vnet, flags & libc::IFF_MULTI_QUEUE != 0)
    }

    fn finish(&self, fd: OwnedFd, name: String, vnet: bool, multi: bool) -> Result<Tun, Error> {
        let vnet_len = if vnet {
            let want = if self.offload {
                self.vnet_hdr_len
            } else {
                // Keep an adopted descriptor's length if it is one we read and write; the
                // kernel allows any length from 10 up, and a longer one would not fit our
                // header buffers: take the builder's then.
                let cur = sys::get_vnet_hdr_sz(fd.as_fd())
                    .map_err(|e| Error::device(DeviceOp::GetVnetHdrLen, &name, e))?;
                if cur == VirtioNetHdr::LEN || cur == VirtioNetHdrV1::LEN {
                    cur
                } else {
                    self.vnet_hdr_len
                }
            };
            sys::set_vnet_hdr_sz(fd.as_fd(), want)
                .map_err(|e| Error::device(DeviceOp::SetVnetHdrLen, &name, e))?;
            want
        } else {
            0
        };
        let ctl = control_socket(fd.as_fd())
            .map_err(|e| Error::device(DeviceOp::ControlSocket, &name, e))?;
        let dev = Arc::new(Device {
            name,
            ctl,
            vnet_len,
            multi_queue: multi,
            offload: AtomicU32::new(0),
            gro: AtomicBool::new(vnet && self.gro),
            udp_gro: AtomicBool::new(vnet && self.gro && self.udp_gro),
            udp_gso_rejections: std::sync::atomic::AtomicU64::new(0),
            counters: Counters::default(),
            hook: self.hook.clone(),
            gro_config: self.gro_config,
            removed: AtomicBool::new(false),
            #[cfg(any(test, feature = "test-seams"))]
            inject_gso_einval: AtomicU32::new(0),
        });
        let dev_name = dev.name.clone();
        let q = Queue::new(fd, dev, self.blocking)
            .map_err(|e| Error::device(DeviceOp::SetFileFlags, &dev_name, e))?;
        let tun = Tun { q: Arc::new(q) };
        let ctl = tun.control();
        // Always set the mask, also to 0: a persistent device keeps an earlier owner's mask,
        // and TSO without a vnet header would hand us unsplittable super-packets
        // (rule book §4 and "Known pitfalls": set the mask explicitly on attach).
        if vnet && self.offload {
            ctl.negotiate_offload(self.offload_mask)?;
        } else {
            ctl.set_offload(OffloadFlags::NONE)?;
        }
        if let Some(uid) = self.owner {
            sys::set_owner(tun.q.fd.as_fd(), uid)
                .map_err(|e| Error::device(DeviceOp::SetOwner, ctl.name(), e))?;
        }
        if let Some(gid) = self.group {
            sys::set_group(tun.q.fd.as_fd(), gid)
                .map_err(|e| Error::device(DeviceOp::SetGroup, ctl.name(), e))?;
        }
        if let Some(p) = self.persist {
            sys::set_persist(tun.q.fd.as_fd(), p)
                .map_err(|e| Error::device(DeviceOp::SetPersist, ctl.name(), e))?;
        }
        if let Some(mtu) = self.mtu {
            ctl.set_mtu(mtu)?;
        }
        if let Some(len) = self.tx_queue_len {
            ctl.set_tx_queue_len(len)?;
        }
        if self.up {
            ctl.set_up(true)?;
        }
        Ok(tun)
    }
}

fn inet_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?)
}

/// A socket for `SIOC*IF*` ioctls in the device's own network namespace, which differs from
/// the caller's when a descriptor was handed over from another namespace. Entering that
/// namespace needs privileges; without them the caller's namespace is used (MTU and link
/// changes then fail with `ENODEV` and must be done by the parent).
fn control_socket(tun: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    socket_in_device_netns(tun, inet_socket).or_else(|_| inet_socket())
}

/// A socket made by `make` in the network namespace of the device behind `tun`, which the
/// kernel names (`TUNGETDEVNETNS`, which needs `CAP_NET_ADMIN` there): on the calling thread
/// when that is where it is, else on a short-lived thread that enters the device's namespace
/// (which needs `CAP_SYS_ADMIN`). A socket stays in the namespace it was created in, whichever
/// thread uses it later.
pub(crate) fn socket_in_device_netns(
    tun: BorrowedFd<'_>,
    make: fn() -> io::Result<OwnedFd>,
) -> io::Result<OwnedFd> {
    let ns = sys::get_dev_netns(tun)?;
    let here = rustix::fs::stat("/proc/thread-self/ns/net");
    let there = rustix::fs::fstat(&ns);
    if let (Ok(a), Ok(b)) = (here, there)
        && (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    {
        return make();
    }
    std::thread::scope(|s| {
        s.spawn(|| -> io::Result<OwnedFd> {
            rustix::thread::move_into_link_name_space(
                ns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            make()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("socket thread panicked")))
    })
}

fn open_dev() -> Result<OwnedFd, Error> {
    rustix::fs::open(
        "/dev/net/tun",
        OFlags::RDWR | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| Error::Open(e.into()))
}

/// One queue of a TUN device: unbatched I/O, [`into_halves`](Tun::into_halves) into batch
/// [`Reader`](crate::Reader) and [`Writer`](crate::Writer) halves, and more queues of a
/// multi-queue device. Everything about the device itself — name, capabilities, offloads,
/// MTU, link state, statistics — is on its [`Control`], which every handle hands out.
///
/// Dropping the last handle of a queue closes it; a non-persistent device disappears with its
/// last queue.
///
/// ```no_run
/// let tun = linux_tun::Tun::builder().name("tun%d").offload(true).mtu(1500).up().open()?;
/// let ctl = tun.control();
/// println!("{} granted {:?}", ctl.name(), ctl.capabilities());
/// # Ok::<(), linux_tun::Error>(())
/// ```
pub struct Tun {
    pub(crate) q: Arc<Queue>,
}

impl fmt::Debug for Tun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tun")
            .field("name", &self.q.dev.name)
            .field("fd", &self.q.fd.as_raw_fd())
            .field("capabilities", &self.control().capabilities())
            .finish()
    }
}

impl Tun {
    /// Start configuring a device.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The handle for device-wide settings, this queue's attachment and statistics; cheap to
    /// clone, and it stays usable after [`into_halves`](Self::into_halves).
    pub fn control(&self) -> Control {
        Control {
            q: Arc::clone(&self.q),
        }
    }

    /// Switch between blocking and non-blocking reads and writes for this queue.
    ///
    /// # Errors
    /// [`Error::Device`] ([`DeviceOp::SetFileFlags`]) if the fd's `O_NONBLOCK` flag cannot be
    /// changed.
    pub fn set_blocking(&self, on: bool) -> Result<(), Error> {
        self.q
            .set_blocking(on)
            .map_err(|e| Error::device(DeviceOp::SetFileFlags, &self.q.dev.name, e))
    }

    /// Open one more queue of this multi-queue device. Must run in the network namespace the
    /// device lives in (the namespace of the opening thread).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] on a single-queue device; [`Error::Device`] from `TUNSETIFF`.
    pub fn open_queue(&self) -> Result<Tun, Error> {
        let dev = &self.q.dev;
        if !dev.multi_queue {
            return Err(Error::InvalidConfig(
                "open_queue needs a multi-queue device",
            ));
        }
        let fd = open_dev()?;
        let mut flags = libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE;
        if dev.vnet_len != 0 {
            flags |= libc::IFF_VNET_HDR;
        }
        sys::set_iff(fd.as_fd(), &dev.name, flags)
            .map_err(|e| Error::device(DeviceOp::SetIff, &dev.name, e))?;
        if dev.vnet_len != 0 {
            sys::set_vnet_hdr_sz(fd.as_fd(), dev.vnet_len)
                .map_err(|e| Error::device(DeviceOp::SetVnetHdrLen, &dev.name, e))?;
        }
        let q = Queue::new(fd, Arc::clone(dev), self.q.is_blocking())
            .map_err(|e| Error::device(DeviceOp::SetFileFlags, &dev.name, e))?;
        Ok(Tun { q: Arc::new(q) })
    }

    /// Read one raw frame: the vnet header (when enabled) followed by the IP packet. Blocks
    /// in blocking mode; returns `WouldBlock` otherwise. A buffer shorter than the frame
    /// truncates it (size it `65535 +` header length).
    ///
    /// # Errors
    /// The `read(2)` error as the kernel gave it; after one,
    /// [`Control::is_removed`] tells whether the device was deleted (`EFAULT`, `EBADFD`).
    pub fn read_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.q.read(buf).inspect_err(|e| self.note_removal(e))
    }

    /// Write one raw frame (vnet header included when enabled).
    ///
    /// # Errors
    /// The `write(2)` error as the kernel gave it: `EINVAL` for a header or packet the kernel
    /// rejects, `EIO` while the link is down; [`Control::is_removed`] tells a deleted device.
    pub fn write_raw(&self, frame: &[u8]) -> io::Result<usize> {
        self.writev_raw(&[IoSlice::new(frame)])
    }

    /// Write one raw frame gathered from `bufs` with one `writev(2)`.
    ///
    /// # Errors
    /// As [`write_raw`](Self::write_raw).
    pub fn writev_raw(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.q.writev(bufs).inspect_err(|e| self.note_removal(e))
    }

    /// Remember a removal that `e` reveals for [`Control::is_removed`]: the `EFAULT` a read
    /// blocked at the moment of deletion gets comes before the kernel has detached the file.
    fn note_removal(&self, e: &io::Error) {
        self.q.removed_by(e);
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.q.fd.as_fd()
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.q.fd.as_raw_fd()
    }
}

/// The one home of device-wide settings (offloads, GRO, MTU, link state), the queue's
/// attachment and the statistics. Every handle gives one — [`Tun::control`],
/// [`Reader::control`](crate::Reader::control), [`Writer::control`](crate::Writer::control)
/// — so the same calls work before and after [`Tun::into_halves`]. Cheap to clone, usable from any
/// thread while the halves work.
///
/// ```no_run
/// use linux_tun::{OffloadFlags, Tun};
/// let tun = Tun::builder().name("tun0").open()?;
/// let ctl = tun.control();
/// let (rx, tx) = tun.into_halves(); // `ctl` keeps working
/// ctl.set_mtu(1420)?;
/// ctl.set_up(true)?;
/// assert!(ctl.capabilities().offload.contains(OffloadFlags::CSUM));
/// println!("{}: {:?}", ctl.name(), ctl.stats());
/// # let _ = (rx, tx);
/// # Ok::<(), linux_tun::Error>(())
/// ```
#[derive(Clone)]
pub struct Control {
    pub(crate) q: Arc<Queue>,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl Control {
    pub(crate) fn new(q: Arc<Queue>) -> Control {
        Control { q }
    }

    /// The device name the kernel assigned (a `%d` in the requested name filled in).
    pub fn name(&self) -> &str {
        &self.q.dev.name
    }

    /// What the kernel granted.
    pub fn capabilities(&self) -> Capabilities {
        let dev = &self.q.dev;
        Capabilities {
            vnet_hdr_len: (dev.vnet_len != 0).then_some(dev.vnet_len),
            offload: OffloadFlags(dev.offload.load(Ordering::Relaxed)),
            gro: dev.gro.load(Ordering::Relaxed),
            udp_gro: dev.udp_gro(),
            multi_queue: dev.multi_queue,
        }
    }

    /// Set the `TUNSETOFFLOAD` mask exactly (no probing).
    ///
    /// # Errors
    /// [`Error::UnsupportedOffload`] for bits outside [`OffloadFlags::ALL`] or any offload on
    /// a device without a vnet header; [`Error::Device`] ([`DeviceOp::SetOffload`]) if the
    /// kernel refuses the mask.
    pub fn set_offload(&self, mask: OffloadFlags) -> Result<(), Error> {
        let dev = &self.q.dev;
        if mask.bits() & !OffloadFlags::ALL.bits() != 0 || (dev.vnet_len == 0 && !mask.is_empty()) {
            return Err(Error::UnsupportedOffload(mask.bits()));
        }
        sys::set_offload(self.q.fd.as_fd(), mask.bits())
            .map_err(|e| Error::device(DeviceOp::SetOffload, &dev.name, e))?;
        dev.offload.store(mask.bits(), Ordering::Relaxed);
        Ok(())
    }

    /// Ask for `wanted` and step down on `EINVAL` (rule book §4: any bit the kernel does not
    /// know makes `set_offload` fail): `wanted`, then without `USO4 | USO6` (unknown before
    /// Linux 6.2, and refused one without the other), then also without `TSO_ECN`, then
    /// `CSUM` only, then nothing. Returns the granted mask;
    /// [`has_uso`](OffloadFlags::has_uso) on it says whether reads may carry UDP
    /// super-packets.
    ///
    /// # Errors
    /// [`Error::Device`] ([`DeviceOp::SetOffload`]) for a failure other than `EINVAL`.
    pub fn negotiate_offload(&self, wanted: OffloadFlags) -> Result<OffloadFlags, Error> {
        let uso = OffloadFlags::USO4.bits() | OffloadFlags::USO6.bits();
        let no_uso = OffloadFlags(wanted.bits() & !uso);
        let no_ecn = OffloadFlags(no_uso.bits() & !OffloadFlags::TSO_ECN.bits());
        let csum = OffloadFlags(wanted.bits() & OffloadFlags::CSUM.bits());
        let mut last = None;
        for mask in [wanted, no_uso, no_ecn, csum, OffloadFlags::NONE] {
            if last == Some(mask) {
                continue;
            }
            last = Some(mask);
            match self.set_offload(mask) {
                Ok(()) => return Ok(mask),
                Err(Error::Device { ref source, .. })
                    if source.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::device(
            DeviceOp::SetOffload,
            self.name(),
            io::Error::from_raw_os_error(libc::EINVAL),
        ))
    }

    /// Turn TCP write coalescing (GRO) on or off (UDP's is [`set_udp_gro`](Self::set_udp_gro)).
    /// Turning it on needs a vnet header.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when turning it on without a vnet header.
    pub fn set_gro(&self, on: bool) -> Result<(), Error> {
        if on && self.q.dev.vnet_len == 0 {
            return Err(Error::InvalidConfig("GRO needs a vnet header"));
        }
        self.q.dev.gro.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Turn UDP write coalescing (USO super-packets) on or off, independently of TCP's
    /// ([`set_gro`](Self::set_gro)).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when turning it on without a vnet header or without USO
    /// granted ([`Capabilities::offload`]`.has_uso()`).
    ///
    /// ```no_run
    /// let tun = linux_tun::Tun::builder().name("tun0").open()?;
    /// tun.control().set_udp_gro(false)?; // e.g. a path that drops coalesced UDP
    /// # Ok::<(), linux_tun::Error>(())
    /// ```
    pub fn set_udp_gro(&self, on: bool) -> Result<(), Error> {
        let dev = &self.q.dev;
        if on && dev.vnet_len == 0 {
            return Err(Error::InvalidConfig("UDP GRO needs a vnet header"));
        }
        if on && !OffloadFlags(dev.offload.load(Ordering::Relaxed)).has_uso() {
            return Err(Error::InvalidConfig(
                "UDP GRO needs USO (TUN_F_USO4 | TUN_F_USO6)",
            ));
        }
        dev.udp_gro.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// The MTU.
    ///
    /// # Errors
    /// [`Error::Device`] ([`DeviceOp::GetMtu`]).
    pub fn mtu(&self) -> Result<u32, Error> {
        let dev = &self.q.dev;
        sys::get_mtu(dev.ctl.as_fd(), &dev.name)
            .map_err(|e| Error::device(DeviceOp::GetMtu, &dev.name, e))
    }

    /// Set the MTU.
    ///
    /// # Errors
    /// [`Error::Device`] ([`DeviceOp::SetMtu`]).
    pub fn set_mtu(&self, mtu: u32) -> Result<(), Error> {
        let dev = &self.q.dev;
        sys::set_mtu(dev.ctl.as_fd(), &dev.name, mtu)
            .map_err(|e| Error::device(DeviceOp::SetMtu, &dev.name, e))
    }

    /// The transmit queue length: how many packets the kernel holds for this device's
    /// readers before it drops (`qlen` in `ip link`).
    ///
    /// # Errors
    /// [`Error::Device`] ([`DeviceOp::GetTxQueueLen`]).
    pub fn tx_queue_len(&self) -> Result<u32, Error> {
        let dev = &self.q.dev;
        sys::get_tx_queue_len(dev.ctl.as_fd(), &dev.name)
            .map_err(|e| Error::device(DeviceOp::GetTxQueueLen, &dev.name, e))
    }

    /// Set the transmit queue length (needs `CAP_NET_ADMIN`). Longer absorbs bursts when
    /// the reader falls behind, at the cost of latency; the kernel drops beyond it (counted
    /// as the link's TX drops).
    ///
    /// ```no_run
    /// let tun = linux_tun::Tun::builder().name("tun0").open()?;
    /// let ctl = tun.control();
    /// ctl.set_tx_queue_len(4096)?;
    /// assert_eq!(ctl.tx_queue_len()?, 4096);
    /// println!("{} is interface {}", ctl.name(), ctl.ifindex()?);
    /// # Ok::<(), linux_tun::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Device`] ([`DeviceOp::SetTxQueueLen`]; `EPERM` without `CAP_NET_ADMIN`).
    pub fn set_tx_queue_len(&self, len: u32) -> Result<(), Error> {
        let dev = &self.q.dev;
        sys::set_tx_queue_len(dev.ctl.as_fd(), &dev.name, len)
            .map_err(|e| Error::device(DeviceOp::SetTxQueueLen, &dev.name, e))
    }

    /// The interface index, for routes, addresses and sockets bound to the device (netlink
    /// and `SO_BINDTOIFINDEX` name interfaces by index). Looked up in the device's own
    /// namespace.
    ///
    /// # Errors
    /// [`Error::Device`] ([`DeviceOp::GetIndex`]).
    pub fn ifindex(&self) -> Result<u32, Error> {
        let dev = &self.q.dev;
        sys::get_ifindex(dev.ctl.as_fd(), &dev.name)
            .map_err(|e| Error::device(DeviceOp::GetIndex, &dev.name, e))
    }

    /// Bring the link up or down.
    ///
    /// # Errors
    /// [`Error::Device`] ([`DeviceOp::SetLinkFlags`]).
    pub fn set_up(&self, up: bool) -> Result<(), Error> {
        let dev = &self.q.dev;
        sys::set_up(dev.ctl.as_fd(), &dev.name, up)
            .map_err(|e| Error::device(DeviceOp::SetLinkFlags, &dev.name, e))
    }

    /// Whether the link is up.
    ///
    /// # Errors
    /// [`Error::Device`] ([`DeviceOp::GetLinkFlags`]).
    pub fn is_up(&self) -> Result<bool, Error> {
        let dev = &self.q.dev;
        sys::is_up(dev.ctl.as_fd(), &dev.name)
            .map_err(|e| Error::device(DeviceOp::GetLinkFlags, &dev.name, e))
    }

    /// Detach the queue this handle came from (`TUNSETQUEUE`, `IFF_DETACH_QUEUE`): the kernel
    /// stops steering packets to it until [`attach_queue`](Self::attach_queue).
    ///
    /// # Errors
    /// [`Error::Device`] ([`DeviceOp::SetQueue`]; e.g. `EINVAL` on a single-queue device).
    pub fn detach_queue(&self) -> Result<(), Error> {
        sys::set_queue(self.q.fd.as_fd(), false)
            .map_err(|e| Error::device(DeviceOp::SetQueue, self.name(), e))
    }

    /// Re-attach the detached queue this handle came from (`TUNSETQUEUE`,
    /// `IFF_ATTACH_QUEUE`).
    ///
    /// # Errors
    /// [`Error::Device`] ([`DeviceOp::SetQueue`]).
    pub fn attach_queue(&self) -> Result<(), Error> {
        sys::set_queue(self.q.fd.as_fd(), true)
            .map_err(|e| Error::device(DeviceOp::SetQueue, self.name(), e))
    }

    /// Whether the device has been deleted (`ip link del`) while this handle kept it open.
    /// (Its namespace cannot go away meanwhile: an open queue holds it.) Asks the kernel
    /// (`TUNGETIFF` fails with `EBADFD` on a file whose device is gone) unless a read or
    /// write already found out. The batch halves report removal themselves
    /// ([`RecvError::DeviceRemoved`], [`SendError::DeviceRemoved`]); this is for the raw
    /// calls ([`Tun::read_raw`], [`Tun::write_raw`]), which return the kernel's errors as
    /// they are.
    ///
    /// ```no_run
    /// let tun = linux_tun::Tun::builder().name("tun0").up().open()?;
    /// let mut frame = vec![0u8; 65536 + 12];
    /// match tun.read_raw(&mut frame) {
    ///     Err(_) if tun.control().is_removed() => eprintln!("tun0 was removed"),
    ///     r => println!("{r:?}"),
    /// }
    /// # Ok::<(), linux_tun::Error>(())
    /// ```
    ///
    /// [`RecvError::DeviceRemoved`]: crate::RecvError::DeviceRemoved
    /// [`SendError::DeviceRemoved`]: crate::SendError::DeviceRemoved
    pub fn is_removed(&self) -> bool {
        self.q.is_removed()
    }

    /// Counters since the device was opened (shared by all queues opened from one handle).
    pub fn stats(&self) -> Stats {
        self.q.dev.counters.snapshot()
    }

    /// Test seam (feature `test-seams`, not for production): the next `n` super-packet (GSO)
    /// writes on this device fail with `EINVAL` before reaching the kernel, as a kernel with
    /// the 2024 virtio regression would answer (rule book §3.3 item 7). Lets tests drive the
    /// fallback and [`GRO_DISABLE_AFTER`](crate::GRO_DISABLE_AFTER).
    #[cfg(any(test, feature = "test-seams"))]
    pub fn inject_gso_einval(&self, n: u32) {
        self.q.dev.inject_gso_einval.store(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSliceMut;

    fn queue_on(fd: OwnedFd, blocking: bool) -> Queue {
        let dev = Arc::clone(&test_queue(0).dev);
        Queue::new(fd, dev, blocking).unwrap()
    }

    fn nonblock(fd: &OwnedFd) -> bool {
        rustix::fs::fcntl_getfl(fd)
            .unwrap()
            .contains(OFlags::NONBLOCK)
    }

    #[test]
    fn blocking_mode_drains_with_nowait_on_a_blocking_fd() {
        // A blocking UDP socket stands in for an empty TUN queue: RWF_NOWAIT must answer
        // WouldBlock at once instead of sleeping, and leave the fd blocking.
        let sock = rustix::net::socket(
            rustix::net::AddressFamily::INET,
            rustix::net::SocketType::DGRAM,
            None,
        )
        .unwrap();
        let q = queue_on(sock, true);
        assert!(!nonblock(&q.fd));
        let mut buf = [0u8; 16];
        let e = q
            .readv_nowait(&mut [IoSliceMut::new(&mut buf)])
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(q.nowait.load(Ordering::Relaxed), NOWAIT_WORKS);
        assert!(!nonblock(&q.fd));
        // Non-blocking mode: an O_NONBLOCK fd and plain reads.
        q.set_blocking(false).unwrap();
        assert!(nonblock(&q.fd));
        let e = q.readv_wait(&mut [IoSliceMut::new(&mut buf)]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        q.set_blocking(true).unwrap();
        assert!(!nonblock(&q.fd));
    }

    #[test]
    fn a_kernel_refusing_nowait_switches_the_queue_to_poll_once() {
        // procfs files answer RWF_NOWAIT with EOPNOTSUPP, as a kernel without TUN support for
        // it would.
        let f = rustix::fs::open("/proc/loadavg", OFlags::RDONLY, Mode::empty()).unwrap();
        let q = queue_on(f, true);
        assert!(!nonblock(&q.fd));
        let mut buf = [0u8; 128];
        let n = q.readv_nowait(&mut [IoSliceMut::new(&mut buf)]).unwrap();
        assert!(n > 0, "the read is retried without RWF_NOWAIT");
        assert_eq!(q.nowait.load(Ordering::Relaxed), NOWAIT_UNSUPPORTED);
        assert!(nonblock(&q.fd) && !q.fd_blocks());
        // Remembered: switching modes keeps the fd non-blocking.
        q.set_blocking(false).unwrap();
        q.set_blocking(true).unwrap();
        assert!(nonblock(&q.fd) && q.is_blocking());
    }
}
