//! The coalescer, the crate's engine: [`push`](Coalescer::push) decides where each packet goes
//! (the hot path, or parse, look up its flow in the table and apply the rules), and
//! [`drain`](Coalescer::drain) checks the runs' first datagrams and emits the outputs.

#[cfg(debug_assertions)]
use alloc::vec::Vec;

use inet_csum::ChecksumStatus;
use offload_buf::{Drain, Outputs, PacketSource};

use crate::config::{Config, MAX_MERGED_LEN, MAX_SEGMENTS};
use crate::datagram::parse;
use crate::emit;
use crate::rules::{parse_continuation, same_class};
use crate::table::{NIL, Run, Slot, Table};
use crate::verify::{checksum_ok, valid_in_run};

/// Reusable UDP GRO engine: push a batch, drain the packets to write, repeat.
///
/// Holds its tables between batches; after the first few batches nothing is allocated. Not tied
/// to any buffer: [`push`](Self::push) reads each packet once, and [`drain`](Self::drain)
/// borrows the same packets again to describe the output without copying payload.
///
/// ```
/// use udp_gro::{ChecksumStatus, Coalescer, Config};
/// # /// An IPv4 UDP datagram 10.0.0.1:40000 → 10.0.0.2:4433 (DF, TTL 64), IPv4 ID `id`, `len`
/// # /// payload bytes, checksums valid.
/// # fn datagram(id: u16, len: usize) -> Vec<u8> {
/// #     let mut p = vec![
/// #         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
/// #         0x9c, 0x40, 0x11, 0x51, 0, 0, 0, 0,
/// #     ];
/// #     p[2..4].copy_from_slice(&((28 + len) as u16).to_be_bytes());
/// #     p[4..6].copy_from_slice(&id.to_be_bytes());
/// #     p[24..26].copy_from_slice(&((8 + len) as u16).to_be_bytes());
/// #     p.resize(28 + len, 0xab);
/// #     let ip = inet_csum::header_checksum(&p[..20]);
/// #     p[10..12].copy_from_slice(&ip.to_be_bytes());
/// #     let udp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 17, (8 + len) as u16)
/// #         .add(&p[20..])
/// #         .finish();
/// #     p[26..28].copy_from_slice(&udp.to_be_bytes());
/// #     p
/// # }
///
/// let mut gro = Coalescer::new(Config::default());
/// let mut write_buf = vec![0u8; 65535];
/// for _batch in 0..3 {
///     // Two 1200-byte datagrams (`datagram(ip_id, payload_len)`, IPv4) per batch; batches are
///     // independent.
///     let packets = [datagram(1, 1200), datagram(2, 1200)];
///     for (i, p) in packets.iter().enumerate() {
///         gro.push(i, p, ChecksumStatus::KnownGood);
///     }
///     for out in gro.drain(&packets) {
///         let n = out.materialize(&mut write_buf).unwrap();
///         assert_eq!(n, 20 + 8 + 2400);
///         assert_eq!(out.vnet_hdr().gso_type(), virtio_net_hdr::GsoType::UDP_L4);
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Coalescer {
    config: Config,
    /// `config.max_segments` as the rules take it.
    max_segments: u32,
    /// The batch's flows and runs; its hot run is what [`push_hot`](Self::push_hot) tries
    /// first.
    table: Table,
    /// This crate's tests only: whether [`push_hot`](Self::push_hot) is used (turned off to
    /// hold it equal to the general path). Any other build always uses it.
    #[cfg(test)]
    hot_path: bool,
    /// Set by `drain`: the outputs hold the last batch until the next push or clear.
    drained: bool,
    /// What the last drain wrote (its merged headers are in the table's header arena).
    outputs: Outputs,
    /// Debug builds re-check every emitted header against `check_emit` on a contiguous copy.
    #[cfg(debug_assertions)]
    scratch: Vec<u8>,
}

