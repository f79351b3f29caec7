//! Batched writes: coalesce TCP segments (`tcp-gro`) and UDP datagrams (`udp-gro`) into
//! super-packets and write each result with one `writev`, falling back to plain packets when
//! the kernel refuses a super-packet.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tcp_gro::{ChecksumStatus, Coalescer, Drain, IoSliceBuf, PacketSource};
use virtio_net_hdr::{VirtioNetHdr, VirtioNetHdrV1};

use crate::device::{Control, Queue};
use crate::error::{PacketError, PushError, SendError};
use crate::recv::RecvBatch;
use crate::stats::{Event, bump};

/// After this many rejected super-packet writes the device stops coalescing (rule book §0:
/// "the device must survive that: fall back to writing segments, and let users turn GRO off").
pub const GRO_DISABLE_AFTER: u64 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Queued,
    Written,
    Failed,
}

/// Caller-owned batch of IP packets to write. Packets are copied in; the storage is reused
/// across batches, so steady state allocates nothing.
///
/// ```
/// use linux_tun::{ChecksumStatus, SendBatch};
/// let mut batch = SendBatch::new(64);
/// batch.push(&[0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2],
///            ChecksumStatus::Unverified)?;
/// // Or write straight into the batch (e.g. decrypt in place):
/// let buf = batch.push_with_len(20, ChecksumStatus::KnownGood)?;
/// buf[0] = 0x45;
/// assert_eq!(batch.len(), 2);
/// # Ok::<(), linux_tun::PushError>(())
/// ```
#[derive(Debug)]
pub struct SendBatch {
    bufs: Vec<Buf>,
    csum: Vec<ChecksumStatus>,
    status: Vec<Status>,
    /// Push-order index of each queued packet (kept when unsent packets are compacted).
    orig: Vec<usize>,
    pushed: usize,
    len: usize,
    cap: usize,
}

impl SendBatch {
    /// A batch of up to `packets` packets (at least 1).
    pub fn new(packets: usize) -> SendBatch {
        let cap = packets.max(1);
        SendBatch {
            bufs: Vec::with_capacity(cap),
            csum: Vec::with_capacity(cap),
            status: Vec::with_capacity(cap),
            orig: Vec::with_capacity(cap),
            pushed: 0,
            len: 0,
            cap,
        }
    }

    /// Copy an IP packet into the batch.
    ///
    /// # Errors
    /// [`PushError::Full`] at capacity; [`PushError::BadLength`] for an empty packet or one
    /// longer than 65535 bytes.
    pub fn push(&mut self, packet: &[u8], csum: ChecksumStatus) -> Result<(), PushError> {
        self.check(packet.len())?;
        let buf = self.reserve(csum);
        if let Some(dst) = buf.data.get_mut(..packet.len()) {
            dst.copy_from_slice(packet);
        } else {
            buf.data.clear();
            buf.data.extend_from_slice(packet);
        }
        buf.len = packet.len();
        Ok(())
    }

    /// Reserve a `len`-byte packet in the batch and return it for the caller to fill (e.g.
    /// decrypt straight into it).
    ///
    /// The buffer is reused storage and is **not** cleared: it may hold bytes of an earlier
    /// packet, so write all `len` bytes (zeroing every packet first would cost a pass over
    /// every byte).
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn push_with_len(
        &mut self,
        len: usize,
        csum: ChecksumStatus,
    ) -> Result<&mut [u8], PushError> {
        self.check(len)?;
        let buf = self.reserve(csum);
        // Grow to the high-water length only: bytes already there are overwritten by the
        // caller, so zeroing them again would be a wasted pass over every packet.
        if buf.data.len() < len {
            buf.data.resize(len, 0);
        }
        buf.len = len;
        Ok(&mut buf.data[..len])
    }

    /// Queue the bookkeeping for one more packet and return its (reused) buffer. The caller
    /// has checked capacity and length.
    fn reserve(&mut self, csum: ChecksumStatus) -> &mut Buf {
        if self.bufs.len() == self.len {
            self.bufs.push(Buf {
                data: Vec::with_capacity(2048),
                len: 0,
            });
        }
        if self.len == 0 {
            self.pushed = 0;
        }
        self.csum.truncate(self.len);
        self.status.truncate(self.len);
        self.orig.truncate(self.len);
        self.csum.push(csum);
        self.status.push(Status::Queued);
        self.orig.push(self.pushed);
        self.pushed += 1;
        self.len += 1;
        &mut self.bufs[self.len - 1]
    }

    fn check(&self, len: usize) -> Result<(), PushError> {
        if self.len >= self.cap {
            return Err(PushError::Full);
        }
        if len == 0 || len > 65535 {
            return Err(PushError::BadLength(len));
        }
        Ok(())
    }

    /// Packets queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no packet is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most packets the batch holds.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The `i`-th queued packet.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        (i < self.len).then(|| self.bufs[i].as_ref())
    }

    /// Drop all queued packets.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Keep only packets still queued (after `WouldBlock` or an I/O error), in order.
    fn retain_queued(&mut self) {
        let mut keep = 0;
        for i in 0..self.len {
            if self.status[i] == Status::Queued {
                self.bufs.swap(keep, i);
                self.csum[keep] = self.csum[i];
                self.status[keep] = Status::Queued;
                self.orig[keep] = self.orig[i];
                keep += 1;
            }
        }
        self.len = keep;
        self.csum.truncate(keep);
        self.status.truncate(keep);
        self.orig.truncate(keep);
    }
}

/// One packet's reused storage: `data` keeps the longest length it has had (so refilling it
/// never zeroes bytes that are about to be overwritten); `len` is the packet's.
#[derive(Debug)]
struct Buf {
    data: Vec<u8>,
    len: usize,
}

impl AsRef<[u8]> for Buf {
    fn as_ref(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

/// The sending half of a queue; see [`Tun::into_halves`](crate::Tun::into_halves).
pub struct Writer {
    q: Arc<Queue>,
    gro: Coalescer,
    udp_gro: udp_gro::Coalescer,
    iov: IoSliceBuf,
    /// A plain vnet header, as long as the longest a device uses (the first `vnet_len` bytes
    /// are written).
    plain: [u8; VirtioNetHdrV1::LEN],
    /// Per-packet fate in the last `send_received` (reused storage).
    rx_status: Vec<Status>,
    /// Per-packet fate of the source of the last `send_from`, kept for `resume_from` and
    /// `unsent` (reused storage; empty after `send` and `send_received`).
    from_status: Vec<Status>,
    /// Refusals of the last `send` or `send_received` (reused storage).
    failures: Vec<(usize, PacketError)>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("device", &self.q.dev.name)
            .finish_non_exhaustive()
    }
}

/// How one write ended.
enum Outcome {
    Written,
    /// The kernel refused this packet alone.
    Refused(PacketError),
    /// Stop the batch.
    Stop(io::Error),
}

impl Writer {
    /// The queue this half moves batches through.
    pub(crate) fn queue(&self) -> &Queue {
        &self.q
    }

