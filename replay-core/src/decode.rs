//! Link-layer frames to packet records, as `handshake_viz/wire/dissect.py` decodes them: the same
//! link types, encapsulations and tunnels, the same records, and the same notes on what was not
//! shown. Where Python would raise (`struct.error`, `IndexError`, `ValueError`: a frame cut short),
//! this returns `Skip::Cut`; its slices follow Python's rules, negative ends included.

use crate::fast::FastMap;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::rc::Rc;

/// An address's text, shared by every packet that names it.
pub type Text = Rc<str>;
const ADDRESSES_KEPT: usize = 1 << 16; // texts cached before the cache starts again

const ETHERNET: u32 = 1;
const NULL: u32 = 0;
const RAW: u32 = 101;
const SLL: u32 = 113;
const IPV4: u32 = 228;
const IPV6: u32 = 229;
const SLL2: u32 = 276;
const PPP: u32 = 9;
const IEEE802_11: u32 = 105;
const RADIOTAP: u32 = 127;
const C_HDLC: u32 = 104;
const NFLOG: u32 = 239;
const LINK_TYPES: [u32; 12] = [NULL, ETHERNET, RAW, SLL, IPV4, IPV6, SLL2, PPP, IEEE802_11, RADIOTAP, C_HDLC, NFLOG];

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const FABRICPATH: u16 = 0x8903;
const BRIDGED: u16 = 0x6558;
const ETHERTYPE_PPP: u16 = 0x880B;
const ERSPAN_II: u16 = 0x88BE;
const ERSPAN_III: u16 = 0x22EB;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const IGMP: u8 = 2;
const GRE: u8 = 47;
const ESP: u8 = 50;
const LISTED_ETHERTYPES: usize = 5;
const KEPT_PAYLOAD: i64 = 512; // a record's first payload bytes, for a label's preview (dissect._KEPT_PAYLOAD)

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Proto {
    Tcp,
    Udp,
    Igmp,
    Mld,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Igmp => "igmp",
            Proto::Mld => "mld",
        }
    }
    pub fn datagrams(self) -> bool {
        self != Proto::Tcp
    }
    pub fn portless(self) -> bool {
        self == Proto::Igmp || self == Proto::Mld
    }
}

/// What one packet carried (`records.PacketRecord`, less what the JSON never reads).
pub struct Record {
    pub frame: u64,
    pub time: f64,
    pub src: Text,
    pub dst: Text,
    pub sport: u16,
    pub dport: u16,
    pub protocol: Proto,
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub options: Option<Options>,
    pub payload_len: i64,
    pub payload: Vec<u8>, // its first bytes, as captured: kept only when asked (`Decoder::keep_payload`)
    pub icmp: Option<&'static str>,
    pub reporter: Option<Text>,
    pub tunnel: Option<String>,
    pub malformed: Option<String>,
}

impl Record {
    fn new(frame: u64, time: f64, packet: &Packet<'_>, sport: u16, dport: u16, protocol: Proto) -> Record {
        Record {
            frame,
            time,
            src: packet.src.clone(),
            dst: packet.dst.clone(),
            sport,
            dport,
            protocol,
            flags: 0,
            seq: 0,
            ack: 0,
            window: 0,
            options: None,
            payload_len: 0,
            payload: Vec::new(),
            icmp: None,
            reporter: None,
            tunnel: None,
            malformed: None,
        }
    }
}

pub struct Options {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: Option<(u32, u32)>,
    pub sack_blocks: Vec<(u32, u32)>,
}

struct Packet<'a> {
    src: Text,
    dst: Text,
    protocol: u8,
    transport: Cow<'a, [u8]>,
    transport_len: i64,
}

impl Packet<'_> {
    fn into_owned(self) -> Packet<'static> {
        let transport = Cow::Owned(self.transport.into_owned());
        Packet { src: self.src, dst: self.dst, protocol: self.protocol, transport, transport_len: self.transport_len }
    }
}

enum Skip {
    Cut,
    NotIp(String, bool), // what it carries; true when handshake-viz cannot read it
    Unread(u16),
}

type R<T> = Result<T, Skip>;
/// What a tunnel carried: its packet (if it is one that is read), the tunnel's name and detail.
type Inner<'a> = (Option<Packet<'a>>, &'static str, String);

fn not_ip(kind: &str) -> Skip {
    Skip::NotIp(kind.to_string(), false)
}

fn unreadable(kind: &str) -> Skip {
    Skip::NotIp(kind.to_string(), true)
}

/// Python's `data[start:end]`.
fn slice(data: &[u8], start: i64, end: i64) -> &[u8] {
    let n = data.len() as i64;
    let place = |i: i64| if i < 0 { (i + n).max(0) } else { i.min(n) };
    let (s, e) = (place(start), place(end));
    if s >= e {
        &[]
    } else {
        &data[s as usize..e as usize]
    }
}

fn byte(data: &[u8], at: i64) -> R<u8> {
    if at < 0 {
        return Err(Skip::Cut);
    }
    data.get(at as usize).copied().ok_or(Skip::Cut)
}

fn be16(data: &[u8], at: i64) -> R<u16> {
    Ok(u16::from_be_bytes([byte(data, at)?, byte(data, at + 1)?]))
}

