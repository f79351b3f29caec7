//! Ping answered through a TUN with offloads, on smol, in the program's own buffers: every
//! ICMP or ICMPv6 echo request routed into the device comes back out of it as its reply.
//!
//! ```sh
//! cargo run --example echo_smol --features async-io -- tun0    # as root (or the device's owner)
//! ip addr add 10.99.0.1/24 dev tun0 && ping -c 3 10.99.0.2      # in another shell
//! ```
//!
//! Packets are read into a pool of buffers of the program's own (`recv_into`, behind room for
//! a tunnel header), answered where they lie and written from there (`send_from` over a
//! `PacketSource` that picks the replies out of the pool): nothing is copied, nothing
//! allocated per packet. `echo_tokio` does the same on tokio, with the crate's batches.

mod icmp_echo;

use linux_tun::async_io::AsyncTun;
use linux_tun::{ChecksumStatus, PacketSource, RecvError, RecvInfo, Tun};

/// Room kept in front of every packet, as a tunnel would for its own header.
const HEADROOM: usize = 16;
/// Each buffer: the headroom and one packet of the MTU.
type Buf = [u8; HEADROOM + 1500];

/// The replies among the pool's packets, by index into the pool: what `send_from` writes.
struct Replies<'a> {
    pool: &'a [Buf],
    info: &'a [RecvInfo],
    which: &'a [usize],
}

impl PacketSource for Replies<'_> {
    fn packet(&self, index: usize) -> Option<&[u8]> {
        let &k = self.which.get(index)?;
        Some(&self.pool[k][HEADROOM..HEADROOM + self.info[k].len])
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "tun0".to_owned());
    let tun = Tun::builder()
        .name(&name)
        .offload(true)
        .mtu(1500)
        .up()
        .open()?;
    smol::block_on(async {
        let tun = AsyncTun::new(tun)?;
        println!("{name} is up: give it an address and ping its subnet");
        let (mut rx, mut tx) = tun.into_halves();
        let mut pool: Vec<Buf> = vec![[0; HEADROOM + 1500]; 64];
        let mut info = [RecvInfo::default(); 64];
        let mut which = Vec::with_capacity(pool.len());
        loop {
            let n = match rx.recv_into(&mut pool, HEADROOM, &mut info).await {
                Ok(n) => n,
                Err(RecvError::DeviceRemoved) => {
                    println!("{name} was removed");
                    break Ok(());
                }
                Err(e) => break Err(e.into()),
            };
            which.clear();
            for (k, (buf, info)) in pool.iter_mut().zip(&info).take(n).enumerate() {
                if icmp_echo::reply_in_place(&mut buf[HEADROOM..HEADROOM + info.len]) {
                    which.push(k);
                }
            }
            let replies = Replies {
                pool: &pool,
                info: &info,
                which: &which,
            };
            tx.send_from(&replies, ChecksumStatus::Unverified).await?;
        }
    })
}
