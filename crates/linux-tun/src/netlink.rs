//! The device's addresses and routes over rtnetlink (feature `netlink`).
//!
//! Requests are built and replies parsed by `netlink-packet-route`; the socket is a plain
//! `NETLINK_ROUTE` socket (rustix), opened for each operation in the device's own network
//! namespace and read synchronously until the kernel has answered. MTU and link state stay
//! with the `SIOCSIF*` ioctls of [`Control`] (they need no feature): one way for each setting.
//! Kernel behaviour relied on here: rule book §1.4.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REQUEST, NetlinkBuffer,
    NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::route::{
    RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{RecvFlags, SendFlags, SocketFlags, SocketType};

use crate::device::{Control, socket_in_device_netns};
use crate::error::{DeviceOp, Error};

/// Room for one reply datagram. The kernel fills a dump datagram up to the reader's buffer
/// size, at most 32 KiB (`netlink_recvmsg` records it as `max_recvmsg_len`, `netlink_dump`
/// allocates by it); a longer datagram would be reported as a parse error, never read in part.
const RECV_BUF: usize = 64 * 1024;

/// A dump the kernel marks inconsistent (`NLM_F_DUMP_INTR`: the list changed while it was
/// being read) is asked for again, this many times at most.
const DUMP_TRIES: usize = 8;

/// An address of the device, as [`Control::addresses`] lists it: what
/// [`Control::add_address`] or [`Control::add_address_with_peer`] (or `ip addr add`) set.
///
/// ```no_run
/// let ctl = linux_tun::Tun::builder().name("tun0").open()?.control();
/// for a in ctl.addresses()? {
///     match a.peer {
///         Some(peer) => println!("{} peer {}/{}", a.ip, peer, a.prefix_len),
///         None => println!("{}/{}", a.ip, a.prefix_len),
///     }
/// }
/// # Ok::<(), linux_tun::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Address {
    /// The device's own address (`IFA_LOCAL`).
    pub ip: IpAddr,
    /// The prefix length: of the on-link network, or of the peer's when there is one.
    pub prefix_len: u8,
    /// The other end of a point-to-point link (`IFA_ADDRESS` when it differs from the local
    /// address), if one was given.
    pub peer: Option<IpAddr>,
}

impl Control {
    /// Add the address `ip/prefix_len` to the device (`RTM_NEWADDR`, as `ip addr add`; IPv6
    /// as `ip addr add … nodad`). The kernel adds the prefix route that goes with it. A TUN
    /// does no duplicate address detection (`IFF_NOARP`), so an IPv6 address is marked as
    /// needing none: it is usable (a source, something to bind to) as soon as the call
    /// returns, not only once a kernel work item has run (rule book §1.4).
    ///
    /// The request goes over a netlink socket opened in the device's own network namespace
    /// — the calling thread's unless the device lives elsewhere, in which case a short-lived
    /// thread enters that namespace to open it (as for the MTU and link ioctls) — and names
    /// the device by its interface index ([`ifindex`](Self::ifindex)). It works on an adopted
    /// descriptor alike, and never touches a device of the same index in another namespace.
    ///
    /// ```no_run
    /// use linux_tun::Tun;
    /// let ctl = Tun::builder().name("tun0").mtu(1420).up().open()?.control();
    /// ctl.add_address("10.8.0.1".parse()?, 24)?;
    /// ctl.add_address("fd00:8::1".parse()?, 64)?;
    /// ctl.add_route("10.9.0.0".parse()?, 16)?; // more behind the tunnel
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a prefix longer than the address. [`Error::Netlink`]
    /// ([`DeviceOp::AddAddress`]) with the kernel's errno: `EEXIST`
    /// ([`io::ErrorKind::AlreadyExists`]) when the device already has this address with
    /// this prefix length, so that a caller configuring idempotently can recognise it;
    /// `EPERM` without `CAP_NET_ADMIN`. [`Error::Netlink`] ([`DeviceOp::NetlinkSocket`]) when
    /// no socket could be opened in the device's namespace (finding that namespace needs
    /// `CAP_NET_ADMIN` over it, entering another one `CAP_SYS_ADMIN`); [`Error::Device`]
    /// ([`DeviceOp::GetIndex`]) when the device has no index there.
    pub fn add_address(&self, ip: IpAddr, prefix_len: u8) -> Result<(), Error> {
        self.new_address(ip, None, prefix_len)
    }