fn be32(data: &[u8], at: i64) -> R<u32> {
    Ok(u32::from_be_bytes([byte(data, at)?, byte(data, at + 1)?, byte(data, at + 2)?, byte(data, at + 3)?]))
}

fn le16(data: &[u8], at: i64) -> R<u16> {
    Ok(u16::from_le_bytes([byte(data, at)?, byte(data, at + 1)?]))
}

fn le32(data: &[u8], at: i64) -> R<u32> {
    Ok(u32::from_le_bytes([byte(data, at)?, byte(data, at + 1)?, byte(data, at + 2)?, byte(data, at + 3)?]))
}

/// `int.from_bytes(data, "big")`.
fn big_int(data: &[u8]) -> u64 {
    data.iter().fold(0u64, |value, b| (value << 8) | *b as u64)
}

/// `socket.inet_ntop`'s text of 4 or 16 bytes: glibc's, IPv4-in-IPv6 forms included.
fn address_text(raw: &[u8]) -> String {
    let mut text = String::with_capacity(40);
    if raw.len() == 4 {
        let _ = write!(text, "{}.{}.{}.{}", raw[0], raw[1], raw[2], raw[3]);
        return text;
    }
    let words: Vec<u16> = (0..8).map(|i| u16::from_be_bytes([raw[2 * i], raw[2 * i + 1]])).collect();
    let (mut best, mut best_len, mut run, mut run_len) = (usize::MAX, 0, usize::MAX, 0);
    for (i, word) in words.iter().enumerate() {
        if *word == 0 {
            if run == usize::MAX {
                run = i;
                run_len = 1;
            } else {
                run_len += 1;
            }
            if run_len > best_len {
                best = run;
                best_len = run_len;
            }
        } else {
            run = usize::MAX;
        }
    }
    if best_len < 2 {
        best = usize::MAX;
    }
    let mut i = 0;
    while i < 8 {
        if best != usize::MAX && i >= best && i < best + best_len {
            if i == best {
                text.push(':');
            }
            i += 1;
            continue;
        }
        if i != 0 {
            text.push(':');
        }
        if i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff)) {
            let _ = write!(text, "{}.{}.{}.{}", raw[12], raw[13], raw[14], raw[15]);
            return text;
        }
        let _ = write!(text, "{:x}", words[i]);
        i += 1;
    }
    if best != usize::MAX && best + best_len == 8 {
        text.push(':');
    }
    text
}

#[derive(Default)]
struct Datagram {
    pieces: BTreeMap<i64, Vec<u8>>,
    total: Option<i64>,
    first: Option<(Text, Text, u8)>, // the first fragment's addresses and protocol
    frames: Vec<u64>,                // the frames its pieces came in
}

type FragmentKey = (u8, Text, Text, u32, u16);

/// Decodes frames in capture order, counting what it did not show, as `FrameDecoder` does.
#[derive(Default)]
pub struct Decoder {
    counts: BTreeMap<String, u64>,
    held: Vec<(String, u64)>,
    held_at: HashMap<String, usize>,
    unread_ethertypes: BTreeMap<u16, u64>,
    datagrams: HashMap<FragmentKey, Datagram>,
    addresses: FastMap<Vec<u8>, Text>,
    frame: u64,
    /// The frames of the pieces of the datagram the last record was put together from (empty for
    /// one that came whole), and whether the last frame was a piece: what a drawing of one
    /// conversation needs to read again.
    pub pieces: Vec<u64>,
    pub was_piece: bool,
    /// Keep each record's first payload bytes (its label's preview), as the Python decoder does.
    pub keep_payload: bool,
}

impl Decoder {
    /// `socket.inet_ntop` of raw, which must be 4 bytes (version 4) or 16 (6): else a `ValueError`.
    fn address(&mut self, raw: &[u8], version: u8) -> R<Text> {
        if raw.len() != if version == 4 { 4 } else { 16 } {
            return Err(Skip::Cut);
        }
        if let Some(text) = self.addresses.get(raw) {
            return Ok(text.clone());
        }
        if self.addresses.len() >= ADDRESSES_KEPT {
            self.addresses.clear();
        }
        let text: Text = address_text(raw).into();
        self.addresses.insert(raw.to_vec(), text.clone());
        Ok(text)
    }

    pub fn decode(&mut self, frame: u64, time: f64, data: &[u8], linktype: u32, wire_len: u32) -> Option<Record> {
        self.frame = frame;
        self.pieces.clear();
        self.was_piece = false;
        if !LINK_TYPES.contains(&linktype) {
            self.count(&format!("frames of unsupported link type {}", linktype));
            return None;
        }
        match self.decode_ip(frame, time, data, linktype, wire_len) {
            Ok(record) => record,
            Err(Skip::Unread(ethertype)) => {
                *self.unread_ethertypes.entry(ethertype).or_insert(0) += 1;
                None
            }
            Err(Skip::NotIp(kind, true)) => {
                self.count(&kind);
                None
            }
            Err(Skip::NotIp(kind, false)) => {
                self.hold(&kind);
                None
            }
            Err(Skip::Cut) => {
                self.count("frames cut short before their TCP/UDP header");
                None
            }
        }
    }

