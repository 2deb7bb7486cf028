//! The analysis of `handshake_viz/core/analysis.py` (`Analyzer(keep=False)`), its marks
//! (`core/marks.py`) and state table (`core/tcp_states.py`), kept to what the JSON holds. Each
//! function is named after the Python it follows, so the two can be read side by side; the
//! differential test holds them to the same output.

use crate::decode::{Proto, Record, Text};
use crate::export::Export;
use crate::fast::FastMap;
use std::collections::BTreeMap;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;
/// Closed TCP conversations kept for late packets when streaming (analysis.CLOSED_KEPT).
pub const CLOSED_KEPT: usize = 1000;

pub const CLIENT: usize = 0;
pub const SERVER: usize = 1;
pub const SIDES: [&str; 2] = ["client", "server"];

fn seq_add(value: u32, amount: i64) -> u32 {
    (value as i64 + amount).rem_euclid(1 << 32) as u32
}
fn distance(a: u32, b: u32) -> u32 {
    a.wrapping_sub(b)
}
fn seq_lt(a: u32, b: u32) -> bool {
    distance(a, b) >= 1 << 31
}
fn seq_le(a: u32, b: u32) -> bool {
    let d = distance(a, b);
    d == 0 || d >= 1 << 31
}
fn seq_gt(a: u32, b: u32) -> bool {
    let d = distance(a, b);
    0 < d && d < 1 << 31
}
fn seq_ge(a: u32, b: u32) -> bool {
    distance(a, b) < 1 << 31
}

// tshark's marks, as bits; `MARK_NAMES` in the enum's order.
pub const RETRANSMISSION: u16 = 1;
pub const FAST_RETRANSMISSION: u16 = 1 << 1;
pub const SPURIOUS_RETRANSMISSION: u16 = 1 << 2;
pub const OUT_OF_ORDER: u16 = 1 << 3;
pub const LOST_SEGMENT: u16 = 1 << 4;
pub const DUPLICATE_ACK: u16 = 1 << 5;
pub const ZERO_WINDOW: u16 = 1 << 6;
pub const ZERO_WINDOW_PROBE: u16 = 1 << 7;
pub const ZERO_WINDOW_PROBE_ACK: u16 = 1 << 8;
pub const WINDOW_UPDATE: u16 = 1 << 9;
pub const KEEP_ALIVE: u16 = 1 << 10;
pub const KEEP_ALIVE_ACK: u16 = 1 << 11;
pub const MARK_NAMES: [&str; 12] = [
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order", "lost_segment",
    "duplicate_ack", "zero_window", "zero_window_probe", "zero_window_probe_ack", "window_update",
    "keep_alive", "keep_alive_ack",
];
const FAST_RETRANSMISSION_WINDOW: f64 = 0.020;
const DEFAULT_OUT_OF_ORDER_WINDOW: f64 = 0.003;

#[derive(Default)]
struct FlowMarks {
    nextseq: u32,
    nextseq_time: f64,
    max_seq_to_be_acked: u32,
    lastack: u32,
    lastack_time: f64,
    window: Option<u32>,
    dupacks: i64,
    last_marks: u16,
}

#[derive(Default)]
struct Timing {
    last_syn_time: Option<f64>,
    first_rtt: f64,
}

impl Timing {
    fn see(&mut self, flags: u8, time: f64) {
        if flags & (SYN | ACK) == SYN {
            self.last_syn_time = Some(time);
        } else if flags & (SYN | ACK) == ACK && self.first_rtt == 0.0 {
            if let Some(syn) = self.last_syn_time {
                self.first_rtt = time - syn;
            }
        }
    }
}