impl Coalescer {
    /// A coalescer with empty tables sized for a 128-packet batch
    /// ([`with_capacity`](Self::with_capacity) 128).
    ///
    /// ```
    /// let gro = udp_gro::Coalescer::new(udp_gro::Config::default());
    /// # drop(gro);
    /// ```
    pub fn new(config: Config) -> Self {
        Self::with_capacity(config, 128)
    }

    /// A coalescer whose tables are allocated up front for batches of `packets` packets:
    /// about 220 bytes per packet (per packet a run, a member, a write slot, an output record
    /// and two hash buckets, and 48 bytes of header copies — an IPv6 + UDP header), so 220 KiB
    /// for 1024. A first batch of up to `packets` packets allocates nothing. A larger batch,
    /// or runs with longer headers (IPv6 extension headers), grows the tables once; batches
    /// up to the new size then allocate nothing again.
    ///
    /// ```
    /// let gro = udp_gro::Coalescer::with_capacity(udp_gro::Config::default(), 1024);
    /// # drop(gro);
    /// ```
    pub fn with_capacity(config: Config, packets: usize) -> Self {
        let mut config = config;
        config.max_merged_len = config.max_merged_len.min(MAX_MERGED_LEN);
        config.max_segments = config.max_segments.min(MAX_SEGMENTS);
        Coalescer {
            max_segments: config.max_segments as u32,
            config,
            table: Table::with_capacity(packets),
            #[cfg(test)]
            hot_path: true,
            drained: false,
            outputs: Outputs::with_capacity(packets),
            #[cfg(debug_assertions)]
            scratch: Vec::with_capacity(MAX_MERGED_LEN),
        }
    }

    /// The configuration in use (with its limits clamped).
    ///
    /// ```
    /// let mut c = udp_gro::Config::default();
    /// c.max_segments = 1000;
    /// assert_eq!(udp_gro::Coalescer::new(c).config().max_segments, 64);
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Forget the current batch (pushed packets and the last drained output).
    ///
    /// ```
    /// use udp_gro::{ChecksumStatus, Coalescer, Config};
    /// let mut gro = Coalescer::new(Config::default());
    /// gro.push(0, &[1, 2, 3], ChecksumStatus::Unverified);
    /// gro.clear();
    /// assert_eq!(gro.drain(&[[0u8; 0]; 0]).len(), 0);
    /// ```
    pub fn clear(&mut self) {
        self.table.clear();
        self.outputs.clear();
        self.drained = false;
    }

    /// Offer the packet that the caller stores at `index` of the slice it will later pass to
    /// [`drain`](Self::drain). Indices must be pushed in increasing order within a batch; the
    /// output keeps push order, a merged packet taking the place of its first datagram.
    ///
    /// Any bytes are accepted: packets that are not mergeable UDP datagrams (other protocols,
    /// malformed, IPv4 options or fragments, IPv6 Fragment headers, a UDP checksum of 0 or
    /// one that fails, an empty datagram, a UDP length that is not the IP payload's) are
    /// passed through untouched, in order.
    ///
    /// ```
    /// use udp_gro::{ChecksumStatus, Coalescer, Config};
    /// let mut gro = Coalescer::new(Config::default());
    /// gro.push(0, &[0xde, 0xad], ChecksumStatus::Unverified); // garbage: passed through
    /// let packets = [vec![0xde, 0xad]];
    /// let out: Vec<_> = gro.drain(&packets).collect();
    /// assert_eq!(out[0].headers(), &[0xde, 0xad]);
    /// ```
    #[inline]
    pub fn push(&mut self, index: usize, packet: &[u8], csum: ChecksumStatus) {
        self.push_parts(index, packet, &[], csum);
    }

