//! The coalescer, the crate's engine: [`push`](Coalescer::push) decides where each packet
//! goes (the hot path, or parse, look up its flow's runs in the table and apply the rules), and
//! [`drain`](Coalescer::drain) checks the runs' deferred checksums, pushes the batch again if
//! one fails, and emits the outputs.

use alloc::vec::Vec;

use inet_csum::ChecksumStatus;

use crate::config::{Config, MAX_MERGED_LEN};
use crate::emit;
use offload_buf::{Drain, Outputs, PacketSource};

use crate::rules::{parse_continuation, same_class, same_flow};
use crate::segment::{Seg, parse};
use crate::table::{JoinCheck, NIL, Slot, Table};
use crate::verify::{checksum_ok, join_check, replay_order, verify_members};

/// Reusable TCP GRO engine: push a batch, drain the packets to write, repeat.
///
/// Holds its tables between batches; after the first few batches nothing is allocated. Not tied
/// to any buffer: [`push`](Self::push) reads each packet once, and [`drain`](Self::drain)
/// borrows the same packets again to describe the output without copying payload.
///
/// ```
/// use tcp_gro::{ChecksumStatus, Coalescer, Config};
/// # /// An IPv4 TCP segment 10.0.0.1:40000 → 10.0.0.2:5201 (DF, TTL 64, ACK, window 502), `len`
/// # /// payload bytes, checksums valid.
/// # fn segment(seq: u32, ip_id: u16, len: usize) -> Vec<u8> {
/// #     let mut p = vec![
/// #         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
/// #         0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 0, 0, 0, 0, 1, 0x50, 0x10, 0x01, 0xf6, 0, 0, 0, 0,
/// #     ];
/// #     p[2..4].copy_from_slice(&((40 + len) as u16).to_be_bytes());
/// #     p[4..6].copy_from_slice(&ip_id.to_be_bytes());
/// #     p[24..28].copy_from_slice(&seq.to_be_bytes());
/// #     p.resize(40 + len, 0xab);
/// #     let ip = inet_csum::header_checksum(&p[..20]);
/// #     p[10..12].copy_from_slice(&ip.to_be_bytes());
/// #     let tcp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, (20 + len) as u16)
/// #         .add(&p[20..])
/// #         .finish();
/// #     p[36..38].copy_from_slice(&tcp.to_be_bytes());
/// #     p
/// # }
///
/// let mut gro = Coalescer::new(Config::default());
/// let mut write_buf = vec![0u8; 65535];
/// for batch in 0..3u32 {
///     // Two segments (IPv4, `segment(seq, ip_id, payload_len)`) per batch; batches are
///     // independent.
///     let packets = [
///         segment(batch * 2000, 1, 1000),
///         segment(batch * 2000 + 1000, 2, 1000),
///     ];
///     for (i, p) in packets.iter().enumerate() {
///         gro.push(i, p, ChecksumStatus::KnownGood);
///     }
///     for out in gro.drain(&packets) {
///         let n = out.materialize(&mut write_buf).unwrap();
///         assert_eq!(n, 20 + 20 + 2000);
///         assert_eq!(out.vnet_hdr().gso_type(), virtio_net_hdr::GsoType::TCPV4);
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Coalescer {
    config: Config,
    /// The held runs; its hot run is what [`push_hot`](Self::push_hot) tries first.
    table: Table,
    /// This crate's tests only: whether [`push_hot`](Self::push_hot) is used (turned off to
    /// hold it equal to the general path). Any other build always uses it.
    #[cfg(test)]
    hot_path: bool,
    /// This crate's tests only: whether joiners' checksums are checked at drain instead of at
    /// push (turned off to hold the two equal). Any other build always defers.
    #[cfg(test)]
    defer: bool,
    /// Set while [`replay`](Self::replay) pushes the batch again with checks at push.
    replaying: bool,
    /// The batch's pushes (index and checksum mode), gathered for a replay; kept for its
    /// capacity.
    replay_log: Vec<(usize, ChecksumStatus)>,
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
    /// let gro = tcp_gro::Coalescer::new(tcp_gro::Config::default());
    /// # drop(gro);
    /// ```
    pub fn new(config: Config) -> Self {
        Self::with_capacity(config, 128)
    }

    /// A coalescer whose tables are allocated up front for batches of `packets` packets:
    /// about 280 bytes per packet (per packet a run, a member, a write slot, a replay entry, an
    /// output record and two hash buckets, and 80 bytes of header copies — IPv4 or IPv6 with
    /// TCP timestamps need 52 or 72), so 280 KiB for 1024. A first batch of up to `packets`
    /// packets allocates nothing. A larger batch, or runs with longer headers (IPv6 extension
    /// headers, more TCP options), grows the tables once; batches up to the new size then
    /// allocate nothing again.
    ///
    /// ```
    /// let gro = tcp_gro::Coalescer::with_capacity(tcp_gro::Config::default(), 1024);
    /// # drop(gro);
    /// ```
    pub fn with_capacity(config: Config, packets: usize) -> Self {
        let mut config = config;
        config.max_merged_len = config.max_merged_len.min(MAX_MERGED_LEN);
        Coalescer {
            config,
            table: Table::with_capacity(packets),
            #[cfg(test)]
            hot_path: true,
            #[cfg(test)]
            defer: true,
            replaying: false,
            replay_log: Vec::with_capacity(packets),
            drained: false,
            outputs: Outputs::with_capacity(packets),
            #[cfg(debug_assertions)]
            scratch: Vec::with_capacity(MAX_MERGED_LEN),
        }
    }

    /// The configuration in use (with `max_merged_len` clamped).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Forget the current batch (pushed packets and the last drained output).
    ///
    /// ```
    /// use tcp_gro::{ChecksumStatus, Coalescer, Config};
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
    /// output keeps push order except where a merge moves a segment into its run.
    ///
    /// Any bytes are accepted: packets that are not mergeable TCP segments (other protocols,
    /// malformed, IPv4 options or fragments, IPv6 Fragment headers, SYN/RST/URG/CWR, empty
    /// payload, a failed checksum) are passed through untouched, in order.
    ///
    /// ```
    /// use tcp_gro::{ChecksumStatus, Coalescer, Config};
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
    /// `header` is exactly its IP + TCP headers — a segment as `tcp_tso::Plan::split_headers`
    /// leaves it, payload not copied — or when `payload` is empty (`header` is then the whole
    /// packet); any other split is passed through whole, as if it were not TCP. A merged
    /// output's payload slices are the members' payload parts, so a super-packet split without
    /// copying is written from where its payload already lies.
    ///
    /// ```
    /// use tcp_gro::{ChecksumStatus, Coalescer, Config, PacketSource};
    /// # /// An IPv4 TCP segment 10.0.0.1:40000 → 10.0.0.2:5201 (DF, TTL 64, ACK, window 502), `len`
    /// # /// payload bytes, checksums valid.
    /// # fn segment(seq: u32, ip_id: u16, len: usize) -> Vec<u8> {
    /// #     let mut p = vec![
    /// #         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    /// #         0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 0, 0, 0, 0, 1, 0x50, 0x10, 0x01, 0xf6, 0, 0, 0, 0,
    /// #     ];
    /// #     p[2..4].copy_from_slice(&((40 + len) as u16).to_be_bytes());
    /// #     p[4..6].copy_from_slice(&ip_id.to_be_bytes());
    /// #     p[24..28].copy_from_slice(&seq.to_be_bytes());
    /// #     p.resize(40 + len, 0xab);
    /// #     let ip = inet_csum::header_checksum(&p[..20]);
    /// #     p[10..12].copy_from_slice(&ip.to_be_bytes());
    /// #     let tcp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, (20 + len) as u16)
    /// #         .add(&p[20..])
    /// #         .finish();
    /// #     p[36..38].copy_from_slice(&tcp.to_be_bytes());
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
    /// // Segments as headers + payload, e.g. from a split that left the payload in place
    /// // (`segment(seq, ip_id, payload_len)`: IPv4 + TCP).
    /// let segs = TwoPart((0..3u16).map(|i| {
    ///     let mut p = segment(100 * u32::from(i), i, 100);
    ///     let payload = p.split_off(40);
    ///     (p, payload)
    /// }).collect());
    /// let mut gro = Coalescer::new(Config::default());
    /// for (i, (header, payload)) in segs.0.iter().enumerate() {
    ///     gro.push_parts(i, header, payload, ChecksumStatus::Unverified);
    /// }
    /// let out = gro.drain(&segs).next().unwrap();
    /// assert_eq!((out.len(), out.headers().len(), out.payloads().len()), (340, 40, 3));
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
        let Some(seg) = parse(header, payload) else {
            self.table.pass(index, csum);
            return;
        };
        let bucket = self.table.bucket(seg.hash);
        if !seg.candidate {
            // Not mergeable; if it is TCP of a held flow (and really from that flow: checksum
            // good) it completes that flow's runs (`tcp_gro_receive`: a held packet that the new
            // one cannot join is flushed), so nothing later of the flow jumps over it.
            if self.table.flow_has_open_run(bucket, &seg) && checksum_ok(&seg, csum) {
                self.table.close_flow(bucket, &seg);
            }
            self.table.pass(index, csum);
            return;
        }
        match self.try_merge(bucket, index, &seg, csum) {
            Merge::Done => {}
            Merge::BadChecksum => {
                // A bad segment passes alone and does not complete the held run (rule book
                // §2.4: the checksum is validated before `tcp_gro_receive`).
                self.table.pass(index, csum);
            }
            Merge::No { close_flow } => {
                if close_flow {
                    if !checksum_ok(&seg, csum) {
                        self.table.pass(index, csum);
                        return;
                    }
                    self.table.close_flow(bucket, &seg);
                }
                self.table.start_run(bucket, index, &seg, csum);
            }
        }
    }

    /// The common case in one step: `packet` continues the hot run (the newest open run of
    /// its flow, which the general path would try first) and may be appended to it. Returns
    /// false, having changed nothing, when that is not certain; the general path then decides.
    ///
    /// Same result as the general path: [`parse_continuation`] gives the segment `parse` would
    /// give only when it is a candidate of the hot run's flow and class, so the general path
    /// would reach the hot run first in the bucket chain (older runs of the flow come after
    /// it, other flows are skipped), find `same_class` true, and append if `can_append` allows
    /// — the same checks run here, in the same order, with the same checksum decision.
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
        let r = self.table.run(run_id as usize);
        debug_assert!(!r.state.closed, "close_flow clears the hot run");
        let Some(seg) = parse_continuation(
            self.table.run_header(r),
            r.state.version,
            r.l4_off as usize,
            r.hash,
            header,
            payload,
        ) else {
            return false;
        };
        let Some(id_mode) = r.state.can_append(&seg, self.config.max_merged_len) else {
            return false;
        };
        let run_id = run_id as usize;
        match join_check(&seg, csum, self.defers()) {
            JoinCheck::Bad => self.table.pass(index, csum),
            check => self.table.append(run_id, index, &seg, id_mode, check),
        }
        true
    }

    /// Try to add `seg` to an open run of its flow, most recent first.
    #[inline]
    fn try_merge(
        &mut self,
        bucket: usize,
        index: usize,
        seg: &Seg<'_>,
        csum: ChecksumStatus,
    ) -> Merge {
        let mut close_flow = false;
        // Whether no open run of the flow came before this one in the chain (newest first):
        // only then may the run become the hot run.
        let mut newest = true;
        let mut at = self.table.newest(bucket);
        while at != NIL {
            let run_id = at as usize;
            let r = self.table.run(run_id);
            at = r.chain;
            if r.state.closed || r.hash != seg.hash {
                continue;
            }
            let held = self.table.run_header(r);
            if !same_flow(held, r.state.version, r.l4_off as usize, seg) {
                continue;
            }
            if !same_class(held, seg) {
                // A header difference (ACK, window, options, TTL, TOS, …) flushes the flow.
                close_flow = true;
                break;
            }
            // A segment that would join is verified first (the run's head is verified at
            // drain, once something has joined it).
            let max_len = self.config.max_merged_len;
            if let Some(id_mode) = r.state.can_append(seg, max_len) {
                let check = join_check(seg, csum, self.defers());
                if check == JoinCheck::Bad {
                    return Merge::BadChecksum;
                }
                self.table.append(run_id, index, seg, id_mode, check);
                self.table.set_hot(if newest { run_id as u32 } else { NIL });
                return Merge::Done;
            }
            if self.config.out_of_order
                && let Some(id_mode) = self.table.run(run_id).state.can_prepend(seg, max_len)
            {
                let check = join_check(seg, csum, self.defers());
                if check == JoinCheck::Bad {
                    return Merge::BadChecksum;
                }
                self.table.prepend(run_id, index, seg, id_mode, check);
                self.table.set_hot(if newest { run_id as u32 } else { NIL });
                return Merge::Done;
            }
            if !self.config.out_of_order {
                // Kernel behaviour: one held packet per flow, completed by any miss.
                close_flow = true;
                break;
            }
            newest = false;
        }
        Merge::No { close_flow }
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

    /// Whether joiners' checksums are checked at drain: not while a replay pushes the batch
    /// again with checks at push (nor in this crate's tests that turn deferral off).
    #[inline]
    fn defers(&self) -> bool {
        #[cfg(test)]
        {
            self.defer && !self.replaying
        }
        #[cfg(not(test))]
        {
            !self.replaying
        }
    }

    /// Finish the batch: yields the packets to write, in write order. `packets` holds the
    /// packets by the indices they were pushed with (a slice or `Vec` of buffers, or any
    /// [`PacketSource`]): `packets.packet(i)` must be the bytes pushed as `i`.
    ///
    /// Checksums ([`ChecksumStatus::Unverified`]): a segment is checked here, not at push, and only if
    /// it merged with something (a packet written alone is written unchanged). If a segment
    /// that joined a run fails, the batch is pushed again internally with every joiner checked
    /// at push, so the output is always what checking at push gives (rule book §2.4: a bad
    /// segment passes alone and does not complete the run it failed to join); that second
    /// pass costs only batches with a corrupt segment in a run.
    ///
    /// Each merged run gets its head segment's headers patched (IPv4 total length and header
    /// checksum, or IPv6 payload length; TCP flags with the tail's PSH/FIN; the TCP checksum
    /// field set to the folded pseudo-header sum over the merged length) and a GSO virtio
    /// header that passes [`VirtioNetHdr::check_emit`](crate::VirtioNetHdr::check_emit). A run
    /// whose members no longer match `packets` (an index out of range, or a length that changed
    /// since `push`) is not merged: its members are passed through as they are now, and a
    /// missing index is skipped.
    ///
    /// The table is reset; the outputs stay readable until the next [`push`](Self::push),
    /// [`drain`](Self::drain) or [`clear`](Self::clear). Each drain covers the packets pushed
    /// since the previous one (none: an empty batch).
    ///
    /// ```
    /// use tcp_gro::{ChecksumStatus, Coalescer, Config};
    /// # /// An IPv4 TCP segment 10.0.0.1:40000 → 10.0.0.2:5201 (DF, TTL 64, ACK, window 502), `len`
    /// # /// payload bytes, checksums valid.
    /// # fn segment(seq: u32, ip_id: u16, len: usize) -> Vec<u8> {
    /// #     let mut p = vec![
    /// #         0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    /// #         0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 0, 0, 0, 0, 1, 0x50, 0x10, 0x01, 0xf6, 0, 0, 0, 0,
    /// #     ];
    /// #     p[2..4].copy_from_slice(&((40 + len) as u16).to_be_bytes());
    /// #     p[4..6].copy_from_slice(&ip_id.to_be_bytes());
    /// #     p[24..28].copy_from_slice(&seq.to_be_bytes());
    /// #     p.resize(40 + len, 0xab);
    /// #     let ip = inet_csum::header_checksum(&p[..20]);
    /// #     p[10..12].copy_from_slice(&ip.to_be_bytes());
    /// #     let tcp = inet_csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, (20 + len) as u16)
    /// #         .add(&p[20..])
    /// #         .finish();
    /// #     p[36..38].copy_from_slice(&tcp.to_be_bytes());
    /// #     p
    /// # }
    /// // `segment(seq, ip_id, payload_len)`: IPv4 + TCP.
    /// let packets = [
    ///     segment(2000, 3, 1000), // arrives first
    ///     segment(1000, 2, 1000),
    /// ];
    /// let mut gro = Coalescer::new(Config::default());
    /// for (i, p) in packets.iter().enumerate() {
    ///     gro.push(i, p, ChecksumStatus::Unverified);
    /// }
    /// let out: Vec<_> = gro.drain(&packets).collect();
    /// assert_eq!(out.len(), 1);
    /// assert_eq!(out[0].indices(), &[1, 0]); // sequence order
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
                Slot::Pass(index, _) => emit::pass(&mut self.outputs, packets, index),
                Slot::Run(id) => {
                    let r = *self.table.run(id as usize);
                    // A run whose members changed since push (the caller broke `drain`'s
                    // contract) is not merged: its members are written as they are now. The
                    // check rides on the verification's walk when there is one, else on the
                    // merge's.
                    let replay = if r.state.count == 1 {
                        None
                    } else if r.unverified > 0 {
                        verify_members(&mut self.table, packets, id as usize)
                    } else {
                        Some(false)
                    };
                    let Some(replay) = replay else {
                        emit::alone(&mut self.outputs, &self.table, packets, &r);
                        continue;
                    };
                    if replay {
                        // A segment that joined on a deferred check is bad. Checked at push,
                        // it would have passed alone and left the run open for what came
                        // after it: push the batch again with checks at push (rare — only a
                        // corrupt segment in a run costs this). What was emitted so far is
                        // discarded.
                        if !self.replaying {
                            self.replay(packets);
                            return;
                        }
                    }
                    let out = &mut self.outputs;
                    if self.table.run(id as usize).unverified == 0 {
                        // Unchecked if there was nothing to verify.
                        let check = (r.unverified == 0).then_some(packets);
                        emit::merged(
                            out,
                            &mut self.table,
                            check,
                            &r,
                            r.head,
                            r.state.count,
                            r.hdr_at,
                        );
                    } else {
                        emit::split(out, &mut self.table, packets, &r);
                    }
                }
            }
        }
    }

    /// Push the batch again from its log, every joiner's checksum checked at push, and
    /// finish it: the output is then exactly what checking at push gives. Reads the packets
    /// from `packets` (the caller's promise: the bytes pushed).
    fn replay<S: PacketSource + ?Sized>(&mut self, packets: &S) {
        let mut log = core::mem::take(&mut self.replay_log);
        replay_order(&self.table, &mut log);
        self.table.clear();
        self.replaying = true;
        for &(index, csum) in &log {
            match packets.parts(index) {
                Some((header, payload)) => self.push_parts(index, header, payload, csum),
                // Missing now: drain skips it, as it skips a missing member.
                None => self.table.pass(index, csum),
            }
        }
        self.replay_log = log;
        self.finish(packets);
        self.replaying = false;
    }
}

enum Merge {
    Done,
    BadChecksum,
    No { close_flow: bool },
}

#[cfg(test)]
mod tests;