/// marks.mark: the marks of one segment sent in direction fwd (its window already scaled).
fn mark(fwd: &mut FlowMarks, rev: &mut FlowMarks, timing: &mut Timing, record: &Record, window: u32) -> u16 {
    let (seq, ack, seglen, flags, time) = (record.seq, record.ack, record.payload_len, record.flags, record.time);
    let mut found = 0u16;
    if seglen == 1 && seq == fwd.nextseq && rev.window == Some(0) {
        found |= ZERO_WINDOW_PROBE;
    } else {
        window_and_ack_marks(fwd, rev, seq, ack, seglen, flags, window, &mut found);
    }
    if ack != fwd.lastack {
        fwd.dupacks = 0;
    }
    if flags & ACK != 0 && rev.max_seq_to_be_acked != 0 && seq_gt(ack, rev.max_seq_to_be_acked) {
        if seq_lt(rev.max_seq_to_be_acked, rev.nextseq) {
            rev.max_seq_to_be_acked = rev.nextseq;
        } else {
            rev.dupacks = -1;
        }
    }
    if (seglen > 0 || flags & (SYN | FIN) != 0) && found & KEEP_ALIVE == 0 {
        retransmission_kind(fwd, rev, timing, seq, seglen, flags, time, &mut found);
    }
    let nextseq = seq_add(seq, seglen + if flags & (SYN | FIN) != 0 { 1 } else { 0 });
    let probe = found & ZERO_WINDOW_PROBE != 0 && found & KEEP_ALIVE == 0;
    if (seq_gt(nextseq, fwd.nextseq) || fwd.nextseq == 0) && !probe {
        fwd.nextseq = nextseq;
        fwd.nextseq_time = time;
    }
    if (seq == fwd.max_seq_to_be_acked || fwd.max_seq_to_be_acked == 0) && !probe {
        fwd.max_seq_to_be_acked = fwd.nextseq;
    }
    fwd.window = Some(window);
    fwd.lastack = ack;
    fwd.lastack_time = time;
    fwd.last_marks = found;
    timing.see(flags, time);
    found
}

#[allow(clippy::too_many_arguments)]
fn window_and_ack_marks(fwd: &mut FlowMarks, rev: &FlowMarks, seq: u32, ack: u32, seglen: i64, flags: u8, window: u32, found: &mut u16) {
    let control = flags & (SYN | FIN | RST);
    if window == 0 && control == 0 {
        *found |= ZERO_WINDOW;
    }
    if fwd.nextseq != 0 && seq_gt(seq, fwd.nextseq) && flags & RST == 0 {
        *found |= LOST_SEGMENT;
    }
    if seglen <= 1 && seq == seq_add(fwd.nextseq, -1) && control == 0 {
        *found |= KEEP_ALIVE;
        if rev.window == Some(0) {
            *found |= ZERO_WINDOW_PROBE;
        }
    }
    let repeats = seglen == 0 && seq == fwd.nextseq && ack == fwd.lastack && control == 0;
    if !repeats {
        return;
    }
    let same = fwd.window == Some(window);
    if window != 0 && !same {
        *found |= WINDOW_UPDATE;
    }
    if window != 0 && same && rev.last_marks & KEEP_ALIVE != 0 {
        *found |= KEEP_ALIVE_ACK;
    } else if window == 0 && same && rev.last_marks & ZERO_WINDOW_PROBE != 0 {
        *found |= ZERO_WINDOW_PROBE_ACK;
    } else if window != 0 && same {
        fwd.dupacks = if fwd.dupacks == -1 { 1 } else { fwd.dupacks + 1 };
        *found |= DUPLICATE_ACK;
    }
}