    pub(crate) fn new(q: Arc<Queue>) -> Writer {
        let mut plain = [0u8; VirtioNetHdrV1::LEN];
        plain[..VirtioNetHdr::LEN].copy_from_slice(&VirtioNetHdr::plain().to_bytes());
        let gro = Coalescer::new(q.dev.gro_config);
        // UDP merges within the same size limit as TCP ([`Builder::gro_config`]).
        let mut udp_config = udp_gro::Config::default();
        udp_config.max_merged_len = q.dev.gro_config.max_merged_len;
        let udp_gro = udp_gro::Coalescer::new(udp_config);
        Writer {
            q,
            gro,
            udp_gro,
            iov: IoSliceBuf::with_capacity(64),
            plain,
            rx_status: Vec::new(),
            from_status: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Device settings and statistics.
    pub fn control(&self) -> Control {
        Control::new(Arc::clone(&self.q))
    }

    /// Write every packet of `batch`: coalesced into super-packets when the device has a
    /// vnet header and GRO is on, each result with one `writev` (vnet header, headers,
    /// payload slices — no payload copy).
    ///
    /// Returns how many packets were written; the batch is then empty. Packets the kernel
    /// refused individually are listed in [`failures`](Self::failures). A super-packet the kernel
    /// refuses with `EINVAL` is written again as its original segments (counted in
    /// [`Stats::gso_rejections`]); after [`GRO_DISABLE_AFTER`] such rejections GRO is turned
    /// off for the device and [`Event::GroDisabled`] is emitted.
    ///
    /// # Errors
    /// [`SendError::WouldBlock`] (non-blocking mode), [`SendError::DeviceRemoved`] once the
    /// device has been deleted (then on every call), [`SendError::LinkDown`] while the link is
    /// down, or [`SendError::Io`], each with the exact number of packets written; those are
    /// removed from the batch and the rest stay queued for the next call.
    ///
    /// [`Stats::gso_rejections`]: crate::Stats::gso_rejections
    pub fn send(&mut self, batch: &mut SendBatch) -> Result<usize, SendError> {
        self.failures.clear();
        self.from_status.clear();
        self.send_more(batch)
    }

    /// [`send`](Self::send) without forgetting earlier failures (for retries after
    /// `WouldBlock`).
    pub(crate) fn send_more(&mut self, batch: &mut SendBatch) -> Result<usize, SendError> {
        let n = batch.len;
        let csum = &batch.csum;
        let orig = &batch.orig;
        let mut failures = std::mem::take(&mut self.failures);
        let marks = Marks {
            status: &mut batch.status[..n],
            failures: &mut failures,
            orig: |i: usize| orig[i],
        };
        let (written, stop) = self.write_batch(&batch.bufs[..n], |i| csum[i], marks);
        self.failures = failures;
        match stop {
            None => {
                batch.len = 0;
                Ok(written)
            }
            Some(e) => {
                batch.retain_queued();
                Err(self.send_error(e, written))
            }
        }
    }

    /// Write every packet of a received batch — e.g. from another device, in a TUN-to-TUN
    /// forwarder, or after decrypting in place in its slab — coalesced exactly as
    /// [`send`](Self::send) does, straight from the batch's slab: no packet is copied into a
    /// [`SendBatch`] first (GRO reads each packet where it lies, `writev` gathers the
    /// payloads from there).
    ///
    /// `csum` applies to every packet: [`ChecksumStatus::Unverified`] unless the checksums are vouched
    /// for (e.g. [`RecvBatch::checksum`], or authenticated by the
    /// tunnel's crypto).
    ///
    /// Returns how many packets were written; the batch is then empty. Packets the kernel
    /// refused individually are listed in [`failures`](Self::failures), as after
    /// [`send`](Self::send). The `EINVAL` fallback and [`GRO_DISABLE_AFTER`] work as in
    /// [`send`](Self::send).
    ///
    /// ```no_run
    /// use linux_tun::{ChecksumStatus, RecvBatch, Tun};
    /// let a = Tun::builder().name("tuna").up().open()?;
    /// let b = Tun::builder().name("tunb").up().open()?;
    /// let (mut rx, _) = a.into_halves();
    /// let (_, mut tx) = b.into_halves();
    /// let mut batch = RecvBatch::new(128, 0);
    /// loop {
    ///     rx.recv(&mut batch)?; // a super-packet split into segments, and more
    ///     // Our own split computed every checksum: no need to verify them again.
    ///     let checksum = batch.checksum();
    ///     tx.send_received(&mut batch, checksum)?; // coalesced again, one writev each
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`send`](Self::send), with the number of packets written; the written and refused
    /// packets are removed from `batch`, the rest stay in it (in order) for the next call.
    pub fn send_received(
        &mut self,
        batch: &mut RecvBatch,
        csum: ChecksumStatus,
    ) -> Result<usize, SendError> {
        self.failures.clear();
        self.from_status.clear();
        self.send_received_more(batch, csum)
    }

    /// [`send_received`](Self::send_received) without forgetting earlier failures (for
    /// retries after `WouldBlock`).
    pub(crate) fn send_received_more(
        &mut self,
        batch: &mut RecvBatch,
        csum: ChecksumStatus,
    ) -> Result<usize, SendError> {
        let n = batch.len();
        let mut status = std::mem::take(&mut self.rx_status);
        let mut failures = std::mem::take(&mut self.failures);
        status.clear();
        status.resize(n, Status::Queued);
        let marks = Marks {
            status: &mut status,
            failures: &mut failures,
            orig: |i: usize| batch.arrival_index(i),
        };
        let (written, stop) = self.write_batch(&*batch, |_| csum, marks);
        let r = match stop {
            None => {
                batch.clear();
                Ok(written)
            }
            Some(e) => {
                batch.retain(|i| status[i] == Status::Queued);
                Err(self.send_error(e, written))
            }
        };
        self.rx_status = status;
        self.failures = failures;
        r
    }

    /// Write every packet of `packets` — the caller's own buffers, any [`PacketSource`]: a
    /// slice or `Vec` of buffers, or a pool type of the caller's — coalesced and written
    /// exactly as [`send`](Self::send) does, straight from where the packets lie: nothing is
    /// copied into a [`SendBatch`] first. The packets are `packets.parts(0)`, `parts(1)`, …
    /// up to the first index the source has none for.
    ///
    /// `csum` applies to every packet, as in [`send_received`](Self::send_received).
    /// Returns how many packets were written. Packets the kernel refused individually are
    /// listed in [`failures`](Self::failures) by their index in the source; the `EINVAL`
    /// fallback and [`GRO_DISABLE_AFTER`] work as in [`send`](Self::send). The writer keeps
    /// each packet's fate in reused storage: nothing is allocated per packet.
    ///
    /// ```no_run
    /// use linux_tun::{ChecksumStatus, Tun};
    /// let (_, mut tx) = Tun::builder().name("tun0").offload(true).up().open()?.into_halves();
    /// // Packets decrypted into the tunnel's own buffers (here: one `Vec` each).
    /// # let pool: Vec<Vec<u8>> = Vec::new();
    /// let written = tx.send_from(&pool[..], ChecksumStatus::KnownGood)?;
    /// for (index, err) in tx.failures() {
    ///     eprintln!("packet {index} ({} bytes) refused: {err}", pool[*index].len());
    /// }
    /// # let _ = written;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`send`](Self::send), with the number of packets written. The source is the
    /// caller's and stays as it is: [`unsent`](Self::unsent) lists the packets neither
    /// written nor refused, and [`resume_from`](Self::resume_from) writes them (e.g. after
    /// [`SendError::WouldBlock`], once the queue is writable).
    pub fn send_from<S: PacketSource + ?Sized>(
        &mut self,
        packets: &S,
        csum: ChecksumStatus,
    ) -> Result<usize, SendError> {
        self.failures.clear();
        let n = (0..).take_while(|&i| packets.packet(i).is_some()).count();
        self.from_status.clear();
        self.from_status.resize(n, Status::Queued);
        self.resume_from(packets, csum)
    }

    /// Go on with the packets the last [`send_from`](Self::send_from) left unwritten
    /// ([`unsent`](Self::unsent)), from the same source: nothing is written twice, and
    /// [`failures`](Self::failures) keeps the refusals of the earlier attempts. Returns how
    /// many packets this call wrote; with nothing left it writes nothing.
    ///
    /// ```no_run
    /// use linux_tun::{ChecksumStatus, SendError, Tun};
    /// let tun = Tun::builder().name("tun0").blocking(false).up().open()?;
    /// let (_, mut tx) = tun.into_halves();
    /// # let pool: Vec<Vec<u8>> = Vec::new();
    /// let mut r = tx.send_from(&pool, ChecksumStatus::Unverified);
    /// while let Err(SendError::WouldBlock { .. }) = r {
    ///     // … wait until the queue is writable (poll `tx.as_fd()`) …
    ///     r = tx.resume_from(&pool, ChecksumStatus::Unverified);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`send_from`](Self::send_from), with the number of packets this call wrote.
    pub fn resume_from<S: PacketSource + ?Sized>(
        &mut self,
        packets: &S,
        csum: ChecksumStatus,
    ) -> Result<usize, SendError> {
        let mut status = std::mem::take(&mut self.from_status);
        let mut failures = std::mem::take(&mut self.failures);
        let marks = Marks {
            status: &mut status,
            failures: &mut failures,
            orig: |i: usize| i,
        };
        let (written, stop) = self.write_batch(packets, |_| csum, marks);
        self.from_status = status;
        self.failures = failures;
        match stop {
            None => Ok(written),
            Some(e) => Err(self.send_error(e, written)),
        }
    }

    /// The packets of the last [`send_from`](Self::send_from) source that are neither
    /// written nor refused, by index, in order: none after it succeeded; after it stopped
    /// with an error, what [`resume_from`](Self::resume_from) would write. Empty after
    /// [`send`](Self::send) and [`send_received`](Self::send_received), whose unwritten
    /// packets stay in their batch.
    ///
    /// ```no_run
    /// use linux_tun::{ChecksumStatus, SendError, Tun};
    /// let (_, mut tx) = Tun::builder().name("tun0").up().open()?.into_halves();
    /// # let pool: Vec<Vec<u8>> = Vec::new();
    /// if let Err(SendError::LinkDown { written }) = tx.send_from(&pool, ChecksumStatus::Unverified) {
    ///     let dropped: Vec<usize> = tx.unsent().collect();
    ///     eprintln!("link down: {written} written, {} not", dropped.len());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unsent(&self) -> impl Iterator<Item = usize> + '_ {
        self.from_status
            .iter()
            .enumerate()
            .filter(|&(_, s)| *s == Status::Queued)
            .map(|(i, _)| i)
    }

