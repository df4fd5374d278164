//! Mutations: byte-level (flips, splices, insertions of dictionary tokens)
//! and JSON-aware (replace a string with a huge or odd one, a number with an
//! extreme, a timestamp with a far-past or far-future one; drop, add or
//! duplicate fields; deep nesting; change a value's type).
//!
//! JSON values that `serde_json::Value` cannot hold (numbers beyond f64,
//! duplicate keys, lone surrogate escapes, nesting past the parser's limit)
//! are written as placeholders and spliced into the text afterwards.

use serde_json::{Map, Value};

use crate::rng::Rng;

/// Strings that have broken parsers, templates and headers before.
pub fn hostile_string(rng: &mut Rng) -> String {
    match rng.below(34) {
        0 => String::new(),
        1 => " ".into(),
        2 => "x".repeat(128),
        3 => "x".repeat(129),
        4 => "é".repeat(rng.range(60, 130)),
        5 => "a\nb".into(),
        6 => "Jane\r\nBcc: evil@example.com".into(),
        7 => "\u{0}".into(),
        8 => "\u{FFFE}\u{FFFF}".into(),
        9 => "\u{FEFF}o-1".into(),
        10 => "\u{202E}1-o\u{202C}".into(),
        11 => "\u{200F}\u{200E}\u{2066}x\u{2069}".into(),
        12 => "a\u{2028}b\u{2029}c\u{85}d".into(),
        13 => "\t\u{b}\u{c}".into(),
        14 => "🦀".repeat(rng.range(1, 300)),
        15 => "<script>alert(1)</script><fz>".into(),
        16 => "&amp;&#60;fz&#62;\"'".into(),
        17 => "{{ order_id }}{% if true %}{% endif %}".into(),
        18 => "%s%n%x".into(),
        19 => "y".repeat(rng.range(1024, 8192)),
        20 if rng.chance(1, 4) => "z".repeat(rng.range(65_536, 131_072)),
        20 => "z".repeat(rng.range(4096, 16_384)),
        21 => "e\u{301}".repeat(rng.range(10, 500)),
        22 => "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}".into(),
        23 => "o-1".into(),
        24 => "p-1".into(),
        25 => "u-1".into(),
        26 => "\u{7f}\u{80}\u{9f}".into(),
        27 => "null".into(),
        28 => "\\u0000\\n".into(),
        29 => "a@b.co".into(),
        30 => hostile_email(rng),
        31 => timestamp(rng),
        32 => kind_name(rng).to_owned(),
        _ => {
            let mut s = String::new();
            for _ in 0..rng.range(1, 40) {
                s.push(char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{FFFD}'));
            }
            s
        }
    }
}

pub fn hostile_email(rng: &mut Rng) -> String {
    match rng.below(16) {
        0 => "ada@example.com".into(),
        1 => "a@b.co\r\nBcc: x@evil.com".into(),
        2 => "a@b.co, c@evil.com".into(),
        3 => "\"Eve\" <eve@evil.com>".into(),
        4 => "a@localhost".into(),
        5 => "@x.y".into(),
        6 => "a@.b".into(),
        7 => " ada@example.com ".into(),
        8 => format!("{}@example.com", "a".repeat(242)),
        9 => format!("{}@example.com", "a".repeat(243)),
        10 => "ü@exämple.com".into(),
        11 => "a@b.c\u{0}".into(),
        12 => "a@@b.co".into(),
        13 => "a@b.co.".into(),
        14 => "\u{202E}moc.elpmaxe@ada".into(),
        _ => "grace@example.com".into(),
    }
}

/// Timestamps: the forms producers write, and the edges of the calendar
/// and of the offsets.
pub fn timestamp(rng: &mut Rng) -> String {
    const FIXED: &[&str] = &[
        "2025-10-30T12:00:00.000Z",
        "2025-10-30T12:00:00",
        "2025-10-30T12:00:00.000000",
        "2025-10-30T14:00:00+02:00",
        "9999-12-31T23:30:00-01:00",
        "9999-12-31T23:59:59.999999999Z",
        "9999-12-31T23:59:59+00:00",
        "9999-12-31T23:59:59-23:59",
        "9999-12-31T00:00:00-23:59",
        "0000-01-01T00:00:00Z",
        "0000-01-01T00:00:00+00:01",
        "0000-01-01T00:30:00+01:00",
        "0000-01-01T00:00:00+23:59",
        "0000-01-01T00:00:00.0005+00:00",
        "1969-12-31T23:59:59.9999Z",
        "1970-01-01T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2024-02-29T24:00:00Z",
        "2025-10-30T12:00:60Z",
        "2016-12-31T23:59:60Z",
        "2025-10-30t12:00:00z",
        "2025-10-30 12:00:00Z",
        "+002025-10-30T12:00:00Z",
        "-000001-01-01T00:00:00",
        "+999999-12-31T23:59:59",
        "2025-10-30T12:00:00.1234567891234Z",
        "2025-W44-4T12:00:00",
        "2025-303T12:00:00",
        "20251030T120000Z",
        "2025-10-30T12Z",
        "2025-10-30T12:00:00+99:99",
        "2025-10-30T12:00:00-00:00",
        "",
        "yesterday",
    ];
    if rng.chance(3, 4) {
        return (*rng.pick(FIXED)).to_owned();
    }
    let year = match rng.below(4) {
        0 => rng.below(10_000),
        1 => *rng.pick(&[0, 1, 1969, 1970, 2038, 9998, 9999]),
        _ => rng.range(1990, 2100),
    };
    let offset = match rng.below(4) {
        0 => "Z".to_owned(),
        1 => String::new(),
        _ => format!(
            "{}{:02}:{:02}",
            if rng.chance(1, 2) { '+' } else { '-' },
            rng.below(25),
            rng.below(61)
        ),
    };
    format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{offset}",
        rng.range(1, 12),
        rng.range(1, 31),
        rng.below(24),
        rng.below(60),
        rng.below(61),
        if rng.chance(1, 2) {
            format!(".{}", rng.below(1_000_000_000))
        } else {
            String::new()
        },
    )
}