#[allow(clippy::too_many_arguments)]
fn retransmission_kind(fwd: &FlowMarks, rev: &FlowMarks, timing: &Timing, seq: u32, seglen: i64, flags: u8, time: f64, found: &mut u16) {
    let mut not_advanced = fwd.nextseq != 0 && seq_lt(seq, fwd.nextseq);
    if seglen > 1 && seq_add(fwd.nextseq, -1) == seq {
        not_advanced = false;
    }
    if seglen > 0 && rev.lastack != 0 && seq_le(seq_add(seq, seglen), rev.lastack) {
        *found |= SPURIOUS_RETRANSMISSION | RETRANSMISSION;
        return;
    }
    if !not_advanced {
        return;
    }
    let many_dupacks = rev.dupacks >= 2 || rev.dupacks == -1;
    let since_ack = time - rev.lastack_time;
    if many_dupacks && rev.lastack == seq && (0.0..FAST_RETRANSMISSION_WINDOW).contains(&since_ack) {
        *found |= FAST_RETRANSMISSION | RETRANSMISSION;
        return;
    }
    let threshold = if timing.first_rtt != 0.0 { timing.first_rtt } else { DEFAULT_OUT_OF_ORDER_WINDOW };
    let ends_at = seq_add(seq, seglen + if flags & (SYN | FIN) != 0 { 1 } else { 0 });
    let since_next = time - fwd.nextseq_time;
    if 0.0 <= since_next && since_next < threshold && fwd.nextseq != ends_at {
        *found |= OUT_OF_ORDER;
        return;
    }
    *found |= RETRANSMISSION;
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN_SENT",
            State::SynReceived => "SYN_RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN_WAIT_1",
            State::FinWait2 => "FIN_WAIT_2",
            State::CloseWait => "CLOSE_WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST_ACK",
            State::TimeWait => "TIME_WAIT",
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Trigger {
    ActiveOpen,
    ReceiveSyn,
    ReceiveSynAck,
    ReceiveAckOfSyn,
    SendFin,
    ReceiveFin,
    ReceiveAckOfFin,
    SendRst,
    ReceiveRst,
    ReceiveRstAfterPassiveOpen,
}

/// tcp_states.next_state over TRANSITIONS (the triggers the analysis fires).
fn next_state(state: State, trigger: Trigger) -> Option<State> {
    use State::*;
    use Trigger::*;
    let opening_or_synchronized = matches!(state, SynSent | SynReceived | Established | FinWait1 | FinWait2 | CloseWait | Closing | LastAck);
    Some(match (state, trigger) {
        (Closed, ActiveOpen) => SynSent,
        (Listen, ReceiveSyn) => SynReceived,
        (Listen, ActiveOpen) => SynSent,
        (SynSent, ReceiveSyn) => SynReceived,
        (SynSent, ReceiveSynAck) => Established,
        (SynReceived, ReceiveAckOfSyn) => Established,
        (SynReceived, ReceiveRstAfterPassiveOpen) => Listen,
        (SynReceived, SendFin) => FinWait1,
        (Established, SendFin) => FinWait1,
        (Established, ReceiveFin) => CloseWait,
        (FinWait1, ReceiveAckOfFin) => FinWait2,
        (FinWait1, ReceiveFin) => Closing,
        (FinWait2, ReceiveFin) => TimeWait,
        (Closing, ReceiveAckOfFin) => TimeWait,
        (CloseWait, SendFin) => LastAck,
        (LastAck, ReceiveAckOfFin) => Closed,
        (TimeWait, ReceiveRst) => Closed,
        (_, SendRst) | (_, ReceiveRst) if opening_or_synchronized => Closed,
        _ => return None,
    })
}

pub struct StateChange {
    pub frame: Option<u64>,
    pub state: State,
    pub time: Option<f64>,
}

#[derive(Default)]
struct Direction {
    base: Option<u32>,
    syn_frame: Option<u64>,
    syn_time: Option<f64>,
    syn_end: Option<u32>,
    syn_acked: bool,
    window_scale: i32,
    fin_frame: Option<u64>,
    fin_end: Option<u32>,
    fin_acked: bool,
    highest_end: Option<u32>,
    marks: FlowMarks,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Handshake {
    Complete,
    Refused,
    Incomplete,
    NotCaptured,
}

impl Handshake {
    pub fn name(self) -> &'static str {
        match self {
            Handshake::Complete => "complete",
            Handshake::Refused => "refused",
            Handshake::Incomplete => "incomplete",
            Handshake::NotCaptured => "not_captured",
        }
    }
}

pub type Key = (Proto, Text, u16, Text, u16);

pub struct Conversation {
    pub index: u64,
    pub protocol: Proto,
    pub client: (Text, u16),
    pub server: (Text, u16),
    pub packet_count: u64,
    pub states: [Vec<StateChange>; 2],
    pub handshake: Handshake,
    pub reset_by: Option<usize>,
    pub active_closer: Option<&'static str>,
    pub half_close: bool,
    pub closed_frame: Option<u64>,
    timing: Timing,
    directions: [Direction; 2],
}

impl Conversation {
    fn new(index: u64, protocol: Proto, client: (Text, u16), server: (Text, u16)) -> Self {
        let direction = || Direction { window_scale: -1, ..Default::default() };
        Conversation {
            index,
            protocol,
            client,
            server,
            packet_count: 0,
            states: [Vec::new(), Vec::new()],
            handshake: Handshake::NotCaptured,
            reset_by: None,
            active_closer: None,
            half_close: false,
            closed_frame: None,
            timing: Timing::default(),
            directions: [direction(), direction()],
        }
    }

    fn end_text(&self, end: &(Text, u16)) -> String {
        if self.protocol.portless() {
            end.0.to_string()
        } else if end.0.contains(':') {
            format!("[{}]:{}", end.0, end.1)
        } else {
            format!("{}:{}", end.0, end.1)
        }
    }
    pub fn client_text(&self) -> String {
        self.end_text(&self.client)
    }
    pub fn server_text(&self) -> String {
        self.end_text(&self.server)
    }

    pub fn side_of(&self, record: &Record) -> usize {
        if record.src == self.client.0 && record.sport == self.client.1 {
            CLIENT
        } else {
            SERVER
        }
    }

    pub fn teardown(&self) -> &'static str {
        if self.reset_by.is_some() {
            "rst"
        } else if self.directions.iter().all(|d| d.fin_frame.is_some()) {
            "fin"
        } else {
            "open"
        }
    }

    pub fn time_wait(&self) -> Option<&'static str> {
        let sides: Vec<usize> =
            (0..2).filter(|side| self.states[*side].iter().any(|c| c.state == State::TimeWait)).collect();
        match sides.len() {
            2 => Some("both"),
            1 => Some(SIDES[sides[0]]),
            _ => None,
        }
    }

    fn closed(&self) -> bool {
        self.closed_frame.is_some()
    }
}

