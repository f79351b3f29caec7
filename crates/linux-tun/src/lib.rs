#![doc = include_str!("../README.md")]
//!
//! # In more detail
//!
//! - [`Tun::builder`] creates or attaches a device (`IFF_TUN | IFF_NO_PI`, optionally
//!   `IFF_VNET_HDR` and `IFF_MULTI_QUEUE`), negotiates `TUNSETOFFLOAD` (CSUM, TSO4, TSO6,
//!   TSO_ECN, USO4 and USO6, stepping down on refusal and always setting the mask explicitly — a persistent
//!   device keeps an earlier owner's mask), sets MTU, transmit queue length, link state,
//!   persistence and the owner or group who may open it later without privileges, or adopts a
//!   descriptor handed over by a privileged parent ([`Builder::adopt`]). How writes coalesce
//!   is set there too ([`Builder::gro_config`], a [`GroConfig`]).
//! - [`Control`], from any handle (`.control()` on [`Tun`], [`Reader`], [`Writer`]), is where
//!   everything about the device lives: name, interface index, capabilities, offloads, GRO,
//!   MTU, transmit queue length, link state, queue attachment, statistics, whether it was
//!   removed — before and after [`Tun::into_halves`]; with the `netlink` feature also its
//!   addresses and routes.
//! - [`Reader::recv`] fills a caller-owned [`RecvBatch`]: a super-packet is split (TCP by
//!   `tcp-tso` into MSS segments, UDP by `udp-gso` into `gso_size` datagrams) with complete
//!   checksums, each with headroom for a tunnel
//!   header, and the queue is drained until it is empty or the batch is full. Plain packets
//!   are read straight into the batch. Malformed frames are dropped and counted, never fatal.
//!   In blocking mode the first read sleeps in the kernel and the queue is drained with
//!   `preadv2(RWF_NOWAIT)`: one system call per frame, no `poll`.
//! - [`Writer::send`] takes a [`SendBatch`], coalesces TCP segments (by `tcp-gro`) and, when
//!   the kernel granted USO, UDP datagrams (by `udp-gro`, into `GSO_UDP_L4` super-packets),
//!   and writes each result with one `writev` (virtio header, headers, payload slices: no
//!   payload copy). A kernel that refuses a super-packet (`EINVAL`, rule book §3.3 item 7)
//!   gets its packets one by one instead, and after [`GRO_DISABLE_AFTER`] refusals of one
//!   protocol its coalescing is turned off for the device ([`Event::GroDisabled`],
//!   [`Event::UdpGroDisabled`]); [`Control::set_udp_gro`] turns UDP's off alone (some paths
//!   drop coalesced UDP). [`Writer::send_received`] does the same straight from
//!   a [`RecvBatch`] (a TUN-to-TUN forwarder, or packets decrypted in place): nothing is copied
//!   into a [`SendBatch`] first. After either, [`Writer::failures`] lists the packets the
//!   kernel refused one by one.
//! - A data path with a packet pool of its own uses [`Reader::recv_into`] (one caller buffer
//!   per packet, behind a headroom of its choosing) and [`Writer::send_from`] (any
//!   [`PacketSource`]): the same reads, splits, coalescing and fallback, no batch in between.
//! - [`Stats`] and an [`Event`] hook ([`Builder::on_event`]) make every drop and fallback
//!   visible. With the `tokio` or `async-io` feature, `AsyncTun` does the same on tokio's
//!   or smol's reactor (modules `tokio` and `async_io`, one API).
//!
//! Nothing is allocated per packet: batches, the reader's 64 KiB spill buffer and the
//! coalescer's tables are reused call after call.
//!
//! # Multi-queue
//!
//! ```no_run
//! use linux_tun::{RecvBatch, Tun};
//!
//! // One queue per core; the kernel spreads flows over the attached queues.
//! let queues = Tun::builder().name("mq0").multi_queue(4).up().open_queues()?;
//! let ctl = queues[3].control();
//! let workers: Vec<_> = queues
//!     .into_iter()
//!     .map(|q| {
//!         std::thread::spawn(move || {
//!             let (mut rx, _tx) = q.into_halves();
//!             let mut batch = RecvBatch::new(64, 0);
//!             while rx.recv(&mut batch).is_ok() { /* … */ }
//!         })
//!     })
//!     .collect();
//! ctl.detach_queue()?; // steer nothing to queue 3 for now
//! ctl.attach_queue()?;
//! # let _ = workers;
//! # Ok::<(), linux_tun::Error>(())
//! ```
//!
//! # A persistent device for an unprivileged daemon
//!
//! Creating a device needs `CAP_NET_ADMIN`; attaching to an existing one does not, for its
//! owner or group ([`Builder::owner`], [`Builder::group`]). A privileged step creates and
//! configures it once; the daemon opens it by name later, as that user, with no capabilities.
//!
//! ```no_run
//! use linux_tun::Tun;
//! // Privileged setup (e.g. at boot): the device stays after this handle drops.
//! let setup = Tun::builder().name("vpn0").persist(true).owner(1000).group(1000);
//! let ctl = setup.mtu(1420).tx_queue_len(1000).up().open()?.control();
//! println!("vpn0 is interface {}", ctl.ifindex()?);
//! // The daemon, running as uid 1000 without CAP_NET_ADMIN:
//! let tun = Tun::builder().name("vpn0").open()?; // no mtu/up: those need privileges
//! // Taking it down for good, privileged again: clear persistence, it goes with its last fd.
//! Tun::builder().name("vpn0").persist(false).open()?;
//! # drop(tun);
//! # Ok::<(), linux_tun::Error>(())
//! ```
//!
//! # A device that goes away
//!
//! Deleting the device (`ip link del`) under a running reader or writer makes the kernel
//! answer `EFAULT` to a blocked read, `EBADFD` afterwards and `EIO` to writes while the link
//! is taken down (rule book §1.3). The halves recognise this and say so:
//! [`RecvError::DeviceRemoved`] and [`SendError::DeviceRemoved`], promptly — a blocked read
//! wakes, the async reader too — and at once on every later call, so nothing retries in a
//! loop. A link that is merely down gives [`SendError::LinkDown`]. After a raw call's error,
//! [`Control::is_removed`] tells.
//!
//! ```no_run
//! use linux_tun::{RecvBatch, RecvError, SendError, Tun};
//! let (mut rx, _) = Tun::builder().name("tun0").up().open()?.into_halves();
//! let (_, mut tx) = Tun::builder().name("tun1").up().open()?.into_halves();
//! let mut batch = RecvBatch::new(128, 0);
//! loop {
//!     let checksum = match rx.recv(&mut batch) {
//!         Ok(_) => batch.checksum(),
//!         Err(RecvError::DeviceRemoved) => break eprintln!("tun0 was removed"),
//!         Err(e) => return Err(e.into()),
//!     };
//!     match tx.send_received(&mut batch, checksum) {
//!         Ok(_) | Err(SendError::LinkDown { .. }) => {} // a down link drops, as the kernel would
//!         Err(SendError::DeviceRemoved { .. }) => break eprintln!("tun1 was removed"),
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Namespaces
//!
//! A device is created in the network namespace of the thread that opens it; its descriptor
//! and the [`Control`] operations (MTU, link state) keep working from any thread afterwards.
//! An adopted descriptor from another namespace gets its control socket in the device's
//! namespace (`TUNGETDEVNETNS`) when the process may enter it.
//!
//! # Addresses and routes (feature `netlink`)
//!
//! With the non-default feature `netlink`, [`Control`] configures the device's IP side from
//! code, without running `ip`: `add_address` and `add_address_with_peer` (IPv4 and IPv6, with
//! a prefix length, optionally the other end of a point-to-point link), `delete_address`,
//! `addresses` (what the device has, to configure idempotently), `add_route` and
//! `delete_route` (IPv4 and IPv6 prefixes through the device). MTU and link state keep their
//! ioctls ([`Control::set_mtu`], [`Control::set_up`]), which need no feature: one way for each
//! setting. A refusal is an `Error::Netlink` naming the request ([`DeviceOp`]) with the
//! kernel's errno: an address or route that is already there is `EEXIST`
//! ([`std::io::ErrorKind::AlreadyExists`]), so a configuration step can be repeated.
//!
//! Requests name the device by interface index and go over a netlink socket opened in the
//! device's own network namespace: the calling thread's when the device lives there (the usual
//! case, and the one to use from inside that namespace), otherwise a short-lived thread enters
//! the device's namespace to open it, as for the MTU and link ioctls. An adopted descriptor
//! from another namespace is configured where it lives, and a device of the same index in the
//! caller's namespace is never touched. All of this needs `CAP_NET_ADMIN` over the device's
//! namespace, listing addresses too (the kernel names a device's namespace, `TUNGETDEVNETNS`,
//! only to a caller that has it there).
//!
//! ```no_run
//! # #[cfg(feature = "netlink")]
//! # {
//! use linux_tun::Tun;
//! let ctl = Tun::builder().name("wg0").mtu(1420).up().open()?.control();
//! ctl.add_address_with_peer("10.8.0.1".parse()?, "10.8.0.2".parse()?, 32)?;
//! ctl.add_address("fd00:8::1".parse()?, 64)?;
//! ctl.add_route("10.9.0.0".parse()?, 16)?; // the networks behind the peer
//! ctl.add_route("fd00:9::".parse()?, 48)?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The messages are built and parsed by `netlink-packet-route` (with `netlink-packet-core`),
//! and sent on a plain `NETLINK_ROUTE` socket from `rustix`, which the crate uses already:
//! synchronous calls that work from any program, async or not, with no runtime and no thread
//! of their own. `rtnetlink`, by the same authors, would bring an async runtime (`futures`,
//! `tokio` or `async-global-executor`) for what are a few request/acknowledgement exchanges;
//! `neli` is synchronous but larger, with derive macros of its own; `netlink-sys` would
//! duplicate the socket `rustix` provides. The feature adds `netlink-packet-route`,
//! `netlink-packet-core` and `log` to the build, nothing else.
//!
//! # Test seams
//!
//! The non-default feature `test-seams` adds two hooks for tests, not for production:
//! `Control::inject_gso_einval` (the next `n` super-packet writes fail with `EINVAL` before
//! reaching the kernel, driving the fallback) and `Reader::inject_frame` (a later read returns
//! the given bytes instead of the kernel's, to feed the read path headers the kernel never
//! produces). Without the feature they do not exist and the read and write paths check
//! nothing for them. `cargo test --all-features` runs the tests that need them.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "tokio", feature = "async-io"))]
mod async_tun;
mod device;
mod error;
mod halves;
#[cfg(feature = "netlink")]
mod netlink;
mod recv;
#[cfg(feature = "async-io")]
mod rt_async_io;
#[cfg(feature = "tokio")]
mod rt_tokio;
mod send;
mod split;
mod stats;
#[allow(unsafe_code)]
mod sys;