    /// The packets the kernel refused one by one in the last [`send`](Self::send),
    /// [`send_received`](Self::send_received) or [`send_from`](Self::send_from) (and its
    /// [`resume_from`](Self::resume_from)), with why: the one place to look after any of them.
    /// A packet is named by its index in the batch as it was handed over — push order for a
    /// [`SendBatch`] (0 for the first packet pushed into the empty batch), position for a
    /// [`RecvBatch`] as [`Reader::recv`](crate::Reader::recv) filled it, index in the source
    /// for [`send_from`](Self::send_from). Refused packets were not written and are no longer
    /// in the batch. Storage is reused: no allocation per call.
    ///
    /// ```no_run
    /// use linux_tun::{ChecksumStatus, SendBatch, Tun};
    /// let (_, mut tx) = Tun::builder().name("tun0").up().open()?.into_halves();
    /// let mut batch = SendBatch::new(64);
    /// batch.push(&[0x10, 0, 0, 0], ChecksumStatus::Unverified)?; // not IP: the kernel refuses it
    /// let written = tx.send(&mut batch)?;
    /// assert_eq!((written, tx.failures().len()), (0, 1));
    /// for (index, err) in tx.failures() {
    ///     eprintln!("packet {index} refused: {err}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn failures(&self) -> &[(usize, PacketError)] {
        &self.failures
    }