    /// [`push`](Self::push) for a packet held in two parts: `header` followed by `payload`
    /// (the packet's [`PacketSource::parts`] at [`drain`](Self::drain) time). It may merge when
    /// `header` is exactly its IP + UDP headers — a datagram split from a USO super-packet
    /// with its payload left in place — or when `payload` is empty (`header` is then the whole
    /// packet); any other split is passed through whole, as if it were not UDP. A merged
    /// output's payload slices are the members' payload parts.
    ///
    /// ```
    /// use udp_gro::{ChecksumStatus, Coalescer, Config, PacketSource};
    /// # /// An IPv4 UDP datagram 10.0.0.1:40000 → 10.0.0.2:4433 (DF, TTL 64), IPv4 ID `id`, `len`
    /// # /// payload bytes, checksums valid.
    /// # fn datagram(id: u16, len: usize) -> Vec<u8> {
    /// #     let mut p = vec![
    /// #         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    /// #         0x9c, 0x40, 0x11, 0x51, 0, 0, 0, 0,
    /// #     ];
    /// #     p[2..4].copy_from_slice(&((28 + len) as u16).to_be_bytes());
    /// #     p[4..6].copy_from_slice(&id.to_be_bytes());
    /// #     p[24..26].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    /// #     p.resize(28 + len, 0xab);
    /// #     let ip = inet_csum::header_checksum(&p[..20]);
    /// #     p[10..12].copy_from_slice(&ip.to_be_bytes());
    /// #     let udp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 17, (8 + len) as u16)
    /// #         .add(&p[20..])
    /// #         .finish();
    /// #     p[26..28].copy_from_slice(&udp.to_be_bytes());
    /// #     p
    /// # }
    /// /// Packets held as (headers, payload).
    /// struct TwoPart(Vec<(Vec<u8>, Vec<u8>)>);
    /// impl PacketSource for TwoPart {
    ///     fn packet(&self, i: usize) -> Option<&[u8]> {
    ///         self.0.get(i).map(|p| &p.0[..])
    ///     }
    ///     fn parts(&self, i: usize) -> Option<(&[u8], &[u8])> {
    ///         self.0.get(i).map(|p| (&p.0[..], &p.1[..]))
    ///     }
    /// }
    ///
    /// // Datagrams as headers + payload (`datagram(ip_id, payload_len)`: IPv4 + UDP).
    /// let dgrams = TwoPart((0..3u16).map(|i| {
    ///     let mut p = datagram(i, 100);
    ///     let payload = p.split_off(28);
    ///     (p, payload)
    /// }).collect());
    /// let mut gro = Coalescer::new(Config::default());
    /// for (i, (header, payload)) in dgrams.0.iter().enumerate() {
    ///     gro.push_parts(i, header, payload, ChecksumStatus::Unverified);
    /// }
    /// let out = gro.drain(&dgrams).next().unwrap();
    /// assert_eq!((out.len(), out.headers().len(), out.payloads().len()), (328, 28, 3));
    /// ```
    pub fn push_parts(
        &mut self,
        index: usize,
        header: &[u8],
        payload: &[u8],
        csum: ChecksumStatus,
    ) {
        if self.drained {
            self.clear();
        }
        if self.uses_hot_path() && self.push_hot(index, header, payload, csum) {
            return;
        }
        let Some(d) = parse(header, payload) else {
            self.table.pass(index);
            return;
        };
        let max_segments = self.max_segments;
        let bucket = self.table.bucket(d.hash);
        let run_id = self.table.find_run(bucket, &d);
        if run_id == NIL {
            if d.candidate {
                // Nothing held for the flow: the datagram is held, its checksum checked at
                // drain if something joins it.
                let unverified = csum != ChecksumStatus::KnownGood;
                self.table
                    .start_run(bucket, index, &d, unverified, max_segments);
            } else {
                self.table.pass(index);
            }
            return;
        }
        let r = *self.table.run(run_id);
        if !r.state.open {
            // The flow's packet is complete (a shorter datagram or the last one it may hold
            // joined, or a datagram could not join): the kernel holds nothing for the flow.
            if d.candidate {
                let unverified = csum != ChecksumStatus::KnownGood;
                self.table
                    .start_run(bucket, index, &d, unverified, max_segments);
            } else {
                self.table.pass(index);
            }
            return;
        }
        // From here on the datagram changes what is held for its flow (it joins, or completes
        // the held packet): the kernel validates its checksum first, and one that fails is
        // passed up alone, the held packet left as it is (rule book §2.5).
        if !checksum_ok(&d, csum) {
            self.table.pass(index);
            return;
        }
        if d.candidate
            && same_class(self.table.run_header(&r), &d)
            && let Some(id_mode) = r.state.can_append(&d, self.config.max_merged_len)
        {
            self.table.append(run_id, index, &d, id_mode, max_segments);
            return;
        }
        // It cannot join: the held packet is complete, and the datagram, if it may, is held in
        // its place (verified already).
        self.table.close(run_id);
        if d.candidate {
            self.table.start_run(bucket, index, &d, false, max_segments);
        } else {
            self.table.pass(index);
        }
    }