/// JSON number literals at the edges of every reader: u32, u64, i64, f64,
/// `rust_decimal`, and the contract's own bounds.
pub fn extreme_number(rng: &mut Rng) -> String {
    const FIXED: &[&str] = &[
        "0",
        "-0",
        "1",
        "-1",
        "2",
        "50",
        "51",
        "999999",
        "1000000",
        "1000001",
        "2000000",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "1e308",
        "-1e308",
        "1e-400",
        "1.7976931348623157e308",
        "0.1",
        "19.99",
        "0.005",
        "2.005",
        "-0.0",
        "79228162514264337593543950335",
        "79228162514264337593543950336",
        "-79228162514264337593543950335",
        "0.0000000000000000000000000001",
        "0.00000000000000000000000000001",
        "0.00000000000000000000000000005",
        "7.9228162514264337593543950335",
        "1e28",
        "1e29",
        "1.5e2",
        "1E-28",
        "9.999999999999999999999999999e27",
        "123456789012345678901234567890.5",
        "1e999999999",
        "1e-999999999",
        "1.0",
        "1.000000000000000000000000000001",
    ];
    match rng.below(6) {
        0 => "9".repeat(rng.range(20, 400)),
        1 => format!("0.{}1", "0".repeat(rng.range(20, 60))),
        2 => format!(
            "{}e{}{}",
            rng.range(1, 99),
            if rng.chance(1, 2) { "-" } else { "" },
            rng.below(100)
        ),
        _ => (*rng.pick(FIXED)).to_owned(),
    }
}