    /// Add the address `ip` with the other end of a point-to-point link, `peer/prefix_len`
    /// (`ip addr add IP peer PEER/LEN`). `ip` and `peer` must be of one family. For IPv4 the
    /// kernel routes `peer/prefix_len` through the device instead of `ip/prefix_len`; for
    /// IPv6, `ip/prefix_len` and the peer alone (`/128`).
    ///
    /// Add an IPv6 one with the link up: the kernel adds the route to an IPv6 peer only when
    /// it finishes setting the address up, from a work item a moment after the call returns,
    /// and for an address added while the link was down, not at all (rule book §1.4). Where
    /// traffic must flow at once, or the link is down, use [`add_address`](Self::add_address)
    /// and [`add_route`](Self::add_route) instead.
    ///
    /// ```no_run
    /// let ctl = linux_tun::Tun::builder().name("tun0").up().open()?.control();
    /// ctl.add_address_with_peer("10.8.0.1".parse()?, "10.8.0.2".parse()?, 32)?;
    /// ctl.add_address_with_peer("fd00:8::1".parse()?, "fd00:8::2".parse()?, 128)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`add_address`](Self::add_address); [`Error::InvalidConfig`] for a peer of the
    /// other family.
    pub fn add_address_with_peer(
        &self,
        ip: IpAddr,
        peer: IpAddr,
        prefix_len: u8,
    ) -> Result<(), Error> {
        self.new_address(ip, Some(peer), prefix_len)
    }

    /// Delete the device's address `ip/prefix_len` (with its peer, if it has one), and with
    /// it the routes the kernel added for it.
    ///
    /// ```no_run
    /// let ctl = linux_tun::Tun::builder().name("tun0").open()?.control();
    /// ctl.delete_address("10.8.0.1".parse()?, 24)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Netlink`] ([`DeviceOp::DeleteAddress`]) with `EADDRNOTAVAIL` when the device
    /// has no such address (the kernel's answer), or another errno from the kernel; the
    /// errors of [`addresses`](Self::addresses), which finds the address's peer first.
    pub fn delete_address(&self, ip: IpAddr, prefix_len: u8) -> Result<(), Error> {
        const OP: DeviceOp = DeviceOp::DeleteAddress;
        check_prefix(ip, prefix_len)?;
        // The kernel matches an IPv4 address by its prefix only together with `IFA_ADDRESS`,
        // which is the peer where there is one (`inet_rtm_deladdr`): say exactly which.
        let Some(found) = self
            .addresses()?
            .into_iter()
            .find(|a| a.ip == ip && a.prefix_len == prefix_len)
        else {
            return Err(self.netlink_error(OP, io::Error::from_raw_os_error(libc::EADDRNOTAVAIL)));
        };
        let index = self.ifindex()?;
        let msg = address_message(index, ip, found.peer, prefix_len);
        self.request(OP, RouteNetlinkMessage::DelAddress(msg), 0)
    }