fn key_of(record: &Record) -> Key {
    let forward = (&*record.src, record.sport) <= (&*record.dst, record.dport);
    if forward {
        (record.protocol, record.src.clone(), record.sport, record.dst.clone(), record.dport)
    } else {
        (record.protocol, record.dst.clone(), record.dport, record.src.clone(), record.sport)
    }
}

/// `Analyzer(keep=False)`: each conversation handed to the export when it can get no more packets,
/// or, with closed_kept at usize::MAX, as `Analyzer()` numbers them: none is ever dropped.
#[derive(Default)]
pub struct Analyzer {
    closed_kept: usize,
    count: u64,
    by_tuple: FastMap<Key, Conversation>,
    closed: FastMap<Key, u64>,      // key -> when it was last touched, for the oldest-first order
    closed_order: BTreeMap<u64, Key>,
    touched: u64,
}

impl Analyzer {
    pub fn new(closed_kept: usize) -> Analyzer {
        Analyzer { closed_kept, ..Default::default() }
    }

    /// Takes one record; returns the index of its conversation.
    pub fn receive(&mut self, record: &Record, export: &mut Export) -> u64 {
        let key = key_of(record);
        self.conversation_for(&key, record, export);
        let conversation = self.by_tuple.get_mut(&key).expect("the conversation was just found or made");
        conversation.packet_count += 1;
        let index = conversation.index;
        if let Some(malformed) = &record.malformed {
            let sender = conversation.side_of(record);
            export.malformed(index, record, SIDES[sender], malformed);
        } else if record.icmp.is_some() {
            let sender = 1 - conversation.side_of(record);
            if record.protocol == Proto::Udp {
                export.tunnel(index, record);
            }
            export.icmp(index, record, SIDES[sender]);
        } else if record.protocol.datagrams() {
            let sender = conversation.side_of(record);
            export.tunnel(index, record);
            export.datagram(index, record, SIDES[sender]);
        } else {
            let wanted = export.wants(index);
            let step = TcpStep::new(conversation, record);
            step.run(conversation, record, export, wanted);
            export.tunnel(index, record);
            if conversation.closed() {
                self.touch_closed(key);
            }
        }
        while self.closed.len() > self.closed_kept {
            let (_, oldest) = self.closed_order.pop_first_entry();
            self.closed.remove(&oldest);
            if let Some(ended) = self.by_tuple.remove(&oldest) {
                export.conversation(ended);
            }
        }
        index
    }

    /// The end of the capture: every conversation still held, in index order.
    pub fn finish(&mut self, export: &mut Export) {
        let mut held: Vec<Conversation> = self.by_tuple.drain().map(|(_, c)| c).collect();
        held.sort_by_key(|c| c.index);
        for conversation in held {
            export.conversation(conversation);
        }
        self.closed.clear();
        self.closed_order.clear();
    }

    fn touch_closed(&mut self, key: Key) {
        self.touched += 1;
        if let Some(before) = self.closed.insert(key.clone(), self.touched) {
            self.closed_order.remove(&before);
        }
        self.closed_order.insert(self.touched, key);
    }