    fn decode_ip(&mut self, frame: u64, time: f64, data: &[u8], linktype: u32, wire_len: u32) -> R<Option<Record>> {
        let (offset, version) = network_layer(data, linktype)?;
        let trailer = if linktype == ETHERNET && be16(data, 12)? == FABRICPATH { 4 } else { 0 };
        let length_limit = wire_len as i64 - offset - trailer;
        let packet = match self.ip(data, offset, version, length_limit)? {
            Some(packet) => packet,
            None => return Ok(None),
        };
        let record = self.transport(frame, time, &packet)?;
        if record.is_none() && packet.protocol != ESP {
            let name = match packet.protocol {
                1 => "ICMP".to_string(),
                2 => "IGMP".to_string(),
                58 => "ICMPv6".to_string(),
                4 => "IP-in-IP".to_string(),
                41 => "IPv6-in-IP".to_string(),
                47 => "GRE".to_string(),
                51 => "IPsec AH".to_string(),
                88 => "EIGRP".to_string(),
                89 => "OSPF".to_string(),
                103 => "PIM".to_string(),
                112 => "VRRP".to_string(),
                132 => "SCTP".to_string(),
                other => format!("IP protocol {}", other),
            };
            self.hold(&name);
        }
        Ok(record)
    }

    fn count(&mut self, what: &str) {
        *self.counts.entry(what.to_string()).or_insert(0) += 1;
    }

    fn hold(&mut self, what: &str) {
        match self.held_at.get(what) {
            Some(at) => self.held[*at].1 += 1,
            None => {
                self.held_at.insert(what.to_string(), self.held.len());
                self.held.push((what.to_string(), 1));
            }
        }
    }

