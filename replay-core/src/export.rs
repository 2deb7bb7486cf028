//! The JSON document of `handshake_viz/output/json_export.py` (with no kernel record), text for
//! text. Conversations are written in index order: one that ends before an earlier one waits on
//! a spool file, so memory holds only the open conversations' latest packets.

use crate::analysis::{Conversation, MARK_NAMES, SIDES};
use crate::decode::Record;
use crate::json;
use crate::json::Append;
use crate::fast::FastMap;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

const CHUNK: usize = 64 * 1024; // a conversation's packets held in memory before they go to the spool
const TABLE_ROWS: usize = 50;
const SEPARATOR: &str = ",\n    ";
const FLAG_NAMES: [(u8, &str); 8] =
    [(0x02, "SYN"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"), (0x20, "URG"), (0x40, "ECE"), (0x80, "CWR")];

/// A packet's first fields: `{"frame": 1, "time": 1.5, "from": "client"`.
fn start(text: &mut Vec<u8>, record: &Record, sender: &str) {
    text.push_str("{\"frame\": ");
    json::int(text, record.frame as i64);
    text.push_str(", \"time\": ");
    json::float(text, record.time);
    text.push_str(", \"from\": \"");
    text.push_str(sender);
    text.push(b'"');
}

/// `", ".join(f'"{name}"' for name in sorted(marks))` for every set of marks.
fn marks_texts() -> Vec<String> {
    (0..1u32 << MARK_NAMES.len())
        .map(|marks| {
            let mut names: Vec<&str> =
                MARK_NAMES.iter().enumerate().filter(|(bit, _)| marks & (1 << bit) != 0).map(|(_, name)| *name).collect();
            names.sort_unstable();
            names.iter().map(|name| format!("\"{}\"", name)).collect::<Vec<_>>().join(", ")
        })
        .collect()
}

/// The text of conversation index's packets so far, ready for one more (a function of the table
/// alone, so that the flags' and marks' texts can be read beside it).
fn next_packet(open: &mut FastMap<u64, Open>, index: u64) -> &mut Vec<u8> {
    let open = open.entry(index).or_default();
    if open.any {
        open.text.push_str(SEPARATOR);
    }
    open.any = true;
    &mut open.text
}

/// An error that ends the run: its exit code (the CLI's) and its one line.
pub struct Failure(pub i32, pub String);

fn strerror(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[derive(Default)]
struct Open {
    text: Vec<u8>,
    any: bool,
    pieces: Vec<(u64, u64)>,
    tunnels: Vec<String>,
}

pub struct Export {
    out: BufWriter<Box<dyn Write>>,
    output_name: String,
    only: Option<u64>,
    spool: Option<BufWriter<File>>,
    spool_end: u64,
    open: FastMap<u64, Open>,
    ended: BTreeMap<u64, Vec<(u64, u64)>>,
    next_index: u64,
    written: u64,
    pub conversations: u64,
    pub rows: Vec<[String; 7]>,
    flags: Vec<String>,
    marks: Vec<String>,
    failure: Option<Failure>,
}

impl Export {
    pub fn new(out: Box<dyn Write>, capture_name: &str, output_name: &str, only: Option<u64>) -> Export {
        let flags = (0..256)
            .map(|bits| {
                let names: Vec<String> =
                    FLAG_NAMES.iter().filter(|(bit, _)| bits as u8 & bit != 0).map(|(_, name)| format!("\"{}\"", name)).collect();
                names.join(", ")
            })
            .collect();
        let mut export = Export {
            out: BufWriter::with_capacity(1 << 20, out),
            output_name: output_name.to_string(),
            only,
            spool: None,
            spool_end: 0,
            open: FastMap::default(),
            ended: BTreeMap::new(),
            next_index: 0,
            written: 0,
            conversations: 0,
            rows: Vec::new(),
            flags,
            marks: marks_texts(),
            failure: None,
        };
        let mut head = b"{\"capture\": ".to_vec();
        json::string(&mut head, capture_name);
        head.push_str(", \"conversations\": [");
        export.write_out(&head);
        export
    }

    pub fn wants(&self, index: u64) -> bool {
        self.only.map_or(true, |only| only == index)
    }

    fn write_out(&mut self, data: &[u8]) {
        if self.failure.is_none() {
            if let Err(error) = self.out.write_all(data) {
                self.output_failed(&error);
            }
        }
    }

    fn output_failed(&mut self, error: &std::io::Error) {
        let remedy = "free some space, or write elsewhere with --out (or --captures)";
        self.failure = Some(Failure(10, format!("cannot write {}: {}: {}", self.output_name, strerror(error), remedy)));
    }

    fn spool_failed(&mut self, error: &std::io::Error) {
        let folder = std::env::temp_dir();
        let folder = folder.to_string_lossy();
        let folder = folder.trim_end_matches('/');
        let message = format!("cannot write {}: {}: set TMPDIR to a folder with room", folder, strerror(error));
        self.failure = Some(Failure(10, message));
    }

    fn spool(&mut self, data: &[u8]) -> (u64, u64) {
        if self.spool.is_none() {
            match temporary_file() {
                Ok(file) => self.spool = Some(BufWriter::with_capacity(1 << 20, file)),
                Err(error) => self.spool_failed(&error),
            }
        }
        let offset = self.spool_end;
        if let Some(spool) = &mut self.spool {
            if let Err(error) = spool.write_all(data) {
                self.spool_failed(&error);
            }
        }
        self.spool_end += data.len() as u64;
        (offset, data.len() as u64)
    }

    /// Copies pieces of the spool to the output, a megabyte at a time.
    fn copy_pieces(&mut self, pieces: &[(u64, u64)]) {
        if self.failure.is_some() {
            return;
        }
        let spool = match &mut self.spool {
            Some(spool) => spool,
            None => return,
        };
        if let Err(error) = spool.flush() {
            self.spool_failed(&error);
            return;
        }
        let mut buffer = vec![0u8; 1 << 20];
        for (offset, length) in pieces {
            let (mut at, end) = (*offset, offset + length);
            while at < end {
                let size = ((end - at) as usize).min(buffer.len());
                let read = self.spool.as_ref().map(|s| s.get_ref().read_exact_at(&mut buffer[..size], at));
                if let Some(Err(error)) = read {
                    self.spool_failed(&error);
                    return;
                }
                let piece = buffer[..size].to_vec(); // write_out borrows self whole
                self.write_out(&piece);
                at += size as u64;
            }
        }
    }


    /// After a packet: a conversation's text over CHUNK goes to the spool.
    fn packet_done(&mut self, index: u64) {
        let open = self.open.get_mut(&index).expect("a packet was just written");
        if open.text.len() > CHUNK {
            let data = std::mem::take(&mut open.text);
            let piece = self.spool(&data);
            self.open.get_mut(&index).expect("still open").pieces.push(piece);
        }
    }

    pub fn tunnel(&mut self, index: u64, record: &Record) {
        if let (Some(tunnel), true) = (&record.tunnel, self.wants(index)) {
            let open = self.open.entry(index).or_default();
            if !open.tunnels.contains(tunnel) {
                open.tunnels.push(tunnel.clone());
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn segment(&mut self, index: u64, record: &Record, sender: &str, seq: u32, ack: Option<u32>, window: u32, marks: u16, sack: &[(u32, u32)]) {
        let flags = &self.flags[record.flags as usize];
        let marks = &self.marks[marks as usize];
        let text = next_packet(&mut self.open, index);
        start(text, record, sender);
        text.push_str(", \"flags\": [");
        text.push_str(flags);
        text.push_str("], \"seq\": ");
        json::int(text, seq as i64);
        text.push_str(", \"ack\": ");
        match ack {
            Some(ack) => json::int(text, ack as i64),
            None => text.push_str("null"),
        }
        text.push_str(", \"seq_raw\": ");
        json::int(text, record.seq as i64);
        text.push_str(", \"ack_raw\": ");
        json::int(text, record.ack as i64);
        text.push_str(", \"len\": ");
        json::int(text, record.payload_len);
        text.push_str(", \"window\": ");
        json::int(text, window as i64);
        text.push_str(", \"analysis\": [");
        text.push_str(marks);
        text.push(b']');
        if !sack.is_empty() {
            text.push_str(", \"sack\": [");
            for (i, (left, right)) in sack.iter().enumerate() {
                text.push_str(if i > 0 { ", [" } else { "[" });
                json::int(text, *left as i64);
                text.push_str(", ");
                json::int(text, *right as i64);
                text.push(b']');
            }
            text.push(b']');
        }
        text.push(b'}');
        self.packet_done(index);
    }

    pub fn datagram(&mut self, index: u64, record: &Record, sender: &str) {
        if !self.wants(index) {
            return;
        }
        let text = next_packet(&mut self.open, index);
        start(text, record, sender);
        text.push_str(", \"len\": ");
        json::int(text, record.payload_len);
        text.push(b'}');
        self.packet_done(index);
    }

    pub fn icmp(&mut self, index: u64, record: &Record, sender: &str) {
        if !self.wants(index) {
            return;
        }
        let text = next_packet(&mut self.open, index);
        start(text, record, sender);
        text.push_str(", \"icmp\": \"");
        text.push_str(record.icmp.unwrap_or_default());
        text.push_str("\", \"reporter\": ");
        json::string(text, record.reporter.as_deref().unwrap_or_default());
        text.push(b'}');
        self.packet_done(index);
    }

    pub fn malformed(&mut self, index: u64, record: &Record, sender: &str, what: &str) {
        if !self.wants(index) {
            return;
        }
        let text = next_packet(&mut self.open, index);
        start(text, record, sender);
        text.push_str(", \"malformed\": ");
        json::string(text, what);
        text.push(b'}');
        self.packet_done(index);
    }

    /// A conversation that can get no more packets: its head, packets and tail, in its turn.
    pub fn conversation(&mut self, conversation: Conversation) {
        let index = conversation.index;
        if !self.wants(index) {
            return;
        }
        self.conversations += 1;
        let (client, server) = (conversation.client_text(), conversation.server_text());
        let tcp = !conversation.protocol.datagrams();
        if self.rows.len() < TABLE_ROWS {
            let (opened, closed) =
                if tcp { (conversation.handshake.name(), conversation.teardown()) } else { ("-", "-") };
            self.rows.push([
                index.to_string(),
                conversation.protocol.name().to_string(),
                client.clone(),
                server.clone(),
                conversation.packet_count.to_string(),
                opened.to_string(),
                closed.to_string(),
            ]);
        }
        let open = self.open.remove(&index).unwrap_or_default();
        let mut head = format!("{{\"index\": {}, \"protocol\": \"{}\", \"client\": ", index, conversation.protocol.name()).into_bytes();
        json::string(&mut head, &client);
        head.push_str(", \"server\": ");
        json::string(&mut head, &server);
        let _ = write!(head, ", \"packet_count\": {}, \"tunnels\": ", conversation.packet_count);
        json::strings(&mut head, &open.tunnels);
        let mut tail = b"\n  ]".to_vec();
        if tcp {
            let closer = conversation.active_closer.map_or("null".to_string(), |c| format!("\"{}\"", c));
            let time_wait = conversation.time_wait().map_or("null".to_string(), |c| format!("\"{}\"", c));
            let _ = write!(
                head,
                ", \"handshake\": \"{}\", \"teardown\": \"{}\", \"half_close\": {}, \"active_closer\": {}, \
                 \"time_wait\": {}, \"kernel_agrees\": null",
                conversation.handshake.name(),
                conversation.teardown(),
                conversation.half_close,
                closer,
                time_wait
            );
            tail.push_str(", \"states\": {");
            for (side, changes) in conversation.states.iter().enumerate() {
                if side > 0 {
                    tail.push_str(", ");
                }
                let _ = write!(tail, "\"{}\": [", SIDES[side]);
                for (i, change) in changes.iter().enumerate() {
                    if i > 0 {
                        tail.push_str(", ");
                    }
                    tail.push_str("{\"frame\": ");
                    match change.frame {
                        Some(frame) => {
                            let _ = write!(tail, "{}", frame);
                        }
                        None => tail.push_str("null"),
                    }
                    let _ = write!(tail, ", \"state\": \"{}\", \"source\": \"inferred\", \"time\": ", change.state.name());
                    match change.time {
                        Some(time) => json::float(&mut tail, time),
                        None => tail.push_str("null"),
                    }
                    tail.push(b'}');
                }
                tail.push(b']');
            }
            tail.push(b'}');
        }
        head.push_str(", \"packets\": [\n    ");
        tail.push(b'}');
        if index == self.next_index || self.only.is_some() {
            self.begin_conversation();
            self.write_out(&head);
            self.copy_pieces(&open.pieces);
            self.write_out(&open.text);
            self.write_out(&tail);
            self.next_index = index + 1;
            while let Some(pieces) = self.ended.remove(&self.next_index) {
                self.begin_conversation();
                self.copy_pieces(&pieces);
                self.next_index += 1;
            }
        } else {
            let mut pieces = vec![self.spool(&head)];
            pieces.extend(open.pieces);
            pieces.push(self.spool(&open.text));
            pieces.push(self.spool(&tail));
            self.ended.insert(index, pieces);
        }
    }

    fn begin_conversation(&mut self) {
        let separator: &[u8] = if self.written > 0 { b",\n  " } else { b"\n  " };
        self.write_out(separator);
        self.written += 1;
    }

    /// The end of the document; what still waits goes out in index order.
    pub fn close(mut self) -> Result<Export, Failure> {
        let waiting: Vec<u64> = self.ended.keys().copied().collect();
        for index in waiting {
            let pieces = self.ended.remove(&index).unwrap_or_default();
            self.begin_conversation();
            self.copy_pieces(&pieces);
        }
        self.write_out(b"\n]}\n");
        if self.failure.is_none() {
            if let Err(error) = self.out.flush() {
                self.output_failed(&error);
            }
        }
        match self.failure.take() {
            Some(failure) => Err(failure),
            None => Ok(self),
        }
    }
}

/// The spool: a file in TMPDIR, unlinked at once so that nothing is left behind.
fn temporary_file() -> std::io::Result<File> {
    let folder = std::env::temp_dir();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    for attempt in 0..100u32 {
        let path = folder.join(format!(".handshake-viz-core-{}-{}-{}", std::process::id(), nanos, attempt));
        match OpenOptions::new().read(true).write(true).create_new(true).open(&path) {
            Ok(file) => {
                std::fs::remove_file(&path)?;
                return Ok(file);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free temporary name"))
}