    /// The device's addresses, IPv4 and IPv6, in the kernel's order (`RTM_GETADDR`), the
    /// link-local IPv6 address the kernel assigns included where it has one.
    ///
    /// ```no_run
    /// use std::net::IpAddr;
    /// let ctl = linux_tun::Tun::builder().name("tun0").up().open()?.control();
    /// let ip: IpAddr = "10.8.0.1".parse()?;
    /// if !ctl.addresses()?.iter().any(|a| a.ip == ip && a.prefix_len == 24) {
    ///     ctl.add_address(ip, 24)?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Netlink`] ([`DeviceOp::GetAddresses`]) if the dump fails or does not parse,
    /// or the kernel kept reporting it inconsistent (addresses changing meanwhile);
    /// [`DeviceOp::NetlinkSocket`] and [`Error::Device`] as for
    /// [`add_address`](Self::add_address): listing needs `CAP_NET_ADMIN` too, as the kernel
    /// names the device's namespace only to a caller that has it there.
    pub fn addresses(&self) -> Result<Vec<Address>, Error> {
        const OP: DeviceOp = DeviceOp::GetAddresses;
        let index = self.ifindex()?;
        let mut sock = self.socket()?;
        let dump = sock
            .dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))
            .map_err(|e| self.netlink_error(OP, e))?;
        Ok(dump
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => to_address(&a),
                _ => None,
            })
            .collect())
    }

    /// Route `dest/prefix_len` (IPv4 or IPv6) through the device (`RTM_NEWROUTE` in the main
    /// table, as `ip route add DEST/LEN dev NAME`). `dest` must have no bits set past the
    /// prefix: the kernel refuses such an IPv4 route with `EINVAL`, and ignores them in IPv6.
    /// IPv4 routes need the link up (`ENETDOWN` otherwise).
    ///
    /// ```no_run
    /// let ctl = linux_tun::Tun::builder().name("tun0").up().open()?.control();
    /// ctl.add_route("0.0.0.0".parse()?, 0)?; // everything IPv4 through the tunnel
    /// ctl.add_route("fd00:9::".parse()?, 48)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a prefix longer than the address. [`Error::Netlink`]
    /// ([`DeviceOp::AddRoute`]) with the kernel's errno: `EEXIST`
    /// ([`io::ErrorKind::AlreadyExists`]) when the table already has a route to that prefix
    /// (through this device or another), `ENETDOWN`, `EINVAL`, `EPERM`; the socket and index
    /// errors of [`add_address`](Self::add_address).
    pub fn add_route(&self, dest: IpAddr, prefix_len: u8) -> Result<(), Error> {
        check_prefix(dest, prefix_len)?;
        let msg = route_message(self.ifindex()?, dest, prefix_len, false);
        self.request(
            DeviceOp::AddRoute,
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Delete the route to `dest/prefix_len` through the device from the main table
    /// (`RTM_DELROUTE`); a route to that prefix through another device stays.
    ///
    /// ```no_run
    /// let ctl = linux_tun::Tun::builder().name("tun0").open()?.control();
    /// ctl.delete_route("10.9.0.0".parse()?, 16)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Netlink`] ([`DeviceOp::DeleteRoute`]) with the kernel's errno: `ESRCH` when
    /// there is no such route through the device; the errors of
    /// [`add_route`](Self::add_route) otherwise.
    pub fn delete_route(&self, dest: IpAddr, prefix_len: u8) -> Result<(), Error> {
        check_prefix(dest, prefix_len)?;
        let msg = route_message(self.ifindex()?, dest, prefix_len, true);
        self.request(DeviceOp::DeleteRoute, RouteNetlinkMessage::DelRoute(msg), 0)
    }

    fn new_address(&self, ip: IpAddr, peer: Option<IpAddr>, prefix_len: u8) -> Result<(), Error> {
        check_prefix(ip, prefix_len)?;
        if peer.is_some_and(|p| p.is_ipv4() != ip.is_ipv4()) {
            return Err(Error::InvalidConfig(
                "an address and its peer must be of one family",
            ));
        }
        let msg = address_message(self.ifindex()?, ip, peer, prefix_len);
        self.request(
            DeviceOp::AddAddress,
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Send `msg` with `flags` and wait for the kernel's acknowledgement.
    fn request(&self, op: DeviceOp, msg: RouteNetlinkMessage, flags: u16) -> Result<(), Error> {
        let mut sock = self.socket()?;
        sock.request(msg, flags)
            .map_err(|e| self.netlink_error(op, e))
    }

    fn socket(&self) -> Result<Rtnl, Error> {
        socket_in_device_netns(self.q.fd.as_fd(), rtnl_socket)
            .map(Rtnl::new)
            .map_err(|e| self.netlink_error(DeviceOp::NetlinkSocket, e))
    }

    fn netlink_error(&self, op: DeviceOp, source: io::Error) -> Error {
        Error::Netlink {
            op,
            name: self.name().to_owned(),
            source,
        }
    }
}

/// The prefix must fit the address (the kernel would refuse it with `EINVAL`; said here in
/// words).
fn check_prefix(ip: IpAddr, prefix_len: u8) -> Result<(), Error> {
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    if prefix_len > bits {
        return Err(Error::InvalidConfig(
            "prefix length longer than the address",
        ));
    }
    Ok(())
}

fn family(ip: IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

/// `ifaddrmsg` + `IFA_LOCAL` (the device's address) + `IFA_ADDRESS` (the peer, or the local
/// address again), as `ip addr add` sends them; IPv6 with `IFA_F_NODAD`, as `ip addr add …
/// nodad` (`ipv6_add_addr` then does not mark it tentative). Scope: host for IPv4 loopback,
/// universe otherwise (iproute2's `default_scope`; the kernel sets IPv6 scopes itself).
fn address_message(index: u32, ip: IpAddr, peer: Option<IpAddr>, prefix_len: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family(ip);
    if ip.is_ipv6() {
        m.header.flags = AddressHeaderFlags::Nodad;
    }
    m.header.prefix_len = prefix_len;
    m.header.index = index;
    m.header.scope = match ip {
        IpAddr::V4(v4) if v4.is_loopback() => AddressScope::Host,
        _ => AddressScope::Universe,
    };
    m.attributes.push(AddressAttribute::Local(ip));
    m.attributes
        .push(AddressAttribute::Address(peer.unwrap_or(ip)));
    m
}

/// An `RTM_NEWADDR` of a dump as an [`Address`]. IPv4 always carries both `IFA_LOCAL` and
/// `IFA_ADDRESS` (equal without a peer); IPv6 carries `IFA_ADDRESS` alone without a peer, and
/// `IFA_LOCAL` + `IFA_ADDRESS` (the peer) with one (`inet_fill_ifaddr`, `inet6_fill_ifaddr`).
fn to_address(m: &AddressMessage) -> Option<Address> {
    let mut local = None;
    let mut address = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    let ip = local.or(address)?;
    Some(Address {
        ip,
        prefix_len: m.header.prefix_len,
        peer: address.filter(|&a| local.is_some() && a != ip),
    })
}

/// `rtmsg` + `RTA_DST` + `RTA_OIF` for a unicast route through the device in the main table,
/// as `ip route add DEST/LEN dev NAME` sends it: protocol boot, scope link for IPv4 (no
/// gateway) and universe for IPv6. For a deletion, as `ip route del` sends it: protocol and
/// type unspecified and scope nowhere, so that any route to the prefix through the device
/// matches (`fib_table_delete`, `ip6_route_del`).
fn route_message(index: u32, dest: IpAddr, prefix_len: u8, delete: bool) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family(dest);
    m.header.destination_prefix_length = prefix_len;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    if delete {
        m.header.scope = RouteScope::NoWhere;
    } else {
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = if dest.is_ipv4() {
            RouteScope::Link
        } else {
            RouteScope::Universe
        };
        m.header.kind = RouteType::Unicast;
    }
    m.attributes.push(RouteAttribute::Destination(dest.into()));
    m.attributes.push(RouteAttribute::Oif(index));
    m
}

/// A `NETLINK_ROUTE` socket; the kernel binds it to a port of its choosing on the first send.
fn rtnl_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        rustix::net::AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None, // NETLINK_ROUTE
    )?)
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("rtnetlink reply: {what}"),
    )
}

