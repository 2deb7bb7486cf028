//! Capture files: classic pcap and pcapng, read as `handshake_viz/wire/pcapfile.py` reads them,
//! with the same warnings and errors, word for word.

use std::io::Read;

const MAX_RECORD: u64 = 256 * 1024 * 1024; // a caplen beyond this is corruption, not a packet
const SHB: u32 = 0x0A0D_0D0A;
const BYTE_ORDER: u32 = 0x1A2B_3C4D;
const IDB: u32 = 1;
const OBSOLETE_PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;

pub struct RawFrame {
    pub frame: u64,
    pub time: f64,
    pub linktype: u32,
    pub data: Vec<u8>,
    pub wire_len: u32,
}

#[derive(Clone, Copy, PartialEq)]
enum Endian {
    Little,
    Big,
}

fn u16_at(b: &[u8], at: usize, e: Endian) -> u16 {
    let x = [b[at], b[at + 1]];
    match e {
        Endian::Little => u16::from_le_bytes(x),
        Endian::Big => u16::from_be_bytes(x),
    }
}

fn u32_at(b: &[u8], at: usize, e: Endian) -> u32 {
    let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    match e {
        Endian::Little => u32::from_le_bytes(x),
        Endian::Big => u32::from_be_bytes(x),
    }
}

enum Format {
    Pcap { endian: Endian, ticks: u32, linktype: u32 },
    Pcapng { endian: Endian, interfaces: Vec<(u32, f64, i64)>, head: Option<Vec<u8>> },
}

/// The frames of a capture; `warnings` holds what was wrong but not fatal. An `Err` is the
/// message of a fatal error (the CLI's exit code 6).
pub struct Reader<R: Read> {
    file: R,
    name: String,
    size: u64,
    position: u64,
    offset: u64,
    frame: u64,
    yielded: u64,
    format: Option<Format>,
    done: bool,
    pub warnings: Vec<String>,
}

impl<R: Read> Reader<R> {
    pub fn new(file: R, name: &str, size: u64) -> Self {
        Reader {
            file,
            name: name.to_string(),
            size,
            position: 0,
            offset: 0,
            frame: 0,
            yielded: 0,
            format: None,
            done: false,
            warnings: Vec::new(),
        }
    }

    /// Up to n bytes: fewer only at the end of the file.
    fn read(&mut self, n: u64) -> Result<Vec<u8>, String> {
        let mut data = vec![0u8; n as usize];
        let mut filled = 0;
        while filled < data.len() {
            match self.file.read(&mut data[filled..]) {
                Ok(0) => break,
                Ok(count) => filled += count,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(format!("{}: cannot read it: {}", self.name, error)),
            }
        }
        data.truncate(filled);
        self.position += filled as u64;
        Ok(data)
    }

    fn left(&self) -> i64 {
        self.size as i64 - self.position as i64
    }

    fn fail(&self, offset: u64, what: &str) -> String {
        format!("{}: {} (at byte {})", self.name, what, offset)
    }

    fn cut_short(&mut self, offset: u64, frame: u64) {
        self.warnings.push(format!(
            "{}: the file is cut short in the middle of packet {} (at byte {}); showing the {} packets before it",
            self.name,
            frame,
            offset,
            frame - 1
        ));
    }