    /// One line per kind of frame not shown or put together.
    pub fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self.counts.iter().map(|(what, count)| format!("{} {}", count, what)).collect();
        if !self.unread_ethertypes.is_empty() {
            let values: Vec<u16> = self.unread_ethertypes.keys().copied().collect();
            let listed: Vec<String> = values.iter().take(LISTED_ETHERTYPES).map(|v| format!("0x{:04x}", v)).collect();
            let more = if values.len() > LISTED_ETHERTYPES {
                format!(" and {} more", values.len() - LISTED_ETHERTYPES)
            } else {
                String::new()
            };
            let total: u64 = self.unread_ethertypes.values().sum();
            notes.push(format!(
                "{} frames of an ethertype handshake-viz cannot read ({}{}): not shown",
                total,
                listed.join(", "),
                more
            ));
        }
        if !self.datagrams.is_empty() {
            notes.push(format!("{} fragmented IP datagrams never completed (not shown)", self.datagrams.len()));
        }
        notes
    }

    /// What else the frames carried, most first (ties in the order first seen).
    pub fn held_text(&self) -> Vec<String> {
        let mut held = self.held.clone();
        held.sort_by_key(|(_, count)| std::cmp::Reverse(*count)); // stable: ties keep their order
        held.iter()
            .map(|(what, count)| format!("{} frame{} of {}", count, if *count != 1 { "s" } else { "" }, what))
            .collect()
    }

    fn ip<'a>(&mut self, data: &'a [u8], offset: i64, version: u8, length_limit: i64) -> R<Option<Packet<'a>>> {
        if version == 4 {
            let first = byte(data, offset)?;
            let ihl = ((first & 0x0F) as i64) * 4;
            if first >> 4 != 4 || ihl < 20 {
                self.count("frames with a malformed IPv4 header (not shown)");
                return Ok(None);
            }
            byte(data, offset + 9)?;
            let mut total_len = be16(data, offset + 2)? as i64;
            let ident = be16(data, offset + 4)?;
            let fragment = be16(data, offset + 6)?;
            let protocol = byte(data, offset + 9)?;
            if total_len == 0 {
                total_len = length_limit;
            }
            let src = self.address(slice(data, offset + 12, offset + 16), 4)?;
            let dst = self.address(slice(data, offset + 16, offset + 20), 4)?;
            let transport_len = total_len.min(length_limit) - ihl;
            let start = offset + ihl;
            let transport = Cow::Borrowed(slice(data, start, start + transport_len));
            let packet = Packet { src, dst, protocol, transport, transport_len };
            if fragment & 0x3FFF != 0 {
                let key = (4, packet.src.clone(), packet.dst.clone(), ident as u32, protocol as u16);
                return self.fragment(key, packet, (fragment & 0x1FFF) as i64 * 8, fragment & 0x2000 != 0);
            }
            return Ok(Some(packet));
        }
        if version == 6 {
            byte(data, offset + 6)?;
            let payload_len = be16(data, offset + 4)? as i64;
            let mut protocol = byte(data, offset + 6)?;
            let src = self.address(slice(data, offset + 8, offset + 24), 6)?;
            let dst = self.address(slice(data, offset + 24, offset + 40), 6)?;
            let mut start = offset + 40;
            let mut remaining = payload_len.min(length_limit - 40);
            let mut fragment = None;
            while protocol == 0 || protocol == 43 || protocol == 60 || protocol == 44 {
                let next_header = byte(data, start)?;
                let ext_len;
                if protocol == 44 {
                    byte(data, start + 7)?;
                    let offset_field = be16(data, start + 2)?;
                    let ident = be32(data, start + 4)?;
                    fragment = Some((ident, (offset_field & 0xFFF8) as i64, offset_field & 1 != 0));
                    ext_len = 8;
                } else {
                    ext_len = (byte(data, start + 1)? as i64 + 1) * 8;
                }
                protocol = next_header;
                start += ext_len;
                remaining -= ext_len;
            }
            let transport = Cow::Borrowed(slice(data, start, start + remaining));
            let packet = Packet { src, dst, protocol, transport, transport_len: remaining };
            if let Some((ident, frag_offset, more)) = fragment {
                let key = (6, packet.src.clone(), packet.dst.clone(), ident, 256);
                return self.fragment(key, packet, frag_offset, more);
            }
            return Ok(Some(packet));
        }
        Ok(None)
    }

    fn transport(&mut self, frame: u64, time: f64, packet: &Packet<'_>) -> R<Option<Record>> {
        match packet.protocol {
            TCP => tcp(frame, time, packet, self.keep_payload).map(Some),
            UDP => {
                if let Some(inner) = self.udp_tunnel(packet)? {
                    if let Some(record) = self.inside(frame, time, packet, inner)? {
                        return Ok(Some(record));
                    }
                }
                udp(frame, time, packet, self.keep_payload).map(Some)
            }
            IGMP => Ok(membership(frame, time, packet, self.keep_payload)),
            ICMPV6 if matches!(packet.transport.first(), Some(130 | 131 | 132 | 143)) => Ok(membership(frame, time, packet, self.keep_payload)),
            ICMP | ICMPV6 => self.icmp_error(frame, time, packet),
            4 | 41 => {
                let version = if packet.protocol == 4 { 4 } else { 6 };
                match self.ip(&packet.transport, 0, version, packet.transport_len)? {
                    Some(inner) => self.inside(frame, time, packet, (Some(inner), "IP in IP", String::new())),
                    None => Ok(None),
                }
            }
            GRE => {
                let inner = self.gre(&packet.transport)?;
                self.inside(frame, time, packet, inner)
            }
            ESP => {
                self.count("frames inside IPsec ESP are encrypted: not shown");
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// The record of the packet a tunnel carried, which keeps the tunnel in words.
    fn inside(&mut self, frame: u64, time: f64, outer: &Packet<'_>, inner: Inner<'_>) -> R<Option<Record>> {
        let (packet, name, detail) = inner;
        let record = match packet {
            Some(packet) => self.transport(frame, time, &packet)?,
            None => None,
        };
        let mut record = match record {
            Some(record) if record.protocol == Proto::Tcp || record.protocol == Proto::Udp => record,
            _ => return Ok(None),
        };
        let mut said = format!("{} {} \u{2192} {}", name, outer.src, outer.dst);
        if !detail.is_empty() {
            said.push_str(", ");
            said.push_str(&detail);
        }
        if let Some(inner_tunnel) = &record.tunnel {
            said.push_str("; ");
            said.push_str(inner_tunnel);
        }
        record.tunnel = Some(said);
        Ok(Some(record))
    }

    fn udp_tunnel<'p>(&mut self, packet: &'p Packet<'_>) -> R<Option<Inner<'p>>> {
        let data = &packet.transport;
        let ports = [be16(data, 0)?, be16(data, 2)?];
        let body = slice(data, 8, i64::MAX);
        if ports.contains(&1701) {
            return Ok(Some((self.l2tp_payload(body)?, "L2TP", String::new())));
        }
        let says = |port: u16| -> bool {
            ports.contains(&port)
                && body.len() >= 8
                && match port {
                    4789 | 4790 => body[0] & 0x08 != 0,
                    6081 => body[0] >> 6 == 0,
                    5247 => body[0] == 0,
                    _ => body[0] >> 5 == 1 && body[1] == 0xFF,
                }
        };
        let name = [(4789, "VXLAN"), (4790, "VXLAN-GPE"), (6081, "Geneve"), (5247, "CAPWAP"), (2152, "GTP-U")]
            .iter()
            .find(|(port, _)| says(*port))
            .map(|(_, name)| *name);
        let name = match name {
            Some(name) => name,
            None => return Ok(None),
        };
        let inner = match name {
            "VXLAN" => {
                let inner = self.ethernet(slice(body, 8, i64::MAX))?;
                (inner, name, format!("VNI {}", big_int(slice(body, 4, 7))))
            }
            "VXLAN-GPE" => {
                let next = match body[3] {
                    1 => Some(ETHERTYPE_IPV4),
                    2 => Some(ETHERTYPE_IPV6),
                    3 => Some(BRIDGED),
                    _ => None,
                };
                let inner = self.by_ethertype(next, slice(body, 8, i64::MAX))?;
                (inner, name, format!("VNI {}", big_int(slice(body, 4, 7))))
            }
            "Geneve" => {
                let start = 8 + (body[0] & 0x3F) as i64 * 4;
                let ethertype = be16(body, 2)?;
                (self.by_ethertype(Some(ethertype), slice(body, start, i64::MAX))?, name, String::new())
            }
            "CAPWAP" => (self.capwap_payload(body)?, name, String::new()),
            _ => {
                let inner = self.gtp_payload(body)?;
                (inner, name, format!("TEID {}", big_int(slice(body, 4, 8))))
            }
        };
        Ok(Some(inner))
    }

    fn gre<'a>(&mut self, data: &'a [u8]) -> R<Inner<'a>> {
        let flags = be16(data, 0)?;
        let protocol = be16(data, 2)?;
        let offset = if flags & 0x0007 == 1 {
            8 + if flags & 0x1000 != 0 { 4 } else { 0 } + if flags & 0x0080 != 0 { 4 } else { 0 }
        } else {
            4 + if flags & 0xC000 != 0 { 4 } else { 0 }
                + if flags & 0x2000 != 0 { 4 } else { 0 }
                + if flags & 0x1000 != 0 { 4 } else { 0 }
        };
        let body = slice(data, offset, i64::MAX);
        if protocol == ETHERTYPE_PPP {
            return Ok((self.ppp(body)?, "GRE", "PPP".to_string()));
        }
        if protocol == ERSPAN_II {
            return Ok((self.ethernet(slice(body, 8, i64::MAX))?, "GRE", "ERSPAN".to_string()));
        }
        if protocol == ERSPAN_III {
            let start = 12 + if byte(body, 11)? & 1 != 0 { 8 } else { 0 };
            return Ok((self.ethernet(slice(body, start, i64::MAX))?, "GRE", "ERSPAN".to_string()));
        }
        Ok((self.by_ethertype(Some(protocol), body)?, "GRE", String::new()))
    }

    fn capwap_payload<'a>(&mut self, data: &'a [u8]) -> R<Option<Packet<'a>>> {
        let word = big_int(slice(data, 0, 4));
        let frame = slice(data, ((word >> 19) & 0x1F) as i64 * 4, i64::MAX);
        if (word >> 8) & 1 != 0 && (word >> 9) & 0x1F == 1 {
            let mut swapped = slice(frame, 1, 2).to_vec();
            swapped.extend_from_slice(slice(frame, 0, 1));
            swapped.extend_from_slice(slice(frame, 2, i64::MAX));
            let (offset, version) = match ieee80211(&swapped, 0) {
                Ok(found) => found,
                Err(Skip::Cut) => return Err(Skip::Cut),
                Err(_) => return Ok(None),
            };
            let limit = swapped.len() as i64 - offset;
            return Ok(self.ip(&swapped, offset, version, limit)?.map(Packet::into_owned));
        }
        self.ethernet(frame)
    }

    fn gtp_payload<'a>(&mut self, data: &'a [u8]) -> R<Option<Packet<'a>>> {
        let mut offset: i64 = 8;
        if byte(data, 0)? & 0x07 != 0 {
            let mut next_type = byte(data, 11)?;
            offset = 12;
            while next_type != 0 {
                let length = byte(data, offset)? as i64 * 4;
                if length == 0 {
                    return Ok(None); // an extension header of no length: nothing more can be read
                }
                next_type = byte(data, offset + length - 1)?;
                offset += length;
            }
        }
        let inner = slice(data, offset, i64::MAX);
        match inner.first() {
            Some(first) if first >> 4 == 4 || first >> 4 == 6 => {
                let limit = inner.len() as i64;
                self.ip(inner, 0, first >> 4, limit)
            }
            _ => Ok(None),
        }
    }

    fn ppp<'a>(&mut self, data: &'a [u8]) -> R<Option<Packet<'a>>> {
        match after_ppp(data, 0) {
            Ok((offset, version)) => self.ip(data, offset, version, data.len() as i64 - offset),
            Err(Skip::Cut) => Err(Skip::Cut),
            Err(_) => Ok(None),
        }
    }

    fn ethernet<'a>(&mut self, data: &'a [u8]) -> R<Option<Packet<'a>>> {
        match after_ethertype(data, 12, 14) {
            Ok((offset, version)) => self.ip(data, offset, version, data.len() as i64 - offset),
            Err(Skip::Cut) => Err(Skip::Cut),
            Err(_) => Ok(None),
        }
    }

    fn by_ethertype<'a>(&mut self, ethertype: Option<u16>, data: &'a [u8]) -> R<Option<Packet<'a>>> {
        match ethertype {
            Some(BRIDGED) => self.ethernet(data),
            Some(ETHERTYPE_IPV4) => self.ip(data, 0, 4, data.len() as i64),
            Some(ETHERTYPE_IPV6) => self.ip(data, 0, 6, data.len() as i64),
            _ => Ok(None),
        }
    }

    fn l2tp_payload<'a>(&mut self, data: &'a [u8]) -> R<Option<Packet<'a>>> {
        let flags = be16(data, 0)?;
        if flags & 0x8000 != 0 || flags & 0x000F != 2 {
            return Ok(None);
        }
        let mut offset = 2 + if flags & 0x4000 != 0 { 2 } else { 0 } + 4 + if flags & 0x0800 != 0 { 4 } else { 0 };
        if flags & 0x0200 != 0 {
            offset += 2 + be16(data, offset)? as i64;
        }
        let body = slice(data, offset, i64::MAX);
        self.ppp(body)
    }

    fn fragment(&mut self, key: FragmentKey, packet: Packet<'_>, offset: i64, more: bool) -> R<Option<Packet<'static>>> {
        self.count("IP fragments");
        self.was_piece = true;
        let datagram = self.datagrams.entry(key.clone()).or_default();
        datagram.frames.push(self.frame);
        let piece = slice(&packet.transport, 0, packet.transport_len).to_vec();
        datagram.pieces.entry(offset).or_insert(piece);
        let transport_len = packet.transport_len;
        if offset == 0 {
            datagram.first = Some((packet.src, packet.dst, packet.protocol));
        }
        if !more {
            datagram.total = Some(offset + transport_len);
        }
        let (total, first) = match (datagram.total, &datagram.first) {
            (Some(total), Some(first)) => (total, first),
            _ => return Ok(None),
        };
        if total < 0 {
            return Err(Skip::Cut); // bytearray(-n): a ValueError
        }
        let mut whole = vec![0u8; total as usize];
        let mut covered = vec![false; total as usize];
        for (piece_offset, piece) in &datagram.pieces {
            let piece = slice(piece, 0, (total - piece_offset).max(0));
            if piece.is_empty() {
                continue;
            }
            let at = *piece_offset as usize;
            whole[at..at + piece.len()].copy_from_slice(piece);
            for flag in &mut covered[at..at + piece.len()] {
                *flag = true;
            }
        }
        if !covered.iter().all(|c| *c) {
            return Ok(None);
        }
        let (src, dst, protocol) = first.clone();
        if let Some(datagram) = self.datagrams.remove(&key) {
            self.pieces = datagram.frames;
        }
        self.count("IP datagrams reassembled");
        Ok(Some(Packet { src, dst, protocol, transport: Cow::Owned(whole), transport_len: total }))
    }

    fn icmp_error(&mut self, frame: u64, time: f64, packet: &Packet<'_>) -> R<Option<Record>> {
        let data = &packet.transport;
        let (kind, code) = (byte(data, 0)?, byte(data, 1)?);
        let name = if packet.protocol == ICMP { icmp_name(kind, code) } else { icmpv6_name(kind, code) };
        let name = match name {
            Some(name) => name,
            None => return Ok(None),
        };
        let quoted = slice(data, 8, i64::MAX);
        let version = byte(quoted, 0)? >> 4;
        let (protocol, src, dst, ports);
        if version == 4 {
            let ihl = (quoted[0] & 0x0F) as i64 * 4;
            protocol = byte(quoted, 9)?;
            src = self.address(slice(quoted, 12, 16), 4)?;
            dst = self.address(slice(quoted, 16, 20), 4)?;
            ports = slice(quoted, ihl, ihl + 4);
        } else if version == 6 {
            protocol = byte(quoted, 6)?;
            src = self.address(slice(quoted, 8, 24), 6)?;
            dst = self.address(slice(quoted, 24, 40), 6)?;
            ports = slice(quoted, 40, 44);
        } else {
            return Ok(None);
        }
        if protocol != TCP && protocol != UDP {
            return Ok(None);
        }
        if ports.len() != 4 {
            return Err(Skip::Cut);
        }
        let proto = if protocol == TCP { Proto::Tcp } else { Proto::Udp };
        let quoted_packet = Packet { src, dst, protocol, transport: Cow::Borrowed(&[]), transport_len: 0 };
        let mut record = Record::new(frame, time, &quoted_packet, be16(ports, 0)?, be16(ports, 2)?, proto);
        record.icmp = Some(name);
        record.reporter = Some(packet.src.clone());
        Ok(Some(record))
    }
}

