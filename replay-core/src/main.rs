//! handshake-viz-core: replay's per-packet path, from a capture file to its JSON document.
//!
//! Usage: handshake-viz-core CAPTURE_NAME OUTPUT_NAME [CONVERSATION] < CAPTURE > JSON
//!        handshake-viz-core --frames-of CONVERSATION|all CAPTURE_NAME [--with-frames] < CAPTURE > PACKETS
//!
//! The capture comes on standard input (opened, and its errors reported, by the Python side).
//! The first form writes the JSON document to standard output, byte for byte what
//! `handshake_viz.replay` writes with the Python analysis; the second writes the packet records of
//! that conversation (numbered as a drawing numbers them) or of all, and with --with-frames the
//! frames they came in (see handover.rs). On success, standard error gets one JSON line: {"conversations": N,
//! "rows": [...], "notes": [...], "held": [...]} (the table's first rows), or {"packets": N,
//! "notes": [...], "held": [...]}.
//! On a corrupt capture it gets the error's one line and the exit code is 6; when the output or
//! the spool cannot be written, 10. The names are only for messages and the document.
//!
//! Written in Rust for safety as well as speed: it parses files from anywhere, and safe Rust
//! (no `unsafe` here at all) cannot read or write out of bounds; a bug is a clean stop instead.

#![forbid(unsafe_code)]

mod analysis;
mod decode;
mod export;
mod fast;
mod handover;
mod json;
mod reader;

use reader::RawFrame;
use std::fs::File;
use std::io::{BufReader, Write};
use std::process::exit;

const USAGE: &str = "usage: handshake-viz-core CAPTURE_NAME OUTPUT_NAME [CONVERSATION] < CAPTURE > JSON\n       \
                     handshake-viz-core --frames-of CONVERSATION|all CAPTURE_NAME [--with-frames] < CAPTURE > PACKETS";

fn conversation_number(text: &str) -> u64 {
    match text.parse::<i64>() {
        Ok(index) if index >= 0 => index as u64,
        Ok(_) => u64::MAX, // a negative index names no conversation
        Err(_) => {
            eprintln!("handshake-viz-core: CONVERSATION must be a number, not {}\n{}", text, USAGE);
            exit(2);
        }
    }
}

fn main() {
    // Names come as UTF-8 from replay; any other byte is shown as U+FFFD rather than stopping here.
    let args: Vec<String> = std::env::args_os().map(|arg| arg.to_string_lossy().into_owned()).collect();
    match args.len() {
        4 | 5 if args[1] == "--frames-of" && (args.len() == 4 || args[4] == "--with-frames") => {
            let only = if args[2] == "all" { None } else { Some(conversation_number(&args[2])) };
            locate(&args[3], only, args.len() == 5)
        }
        3 | 4 if !args[1].starts_with("--") => to_json(&args[1], &args[2], args.get(3).map(|n| conversation_number(n))),
        _ => {
            eprintln!("{}", USAGE);
            exit(2);
        }
    }
}

/// The capture on standard input, opened again as a file of its own: its size bounds every
/// length read from it.
fn capture(name: &str) -> reader::Reader<BufReader<File>> {
    let file = File::open("/proc/self/fd/0").and_then(|file| file.metadata().map(|meta| (file, meta.len())));
    match file {
        Ok((file, size)) => reader::Reader::new(BufReader::with_capacity(1 << 20, file), name, size),
        Err(error) => {
            eprintln!("{}: cannot read it: {}", name, error);
            exit(6);
        }
    }
}

/// Every frame of the capture, in order; a corrupt one ends the run with exit code 6.
fn each_frame(reader: &mut reader::Reader<BufReader<File>>, mut take: impl FnMut(RawFrame)) {
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => take(frame),
            Ok(None) => return,
            Err(message) => {
                eprintln!("{}", message);
                exit(6);
            }
        }
    }
}

fn to_json(name: &str, output_name: &str, only: Option<u64>) {
    let mut reader = capture(name);
    let mut decoder = decode::Decoder::default();
    let mut analyzer = analysis::Analyzer::new(analysis::CLOSED_KEPT);
    let mut export = export::Export::new(Box::new(std::io::stdout()), name, output_name, only);
    each_frame(&mut reader, |frame| {
        if let Some(record) = decoder.decode(frame.frame, frame.time, &frame.data, frame.linktype, frame.wire_len) {
            analyzer.receive(&record, &mut export);
        }
    });
    analyzer.finish(&mut export);
    let export = match export.close() {
        Ok(export) => export,
        Err(export::Failure(code, message)) => {
            eprintln!("{}", message);
            exit(code);
        }
    };
    let mut summary = format!("{{\"conversations\": {}, \"rows\": [", export.conversations).into_bytes();
    for (i, row) in export.rows.iter().enumerate() {
        if i > 0 {
            summary.extend_from_slice(b", ");
        }
        json::strings(&mut summary, row);
    }
    summary.extend_from_slice(b"]");
    say(summary, &reader, &decoder);
}

fn locate(name: &str, only: Option<u64>, with_frames: bool) {
    let mut reader = capture(name);
    let mut decoder = decode::Decoder::default();
    decoder.keep_payload = true;
    let mut analyzer = analysis::Analyzer::new(usize::MAX);
    // An export that wants no conversation: here the analysis only numbers them, as a drawing does.
    let mut export = export::Export::new(Box::new(std::io::sink()), name, "", Some(u64::MAX));
    let mut pieces: fast::FastMap<u64, RawFrame> = fast::FastMap::default(); // fragments waiting for their datagram
    let mut handover = handover::Handover::default();
    each_frame(&mut reader, |frame| {
        let record = decoder.decode(frame.frame, frame.time, &frame.data, frame.linktype, frame.wire_len);
        let mut whole = Some(frame);
        if decoder.was_piece {
            if let Some(piece) = whole.take() {
                pieces.insert(piece.frame, piece);
            }
        }
        let record = match record {
            Some(record) => record,
            None => return,
        };
        let index = analyzer.receive(&record, &mut export);
        let mut frames: Vec<RawFrame> = decoder.pieces.iter().filter_map(|piece| pieces.remove(piece)).collect();
        if only.map_or(false, |only| index != only) {
            return;
        }
        handover.record(&record);
        frames.extend(whole);
        for frame in frames.iter().filter(|_| with_frames) {
            handover.frame(frame);
        }
    });
    let (count, mut out) = (handover.count(), std::io::stdout().lock());
    for part in handover.parts() {
        if let Err(error) = out.write_all(&part) {
            eprintln!("{}: cannot hand its packets over: {}", name, error);
            exit(10);
        }
    }
    if let Err(error) = out.flush() {
        eprintln!("{}: cannot hand its packets over: {}", name, error);
        exit(10);
    }
    say(format!("{{\"packets\": {}", count).into_bytes(), &reader, &decoder);
}

/// The run's one JSON line on standard error: summary's fields, then notes and what else was held.
fn say(mut summary: Vec<u8>, reader: &reader::Reader<BufReader<File>>, decoder: &decode::Decoder) {
    summary.extend_from_slice(b", \"notes\": ");
    let mut notes = reader.warnings.clone();
    notes.extend(decoder.notes());
    json::strings(&mut summary, &notes);
    summary.extend_from_slice(b", \"held\": ");
    json::strings(&mut summary, &decoder.held_text());
    summary.extend_from_slice(b"}\n");
    let _ = std::io::stderr().write_all(&summary);
}