    /// Write packets `0..marks.status.len()` of `src`, coalesced when the device has a vnet
    /// header and GRO is on, recording each packet's fate in `marks`. Returns how many were
    /// written and the error that stopped the batch, if any.
    fn write_batch<S: PacketSource + ?Sized>(
        &mut self,
        src: &S,
        csum: impl Fn(usize) -> ChecksumStatus,
        mut marks: Marks<'_, impl Fn(usize) -> usize>,
    ) -> (usize, Option<io::Error>) {
        let failed_before = marks.failures.len();
        // A resumed source already has packets written by earlier calls.
        let written_before = count_written(marks.status);
        let vl = self.q.dev.vnet_len;
        let tcp = vl != 0 && self.q.dev.gro.load(Ordering::Relaxed);
        let udp = vl != 0 && self.q.dev.udp_gro();
        let stop = if tcp || udp {
            self.send_coalesced(src, csum, &mut marks, vl, tcp, udp)
        } else {
            self.send_plain(src, &mut marks, vl)
        };
        let written = count_written(marks.status) - written_before;
        bump(&self.q.dev.counters.packets_written, written as u64);
        bump(
            &self.q.dev.counters.packets_rejected,
            (marks.failures.len() - failed_before) as u64,
        );
        (written, stop)
    }

    fn send_plain<S: PacketSource + ?Sized>(
        &mut self,
        src: &S,
        marks: &mut Marks<'_, impl Fn(usize) -> usize>,
        vl: usize,
    ) -> Option<io::Error> {
        for i in 0..marks.status.len() {
            if marks.status[i] != Status::Queued {
                continue;
            }
            let Some(parts) = src.parts(i) else { continue };
            if let Some(e) = self.write_one_plain(parts, i, marks, vl) {
                return Some(e);
            }
        }
        None
    }

    /// Write packet `i` alone with a plain vnet header; record its fate.
    fn write_one_plain(
        &self,
        (header, payload): (&[u8], &[u8]),
        i: usize,
        marks: &mut Marks<'_, impl Fn(usize) -> usize>,
        vl: usize,
    ) -> Option<io::Error> {
        let r = write_parts(&self.q, &self.plain[..vl], header, payload);
        match self.classify(r) {
            Outcome::Written => {
                marks.status[i] = Status::Written;
                None
            }
            Outcome::Refused(e) => marks.refuse(i, e),
            Outcome::Stop(e) => Some(e),
        }
    }

    /// Coalesce what is queued (TCP segments by `tcp-gro` when `tcp`, UDP datagrams by
    /// `udp-gro` when `udp`; the other packets pass through either unchanged) and write the
    /// outputs, TCP's then UDP's: a flow is one protocol, so each flow keeps its order.
    fn send_coalesced<S: PacketSource + ?Sized>(
        &mut self,
        src: &S,
        csum: impl Fn(usize) -> ChecksumStatus,
        marks: &mut Marks<'_, impl Fn(usize) -> usize>,
        vl: usize,
        tcp: bool,
        udp: bool,
    ) -> Option<io::Error> {
        for i in 0..marks.status.len() {
            if marks.status[i] != Status::Queued {
                continue;
            }
            if let Some((header, payload)) = src.parts(i) {
                // With TCP coalescing off, everything goes to the UDP coalescer, which passes
                // what is not UDP through unchanged (and the other way round).
                if udp && (!tcp || is_udp(header)) {
                    self.udp_gro.push_parts(i, header, payload, csum(i));
                } else {
                    self.gro.push_parts(i, header, payload, csum(i));
                }
            }
        }
        let plain = &self.plain[..vl];
        let (stop, rejected) = write_outputs(
            &self.q,
            &mut self.iov,
            plain,
            self.gro.drain(src),
            src,
            marks,
            vl,
        );
        if rejected > 0 {
            self.note_rejections(rejected, false);
        }
        if stop.is_some() {
            // Whatever the UDP coalescer holds stays queued for the next call.
            self.udp_gro.clear();
            return stop;
        }
        let (stop, rejected) = write_outputs(
            &self.q,
            &mut self.iov,
            plain,
            self.udp_gro.drain(src),
            src,
            marks,
            vl,
        );
        if rejected > 0 {
            self.note_rejections(rejected, true);
        }
        stop
    }

    /// Count `n` refused super-packet writes of one protocol; after [`GRO_DISABLE_AFTER`]
    /// of them that protocol's coalescing is turned off (the other's is left alone).
    fn note_rejections(&self, n: u64, udp: bool) {
        let dev = &self.q.dev;
        let before = dev.counters.gso_rejections.fetch_add(n, Ordering::Relaxed);
        if udp {
            let total = dev.udp_gso_rejections.fetch_add(n, Ordering::Relaxed) + n;
            if total >= GRO_DISABLE_AFTER && dev.udp_gro.swap(false, Ordering::Relaxed) {
                dev.emit(Event::UdpGroDisabled { rejections: total });
            }
            return;
        }
        let total = before + n - dev.udp_gso_rejections.load(Ordering::Relaxed);
        if total >= GRO_DISABLE_AFTER && dev.gro.swap(false, Ordering::Relaxed) {
            dev.counters.gro_disabled.store(true, Ordering::Relaxed);
            dev.emit(Event::GroDisabled { rejections: total });
        }
    }

    /// Type the error that stopped a batch: full queue, device gone, link down, or the
    /// kernel's error.
    fn send_error(&self, e: io::Error, written: usize) -> SendError {
        if e.kind() == io::ErrorKind::WouldBlock {
            SendError::WouldBlock { written }
        } else if self.q.removed_by(&e) {
            SendError::DeviceRemoved { written }
        } else if e.raw_os_error() == Some(libc::EIO) {
            SendError::LinkDown { written }
        } else {
            SendError::Io { written, source: e }
        }
    }

    fn classify(&self, r: io::Result<usize>) -> Outcome {
        let o = classify_result(r);
        if matches!(o, Outcome::Written) {
            bump(&self.q.dev.counters.writes, 1);
        }
        o
    }
}

/// Where the write loop records each packet's fate: its status, the kernel's per-packet
/// refusals, and how to name a packet in those (its push or arrival order).
struct Marks<'a, O> {
    status: &'a mut [Status],
    failures: &'a mut Vec<(usize, PacketError)>,
    orig: O,
}

impl<O: Fn(usize) -> usize> Marks<'_, O> {
    /// Packet `i` was refused by the kernel; the batch goes on.
    fn refuse(&mut self, i: usize, e: PacketError) -> Option<io::Error> {
        self.status[i] = Status::Failed;
        self.failures.push(((self.orig)(i), e));
        None
    }
}

fn count_written(status: &[Status]) -> usize {
    status.iter().filter(|&&s| s == Status::Written).count()
}

