//! Ping answered through a TUN with offloads, on tokio: every ICMP or ICMPv6 echo request
//! routed into the device comes back out of it as its reply.
//!
//! ```sh
//! cargo run --example echo_tokio --features tokio -- tun0    # as root (or the device's owner)
//! ip addr add 10.99.0.1/24 dev tun0 && ping -c 3 10.99.0.2    # in another shell
//! ```
//!
//! Batches in (`RecvBatch`), the replies copied into a `SendBatch` and written out, through
//! `linux_tun::tokio`. `echo_smol` does the same on smol, in the program's own buffers.

mod icmp_echo;

use linux_tun::tokio::AsyncTun;
use linux_tun::{ChecksumStatus, RecvBatch, RecvError, SendBatch, Tun};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "tun0".to_owned());
    let tun = Tun::builder()
        .name(&name)
        .offload(true)
        .mtu(1500)
        .up()
        .open()?;
    let tun = AsyncTun::new(tun)?;
    println!("{name} is up: give it an address and ping its subnet");
    let (mut rx, mut tx) = tun.into_halves();
    let mut batch = RecvBatch::new(64, 0);
    let mut replies = SendBatch::new(64);
    loop {
        match rx.recv(&mut batch).await {
            Ok(_) => {}
            Err(RecvError::DeviceRemoved) => {
                println!("{name} was removed");
                break Ok(());
            }
            Err(e) => break Err(e.into()),
        }
        for mut pkt in batch.iter_mut() {
            if icmp_echo::reply_in_place(pkt.bytes_mut()) {
                replies.push(pkt.bytes(), ChecksumStatus::Unverified)?;
            }
        }
        tx.send(&mut replies).await?;
    }
}