/// The async device on tokio (feature `tokio`): [`AsyncTun`] registers a queue with tokio's
/// reactor and divides into [`AsyncReader`] and [`AsyncWriter`], whose methods are those of
/// the blocking halves, `async`. The same types are at the crate root, where they have always
/// been. Module `async_io` (feature `async-io`) has the same API on smol's reactor; both run
/// one readiness loop.
#[cfg(feature = "tokio")]
pub mod tokio {
    pub use crate::rt_tokio::{AsyncReader, AsyncTun, AsyncWriter};
}

/// The async device on `async-io`, the reactor of smol (feature `async-io`): the same types,
/// methods and errors as module `tokio`'s — [`AsyncTun`](async_io::AsyncTun),
/// [`AsyncReader`](async_io::AsyncReader), [`AsyncWriter`](async_io::AsyncWriter) — for any
/// executor that runs on `async-io` (smol, `async-std`, or `async_io::block_on`).
#[cfg(feature = "async-io")]
pub mod async_io {
    pub use crate::rt_async_io::{AsyncReader, AsyncTun, AsyncWriter};
}

pub use device::{Builder, Capabilities, Control, OffloadFlags, Tun};
pub use error::{DeviceOp, Error, PacketError, PushError, RecvError, SendError};
#[cfg(feature = "netlink")]
#[cfg_attr(docsrs, doc(cfg(feature = "netlink")))]
pub use netlink::Address;
pub use recv::{IterMut, Reader, RecvBatch, RecvInfo, RecvPacket, RecvPacketMut};
#[cfg(feature = "tokio")]
pub use rt_tokio::{AsyncReader, AsyncTun, AsyncWriter};
pub use send::{GRO_DISABLE_AFTER, SendBatch, Writer};
pub use stats::{DropReason, Event, Stats};
pub use tcp_gro::ChecksumStatus;
/// How writes coalesce segments into super-packets, for [`Builder::gro_config`]: the largest
/// merged packet and whether segments arriving out of order within a batch merge
/// (`tcp-gro`'s `Config`, re-exported so that no direct dependency on `tcp-gro` is needed).
pub use tcp_gro::Config as GroConfig;
/// Where [`Writer::send_from`] finds the packets to write: a slice or `Vec` of buffers, or a
/// packet pool of the caller's (`tcp-gro`'s trait, re-exported so that no direct dependency
/// on `tcp-gro` is needed).
pub use tcp_gro::PacketSource;
/// The virtio header's validation error, as carried by [`DropReason::BadHeader`].
pub use virtio_net_hdr::Error as HeaderError;