/// Sort a write result: per-packet refusals (`EINVAL`, `EMSGSIZE`) versus errors that stop
/// the batch (`EAGAIN`, device gone, link down).
fn classify_result(r: io::Result<usize>) -> Outcome {
    match r {
        Ok(_) => Outcome::Written,
        Err(e) => match e.raw_os_error() {
            Some(libc::EINVAL) => Outcome::Refused(PacketError::Rejected(e)),
            Some(libc::EMSGSIZE) => Outcome::Refused(PacketError::TooLarge(e)),
            _ => Outcome::Stop(e),
        },
    }
}

/// Whether a packet (its first part) is UDP: the IPv4 protocol or the IPv6 next header, past
/// any extension headers. Anything unreadable is not.
fn is_udp(header: &[u8]) -> bool {
    const UDP: u8 = inet_hdr::Protocol::UDP.0;
    match header.first().map(|b| b >> 4) {
        Some(4) => header.get(inet_hdr::field::ipv4::PROTOCOL) == Some(&UDP),
        Some(6) => match header.get(inet_hdr::field::ipv6::NEXT_HEADER) {
            Some(&UDP) => true,
            Some(&n) if n == inet_hdr::Protocol::TCP.0 => false,
            // Extension headers (rare): let the classifier walk them.
            _ => inet_hdr::classify_prefix(header, header.len())
                .is_ok_and(|info| info.protocol == inet_hdr::Protocol::UDP),
        },
        _ => false,
    }
}

/// Write a drained batch's outputs in order, recording each packet's fate; a refused
/// super-packet (rule book §3.3 item 7: some kernels refuse valid GSO writes with `EINVAL`)
/// is written as its original packets, one by one, right away (so nothing of the flow
/// overtakes them). Returns the error that stopped the batch, if any, and how many
/// super-packets were refused.
fn write_outputs<S: PacketSource + ?Sized>(
    q: &Queue,
    iov: &mut IoSliceBuf,
    plain: &[u8],
    drain: Drain<'_, S>,
    src: &S,
    marks: &mut Marks<'_, impl Fn(usize) -> usize>,
    vl: usize,
) -> (Option<io::Error>, u64) {
    let dev = &q.dev;
    let mut vnet = [0u8; VirtioNetHdrV1::LEN];
    let mut rejected: u64 = 0;
    for out in drain {
        vnet[..VirtioNetHdr::LEN].copy_from_slice(out.vnet_bytes());
        let merged = out.is_merged();
        let r = if merged && dev.take_injected_gso_einval() {
            Err(io::Error::from_raw_os_error(libc::EINVAL))
        } else {
            out.with_io_slices(&vnet[..vl], iov, |iov| q.writev(iov))
        };
        match classify_result(r) {
            Outcome::Written => {
                bump(&dev.counters.writes, 1);
                if merged {
                    bump(&dev.counters.gso_writes, 1);
                }
                for &i in out.indices() {
                    marks.status[i] = Status::Written;
                }
            }
            Outcome::Refused(_) if merged => {
                rejected += 1;
                dev.emit(Event::GsoWriteRejected {
                    segments: out.indices().len(),
                });
                for &i in out.indices() {
                    let (header, payload) = src.parts(i).unwrap_or_default();
                    match classify_result(write_parts(q, plain, header, payload)) {
                        Outcome::Written => {
                            bump(&dev.counters.writes, 1);
                            marks.status[i] = Status::Written;
                        }
                        Outcome::Refused(e) => {
                            marks.refuse(i, e);
                        }
                        Outcome::Stop(e) => return (Some(e), rejected),
                    }
                }
            }
            Outcome::Refused(e) => {
                for &i in out.indices() {
                    marks.status[i] = Status::Failed;
                }
                if let Some(&i) = out.indices().first() {
                    marks.refuse(i, e);
                }
            }
            Outcome::Stop(e) => return (Some(e), rejected),
        }
    }
    (None, rejected)
}