fn network_layer(data: &[u8], linktype: u32) -> R<(i64, u8)> {
    match linktype {
        ETHERNET => after_ethertype(data, 12, 14),
        SLL => after_ethertype(data, 14, 16),
        SLL2 => after_ethertype(data, 0, 20),
        NULL => Ok((4, loopback_family(data)?)),
        C_HDLC => after_ethertype(data, 2, 4),
        PPP if matches!(byte(data, 0)?, 0x0F | 0x8F) => after_ethertype(data, 2, 4),
        PPP => after_ppp(data, 0),
        NFLOG => nflog_payload(data),
        RADIOTAP => ieee80211(data, le16(data, 2)? as i64),
        IEEE802_11 => ieee80211(data, 0),
        _ => {
            let version = byte(data, 0)? >> 4;
            if version != 4 && version != 6 {
                return Err(unreadable(&format!("frames of IP version {}, neither 4 nor 6: not shown", version)));
            }
            Ok((0, version))
        }
    }
}

fn loopback_family(data: &[u8]) -> R<u8> {
    let mut family = le32(data, 0)?;
    if family > 0xFFFF {
        family = be32(data, 0)?;
    }
    match family {
        2 => Ok(4),
        10 | 24 | 28 | 30 => Ok(6),
        _ => Err(not_ip(&format!("loopback address family {}", family))),
    }
}