    fn forget_closed(&mut self, key: &Key) {
        if let Some(before) = self.closed.remove(key) {
            self.closed_order.remove(&before);
        }
    }

    fn conversation_for(&mut self, key: &Key, record: &Record, export: &mut Export) {
        if let Some(known) = self.by_tuple.get(key) {
            let starts_new = record.protocol == Proto::Tcp && record.icmp.is_none() && starts_new(known, record);
            if !starts_new {
                return;
            }
            self.forget_closed(key);
            if let Some(ended) = self.by_tuple.remove(key) {
                export.conversation(ended);
            }
        }
        let flags = record.flags;
        let src = (record.src.clone(), record.sport);
        let dst = (record.dst.clone(), record.dport);
        // The sender of a first SYN (or datagram) is the client; of a SYN+ACK, the server; with no
        // handshake seen, the lower port is the better guess for the server.
        let (client, server) = if record.protocol.datagrams() || record.icmp.is_some() || flags & (SYN | ACK) == SYN {
            (src, dst)
        } else if flags & SYN != 0 || record.sport < record.dport {
            (dst, src)
        } else {
            (src, dst)
        };
        let conversation = Conversation::new(self.count, record.protocol, client, server);
        self.count += 1;
        self.by_tuple.insert(key.clone(), conversation);
    }
}

/// A SYN on a known 4-tuple starts a new connection when its sequence number differs from the
/// base that side already has; with no base, when the connection closed.
fn starts_new(conversation: &Conversation, record: &Record) -> bool {
    if record.flags & (SYN | ACK) != SYN {
        return false;
    }
    match conversation.directions[conversation.side_of(record)].base {
        Some(base) => record.seq != base,
        None => conversation.closed(),
    }
}

trait PopFirst<K, V> {
    fn pop_first_entry(&mut self) -> (K, V);
}

impl<K: Ord + Clone, V> PopFirst<K, V> for BTreeMap<K, V> {
    // BTreeMap::pop_first is newer than Debian's rustc (1.63).
    fn pop_first_entry(&mut self) -> (K, V) {
        let first = self.keys().next().cloned().expect("a closed conversation is held");
        let value = self.remove(&first).expect("its key was just read");
        (first, value)
    }
}

/// The work one segment does to its conversation (`_TcpStep`).
struct TcpStep {
    sender: usize,
    receiver: usize,
    fin_crosses_peer_fin: bool,
}

impl TcpStep {
    fn new(conversation: &Conversation, record: &Record) -> Self {
        let sender = conversation.side_of(record);
        let receiver = 1 - sender;
        let back = &conversation.directions[receiver];
        let fin_crosses_peer_fin = record.flags & FIN != 0
            && match back.fin_end {
                Some(fin_end) => !(record.flags & ACK != 0 && seq_ge(record.ack, fin_end)),
                None => false,
            };
        TcpStep { sender, receiver, fin_crosses_peer_fin }
    }

    fn run(&self, conv: &mut Conversation, record: &Record, export: &mut Export, wanted: bool) {
        let flags = record.flags;
        self.set_bases(conv, record);
        let (out_base, back_base) = (conv.directions[self.sender].base, conv.directions[self.receiver].base);
        let rel_seq = distance(record.seq, out_base.expect("set just before"));
        let rel_ack = if flags & ACK != 0 { Some(distance(record.ack, back_base.expect("set on an ACK"))) } else { None };
        let window = self.scaled_window(conv, record);
        let sack: Vec<(u32, u32)> = match (&record.options, back_base) {
            (Some(options), Some(base)) => {
                options.sack_blocks.iter().map(|(left, right)| (distance(*left, base), distance(*right, base))).collect()
            }
            _ => Vec::new(),
        };
        let marks = {
            let (client, server) = conv.directions.split_at_mut(1);
            let (out, back) = if self.sender == CLIENT { (&mut client[0], &mut server[0]) } else { (&mut server[0], &mut client[0]) };
            mark(&mut out.marks, &mut back.marks, &mut conv.timing, record, window)
        };
        if wanted {
            export.segment(conv.index, record, SIDES[self.sender], rel_seq, rel_ack, window, marks, &sack);
        }
        self.track_sent(conv, record);
        if conv.states[self.sender].is_empty() || conv.states[self.receiver].is_empty() {
            self.initial_states(conv, record);
        }
        if flags & (SYN | FIN | RST) != 0 {
            self.sender_triggers(conv, record);
        }
        if flags & RST != 0 {
            let trigger = self.reset_trigger(conv);
            self.trigger(conv, record, self.receiver, trigger, None);
        } else {
            self.receiver_acks(conv, record);
            if flags & SYN != 0 && flags & ACK == 0 {
                self.trigger(conv, record, self.receiver, Trigger::ReceiveSyn, None);
            }
            if flags & FIN != 0 {
                self.trigger(conv, record, self.receiver, Trigger::ReceiveFin, None);
            }
        }
        if conv.closed_frame.is_none() {
            let fins_acked = conv.directions.iter().all(|d| d.fin_acked);
            if conv.reset_by.is_some() || conv.handshake == Handshake::Refused || fins_acked {
                conv.closed_frame = Some(record.frame);
            }
        }
    }