pub fn kind_name(rng: &mut Rng) -> &'static str {
    // The contract's kinds, then names that are almost one of them.
    const ODD: &[&str] = &["LOYALTY_POINTS_EARNED", "order_placed", "ORDER_PLACED ", ""];
    let all = order_events::EventKind::ALL;
    let pick = rng.below(all.len() + ODD.len());
    match all.get(pick) {
        Some(kind) => kind.as_str(),
        None => ODD[pick - all.len()],
    }
}

/// Field names of the envelope and of every payload.
pub const FIELDS: &[&str] = &[
    "eventId",
    "eventType",
    "commandType",
    "timestamp",
    "payload",
    "orderId",
    "userId",
    "sagaId",
    "items",
    "productId",
    "quantity",
    "price",
    "total",
    "email",
    "reason",
    "status",
    "name",
    "registrationDate",
];

/// Tokens spliced into raw bytes.
pub const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"\\u0000",
    b"\\ud800",
    b"\\udc00",
    b"\\ud83e\\udd80",
    b"\\",
    b"\"eventType\":",
    b"\"payload\":{}",
    b"\"commandType\":\"RESERVE_INVENTORY\"",
    b"\"orderId\":\"o-1\"",
    b"\"items\":[{\"productId\":\"p-1\",\"quantity\":1}]",
    b"\"timestamp\":\"9999-12-31T23:30:00-01:00\"",
    b"\xF3\x89\x9A\xC2",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\xC0\x80",
    b"\xED\xA0\x80",
    b"1e999",
    b"-0",
    b"    ",
    b"\r\n",
];

/// Placeholders for text that `Value` cannot hold, spliced in after
/// serialisation.
#[derive(Default)]
pub struct Raw {
    pieces: Vec<String>,
}

impl Raw {
    /// A string value that will become `text` verbatim.
    pub fn value(&mut self, text: String) -> Value {
        Value::String(self.key(text))
    }

    /// A placeholder (also usable as an object key) that becomes `text`.
    pub fn key(&mut self, text: String) -> String {
        self.pieces.push(text);
        format!("@@raw{}@@", self.pieces.len() - 1)
    }