fn after_ppp(data: &[u8], start: i64) -> R<(i64, u8)> {
    let mut start = start;
    if slice(data, start, start + 2) == b"\xff\x03" {
        start += 2;
    }
    let protocol;
    if byte(data, start)? & 1 != 0 {
        protocol = byte(data, start)? as u16;
        start += 1;
    } else {
        protocol = be16(data, start)?;
        start += 2;
    }
    match protocol {
        0x0021 => Ok((start, 4)),
        0x0057 => Ok((start, 6)),
        _ => {
            let name = match protocol {
                0xC021 => "LCP",
                0x8021 => "IPCP",
                0x8057 => "IPV6CP",
                0xC023 => "PAP",
                0xC223 => "CHAP",
                0x80FD => "CCP",
                _ => "",
            };
            if name.is_empty() {
                Err(not_ip(&format!("PPP protocol 0x{:04x}", protocol)))
            } else {
                Err(not_ip(&format!("PPP {}", name)))
            }
        }
    }
}

fn ieee80211(data: &[u8], offset: i64) -> R<(i64, u8)> {
    let control = byte(data, offset)?;
    let flags = byte(data, offset + 1)?;
    if (control >> 2) & 3 != 2 {
        return Err(not_ip("802.11 management and control"));
    }
    if flags & 0x40 != 0 {
        return Err(unreadable("802.11 frames are encrypted (protected): not shown"));
    }
    let mut header = 24 + if flags & 3 == 3 { 6 } else { 0 };
    if control & 0x80 != 0 {
        header += 2 + if flags & 0x80 != 0 { 4 } else { 0 };
    }
    let start = offset + header;
    if slice(data, start, start + 6) != b"\xaa\xaa\x03\x00\x00\x00" {
        return Err(not_ip("802.11 data with no LLC/SNAP header (null data)"));
    }
    after_ethertype(data, start + 6, start + 8)
}