    fn set_bases(&self, conv: &mut Conversation, record: &Record) {
        let flags = record.flags;
        let out = &mut conv.directions[self.sender];
        match out.base {
            None => out.base = Some(if flags & SYN != 0 { record.seq } else { seq_add(record.seq, -1) }),
            Some(base) => {
                if flags & (SYN | ACK) == SYN | ACK && record.seq != base {
                    out.base = Some(record.seq);
                    if out.syn_frame.is_some() {
                        out.syn_end = Some(seq_add(record.seq, 1));
                    }
                }
            }
        }
        let back = &mut conv.directions[self.receiver];
        if flags & ACK != 0 && back.base.is_none() {
            back.base = Some(seq_add(record.ack, -1));
        }
    }

    fn reset_trigger(&self, conv: &Conversation) -> Trigger {
        let history = &conv.states[self.receiver];
        let passive = history.first().map_or(false, |c| c.state == State::Listen);
        if passive && history.last().map_or(false, |c| c.state == State::SynReceived) {
            Trigger::ReceiveRstAfterPassiveOpen
        } else {
            Trigger::ReceiveRst
        }
    }

    fn scaled_window(&self, conv: &mut Conversation, record: &Record) -> u32 {
        let window = record.window as u32;
        if record.flags & SYN != 0 {
            let offered = record.options.as_ref().and_then(|o| o.window_scale);
            conv.directions[self.sender].window_scale = match offered {
                Some(scale) => scale.min(14) as i32,
                None => -2,
            };
            if record.flags & ACK != 0 && offered.is_none() {
                conv.directions[self.receiver].window_scale = -2;
            }
            return window;
        }
        let (out, back) = (conv.directions[self.sender].window_scale, conv.directions[self.receiver].window_scale);
        if out >= 0 && back != -2 {
            window << out
        } else {
            window
        }
    }

    fn track_sent(&self, conv: &mut Conversation, record: &Record) {
        let flags = record.flags;
        let seq_space = record.payload_len + (flags & SYN != 0) as i64 + (flags & FIN != 0) as i64;
        let end = seq_add(record.seq, seq_space);
        let peer_fin = conv.directions[self.receiver].fin_frame.is_some();
        let out = &mut conv.directions[self.sender];
        if flags & SYN != 0 && out.syn_frame.is_none() {
            out.syn_frame = Some(record.frame);
            out.syn_time = Some(record.time);
            out.syn_end = Some(seq_add(record.seq, 1));
        }
        let first_fin = flags & FIN != 0 && out.fin_frame.is_none();
        if first_fin {
            out.fin_frame = Some(record.frame);
            out.fin_end = Some(end);
        }
        let new = match out.highest_end {
            None => true,
            Some(highest) => seq_gt(end, highest),
        };
        if seq_space != 0 && new {
            out.highest_end = Some(end);
        }
        if first_fin {
            if conv.active_closer.is_none() {
                conv.active_closer = Some(SIDES[self.sender]);
            } else if self.fin_crosses_peer_fin {
                conv.active_closer = Some("both");
            }
        }
        if record.payload_len != 0 && new && peer_fin {
            conv.half_close = true;
        }
    }