    /// The common case in one step: `packet` continues the hot run (the newest run of its
    /// flow, which the general path would find for it) and may be appended to it. Returns
    /// false, having changed nothing, when that is not certain; the general path then decides.
    ///
    /// Same result as the general path: [`parse_continuation`] gives the datagram `parse` would
    /// give only when it is a candidate of the hot run's flow and class, so the general path
    /// would find that run, open, with `same_class` true, and append if `can_append` allows;
    /// the checksum is checked as there (a bad datagram passes alone, the run stays open).
    #[inline]
    fn push_hot(
        &mut self,
        index: usize,
        header: &[u8],
        payload: &[u8],
        csum: ChecksumStatus,
    ) -> bool {
        let run_id = self.table.hot();
        if run_id == NIL {
            return false;
        }
        let r = self.table.run(run_id);
        if !r.state.open {
            return false;
        }
        let Some(d) = parse_continuation(
            self.table.run_header(r),
            r.state.version,
            r.l4_off as usize,
            r.hash,
            header,
            payload,
        ) else {
            return false;
        };
        let Some(id_mode) = r.state.can_append(&d, self.config.max_merged_len) else {
            return false;
        };
        // `checksum_ok`, with the run's address sum: the datagram has the held addresses.
        let ok = csum == ChecksumStatus::KnownGood
            || valid_in_run(r.addrs, d.header, d.payload, d.version, d.l4_off);
        if ok {
            self.table
                .append(run_id, index, &d, id_mode, self.max_segments);
        } else {
            self.table.pass(index);
        }
        true
    }

    /// Whether [`push_hot`](Self::push_hot) is tried first: always, but in this crate's tests
    /// that turn it off.
    #[inline(always)]
    fn uses_hot_path(&self) -> bool {
        #[cfg(test)]
        {
            self.hot_path
        }
        #[cfg(not(test))]
        {
            true
        }
    }