fn nflog_payload(data: &[u8]) -> R<(i64, u8)> {
    let mut offset: i64 = 4;
    while offset + 4 <= data.len() as i64 {
        let length = le16(data, offset)? as i64;
        let kind = le16(data, offset + 2)?;
        if length < 4 {
            break;
        }
        if kind == 9 {
            return Ok((offset + 4, byte(data, offset + 4)? >> 4));
        }
        offset += (length + 3) & !3;
    }
    Err(not_ip("NFLOG without a packet"))
}

fn after_ethertype(data: &[u8], type_offset: i64, header_len: i64) -> R<(i64, u8)> {
    let (mut type_offset, mut header_len) = (type_offset, header_len);
    let mut ethertype = be16(data, type_offset)?;
    while ethertype == FABRICPATH {
        // two bytes of FTag and TTL, then the frame it carries
        type_offset = header_len + 2 + 12;
        header_len += 2 + 14;
        ethertype = be16(data, type_offset)?;
    }
    let mut offset = header_len;
    while matches!(ethertype, 0x8100 | 0x88A8 | 0x9100) {
        ethertype = be16(data, offset + 2)?;
        offset += 4;
    }
    if ethertype == 0x8864 {
        return after_ppp(data, offset + 6);
    }
    if ethertype == 0x8847 || ethertype == 0x8848 {
        while byte(data, offset + 2)? & 1 == 0 {
            offset += 4;
        }
        offset += 4;
        let version = byte(data, offset)? >> 4;
        if version != 4 && version != 6 {
            return Err(unreadable("MPLS frames carrying something other than IP (such as a pseudowire): not shown"));
        }
        return Ok((offset, version));
    }
    match ethertype {
        ETHERTYPE_IPV4 => Ok((offset, 4)),
        ETHERTYPE_IPV6 => Ok((offset, 6)),
        _ => Err(ethertype_other(ethertype)),
    }
}

fn ethertype_other(ethertype: u16) -> Skip {
    if ethertype <= 1500 {
        return not_ip("802.3 LLC (spanning tree, CDP and the like)");
    }
    let name = match ethertype {
        0x0806 => "ARP",
        0x8035 => "RARP",
        0x88CC => "LLDP",
        0x888E => "802.1X (EAPOL)",
        0x8809 => "LACP",
        0x9000 => "Ethernet loopback",
        0x88F7 => "PTP",
        0x8863 => "PPPoE discovery",
        0x8137 => "IPX",
        0x809B => "AppleTalk",
        0x8906 => "FCoE",
        0x22F0 => "AVTP",
        0x88E1 => "HomePlug",
        0x88E5 => return unreadable("frames inside MACsec are encrypted: not shown"),
        _ => return Skip::Unread(ethertype),
    };
    not_ip(name)
}

fn tcp(frame: u64, time: f64, packet: &Packet<'_>, keep: bool) -> R<Record> {
    let data = &packet.transport;
    if data.len() < 16 {
        return Err(Skip::Cut); // the fixed fields up to the window: struct ">HHIIBBH"
    }
    let mut record = Record::new(frame, time, packet, be16(data, 0)?, be16(data, 2)?, Proto::Tcp);
    record.seq = be32(data, 4)?;
    record.ack = be32(data, 8)?;
    record.flags = data[13];
    record.window = be16(data, 14)?;
    let header_len = (data[12] >> 4) as i64 * 4;
    if !(20 <= header_len && header_len <= packet.transport_len) {
        record.malformed = Some(format!(
            "TCP header length {} (at least 20, at most the segment's {})",
            header_len, packet.transport_len
        ));
        return Ok(record);
    }
    let raw = slice(data, 20, header_len);
    if !raw.is_empty() && (record.flags & 0x02 != 0 || raw.contains(&5)) {
        record.options = Some(tcp_options(raw));
    }
    record.payload_len = (packet.transport_len - header_len).max(0);
    if keep {
        record.payload = slice(data, header_len, header_len + KEPT_PAYLOAD).to_vec();
    }
    Ok(record)
}