/// Write one packet, in one or two parts (an empty second part is skipped by the write),
/// behind the plain vnet header `vnet`.
fn write_parts(q: &Queue, vnet: &[u8], header: &[u8], payload: &[u8]) -> io::Result<usize> {
    q.writev(&[
        IoSlice::new(vnet),
        IoSlice::new(header),
        IoSlice::new(payload),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_checks_capacity_and_length() {
        let mut b = SendBatch::new(2);
        assert_eq!(
            b.push(&[], ChecksumStatus::Unverified),
            Err(PushError::BadLength(0))
        );
        assert_eq!(
            b.push_with_len(65536, ChecksumStatus::Unverified)
                .unwrap_err(),
            PushError::BadLength(65536)
        );
        b.push(&[1, 2, 3], ChecksumStatus::Unverified).unwrap();
        b.push_with_len(2, ChecksumStatus::KnownGood)
            .unwrap()
            .copy_from_slice(&[4, 5]);
        assert_eq!(
            b.push(&[6], ChecksumStatus::Unverified),
            Err(PushError::Full)
        );
        assert_eq!(
            (b.len(), b.get(0), b.get(1), b.get(2)),
            (2, Some(&[1u8, 2, 3][..]), Some(&[4u8, 5][..]), None)
        );
        b.clear();
        assert!(b.is_empty());
        b.push(&[9], ChecksumStatus::Unverified).unwrap();
        assert_eq!(b.get(0), Some(&[9u8][..]));
    }

    #[test]
    fn reused_buffers_keep_their_high_water_length_and_report_the_packets() {
        let mut b = SendBatch::new(2);
        b.push(&[7; 1500], ChecksumStatus::Unverified).unwrap();
        b.push_with_len(60, ChecksumStatus::Unverified)
            .unwrap()
            .copy_from_slice(&[8; 60]);
        b.clear();
        // Shorter packets into the same buffers: exactly their bytes, no stale tail.
        let buf = b.push_with_len(40, ChecksumStatus::KnownGood).unwrap();
        assert_eq!(buf.len(), 40);
        // Not cleared: the caller overwrites it (documented), so no zeroing pass was made.
        assert_eq!(buf, &[7; 40][..]);
        buf.copy_from_slice(&[1; 40]);
        b.push(&[2; 100], ChecksumStatus::Unverified).unwrap();
        assert_eq!(b.get(0), Some(&[1u8; 40][..]));
        assert_eq!(b.get(1), Some(&[2u8; 100][..]));
        assert_eq!((b.bufs[0].data.len(), b.bufs[1].data.len()), (1500, 100));
        // Longer than the high-water mark: the buffer grows and holds the new packet.
        b.clear();
        b.push_with_len(1600, ChecksumStatus::Unverified)
            .unwrap()
            .fill(3);
        b.push(&[4; 200], ChecksumStatus::Unverified).unwrap();
        assert_eq!(b.get(0), Some(&[3u8; 1600][..]));
        assert_eq!(b.get(1), Some(&[4u8; 200][..]));
    }

    #[test]
    fn send_received_keeps_unwritten_packets_in_the_batch() {
        // The test queue is an unconnected UDP socket: every write fails with an error that
        // stops the batch, so nothing may be lost from it.
        for vnet in [0, 10] {
            let q = crate::device::test_queue(vnet);
            let mut rx = crate::Reader::new(Arc::clone(&q));
            for i in 0..3u8 {
                let mut f = vec![0u8; vnet];
                let mut p = crate::device::test_super_packet(1, 10);
                p[40] = i;
                f.extend_from_slice(&p);
                rx.inject_frame(&f);
            }
            let mut batch = RecvBatch::new(8, 0);
            assert_eq!(rx.recv(&mut batch).unwrap(), 3);
            let mut tx = Writer::new(q);
            match tx.send_received(&mut batch, ChecksumStatus::Unverified) {
                Err(SendError::Io { written: 0, .. }) => {}
                other => panic!("vnet {vnet}: {other:?}"),
            }
            assert_eq!(batch.len(), 3, "vnet {vnet}");
            assert!(tx.failures().is_empty());
            let firsts: Vec<u8> = batch.iter().map(|p| p.bytes()[40]).collect();
            assert_eq!(firsts, [0, 1, 2]);
        }
    }

    /// The segments of one flow (source port `port`): a super-packet split as the reader
    /// would, so they coalesce back into it.
    fn flow(port: u16, segments: usize, mss: usize) -> Vec<Vec<u8>> {
        use tcp_tso::{Plan, Slab, Span};
        let mut sp = crate::device::test_super_packet(segments, mss);
        sp[20..22].copy_from_slice(&port.to_be_bytes());
        let hdr = VirtioNetHdr::tcp_gso(inet_hdr::IpVersion::V4, 20, 20, mss as u16, false);
        let plan = Plan::new(&hdr, &sp).unwrap();
        let mut slab = vec![0u8; plan.room(0, 0)];
        let mut spans = vec![Span::default(); segments];
        plan.split(&sp, 0, Slab::new(&mut slab, 0), &mut spans)
            .unwrap();
        spans.iter().map(|s| slab[s.range()].to_vec()).collect()
    }

    /// What a datagram of the queue's other end carries, as packets: a super-packet split back
    /// into its segments (TCP or UDP), a plain packet as it is.
    fn packets_of(frame: &[u8]) -> Vec<Vec<u8>> {
        use tcp_tso::{Plan, Slab, Span};
        let (hdr, pkt) = VirtioNetHdr::ref_from_packet(frame).unwrap();
        if hdr.gso_type() == virtio_net_hdr::GsoType::UDP_L4 {
            let plan = udp_gso::Plan::new(hdr, pkt).unwrap();
            let mut slab = vec![0u8; plan.room(0, 0)];
            let mut spans = vec![Span::default(); plan.segments()];
            plan.split(pkt, 0, Slab::new(&mut slab, 0), &mut spans)
                .unwrap();
            return spans.iter().map(|s| slab[s.range()].to_vec()).collect();
        }
        let plan = Plan::new(hdr, pkt).unwrap();
        let mut slab = vec![0u8; plan.room(0, 0)];
        let mut spans = vec![Span::default(); plan.segments()];
        plan.split(pkt, 0, Slab::new(&mut slab, 0), &mut spans)
            .unwrap();
        spans.iter().map(|s| slab[s.range()].to_vec()).collect()
    }

    /// `send_from` through a queue that fills up: every `WouldBlock` is resumed with
    /// `resume_from` once the other end has read, and in the end every packet arrived exactly
    /// once, coalesced, in order, while `unsent` shrank to nothing and the counts added up.
    #[test]
    fn send_from_resumes_after_would_block_without_writing_twice() {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair, sockopt};
        let (ours, theirs) = socketpair(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        // A small send buffer (the kernel doubles the value): a few of these super-packets
        // fill it, while one fits (a datagram longer than it would be refused outright).
        sockopt::set_socket_send_buffer_size(&ours, 16_000).unwrap();
        let mut tx = Writer::new(crate::device::test_queue_on(ours, VirtioNetHdr::LEN));
        let mut packets = Vec::new();
        for port in 1000..1012 {
            packets.extend(flow(port, 8, 1000));
        }
        let mut arrived = Vec::new();
        let mut buf = vec![0u8; 70_000];
        let mut read_all = |arrived: &mut Vec<Vec<u8>>| {
            while let Ok((n, _)) =
                rustix::net::recv(&theirs, &mut buf[..], rustix::net::RecvFlags::empty())
            {
                arrived.extend(packets_of(&buf[..n]));
            }
        };
        let (mut total, mut would_block) = (0, 0);
        let mut r = tx.send_from(&packets, ChecksumStatus::KnownGood);
        loop {
            match r {
                Ok(n) => {
                    total += n;
                    break;
                }
                Err(SendError::WouldBlock { written }) => {
                    total += written;
                    would_block += 1;
                    let unsent: Vec<usize> = tx.unsent().collect();
                    assert_eq!(unsent.len(), packets.len() - total);
                    read_all(&mut arrived);
                    r = tx.resume_from(&packets, ChecksumStatus::KnownGood);
                }
                Err(e) => panic!("{e}"),
            }
        }
        read_all(&mut arrived);
        assert!(would_block > 0, "the queue never filled up");
        assert_eq!(total, packets.len());
        assert_eq!(tx.unsent().count(), 0);
        assert!(tx.failures().is_empty());
        assert_eq!(arrived, packets);
        let c = &tx.q.dev.counters;
        assert_eq!(
            c.packets_written.load(Ordering::Relaxed),
            packets.len() as u64
        );
        assert_eq!(
            c.writes.load(Ordering::Relaxed),
            12,
            "one super-packet per flow"
        );
        assert_eq!(c.gso_writes.load(Ordering::Relaxed), 12);
        // Resuming with nothing left writes nothing.
        assert_eq!(
            tx.resume_from(&packets, ChecksumStatus::KnownGood).unwrap(),
            0
        );
    }

    /// A socket pair whose other end reads what a writer on `ours` writes.
    fn pair() -> (Writer, rustix::fd::OwnedFd) {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair, sockopt};
        let (ours, theirs) = socketpair(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        sockopt::set_socket_send_buffer_size(&ours, 1 << 20).unwrap();
        let tx = Writer::new(crate::device::test_queue_on(ours, VirtioNetHdr::LEN));
        (tx, theirs)
    }

    /// Every frame the other end has, as (GSO type, its packets).
    fn frames(theirs: &rustix::fd::OwnedFd) -> Vec<(virtio_net_hdr::GsoType, Vec<Vec<u8>>)> {
        let mut buf = vec![0u8; 70_000];
        let mut out = Vec::new();
        while let Ok((n, _)) =
            rustix::net::recv(theirs, &mut buf[..], rustix::net::RecvFlags::empty())
        {
            let (hdr, _) = VirtioNetHdr::ref_from_packet(&buf[..n]).unwrap();
            out.push((hdr.gso_type(), packets_of(&buf[..n])));
        }
        out
    }

    /// A TCP flow and a UDP flow interleaved in one batch: each is coalesced by its own
    /// coalescer into one super-packet of its own GSO type, which splits back into exactly
    /// its packets in order; with UDP GRO off the datagrams go out one by one and TCP still
    /// merges.
    #[test]
    fn tcp_and_udp_in_one_batch_each_coalesce_by_their_own_rules() {
        use testkit::udp::UdpPacket;
        use virtio_net_hdr::GsoType;
        let tcp = flow(1000, 8, 1000);
        let udp = UdpPacket::v4().ip_id(7).train(8, 1200);
        let mut packets = Vec::new();
        for (t, u) in tcp.iter().zip(&udp) {
            packets.push(t.clone());
            packets.push(u.clone());
        }
        let (mut tx, theirs) = pair();
        assert!(tx.control().capabilities().udp_gro);
        assert_eq!(
            tx.send_from(&packets, ChecksumStatus::Unverified).unwrap(),
            16
        );
        let got = frames(&theirs);
        assert_eq!(
            got,
            [
                (GsoType::TCPV4, tcp.clone()),
                (GsoType::UDP_L4, udp.clone())
            ]
        );

        tx.control().set_udp_gro(false).unwrap();
        assert!(tx.control().capabilities().gro);
        assert_eq!(
            tx.send_from(&packets, ChecksumStatus::Unverified).unwrap(),
            16
        );
        let got = frames(&theirs);
        assert_eq!(got.len(), 1 + 8);
        assert_eq!(got[0], (GsoType::TCPV4, tcp));
        for (g, u) in got[1..].iter().zip(&udp) {
            assert_eq!(g, &(GsoType::NONE, vec![u.clone()]));
        }
    }

    /// A UDP flow for the mixed batches: `n` datagrams of `size` payload bytes (IPv4 IDs
    /// incrementing from `id0`), then one shorter datagram if `short` is given.
    fn udp_flow(
        port: u16,
        v6: bool,
        n: usize,
        size: usize,
        short: Option<usize>,
        id0: u16,
    ) -> Vec<Vec<u8>> {
        use testkit::udp::UdpPacket;
        let base = if v6 { UdpPacket::v6() } else { UdpPacket::v4() };
        let base = base.ports(port, 443).ip_id(id0);
        let mut d = base.train(n, size);
        if let Some(len) = short {
            d.push(
                base.ip_id(id0.wrapping_add(n as u16))
                    .seed(n as u8)
                    .payload_len(len.min(size))
                    .build(),
            );
        }
        d
    }

    /// Every packet the other end has, split out of its super-packets, with the frames' GSO
    /// types; a plain frame's packet is taken as it is (it may be any bytes).
    fn arrived(theirs: &rustix::fd::OwnedFd) -> (Vec<Vec<u8>>, Vec<virtio_net_hdr::GsoType>) {
        let mut buf = vec![0u8; 70_000];
        let (mut packets, mut types) = (Vec::new(), Vec::new());
        while let Ok((n, _)) =
            rustix::net::recv(theirs, &mut buf[..], rustix::net::RecvFlags::empty())
        {
            let (hdr, pkt) = VirtioNetHdr::ref_from_packet(&buf[..n]).unwrap();
            types.push(hdr.gso_type());
            if hdr.gso_type() == virtio_net_hdr::GsoType::NONE {
                packets.push(pkt.to_vec());
            } else {
                packets.extend(packets_of(&buf[..n]));
            }
        }
        (packets, types)
    }

    /// Mixed batches: TCP flows, UDP flows (IPv4 and IPv6, on the TCP flows' ports, some with
    /// a short last datagram) and garbage, interleaved at random with each flow in order.
    fn mixed_batch() -> impl proptest::strategy::Strategy<Value = (Vec<Vec<Vec<u8>>>, Vec<usize>)> {
        use proptest::collection::vec;
        use proptest::prelude::*;
        let tcp = vec((1usize..12, 1usize..1400), 0..4);
        let udp = vec(
            (
                any::<bool>(),
                1usize..20,
                1usize..1400,
                proptest::option::of(1usize..1400),
                any::<u16>(),
            ),
            0..4,
        );
        let garbage = vec(vec(any::<u8>(), 1..200), 0..6);
        (tcp, udp, garbage)
            .prop_map(|(tcp, udp, garbage)| {
                let mut flows: Vec<Vec<Vec<u8>>> = Vec::new();
                for (f, &(segments, mss)) in tcp.iter().enumerate() {
                    flows.push(flow(1000 + f as u16, segments, mss));
                }
                for (f, &(v6, n, size, short, id0)) in udp.iter().enumerate() {
                    flows.push(udp_flow(1000 + f as u16, v6, n, size, short, id0));
                }
                flows.extend(garbage.into_iter().map(|g| vec![g]));
                flows
            })
            .prop_flat_map(|flows| {
                // Which flow each position of the batch takes its next packet from.
                let labels: Vec<usize> = flows
                    .iter()
                    .enumerate()
                    .flat_map(|(f, p)| std::iter::repeat_n(f, p.len()))
                    .collect();
                (Just(flows), Just(labels).prop_shuffle())
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Random mixed batches through `send_from` (resumed after `WouldBlock` when the send
        /// buffer is small), with both coalescers on, either one off or both off: every packet
        /// arrives exactly once, each flow's packets in their order, and a protocol whose
        /// coalescing is off is never written as a super-packet.
        #[test]
        fn mixed_batches_arrive_whole_and_in_flow_order(
            (flows, labels) in mixed_batch(),
            small_buffer in proptest::prelude::any::<bool>(),
        ) {
            use proptest::prelude::*;
            use virtio_net_hdr::GsoType;
            let mut next = vec![0usize; flows.len()];
            let packets: Vec<Vec<u8>> = labels
                .iter()
                .map(|&f| {
                    next[f] += 1;
                    flows[f][next[f] - 1].clone()
                })
                .collect();
            let mut sorted_in = packets.clone();
            sorted_in.sort();
            for (tcp, udp) in [(true, true), (true, false), (false, true), (false, false)] {
                let (mut tx, theirs) = pair();
                if small_buffer {
                    // A send buffer that a batch fills (the kernel doubles the value) while the
                    // longest super-packet fits: writes stop with `WouldBlock` and resume.
                    rustix::net::sockopt::set_socket_send_buffer_size(&tx.q.fd, 16_000).unwrap();
                }
                tx.control().set_gro(tcp).unwrap();
                tx.control().set_udp_gro(udp).unwrap();
                let mut got = Vec::new();
                let mut types = Vec::new();
                let mut r = tx.send_from(&packets, ChecksumStatus::Unverified);
                let mut written = 0;
                loop {
                    let (p, t) = arrived(&theirs);
                    got.extend(p);
                    types.extend(t);
                    match r {
                        Ok(n) => {
                            written += n;
                            break;
                        }
                        Err(SendError::WouldBlock { written: n }) => {
                            written += n;
                            r = tx.resume_from(&packets, ChecksumStatus::Unverified);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                let mode = format!("TCP GRO {tcp}, UDP GRO {udp}");
                prop_assert_eq!(written, packets.len(), "{}", mode);
                prop_assert!(tx.failures().is_empty(), "{}", mode);
                prop_assert!(
                    types.iter().all(|t| match *t {
                        GsoType::NONE => true,
                        GsoType::TCPV4 => tcp,
                        GsoType::UDP_L4 => udp,
                        _ => false,
                    }),
                    "{}: {:?}", mode, types
                );
                // Nothing lost, nothing twice.
                let mut sorted_out = got.clone();
                sorted_out.sort();
                prop_assert!(
                    sorted_out == sorted_in,
                    "{}: {} packets arrived for {} sent", mode, got.len(), packets.len()
                );
                // Each flow in its order.
                for (f, flow) in flows.iter().enumerate() {
                    let of_flow: Vec<&Vec<u8>> = got.iter().filter(|p| flow.contains(p)).collect();
                    prop_assert!(
                        of_flow.iter().copied().eq(flow.iter()),
                        "{}: flow {} out of order", mode, f
                    );
                }
            }
        }
    }

    /// Refused UDP super-packets (rule book §3.3 item 7; Linux 6.6.44 refused USO writes with a
    /// short tail) are written datagram by datagram, nothing lost, and after
    /// `GRO_DISABLE_AFTER` of them UDP coalescing alone is turned off.
    #[test]
    fn refused_udp_super_packets_fall_back_and_turn_udp_gro_off_alone() {
        use testkit::udp::UdpPacket;
        let (mut tx, theirs) = pair();
        let udp = UdpPacket::v6().train(5, 1000);
        let ctl = tx.control();
        ctl.inject_gso_einval(GRO_DISABLE_AFTER as u32);
        for _ in 0..GRO_DISABLE_AFTER {
            assert_eq!(tx.send_from(&udp, ChecksumStatus::Unverified).unwrap(), 5);
            let got: Vec<Vec<u8>> = frames(&theirs).into_iter().flat_map(|f| f.1).collect();
            assert_eq!(got, udp);
        }
        let caps = ctl.capabilities();
        assert!(!caps.udp_gro && caps.gro, "{caps:?}");
        assert_eq!(ctl.stats().gso_rejections, GRO_DISABLE_AFTER);
        assert!(!ctl.stats().gro_disabled);
        // Written one by one from now on.
        assert_eq!(tx.send_from(&udp, ChecksumStatus::Unverified).unwrap(), 5);
        assert_eq!(frames(&theirs).len(), 5);
        // And a UDP GRO that was turned off can be turned on again.
        ctl.set_udp_gro(true).unwrap();
        assert_eq!(tx.send_from(&udp, ChecksumStatus::Unverified).unwrap(), 5);
        assert_eq!(frames(&theirs).len(), 1);
    }

    #[test]
    fn send_from_keeps_what_a_stopped_write_left_and_send_forgets_it() {
        // The test queue is an unconnected UDP socket: every write fails with an error that
        // stops the batch.
        for vnet in [0, 10] {
            let mut tx = Writer::new(crate::device::test_queue(vnet));
            let packets = flow(2000, 3, 100);
            match tx.send_from(&packets[..], ChecksumStatus::Unverified) {
                Err(SendError::Io { written: 0, .. }) => {}
                other => panic!("vnet {vnet}: {other:?}"),
            }
            assert_eq!(tx.unsent().collect::<Vec<_>>(), [0, 1, 2], "vnet {vnet}");
            assert!(tx.failures().is_empty());
            // A source is read up to its first missing packet.
            let none: [&[u8]; 0] = [];
            assert_eq!(tx.send_from(&none, ChecksumStatus::Unverified).unwrap(), 0);
            assert_eq!(tx.unsent().count(), 0);
            assert!(tx.send_from(&packets, ChecksumStatus::Unverified).is_err());
            assert_eq!(tx.unsent().count(), 3);
            assert_eq!(tx.send(&mut SendBatch::new(1)).unwrap(), 0);
            assert_eq!(tx.unsent().count(), 0, "send starts afresh");
        }
    }

    #[test]
    fn retain_keeps_unsent_packets_and_their_push_order() {
        let mut b = SendBatch::new(4);
        for i in 0..4u8 {
            b.push(&[i], ChecksumStatus::Unverified).unwrap();
        }
        b.status[0] = Status::Written;
        b.status[2] = Status::Failed;
        b.retain_queued();
        assert_eq!(
            (b.len(), b.get(0), b.get(1)),
            (2, Some(&[1u8][..]), Some(&[3u8][..]))
        );
        assert_eq!(b.orig, [1, 3]);
        // A push after a partial send continues the push order.
        b.push(&[4], ChecksumStatus::Unverified).unwrap();
        assert_eq!(b.orig, [1, 3, 4]);
    }
}