    /// Finish the batch: yields the packets to write, in write order. `packets` holds the
    /// packets by the indices they were pushed with (a slice or `Vec` of buffers, or any
    /// [`PacketSource`]): `packets.packet(i)` must be the bytes pushed as `i`.
    ///
    /// Checksums ([`ChecksumStatus::Unverified`]): a datagram that joins a run, or completes
    /// one, is checked at push; the first datagram of a run is checked here, and only if
    /// something joined it (a datagram written alone is written unchanged). If it fails, it is
    /// written alone and the rest of its run forms its own packet.
    ///
    /// Each merged run gets its first datagram's headers patched (IPv4 total length and header
    /// checksum, or IPv6 payload length; the UDP length the merged UDP length; the UDP checksum
    /// field the folded pseudo-header sum over it) and a `UDP_L4` virtio header that passes
    /// [`VirtioNetHdr::check_emit`](crate::VirtioNetHdr::check_emit). A run whose members no
    /// longer match `packets` (an index out of range, or a length that changed since `push`)
    /// is not merged: its members are passed through as they are now, and a missing index is
    /// skipped.
    ///
    /// The table is reset; the outputs stay readable until the next [`push`](Self::push),
    /// [`drain`](Self::drain) or [`clear`](Self::clear). Each drain covers the packets pushed
    /// since the previous one (none: an empty batch).
    ///
    /// ```
    /// use udp_gro::{ChecksumStatus, Coalescer, Config};
    /// # /// An IPv4 UDP datagram 10.0.0.1:40000 → 10.0.0.2:4433 (DF, TTL 64), IPv4 ID `id`, `len`
    /// # /// payload bytes, checksums valid.
    /// # fn datagram(id: u16, len: usize) -> Vec<u8> {
    /// #     let mut p = vec![
    /// #         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    /// #         0x9c, 0x40, 0x11, 0x51, 0, 0, 0, 0,
    /// #     ];
    /// #     p[2..4].copy_from_slice(&((28 + len) as u16).to_be_bytes());
    /// #     p[4..6].copy_from_slice(&id.to_be_bytes());
    /// #     p[24..26].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    /// #     p.resize(28 + len, 0xab);
    /// #     let ip = inet_csum::header_checksum(&p[..20]);
    /// #     p[10..12].copy_from_slice(&ip.to_be_bytes());
    /// #     let udp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 17, (8 + len) as u16)
    /// #         .add(&p[20..])
    /// #         .finish();
    /// #     p[26..28].copy_from_slice(&udp.to_be_bytes());
    /// #     p
    /// # }
    /// // `datagram(ip_id, payload_len)`: IPv4 + UDP. A longer datagram starts a new packet.
    /// let packets = [datagram(1, 1000), datagram(2, 1000), datagram(3, 1200), datagram(4, 900)];
    /// let mut gro = Coalescer::new(Config::default());
    /// for (i, p) in packets.iter().enumerate() {
    ///     gro.push(i, p, ChecksumStatus::Unverified);
    /// }
    /// let out: Vec<_> = gro.drain(&packets).collect();
    /// assert_eq!(out.len(), 2);
    /// assert_eq!(out[0].indices(), &[0, 1]);
    /// assert_eq!(out[1].indices(), &[2, 3]);
    /// assert_eq!(out[1].vnet_hdr().gso_size(), 1200);
    /// ```
    pub fn drain<'a, S: PacketSource + ?Sized>(&'a mut self, packets: &'a S) -> Drain<'a, S> {
        if self.drained {
            // Nothing pushed since the last drain: an empty batch, not the previous one again.
            self.clear();
        }
        self.finish(packets);
        #[cfg(debug_assertions)]
        emit::debug_check(
            &self.outputs,
            self.table.headers(),
            packets,
            &mut self.scratch,
        );
        self.table.reset();
        self.drained = true;
        Drain::new(&self.outputs, self.table.headers(), packets)
    }

    fn finish<S: PacketSource + ?Sized>(&mut self, packets: &S) {
        self.outputs.clear();
        for i in 0..self.table.slots().len() {
            match self.table.slots()[i] {
                Slot::Pass(index) => emit::pass(&mut self.outputs, packets, index),
                Slot::Run(id) => {
                    let r = self.table.run(id);
                    if r.state.count == 1 {
                        // Alone: written unchanged, so never summed.
                        let index = self.table.member(r.head).index;
                        emit::pass(&mut self.outputs, packets, index);
                        continue;
                    }
                    let r = *r;
                    let out = &mut self.outputs;
                    // A run whose members changed since push (the caller broke `drain`'s
                    // contract) is not merged: `merged` finds it out on its walk and writes
                    // the members as they are now.
                    if r.head_unverified && !head_valid(&self.table, packets, &r) {
                        emit::without_head(out, &mut self.table, packets, &r);
                    } else {
                        emit::merged(out, &mut self.table, packets, &r, r.head, r.hdr_at);
                    }
                }
            }
        }
    }
}

/// Whether the first datagram of run `r` checks out. A datagram whose shape changed since push
/// may pass or fail here; `merged` then finds the change and writes it alone either way.
fn head_valid<S: PacketSource + ?Sized>(table: &Table, packets: &S, r: &Run) -> bool {
    packets
        .parts(table.member(r.head).index)
        .is_some_and(|(header, payload)| {
            valid_in_run(r.addrs, header, payload, r.state.version, r.l4_off as usize)
        })
}

#[cfg(test)]
mod tests;