    /// The next frame; None at the end. A corrupt part after some frames ends the file with a
    /// warning, as a file cut short does; before the first frame it is an error.
    pub fn next_frame(&mut self) -> Result<Option<RawFrame>, String> {
        if self.done {
            return Ok(None);
        }
        let result = self.step();
        match result {
            Ok(Some(frame)) => {
                self.yielded += 1;
                Ok(Some(frame))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(message) => {
                self.done = true;
                if self.yielded == 0 {
                    return Err(message);
                }
                self.warnings.push(format!("{}; showing the {} packets before it", message, self.yielded));
                Ok(None)
            }
        }
    }

    fn step(&mut self) -> Result<Option<RawFrame>, String> {
        if self.format.is_none() {
            self.start()?;
        }
        match self.format {
            Some(Format::Pcap { .. }) => self.pcap_frame(),
            _ => self.pcapng_frame(),
        }
    }

    fn start(&mut self) -> Result<(), String> {
        let magic = self.read(4)?;
        if magic.is_empty() {
            return Err(format!("{}: the file is empty, not a capture", self.name));
        }
        let pcap = match magic.as_slice() {
            [0xd4, 0xc3, 0xb2, 0xa1] => Some((Endian::Little, 1_000_000)),
            [0xa1, 0xb2, 0xc3, 0xd4] => Some((Endian::Big, 1_000_000)),
            [0x4d, 0x3c, 0xb2, 0xa1] => Some((Endian::Little, 1_000_000_000)),
            [0xa1, 0xb2, 0x3c, 0x4d] => Some((Endian::Big, 1_000_000_000)),
            _ => None,
        };
        if let Some((endian, ticks)) = pcap {
            let header = self.read(20)?;
            if header.len() < 20 {
                let got = 4 + header.len() as u64;
                return Err(self.fail(got, &format!("the pcap file header is cut short ({} of 24 bytes)", got)));
            }
            let major = u16_at(&header, 0, endian);
            let minor = u16_at(&header, 2, endian);
            if major != 2 {
                return Err(self.fail(4, &format!("pcap version {}.{} is not supported (only 2.x exists)", major, minor)));
            }
            let linktype = u32_at(&header, 16, endian) & 0xFFFF;
            self.offset = 24;
            self.format = Some(Format::Pcap { endian, ticks, linktype });
            return Ok(());
        }
        if magic.len() == 4 && u32_at(&magic, 0, Endian::Little) == SHB {
            let mut head = magic.clone();
            head.extend(self.read(4)?);
            self.format = Some(Format::Pcapng { endian: Endian::Little, interfaces: Vec::new(), head: Some(head) });
            return Ok(());
        }
        let hex: String = magic.iter().map(|b| format!("{:02x}", b)).collect();
        Err(format!(
            "{}: not a pcap or pcapng file (starts with bytes {}); save the capture as pcap or pcapng \
             (tcpdump -w, or Wireshark's File > Save As)",
            self.name, hex
        ))
    }

    fn pcap_frame(&mut self) -> Result<Option<RawFrame>, String> {
        let (endian, ticks, linktype) = match self.format {
            Some(Format::Pcap { endian, ticks, linktype }) => (endian, ticks, linktype),
            _ => unreachable!(),
        };
        let header = self.read(16)?;
        if header.is_empty() {
            return Ok(None);
        }
        self.frame += 1;
        let (offset, frame) = (self.offset, self.frame);
        if header.len() < 16 {
            self.cut_short(offset, frame);
            return Ok(None);
        }
        let sec = u32_at(&header, 0, endian);
        let frac = u32_at(&header, 4, endian);
        let caplen = u32_at(&header, 8, endian) as u64;
        let wire_len = u32_at(&header, 12, endian);
        if caplen > MAX_RECORD {
            return Err(self.fail(offset, &format!("packet {} claims {} bytes: the file is corrupt", frame, caplen)));
        }
        if caplen as i64 > self.left() {
            self.cut_short(offset, frame);
            return Ok(None);
        }
        let data = self.read(caplen)?;
        if (data.len() as u64) < caplen {
            self.cut_short(offset, frame);
            return Ok(None);
        }
        self.offset += 16 + caplen;
        let time = sec as f64 + frac as f64 / ticks as f64;
        Ok(Some(RawFrame { frame, time, linktype, data, wire_len }))
    }

    fn pcapng_frame(&mut self) -> Result<Option<RawFrame>, String> {
        loop {
            let head = match &mut self.format {
                Some(Format::Pcapng { head, .. }) => head.take().unwrap_or_default(),
                _ => unreachable!(),
            };
            let head = if head.is_empty() { self.read(8)? } else { head };
            let block = self.block(&head)?;
            let (block_type, block_len, body, endian) = match block {
                Some(block) => block,
                None => return Ok(None),
            };
            let offset = self.offset;
            let (inner, trailer) = body.split_at(body.len() - 4);
            let mut packet = None;
            if block_type == SHB {
                self.section(inner, endian, offset)?;
                self.set_interfaces(Vec::new(), endian);
            } else if block_type == IDB {
                let interface = self.interface(inner, endian, offset)?;
                let mut interfaces = self.interfaces().to_vec();
                interfaces.push(interface);
                self.set_interfaces(interfaces, endian);
            } else if block_type == EPB || block_type == SPB || block_type == OBSOLETE_PB {
                self.frame += 1;
                packet = Some(self.packet(block_type, inner, endian, offset)?);
            }
            if u32_at(trailer, 0, endian) != block_len {
                return Err(self.fail(offset, &format!("pcapng block of type {:#x} has mismatched lengths", block_type)));
            }
            self.offset += block_len as u64;
            if packet.is_some() {
                return Ok(packet);
            }
        }
    }

    fn interfaces(&self) -> &[(u32, f64, i64)] {
        match &self.format {
            Some(Format::Pcapng { interfaces, .. }) => interfaces,
            _ => unreachable!(),
        }
    }

    fn set_interfaces(&mut self, list: Vec<(u32, f64, i64)>, order: Endian) {
        if let Some(Format::Pcapng { interfaces, endian, .. }) = &mut self.format {
            *interfaces = list;
            *endian = order;
        }
    }

    fn endian(&self) -> Endian {
        match &self.format {
            Some(Format::Pcapng { endian, .. }) => *endian,
            _ => unreachable!(),
        }
    }

    #[allow(clippy::type_complexity)]
    fn block(&mut self, head: &[u8]) -> Result<Option<(u32, u32, Vec<u8>, Endian)>, String> {
        let offset = self.offset;
        if head.is_empty() {
            return Ok(None);
        }
        if head.len() < 8 {
            let frame = self.frame + 1;
            self.cut_short(offset, frame);
            return Ok(None);
        }
        let mut endian = self.endian();
        let block_type = u32_at(head, 0, endian);
        let block_len;
        let mut body;
        if block_type == SHB {
            let order = self.read(4)?;
            if order.len() < 4 {
                return Err(self.fail(offset, "the pcapng section header is cut short"));
            }
            endian = if u32_at(&order, 0, Endian::Little) == BYTE_ORDER { Endian::Little } else { Endian::Big };
            if u32_at(&order, 0, endian) != BYTE_ORDER {
                return Err(self.fail(offset + 8, "the pcapng section header has no valid byte-order mark"));
            }
            block_len = u32_at(head, 4, endian);
            body = order;
            if block_len as i64 - 12 <= self.left() {
                body.extend(self.read((block_len as i64 - 12).max(0) as u64)?);
            }
        } else {
            block_len = u32_at(head, 4, endian);
            body = if block_len as i64 - 8 <= self.left() {
                self.read((block_len as i64 - 8).max(0) as u64)?
            } else {
                Vec::new()
            };
        }
        let smallest = match block_type {
            SHB => 28,
            IDB => 20,
            EPB | OBSOLETE_PB => 32,
            SPB => 16,
            _ => 12,
        };
        if block_len < smallest || block_len % 4 != 0 {
            return Err(self.fail(offset, &format!("pcapng block of type {:#x} has an invalid length {}", block_type, block_len)));
        }
        if (body.len() as i64) < block_len as i64 - 8 {
            if block_type == EPB || block_type == SPB || block_type == OBSOLETE_PB {
                let frame = self.frame + 1;
                self.cut_short(offset, frame);
                return Ok(None);
            }
            return Err(self.fail(offset, &format!("pcapng block of type {:#x} is cut short", block_type)));
        }
        Ok(Some((block_type, block_len, body, endian)))
    }

    fn section(&self, body: &[u8], endian: Endian, offset: u64) -> Result<(), String> {
        let major = u16_at(body, 4, endian);
        let minor = u16_at(body, 6, endian);
        if major != 1 {
            return Err(self.fail(offset, &format!("pcapng version {}.{} is not supported (only 1.x exists)", major, minor)));
        }
        self.options(body, 16, endian, offset, "section header")?;
        Ok(())
    }

    fn interface(&self, body: &[u8], endian: Endian, offset: u64) -> Result<(u32, f64, i64), String> {
        let linktype = u16_at(body, 0, endian) as u32;
        let options = self.options(body, 8, endian, offset, "interface description")?;
        let mut resolution = 1e-6;
        let mut time_offset = 0i64;
        if let Some((_, value)) = options.iter().rev().find(|(code, _)| *code == 14) {
            if value.len() != 8 {
                let fail = format!("pcapng interface description's if_tsoffset option is {} bytes, not 8", value.len());
                return Err(self.fail(offset, &fail));
            }
        }
        // The last of each option counts, as in a dict.
        for (code, value) in &options {
            if *code == 9 {
                resolution = match value.first() {
                    None => 1e-6,
                    Some(raw) if raw & 0x80 != 0 => 2f64.powf(-((raw & 0x7F) as f64)),
                    Some(raw) => 10f64.powf(-(*raw as f64)),
                };
            } else if *code == 14 {
                let mut x = [0u8; 8];
                x.copy_from_slice(value);
                time_offset = match endian {
                    Endian::Little => i64::from_le_bytes(x),
                    Endian::Big => i64::from_be_bytes(x),
                };
            }
        }
        Ok((linktype, resolution, time_offset))
    }

    fn packet(&self, block_type: u32, body: &[u8], endian: Endian, offset: u64) -> Result<RawFrame, String> {
        let frame = self.frame;
        let (interface, ticks, data, wire_len);
        if block_type == SPB {
            interface = 0usize;
            wire_len = u32_at(body, 0, endian);
            ticks = 0u64;
            let end = (4 + wire_len as usize).min(body.len());
            data = body[4.min(body.len())..end].to_vec();
        } else {
            let (high, low, caplen);
            if block_type == EPB {
                interface = u32_at(body, 0, endian) as usize;
                high = u32_at(body, 4, endian);
                low = u32_at(body, 8, endian);
                caplen = u32_at(body, 12, endian);
                wire_len = u32_at(body, 16, endian);
            } else {
                interface = u16_at(body, 0, endian) as usize;
                high = u32_at(body, 4, endian);
                low = u32_at(body, 8, endian);
                caplen = u32_at(body, 12, endian);
                wire_len = u32_at(body, 16, endian);
            }
            if caplen as i64 > body.len() as i64 - 20 {
                return Err(self.fail(offset, &format!("packet {} claims {} bytes, more than its block holds", frame, caplen)));
            }
            ticks = ((high as u64) << 32) | low as u64;
            data = body[20..20 + caplen as usize].to_vec();
        }
        let interfaces = self.interfaces();
        if interface >= interfaces.len() {
            let fail = format!(
                "packet {} names interface {}, but only {} interface(s) were described before it",
                frame,
                interface,
                interfaces.len()
            );
            return Err(self.fail(offset, &fail));
        }
        let (linktype, tick, time_offset) = interfaces[interface];
        let time = ticks as f64 * tick + time_offset as f64;
        Ok(RawFrame { frame, time, linktype, data, wire_len })
    }

    fn options(&self, body: &[u8], start: usize, endian: Endian, offset: u64, block: &str) -> Result<Vec<(u16, Vec<u8>)>, String> {
        let mut options = Vec::new();
        let mut i = start;
        while i + 4 <= body.len() {
            let code = u16_at(body, i, endian);
            let length = u16_at(body, i + 2, endian) as usize;
            if code == 0 {
                break;
            }
            if i + 4 + length > body.len() {
                return Err(self.fail(offset, &format!("pcapng {} option of length {} runs past its block", block, length)));
            }
            options.push((code, body[i + 4..i + 4 + length].to_vec()));
            i += 4 + length + (4 - length % 4) % 4;
        }
        Ok(options)
    }
}