/// Go through one datagram of replies, handing each rtnetlink message answering request
/// `seq` (of a dump) with its header flags to `each`; replies to other sequence numbers are
/// skipped. `Some` when the answer ends here: `NLMSG_ERROR` (code 0 is the acknowledgement,
/// else the negated errno), `NLMSG_DONE` (a dump's end, with an error code of its own), or
/// bytes that are no netlink message (`InvalidData`). `None`: the answer goes on in the next
/// datagram.
fn scan(
    datagram: &[u8],
    seq: u32,
    each: &mut impl FnMut(RouteNetlinkMessage, u16),
) -> Option<io::Result<()>> {
    let mut at = 0;
    while at < datagram.len() {
        let rest = &datagram[at..];
        // At least a header long, and no longer than what arrived: checked here.
        let head = match NetlinkBuffer::new_checked(rest) {
            Ok(h) => h,
            Err(e) => return Some(Err(invalid(e))),
        };
        let len = head.length() as usize;
        at = at.saturating_add(len.next_multiple_of(4));
        if head.sequence_number() != seq {
            continue;
        }
        let msg = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len]) {
            Ok(m) => m,
            Err(e) => return Some(Err(invalid(e))),
        };
        match msg.payload {
            NetlinkPayload::Error(e) => {
                return Some(match e.code {
                    None => Ok(()),
                    Some(code) => Err(io::Error::from_raw_os_error(code.get().saturating_neg())),
                });
            }
            NetlinkPayload::Done(d) if d.code < 0 => {
                return Some(Err(io::Error::from_raw_os_error(d.code.saturating_neg())));
            }
            NetlinkPayload::Done(_) => return Some(Ok(())),
            NetlinkPayload::InnerMessage(m) => each(m, msg.header.flags),
            _ => {}
        }
    }
    None
}