fn udp(frame: u64, time: f64, packet: &Packet<'_>, keep: bool) -> R<Record> {
    let data = &packet.transport;
    let mut record = Record::new(frame, time, packet, be16(data, 0)?, be16(data, 2)?, Proto::Udp);
    let udp_len = be16(data, 4)? as i64;
    if udp_len < 8 {
        record.malformed = Some(format!("UDP length {} (at least 8)", udp_len));
        return Ok(record);
    }
    record.payload_len = udp_len - 8;
    if keep {
        record.payload = slice(data, 8, 8 + record.payload_len.min(KEPT_PAYLOAD)).to_vec();
    }
    Ok(record)
}

fn membership(frame: u64, time: f64, packet: &Packet<'_>, keep: bool) -> Option<Record> {
    if packet.transport.is_empty() {
        return None;
    }
    let protocol = if packet.protocol == IGMP { Proto::Igmp } else { Proto::Mld };
    let mut record = Record::new(frame, time, packet, 0, 0, protocol);
    record.payload_len = packet.transport_len;
    if keep {
        record.payload = slice(&packet.transport, 0, KEPT_PAYLOAD).to_vec();
    }
    Some(record)
}


fn icmp_name(kind: u8, code: u8) -> Option<&'static str> {
    Some(match (kind, code) {
        (3, 0) => "net_unreachable",
        (3, 1) => "host_unreachable",
        (3, 2) => "protocol_unreachable",
        (3, 3) => "port_unreachable",
        (3, 4) => "fragmentation_needed",
        (3, 5) => "source_route_failed",
        (3, 6) => "net_unknown",
        (3, 7) => "host_unknown",
        (3, 8) => "source_host_isolated",
        (3, 9) => "net_administratively_prohibited",
        (3, 10) => "host_administratively_prohibited",
        (3, 11) => "net_unreachable_for_tos",
        (3, 12) => "host_unreachable_for_tos",
        (3, 13) => "administratively_prohibited",
        (3, 14) => "host_precedence_violation",
        (3, 15) => "precedence_cutoff",
        (4, 0) => "source_quench",
        (5, 0) => "redirect_for_net",
        (5, 1) => "redirect_for_host",
        (5, 2) => "redirect_for_tos_and_net",
        (5, 3) => "redirect_for_tos_and_host",
        (11, 0) => "ttl_exceeded",
        (11, 1) => "reassembly_time_exceeded",
        (12, 0) => "parameter_problem",
        (12, 1) => "missing_required_option",
        (12, 2) => "bad_length",
        _ => return None,
    })
}

fn icmpv6_name(kind: u8, code: u8) -> Option<&'static str> {
    Some(match (kind, code) {
        (1, 0) => "no_route",
        (1, 1) => "administratively_prohibited",
        (1, 2) => "beyond_scope_of_source",
        (1, 3) => "address_unreachable",
        (1, 4) => "port_unreachable",
        (1, 5) => "source_address_failed_policy",
        (1, 6) => "reject_route",
        (2, 0) => "packet_too_big",
        (3, 0) => "hop_limit_exceeded",
        (3, 1) => "reassembly_time_exceeded",
        (4, 0) => "erroneous_header_field",
        (4, 1) => "unrecognized_next_header",
        (4, 2) => "unrecognized_ipv6_option",
        _ => return None,
    })
}

/// The options the analysis reads (dissect.tcp_options): window scale and SACK blocks.
fn tcp_options(raw: &[u8]) -> Options {
    let mut options = Options { mss: None, window_scale: None, sack_permitted: false, timestamps: None, sack_blocks: Vec::new() };
    let mut i = 0usize;
    while i < raw.len() {
        let kind = raw[i];
        if kind == 0 {
            break;
        }
        if kind == 1 {
            i += 1;
            continue;
        }
        if i + 1 >= raw.len() || raw[i + 1] < 2 {
            break;
        }
        let length = raw[i + 1] as usize;
        let body = &raw[(i + 2).min(raw.len())..(i + length).min(raw.len())];
        if kind == 2 && body.len() == 2 {
            options.mss = Some(u16::from_be_bytes([body[0], body[1]]));
        } else if kind == 3 && body.len() == 1 {
            options.window_scale = Some(body[0]);
        } else if kind == 4 {
            options.sack_permitted = true;
        } else if kind == 5 {
            options.sack_blocks = body
                .chunks_exact(8)
                .map(|b| (u32::from_be_bytes([b[0], b[1], b[2], b[3]]), u32::from_be_bytes([b[4], b[5], b[6], b[7]])))
                .collect();
        } else if kind == 8 && body.len() == 8 {
            let word = |at: usize| u32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
            options.timestamps = Some((word(0), word(4)));
        }
        i += length;
    }
    options
}
