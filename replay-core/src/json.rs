//! JSON text exactly as Python's `json.dumps` and `repr` write it, appended to bytes (every
//! character is ASCII: ensure_ascii escapes the rest).

/// `push_str` for the byte buffers the JSON is written to.
pub trait Append {
    fn push_str(&mut self, text: &str);
}

impl Append for Vec<u8> {
    fn push_str(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

/// `json.dumps(text)` (ensure_ascii): everything outside printable ASCII escaped.
pub fn string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c as u8),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
        }
    }
    out.push(b'"');
}

pub fn strings(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        string(out, item);
    }
    out.push(b']');
}

/// Below 2**33 a float's spacing is under a microsecond, so a time that reads back from its
/// nearest six decimals has no shorter text: those digits, less trailing zeros, are repr's.
const MICROSECOND_EXACT: f64 = 8_589_934_592.0;

/// repr(x) written from x's nearest microsecond when that reads back as x (most capture times
/// do, and this is several times faster than finding the shortest digits); false otherwise.
fn microseconds(out: &mut Vec<u8>, x: f64) -> bool {
    let micros = (x * 1e6).round() as u64;
    let mut text = Vec::with_capacity(24);
    int(&mut text, (micros / 1_000_000) as i64);
    let fraction = micros % 1_000_000;
    text.push(b'.');
    let digits = text.len();
    int(&mut text, 1_000_000 + fraction as i64);
    text.remove(digits); // the leading 1 that kept the fraction's zeros
    let text = std::str::from_utf8(&text).unwrap_or_default();
    if text.parse::<f64>() != Ok(x) {
        return false;
    }
    let kept = text.trim_end_matches('0').len().max(digits + 1);
    out.push_str(&text[..kept]);
    true
}

/// `repr(x)` of a finite float: the shortest digits that read back as x, in fixed notation
/// from 1e-4 up to 1e16, else in exponent notation ("1e-05", "1.5e+16").
pub fn float(out: &mut Vec<u8>, x: f64) {
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    if !x.is_finite() {
        // Never from a capture (its times are finite); json.dumps would say NaN or Infinity.
        out.push_str(if x.is_nan() { "NaN" } else if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if (1e-4..MICROSECOND_EXACT).contains(&x) && microseconds(out, x) {
        return;
    }
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let point = exponent + 1; // x = 0.DIGITS x 10^point
    if x < 0.0 {
        out.push(b'-');
    }
    if point <= -4 || point > 16 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push(b'.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&format!("e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs()));
    } else if point <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat((-point) as usize));
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        out.push_str(&"0".repeat(point as usize - digits.len()));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..point as usize]);
        out.push(b'.');
        out.push_str(&digits[point as usize..]);
    }
}

const PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/// An integer, as `str(n)`: two digits at a time.
pub fn int(out: &mut Vec<u8>, value: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value.unsigned_abs();
    while rest >= 100 {
        let pair = (rest % 100) as usize * 2;
        rest /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if rest >= 10 {
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[rest as usize * 2..rest as usize * 2 + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + rest as u8;
    }
    if value < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}