/// One operation's conversation with the kernel.
struct Rtnl {
    fd: OwnedFd,
    /// The sequence number of the last request; replies to it carry it too.
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    fn new(fd: OwnedFd) -> Rtnl {
        Rtnl {
            fd,
            seq: 0,
            buf: vec![0; RECV_BUF],
        }
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        msg.finalize();
        let mut bytes = vec![0; msg.buffer_len()];
        msg.serialize(&mut bytes);
        let kernel = SocketAddrNetlink::new(0, 0);
        loop {
            match rustix::net::sendto(&self.fd, &bytes, SendFlags::empty(), &kernel) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Send `msg` and wait for the kernel's acknowledgement: `Ok` or its errno.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.send(msg, NLM_F_ACK | flags)?;
        self.replies(|_, _| {})
    }

    /// Ask for a dump and collect it; asked again while the kernel marks it inconsistent.
    fn dump(&mut self, msg: RouteNetlinkMessage) -> io::Result<Vec<RouteNetlinkMessage>> {
        for _ in 0..DUMP_TRIES {
            self.send(msg.clone(), NLM_F_DUMP)?;
            let mut all = Vec::new();
            let mut interrupted = false;
            self.replies(|m, flags| {
                interrupted |= flags & NLM_F_DUMP_INTR != 0;
                all.push(m);
            })?;
            if !interrupted {
                return Ok(all);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "the kernel kept reporting the dump inconsistent",
        ))
    }

    /// Read the replies to the last request, handing each rtnetlink message (of a dump) with
    /// its header flags to `each`, until the answer ends (see [`scan`]).
    fn replies(&mut self, mut each: impl FnMut(RouteNetlinkMessage, u16)) -> io::Result<()> {
        loop {
            let len = self.recv()?;
            if let Some(answer) = scan(&self.buf[..len], self.seq, &mut each) {
                return answer;
            }
        }
    }

    /// One datagram into the buffer; its length.
    fn recv(&mut self) -> io::Result<usize> {
        loop {
            // TRUNC: the datagram's full length, to tell a truncated one.
            match rustix::net::recv(&self.fd, &mut self.buf[..], RecvFlags::TRUNC) {
                Ok((_, len)) if len > self.buf.len() => {
                    return Err(invalid(format_args!(
                        "a datagram of {len} bytes, longer than the {} read",
                        self.buf.len()
                    )));
                }
                Ok((_, len)) => return Ok(len),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{Emitable, ErrorMessage};
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// What `ip addr add 10.8.0.1 peer 10.8.0.2/32 dev X` sends after the `nlmsghdr`, for a
    /// device of index 7 (iproute2 6.1, as `strace -e trace=sendmsg` decodes it):
    /// `ifaddrmsg`, `IFA_LOCAL`, `IFA_ADDRESS`.
    #[test]
    fn an_address_request_is_what_ip_sends() {
        let m = address_message(
            7,
            Ipv4Addr::new(10, 8, 0, 1).into(),
            Some(Ipv4Addr::new(10, 8, 0, 2).into()),
            32,
        );
        let mut bytes = vec![0; m.buffer_len()];
        m.emit(&mut bytes);
        #[rustfmt::skip]
        let want = [
            2, 32, 0, 0, 7, 0, 0, 0,       // AF_INET, /32, flags, scope universe, index 7
            8, 0, 2, 0, 10, 8, 0, 1,       // IFA_LOCAL 10.8.0.1
            8, 0, 1, 0, 10, 8, 0, 2,       // IFA_ADDRESS 10.8.0.2
        ];
        assert_eq!(bytes, want);
        // `ip -6 addr add fd00::1/64 dev X nodad`, and `ip -6 addr add fd00::1 peer
        // fd00::2/128 dev X nodad`.
        let m = address_message(7, "fd00::1".parse().unwrap(), None, 64);
        let mut bytes = vec![0; m.buffer_len()];
        m.emit(&mut bytes);
        #[rustfmt::skip]
        let want = [
            10, 64, 2, 0, 7, 0, 0, 0,      // AF_INET6, /64, IFA_F_NODAD, universe, index 7
            20, 0, 2, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
            20, 0, 1, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        assert_eq!(bytes, want);
        let m = address_message(7, "fd00::1".parse().unwrap(), "fd00::2".parse().ok(), 128);
        let mut bytes = vec![0; m.buffer_len()];
        m.emit(&mut bytes);
        assert_eq!(&bytes[..4], [10, 128, 2, 0]);
        assert_eq!(bytes[bytes.len() - 1], 2);
    }

    /// Likewise `ip route add 10.9.0.0/16 dev X`, `ip -6 route add fd00:9::/48 dev X` and
    /// `ip route del 10.9.0.0/16 dev X`: `rtmsg`, `RTA_DST`, `RTA_OIF`.
    #[test]
    fn a_route_request_is_what_ip_sends() {
        let m = route_message(7, Ipv4Addr::new(10, 9, 0, 0).into(), 16, false);
        let mut bytes = vec![0; m.buffer_len()];
        m.emit(&mut bytes);
        #[rustfmt::skip]
        let want = [
            2, 16, 0, 0, 254, 3, 253, 1,   // AF_INET, /16, src 0, tos 0, main, boot, link, unicast
            0, 0, 0, 0,                    // rtm_flags
            8, 0, 1, 0, 10, 9, 0, 0,       // RTA_DST 10.9.0.0
            8, 0, 4, 0, 7, 0, 0, 0,        // RTA_OIF 7
        ];
        assert_eq!(bytes, want);
        let m = route_message(7, "fd00:9::".parse().unwrap(), 48, false);
        let mut bytes = vec![0; m.buffer_len()];
        m.emit(&mut bytes);
        #[rustfmt::skip]
        let want = [
            10, 48, 0, 0, 254, 3, 0, 1,    // AF_INET6, /48, main, boot, universe, unicast
            0, 0, 0, 0,
            20, 0, 1, 0, 0xfd, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            8, 0, 4, 0, 7, 0, 0, 0,
        ];
        assert_eq!(bytes, want);
        let m = route_message(7, Ipv4Addr::new(10, 9, 0, 0).into(), 16, true);
        let mut bytes = vec![0; m.buffer_len()];
        m.emit(&mut bytes);
        #[rustfmt::skip]
        let want = [
            2, 16, 0, 0, 254, 0, 255, 0,   // unspec protocol, scope nowhere, unspec type
            0, 0, 0, 0,
            8, 0, 1, 0, 10, 9, 0, 0,
            8, 0, 4, 0, 7, 0, 0, 0,
        ];
        assert_eq!(bytes, want);
    }

    #[test]
    fn dumped_addresses_read_back_with_and_without_peers() {
        let v4 = address_message(3, Ipv4Addr::new(10, 0, 0, 1).into(), None, 24);
        assert_eq!(
            to_address(&v4),
            Some(Address {
                ip: Ipv4Addr::new(10, 0, 0, 1).into(),
                prefix_len: 24,
                peer: None
            })
        );
        let peer = Ipv4Addr::new(10, 0, 0, 2).into();
        let v4p = address_message(3, Ipv4Addr::new(10, 0, 0, 1).into(), Some(peer), 32);
        assert_eq!(to_address(&v4p).unwrap().peer, Some(peer));
        // IPv6 without a peer: IFA_ADDRESS alone.
        let mut v6 = AddressMessage::default();
        v6.header.family = AddressFamily::Inet6;
        v6.header.prefix_len = 64;
        v6.attributes
            .push(AddressAttribute::Address(Ipv6Addr::LOCALHOST.into()));
        let a = to_address(&v6).unwrap();
        assert_eq!(
            (a.ip, a.prefix_len, a.peer),
            (Ipv6Addr::LOCALHOST.into(), 64, None)
        );
        // Neither attribute: not an address.
        assert_eq!(to_address(&AddressMessage::default()), None);
    }

    #[test]
    fn prefixes_longer_than_the_address_are_refused() {
        assert!(check_prefix(Ipv4Addr::LOCALHOST.into(), 32).is_ok());
        assert!(check_prefix(Ipv4Addr::LOCALHOST.into(), 33).is_err());
        assert!(check_prefix(Ipv6Addr::LOCALHOST.into(), 128).is_ok());
        assert!(check_prefix(Ipv6Addr::LOCALHOST.into(), 129).is_err());
    }

    proptest::proptest! {
        /// Whatever bytes arrive, a datagram gives an answer, an error or "read on", never a
        /// panic; built from valid replies with bytes overwritten (so that the parser gets
        /// past the header checks too) and cut short. Left whole, it gives exactly the
        /// answer of its first `NLMSG_ERROR` or `NLMSG_DONE` for request 1, after handing
        /// over request 1's messages before it.
        #[test]
        fn any_datagram_is_an_answer_or_an_error(
            replies in proptest::collection::vec((0u32..3, 0usize..4, 0i32..200), 1..4),
            edits in proptest::collection::vec(
                (proptest::num::usize::ANY, proptest::num::u8::ANY),
                0..8,
            ),
            cut in proptest::num::usize::ANY,
        ) {
            let mut datagram = Vec::new();
            let mut want_messages = 0;
            let mut want = None;
            for &(seq, kind, code) in &replies {
                let payload = match kind {
                    0 => error(-code),
                    1 => NetlinkPayload::Done(Default::default()),
                    2 => addr_payload(code as u32),
                    _ => route_payload(code as u32),
                };
                datagram.extend(frame(seq, payload, 2));
                if seq == 1 && want.is_none() {
                    match kind {
                        0 => want = Some(code),
                        1 => want = Some(0),
                        _ => want_messages += 1,
                    }
                }
            }
            let mut got_messages = 0;
            let whole = scan(&datagram, 1, &mut |_, _| got_messages += 1);
            proptest::prop_assert_eq!(got_messages, want_messages);
            let whole = whole.map(|r| r.err().and_then(|e| e.raw_os_error()).unwrap_or(0));
            proptest::prop_assert_eq!(whole, want);

            for (at, byte) in edits {
                let i = at % datagram.len();
                datagram[i] = byte;
            }
            datagram.truncate(cut % (datagram.len() + 1));
            let _ = scan(&datagram, 1, &mut |_, _| {});
        }
    }

    fn frame(seq: u32, payload: NetlinkPayload<RouteNetlinkMessage>, flags: u16) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.sequence_number = seq;
        header.flags = flags;
        let mut m = NetlinkMessage::new(header, payload);
        m.finalize();
        let mut b = vec![0; m.buffer_len()];
        m.serialize(&mut b);
        b
    }

    fn error(code: i32) -> NetlinkPayload<RouteNetlinkMessage> {
        let mut e = ErrorMessage::default();
        e.code = std::num::NonZeroI32::new(code);
        NetlinkPayload::Error(e)
    }

    fn addr_payload(i: u32) -> NetlinkPayload<RouteNetlinkMessage> {
        let m = address_message(i, Ipv4Addr::new(10, 0, 0, i as u8).into(), None, 24);
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(m))
    }

    fn route_payload(i: u32) -> NetlinkPayload<RouteNetlinkMessage> {
        let m = route_message(i, "fd00:9::".parse().unwrap(), 48, false);
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m))
    }

    /// Replies are read from a socket pair standing in for the kernel: an acknowledgement, an
    /// errno, a dump across datagrams with replies to an older request mixed in, and bytes
    /// that are no netlink message.
    #[test]
    fn replies_end_with_the_acknowledgement_or_the_errno() {
        use rustix::net::{AddressFamily as Af, socketpair};
        let (ours, kernel) =
            socketpair(Af::UNIX, SocketType::DGRAM, SocketFlags::CLOEXEC, None).unwrap();
        let mut rtnl = Rtnl::new(ours);
        rtnl.seq = 5;
        let put = |b: &[u8]| {
            rustix::net::send(&kernel, b, SendFlags::empty()).unwrap();
        };

        put(&frame(5, error(0), 0));
        assert!(rtnl.replies(|_, _| {}).is_ok());

        // An old request's errno is skipped; this one's is returned.
        let mut two = frame(4, error(-libc::EPERM), 0);
        two.extend(frame(5, error(-libc::EEXIST), 0));
        put(&two);
        let e = rtnl.replies(|_, _| {}).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);

        let mut first = frame(5, addr_payload(1), 2);
        first.extend(frame(5, addr_payload(2), NLM_F_DUMP_INTR));
        put(&first);
        put(&frame(5, addr_payload(3), 2));
        put(&frame(5, NetlinkPayload::Done(Default::default()), 2));
        let mut got = Vec::new();
        rtnl.replies(|m, flags| got.push((m, flags))).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].1, NLM_F_DUMP_INTR);

        // A length field shorter than a header, or longer than the datagram: no message.
        let mut short = frame(5, error(0), 0);
        short[0] = 8;
        put(&short);
        assert_eq!(
            rtnl.replies(|_, _| {}).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let mut long = frame(5, error(0), 0);
        long[0] = 200;
        put(&long);
        assert_eq!(
            rtnl.replies(|_, _| {}).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