    /// Serialises `value` and splices the raw pieces in.
    pub fn render(&self, value: &Value, pretty: bool) -> Vec<u8> {
        let text = if pretty {
            serde_json::to_string_pretty(value)
        } else {
            serde_json::to_string(value)
        }
        .unwrap_or_default();
        if self.pieces.is_empty() {
            return text.into_bytes();
        }
        // One pass: every `"@@raw<i>@@"` becomes piece i.
        const OPEN: &str = "\"@@raw";
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find(OPEN) {
            out.push_str(&rest[..at]);
            let after = &rest[at + OPEN.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let piece = after[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|i| self.pieces.get(i))
                .filter(|_| after[digits..].starts_with("@@\""));
            match piece {
                Some(piece) => {
                    out.push_str(piece);
                    rest = &after[digits + 3..];
                }
                None => {
                    out.push_str(OPEN);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out.into_bytes()
    }
}

fn nested(rng: &mut Rng) -> String {
    let depth = match rng.below(3) {
        0 => rng.range(2, 20),
        1 => rng.range(100, 140),
        _ => rng.range(1000, 5000),
    };
    let (open, close) = if rng.chance(1, 2) {
        ("[", "]")
    } else {
        ("{\"a\":", "}")
    };
    format!("{}1{}", open.repeat(depth), close.repeat(depth))
}

fn random_scalar(rng: &mut Rng, raw: &mut Raw) -> Value {
    match rng.below(8) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(1, 2)),
        2 | 3 => raw.value(extreme_number(rng)),
        4 => Value::String(timestamp(rng)),
        _ => Value::String(hostile_string(rng)),
    }
}

/// Mutates one node of `value`, picked by a random walk from the root.
pub fn mutate_json(value: &mut Value, rng: &mut Rng, raw: &mut Raw) {
    let deeper = rng.chance(3, 4);
    match value {
        Value::Object(map) if deeper && !map.is_empty() => {
            let i = rng.below(map.len());
            if let Some(child) = map.values_mut().nth(i) {
                mutate_json(child, rng, raw);
            }
        }
        Value::Array(items) if deeper && !items.is_empty() => {
            let i = rng.below(items.len());
            mutate_json(&mut items[i], rng, raw);
        }
        _ => mutate_node(value, rng, raw),
    }
}

fn mutate_node(node: &mut Value, rng: &mut Rng, raw: &mut Raw) {
    // Type-independent mutations first.
    match rng.below(12) {
        0 => {
            *node = random_scalar(rng, raw);
            return;
        }
        1 => {
            *node = raw.value(nested(rng));
            return;
        }
        2 => {
            *node = match rng.below(4) {
                0 => Value::Array(Vec::new()),
                1 => Value::Object(Map::new()),
                2 => Value::Array(vec![node.take()]),
                _ => raw.value("\"\\ud800\"".into()),
            };
            return;
        }
        _ => {}
    }
    match node {
        Value::String(text) => match rng.below(7) {
            0 => *text = hostile_string(rng),
            1 => *text = timestamp(rng),
            2 => *text = hostile_email(rng),
            3 => *text = kind_name(rng).to_owned(),
            4 => {
                let number = extreme_number(rng);
                *text = number;
            }
            5 => {
                let copy = text.clone();
                text.push_str(&copy.repeat(rng.range(1, 8)));
            }
            _ => {
                let cut = rng.below(text.len() + 1);
                let cut = (0..=cut)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                text.truncate(cut);
                text.push(*rng.pick(&['\r', '\n', '\u{0}', '\u{2028}', '\u{202E}', 'x']));
            }
        },
        Value::Number(_) => *node = raw.value(extreme_number(rng)),
        Value::Object(map) => match rng.below(5) {
            0 if !map.is_empty() => {
                let key = map.keys().nth(rng.below(map.len())).cloned();
                if let Some(key) = key {
                    map.remove(&key);
                }
            }
            1 if !map.is_empty() => {
                // A duplicate key: the same name twice in one object.
                let key = map.keys().nth(rng.below(map.len())).cloned();
                if let Some(key) = key {
                    let value = random_scalar(rng, raw);
                    let placeholder = raw.key(serde_json::to_string(&key).unwrap_or_default());
                    map.insert(placeholder, value);
                }
            }
            2 => {
                let field = (*rng.pick(FIELDS)).to_owned();
                let value = random_scalar(rng, raw);
                map.insert(field, value);
            }
            3 => {
                let field = hostile_string(rng);
                map.insert(field, Value::Null);
            }
            _ => {
                for value in map.values_mut() {
                    if rng.chance(1, 3) {
                        *value = random_scalar(rng, raw);
                    }
                }
            }
        },
        Value::Array(items) => match rng.below(4) {
            0 if !items.is_empty() => {
                items.remove(rng.below(items.len()));
            }
            1 if !items.is_empty() => {
                let copy = items[rng.below(items.len())].clone();
                let times = if rng.chance(1, 4) { 60 } else { 1 };
                for _ in 0..times {
                    items.push(copy.clone());
                }
            }
            2 => items.clear(),
            _ => items.push(random_scalar(rng, raw)),
        },
        Value::Bool(b) => *b = !*b,
        Value::Null => *node = random_scalar(rng, raw),
    }
}

/// Byte-level mutation, `splice` being another input to cross over with.
pub fn mutate_bytes(data: &mut Vec<u8>, rng: &mut Rng, splice: Option<&[u8]>) {
    match rng.below(10) {
        0 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] ^= 1 << rng.below(8);
        }
        1 if !data.is_empty() => {
            let i = rng.below(data.len());
            let random = rng.byte();
            data[i] = *rng.pick(&[0, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'}', b'0', random]);
        }
        2 if !data.is_empty() => {
            let start = rng.below(data.len());
            let len = rng.small(data.len() - start);
            data.drain(start..start + len);
        }
        3 if !data.is_empty() => {
            let start = rng.below(data.len());
            let len = rng.small((data.len() - start).min(4096));
            let copy = data[start..start + len].to_vec();
            let at = rng.below(data.len() + 1);
            data.splice(at..at, copy);
        }
        4 => {
            let at = rng.below(data.len() + 1);
            let token = rng.pick(TOKENS);
            data.splice(at..at, token.iter().copied());
        }
        5 => {
            let at = rng.below(data.len() + 1);
            let number = extreme_number(rng);
            data.splice(at..at, number.bytes());
        }
        6 => {
            if let Some(other) = splice.filter(|o| !o.is_empty()) {
                let cut = rng.below(data.len() + 1);
                let from = rng.below(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
        }
        7 if !data.is_empty() => {
            let cut = rng.below(data.len());
            data.truncate(cut);
        }
        8 => {
            let at = rng.below(data.len() + 1);
            let n = rng.small(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            data.splice(at..at, bytes);
        }
        _ => {
            // Replace the contents of one JSON string literal.
            if let Some((start, end)) = string_literal(data, rng) {
                let text = hostile_string(rng);
                let escaped = serde_json::to_string(&text).unwrap_or_default();
                data.splice(start..end, escaped.bytes());
            }
        }
    }
}

/// The byte range of one `"..."` literal (quotes included), if any.
fn string_literal(data: &[u8], rng: &mut Rng) -> Option<(usize, usize)> {
    let quotes: Vec<usize> = data
        .iter()
        .enumerate()
        .filter(|(i, &b)| b == b'"' && (*i == 0 || data[i - 1] != b'\\'))
        .map(|(i, _)| i)
        .collect();
    if quotes.len() < 2 {
        return None;
    }
    let pair = rng.below(quotes.len() / 2);
    Some((quotes[2 * pair], quotes[2 * pair + 1] + 1))
}

/// A JSON-aware mutation when `data` is JSON, else a byte mutation.
pub fn mutate_document(data: &mut Vec<u8>, rng: &mut Rng, splice: Option<&[u8]>) {
    if rng.chance(2, 3) {
        if let Ok(mut value) = serde_json::from_slice::<Value>(data) {
            let mut raw = Raw::default();
            for _ in 0..rng.range(1, 3) {
                mutate_json(&mut value, rng, &mut raw);
            }
            *data = raw.render(&value, rng.chance(1, 8));
            return;
        }
    }
    for _ in 0..rng.range(1, 4) {
        mutate_bytes(data, rng, splice);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_pieces_are_spliced_verbatim() {
        let mut raw = Raw::default();
        let mut map = Map::new();
        map.insert("a".into(), raw.value("1e999".into()));
        let dup = raw.key("\"a\"".into());
        map.insert(dup, Value::Bool(true));
        map.insert("b".into(), Value::String("@@raw7@@ \"@@raw".into()));
        let text = String::from_utf8(raw.render(&Value::Object(map), false)).unwrap();
        assert!(text.contains("\"a\":1e999"), "{text}");
        assert!(text.contains("\"a\":true"), "{text}");
        assert!(text.contains("\"b\":\"@@raw7@@ \\\"@@raw\""), "{text}");
    }

    #[test]
    fn mutations_change_documents_without_panicking() {
        let mut rng = Rng::new(1);
        let seed = br#"{"eventType":"ORDER_PLACED","payload":{"orderId":"o-1","items":[{"productId":"p","quantity":1}]}}"#;
        let mut changed = 0;
        for _ in 0..2000 {
            let mut doc = seed.to_vec();
            mutate_document(&mut doc, &mut rng, Some(seed));
            changed += usize::from(doc != seed);
        }
        assert!(
            changed > 1500,
            "only {changed} of 2000 mutations changed the input"
        );
    }
}
