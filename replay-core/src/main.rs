//! handshake-viz-core: replay's per-packet path, from a capture file to its JSON document.
//!
//! Usage: handshake-viz-core CAPTURE_NAME OUTPUT_NAME [CONVERSATION] < CAPTURE > JSON
//!
//! The capture comes on standard input (opened, and its errors reported, by the Python side),
//! the document goes to standard output, byte for byte what `handshake_viz.replay` writes with
//! the Python analysis. On success, standard error gets one JSON line for the command's table:
//! {"conversations": N, "rows": [...], "notes": [...], "held": [...]}. On a corrupt capture it
//! gets the error's one line and the exit code is 6; when the output or the spool cannot be
//! written, 10. The names are only for messages and the document.
//!
//! Written in Rust for safety as well as speed: it parses files from anywhere, and safe Rust
//! (no `unsafe` here at all) cannot read or write out of bounds; a bug is a clean stop instead.

#![forbid(unsafe_code)]

mod analysis;
mod decode;
mod export;
mod fast;
mod json;
mod reader;

use std::fs::File;
use std::io::{BufReader, Write};
use std::process::exit;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 || args.len() > 4 {
        eprintln!("usage: handshake-viz-core CAPTURE_NAME OUTPUT_NAME [CONVERSATION] < CAPTURE > JSON");
        exit(2);
    }
    let only = args.get(3).map(|text| match text.parse::<i64>() {
        Ok(index) if index >= 0 => index as u64,
        Ok(_) => u64::MAX, // a negative index names no conversation
        Err(_) => {
            eprintln!("handshake-viz-core: CONVERSATION must be a number, not {}", text);
            exit(2);
        }
    });
    let (name, output_name) = (&args[1], &args[2]);
    // Standard input opened again as a file of its own: its size bounds every length read from it.
    let file = File::open("/proc/self/fd/0").and_then(|file| file.metadata().map(|meta| (file, meta.len())));
    let (file, size) = match file {
        Ok(found) => found,
        Err(error) => {
            eprintln!("{}: cannot read it: {}", name, error);
            exit(6);
        }
    };
    let mut reader = reader::Reader::new(BufReader::with_capacity(1 << 20, file), name, size);
    let mut decoder = decode::Decoder::default();
    let mut analyzer = analysis::Analyzer::default();
    let mut export = export::Export::new(name, output_name, only);
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                if let Some(record) = decoder.decode(frame.frame, frame.time, &frame.data, frame.linktype, frame.wire_len) {
                    analyzer.receive(record, &mut export);
                }
            }
            Ok(None) => break,
            Err(message) => {
                eprintln!("{}", message);
                exit(6);
            }
        }
    }
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
    summary.extend_from_slice(b"], \"notes\": ");
    let mut notes = reader.warnings.clone();
    notes.extend(decoder.notes());
    json::strings(&mut summary, &notes);
    summary.extend_from_slice(b", \"held\": ");
    json::strings(&mut summary, &decoder.held_text());
    summary.extend_from_slice(b"}\n");
    let _ = std::io::stderr().write_all(&summary);
}
