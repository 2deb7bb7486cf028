//! A conversation's packets handed to the Python side, which draws them: its packet records
//! (`records.PacketRecord`, field for field) and, when asked, the frames they came in. Laid out
//! in columns so that Python reads 100,000 records in a tenth of a second (one struct per record
//! took six times as long). Little-endian:
//!
//! - "<4sIIIIII": b"HVC1", then the number of records and of frames, and the sizes of the texts,
//!   extras, payloads and frame bytes;
//! - each record, "<QdHHBBIIHqIIIIi": frame, time, sport, dport, protocol (0 tcp, 1 udp, 2 igmp,
//!   3 mld), flags, seq, ack, window, payload length, its src and dst (indexes into the texts),
//!   where its kept payload starts in the payloads and its length, and its extras' index (-1:
//!   none);
//! - the texts: a JSON array of the addresses;
//! - the extras: a JSON array, each [options, icmp, reporter, tunnel, malformed], options being
//!   null or [mss, window scale, SACK permitted, timestamps, SACK blocks];
//! - the payloads' bytes;
//! - each frame, "<QdIIIQ": frame, time, link type, length on the wire, captured length, and
//!   where its bytes start; then the frames' bytes.

use crate::decode::{Proto, Record};
use crate::fast::FastMap;
use crate::json;
use crate::json::Append;
use crate::reader::RawFrame;

#[derive(Default)]
pub struct Handover {
    records: Vec<u8>,
    count: u32,
    texts: Vec<String>,
    text_index: FastMap<String, u32>,
    extras: Vec<u8>,
    extra_count: i32,
    payloads: Vec<u8>,
    frames: Vec<u8>,
    frame_count: u32,
    frame_bytes: Vec<u8>,
}

fn json_or_null(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(text) => json::string(out, text),
        None => out.push_str("null"),
    }
}

impl Handover {
    fn text(&mut self, text: &str) -> u32 {
        if let Some(index) = self.text_index.get(text) {
            return *index;
        }
        let index = self.texts.len() as u32;
        self.texts.push(text.to_string());
        self.text_index.insert(text.to_string(), index);
        index
    }

    pub fn record(&mut self, record: &Record) {
        let (src, dst) = (self.text(&record.src), self.text(&record.dst));
        let extra = if record.options.is_some() || record.icmp.is_some() || record.tunnel.is_some() || record.malformed.is_some() {
            self.extra(record)
        } else {
            -1
        };
        let out = &mut self.records;
        out.extend_from_slice(&record.frame.to_le_bytes());
        out.extend_from_slice(&record.time.to_le_bytes());
        out.extend_from_slice(&record.sport.to_le_bytes());
        out.extend_from_slice(&record.dport.to_le_bytes());
        out.push(match record.protocol {
            Proto::Tcp => 0,
            Proto::Udp => 1,
            Proto::Igmp => 2,
            Proto::Mld => 3,
        });
        out.push(record.flags);
        out.extend_from_slice(&record.seq.to_le_bytes());
        out.extend_from_slice(&record.ack.to_le_bytes());
        out.extend_from_slice(&record.window.to_le_bytes());
        out.extend_from_slice(&record.payload_len.to_le_bytes());
        out.extend_from_slice(&src.to_le_bytes());
        out.extend_from_slice(&dst.to_le_bytes());
        out.extend_from_slice(&(self.payloads.len() as u32).to_le_bytes());
        out.extend_from_slice(&(record.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&extra.to_le_bytes());
        self.payloads.extend_from_slice(&record.payload);
        self.count += 1;
    }

    fn extra(&mut self, record: &Record) -> i32 {
        let out = &mut self.extras;
        out.push_str(if self.extra_count > 0 { ", [" } else { "[" });
        match &record.options {
            Some(options) => {
                out.push(b'[');
                match options.mss {
                    Some(mss) => json::int(out, mss as i64),
                    None => out.push_str("null"),
                }
                out.push_str(", ");
                match options.window_scale {
                    Some(scale) => json::int(out, scale as i64),
                    None => out.push_str("null"),
                }
                out.push_str(if options.sack_permitted { ", true, " } else { ", false, " });
                match options.timestamps {
                    Some((value, echo)) => {
                        out.push(b'[');
                        json::int(out, value as i64);
                        out.push_str(", ");
                        json::int(out, echo as i64);
                        out.push(b']');
                    }
                    None => out.push_str("null"),
                }
                out.push_str(", [");
                for (i, (left, right)) in options.sack_blocks.iter().enumerate() {
                    out.push_str(if i > 0 { ", [" } else { "[" });
                    json::int(out, *left as i64);
                    out.push_str(", ");
                    json::int(out, *right as i64);
                    out.push(b']');
                }
                out.push_str("]]");
            }
            None => out.push_str("null"),
        }
        for value in [record.icmp, record.reporter.as_deref(), record.tunnel.as_deref(), record.malformed.as_deref()] {
            out.push_str(", ");
            json_or_null(out, value);
        }
        out.push(b']');
        self.extra_count += 1;
        self.extra_count - 1
    }

    pub fn frame(&mut self, frame: &RawFrame) {
        let out = &mut self.frames;
        out.extend_from_slice(&frame.frame.to_le_bytes());
        out.extend_from_slice(&frame.time.to_le_bytes());
        out.extend_from_slice(&frame.linktype.to_le_bytes());
        out.extend_from_slice(&frame.wire_len.to_le_bytes());
        out.extend_from_slice(&(frame.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.frame_bytes.len() as u64).to_le_bytes());
        self.frame_bytes.extend_from_slice(&frame.data);
        self.frame_count += 1;
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// The whole handover, its parts in order.
    pub fn parts(self) -> Vec<Vec<u8>> {
        let mut texts = Vec::new();
        json::strings(&mut texts, &self.texts);
        let mut extras = b"[".to_vec();
        extras.extend_from_slice(&self.extras);
        extras.push(b']');
        let mut head = b"HVC1".to_vec();
        for number in [self.count, self.frame_count, texts.len() as u32, extras.len() as u32, self.payloads.len() as u32,
                       self.frame_bytes.len() as u32] {
            head.extend_from_slice(&number.to_le_bytes());
        }
        vec![head, self.records, texts, extras, self.payloads, self.frames, self.frame_bytes]
    }
}