    fn initial_states(&self, conv: &mut Conversation, record: &Record) {
        let flags = record.flags;
        if conv.states[self.sender].is_empty() {
            if flags & SYN != 0 && flags & ACK == 0 {
                conv.states[self.sender].push(StateChange { frame: None, state: State::Closed, time: None });
            } else if flags & SYN != 0 {
                conv.states[self.sender].push(StateChange { frame: None, state: State::Listen, time: None });
                let back = &conv.directions[self.receiver];
                match back.syn_frame {
                    Some(frame) => {
                        let at = Some((frame, back.syn_time));
                        self.trigger(conv, record, self.sender, Trigger::ReceiveSyn, at)
                    }
                    None => self.trigger(conv, record, self.sender, Trigger::ReceiveSyn, None),
                }
            } else if flags & RST != 0 && conv.states[self.receiver].last().map_or(false, |c| c.state == State::SynSent) {
                conv.states[self.sender].push(StateChange { frame: None, state: State::Closed, time: None });
                conv.handshake = Handshake::Refused;
            } else {
                conv.states[self.sender].push(StateChange { frame: None, state: State::Established, time: None });
            }
        }
        if conv.states[self.receiver].is_empty() && flags & SYN == 0 {
            conv.states[self.receiver].push(StateChange { frame: None, state: State::Established, time: None });
        }
        if flags & SYN != 0 && conv.handshake == Handshake::NotCaptured {
            conv.handshake = Handshake::Incomplete;
        }
    }

    fn sender_triggers(&self, conv: &mut Conversation, record: &Record) {
        let flags = record.flags;
        if flags & SYN != 0 && flags & ACK == 0 {
            self.trigger(conv, record, self.sender, Trigger::ActiveOpen, None);
            let crosses = self.sender == SERVER
                && conv.directions[self.sender].syn_frame == Some(record.frame)
                && conv.directions[self.receiver].syn_frame.is_some()
                && conv.reset_by.is_none();
            if crosses {
                self.trigger(conv, record, self.sender, Trigger::ReceiveSyn, None);
            }
        }
        if flags & FIN != 0 {
            let history = &mut conv.states[self.sender];
            let crossed = self.fin_crosses_peer_fin && history.last().map_or(false, |c| c.state == State::CloseWait);
            if crossed {
                history.pop();
            }
            self.trigger(conv, record, self.sender, Trigger::SendFin, None);
            if crossed {
                self.trigger(conv, record, self.sender, Trigger::ReceiveFin, None);
            }
        }
        if flags & RST != 0 {
            self.trigger(conv, record, self.sender, Trigger::SendRst, None);
            if conv.reset_by.is_none() {
                conv.reset_by = Some(self.sender);
            }
        }
    }

    fn receiver_acks(&self, conv: &mut Conversation, record: &Record) {
        if record.flags & ACK == 0 {
            return;
        }
        let back = &conv.directions[self.receiver];
        if let (Some(syn_end), false) = (back.syn_end, back.syn_acked) {
            if seq_ge(record.ack, syn_end) {
                conv.directions[self.receiver].syn_acked = true;
                let receiver_state = conv.states[self.receiver].last().expect("a side that sent a SYN has a state").state;
                let trigger = if record.flags & SYN != 0 && receiver_state == State::SynSent {
                    Trigger::ReceiveSynAck
                } else {
                    Trigger::ReceiveAckOfSyn
                };
                self.trigger(conv, record, self.receiver, trigger, None);
                if conv.directions.iter().all(|d| d.syn_acked) {
                    conv.handshake = Handshake::Complete;
                }
            }
        }
        let back = &conv.directions[self.receiver];
        if let (Some(fin_end), false) = (back.fin_end, back.fin_acked) {
            if seq_ge(record.ack, fin_end) {
                conv.directions[self.receiver].fin_acked = true;
                self.trigger(conv, record, self.receiver, Trigger::ReceiveAckOfFin, None);
            }
        }
    }

    /// trigger for side, at `at` (a frame and its time; default this segment's).
    fn trigger(&self, conv: &mut Conversation, record: &Record, side: usize, trigger: Trigger, at: Option<(u64, Option<f64>)>) {
        let history = &mut conv.states[side];
        let current = match history.last() {
            Some(change) => change.state,
            None => return,
        };
        if let Some(state) = next_state(current, trigger) {
            let (frame, time) = at.unwrap_or((record.frame, Some(record.time)));
            history.push(StateChange { frame: Some(frame), state, time });
        }
    }
}
