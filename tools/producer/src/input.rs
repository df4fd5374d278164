//! Reading the documents to publish: JSON files (one value, several
//! concatenated values or JSON lines), arrays of events, and Lambda Kinesis
//! events such as the samples in `events/` (their records' data, KPL
//! aggregates split into their user records). Every document keeps where it
//! came from, so a rejection names the input and line.

use std::fmt;

use base64::Engine as _;
use kinesis_deagg::Deaggregated;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub input: String,
    /// 1-based line where the document's JSON value starts; `None` when the
    /// input could not be read at all.
    pub line: Option<usize>,
    /// Where inside that value: an array index or a Kinesis record.
    pub detail: Option<String>,
}

impl Location {
    fn at(input: &str, line: Option<usize>) -> Self {
        Self {
            input: input.to_owned(),
            line,
            detail: None,
        }
    }

    fn within(&self, detail: String) -> Self {
        let detail = match &self.detail {
            Some(outer) => format!("{outer} {detail}"),
            None => detail,
        };
        Self {
            detail: Some(detail),
            ..self.clone()
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.input)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, " {detail}")?;
        }
        Ok(())
    }
}

/// One candidate record's data, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub location: Location,
    pub data: Vec<u8>,
}

/// Input that can never become a record, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub location: Location,
    pub reason: String,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.reason)
    }
}

pub type Item = Result<Document, Rejected>;

/// The documents of one input's bytes, in input order.
pub fn read(input: &str, bytes: &[u8]) -> Vec<Item> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            return vec![Err(Rejected {
                location: Location::at(input, Some(line_at(bytes, err.valid_up_to()))),
                reason: "not UTF-8 text".into(),
            })]
        }
    };
    let mut items = Vec::new();
    let mut offset = 0;
    while offset < text.len() {
        let rest = &text[offset..];
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
        let mut consumed = 0;
        loop {
            let start = consumed + leading_whitespace(&rest[consumed..]);
            match values.next() {
                None => {
                    offset = text.len();
                    break;
                }
                Some(Ok(value)) => {
                    consumed = values.byte_offset();
                    let line = line_at(text.as_bytes(), offset + start);
                    expand(value, &Location::at(input, Some(line)), &mut items);
                }
                Some(Err(err)) => {
                    // Skip to the line after the error, so one bad line of
                    // JSON lines costs that line alone. A value cut short is
                    // named by the line it starts on.
                    let line = if err.is_eof() {
                        line_at(text.as_bytes(), offset + start)
                    } else {
                        line_at(text.as_bytes(), offset) + err.line() - 1
                    };
                    items.push(Err(Rejected {
                        location: Location::at(input, Some(line)),
                        reason: format!("not JSON: {err}"),
                    }));
                    offset = start_of_line_after(text, offset, err.line());
                    break;
                }
            }
        }
    }
    items
}

/// An input that could not be read at all.
pub fn unreadable(input: &str, reason: String) -> Item {
    Err(Rejected {
        location: Location::at(input, None),
        reason,
    })
}

#[derive(Deserialize)]
struct KinesisEventShape<'a> {
    #[serde(rename = "Records", borrow)]
    records: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct KinesisRecordShape {
    kinesis: KinesisData,
}

#[derive(Deserialize)]
struct KinesisData {
    data: String,
}

fn expand(value: &RawValue, location: &Location, items: &mut Vec<Item>) {
    let text = value.get();
    if text.starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(elements) => {
                for (index, element) in elements.into_iter().enumerate() {
                    items.push(Ok(Document {
                        location: location.within(format!("[{index}]")),
                        data: element.get().as_bytes().to_vec(),
                    }));
                }
            }
            Err(err) => items.push(Err(Rejected {
                location: location.clone(),
                reason: format!("not a JSON array: {err}"),
            })),
        }
        return;
    }
    match serde_json::from_str::<KinesisEventShape>(text) {
        Ok(KinesisEventShape {
            records: Some(records),
        }) => {
            for (index, record) in records.into_iter().enumerate() {
                kinesis_record(record, &location.within(format!("Records[{index}]")), items);
            }
        }
        // Anything else is a document of its own; validation says what is
        // wrong with it.
        _ => items.push(Ok(Document {
            location: location.clone(),
            data: text.as_bytes().to_vec(),
        })),
    }
}

/// A Lambda Kinesis event record: its data, or the user records of a KPL
/// aggregate.
fn kinesis_record(record: &RawValue, location: &Location, items: &mut Vec<Item>) {
    let data = serde_json::from_str::<KinesisRecordShape>(record.get())
        .map_err(|err| format!("not a Kinesis event record: {err}"))
        .and_then(|r| {
            base64::engine::general_purpose::STANDARD
                .decode(r.kinesis.data.as_bytes())
                .map_err(|err| format!("kinesis.data is not base64: {err}"))
        });
    let data = match data {
        Ok(data) => data,
        Err(reason) => {
            items.push(Err(Rejected {
                location: location.clone(),
                reason,
            }));
            return;
        }
    };
    match kinesis_deagg::deaggregate(&data) {
        Deaggregated::Single { data, .. } => items.push(Ok(Document {
            location: location.clone(),
            data: data.to_vec(),
        })),
        Deaggregated::Aggregated(user_records) => {
            for user_record in user_records {
                items.push(Ok(Document {
                    location: location
                        .within(format!("user record {}", user_record.sub_sequence_number)),
                    data: user_record.data.to_vec(),
                }));
            }
        }
    }
}

fn leading_whitespace(text: &str) -> usize {
    text.len() - text.trim_start().len()
}

/// 1-based line of a byte offset.
fn line_at(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The offset of the line after 1-based line `line` counted from `from`.
fn start_of_line_after(text: &str, from: usize, line: usize) -> usize {
    text[from..]
        .match_indices('\n')
        .nth(line.saturating_sub(1))
        .map_or(text.len(), |(at, _)| from + at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|item| match item {
                Ok(doc) => format!("{} ok", doc.location),
                Err(rejected) => format!("{} rejected", rejected.location),
            })
            .collect()
    }

    #[test]
    fn json_lines_and_concatenated_values_keep_their_lines() {
        let text = "{\"a\":1}\n\n{\"b\":2}\n{\n  \"c\": 3\n}\n";
        let items = read("in.jsonl", text.as_bytes());
        assert_eq!(
            located(&items),
            ["in.jsonl:1 ok", "in.jsonl:3 ok", "in.jsonl:4 ok"]
        );
        assert_eq!(items[1].as_ref().unwrap().data, b"{\"b\":2}");
    }

    #[test]
    fn a_bad_line_is_rejected_alone_and_reading_goes_on() {
        let text = "{\"a\":1}\nnot json\n{\"b\":2}\n{\"c\":\n";
        let items = read("-", text.as_bytes());
        assert_eq!(
            located(&items),
            ["-:1 ok", "-:2 rejected", "-:3 ok", "-:4 rejected"]
        );
        let Err(rejected) = &items[1] else { panic!() };
        assert!(rejected.reason.starts_with("not JSON"), "{rejected}");
    }

    #[test]
    fn arrays_give_one_document_per_element() {
        let items = read("a.json", b"[{\"a\":1}, {\"b\":2}]");
        assert_eq!(located(&items), ["a.json:1 [0] ok", "a.json:1 [1] ok"]);
    }

    #[test]
    fn kinesis_events_give_their_records_data() {
        let one = base64::engine::general_purpose::STANDARD.encode(br#"{"x":1}"#);
        let event = format!(
            r#"{{"Records":[{{"kinesis":{{"data":"{one}"}}}},{{"kinesis":{{"data":"%%%"}}}}]}}"#
        );
        let items = read("e.json", event.as_bytes());
        assert_eq!(
            located(&items),
            ["e.json:1 Records[0] ok", "e.json:1 Records[1] rejected"]
        );
        assert_eq!(items[0].as_ref().unwrap().data, br#"{"x":1}"#);
    }

    #[test]
    fn the_kpl_sample_yields_its_user_records() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/inventory-update/kpl-aggregated.json"
        );
        let items = read("kpl.json", &std::fs::read(path).unwrap());
        assert_eq!(
            located(&items),
            [
                "kpl.json:1 Records[0] user record 0 ok",
                "kpl.json:1 Records[0] user record 1 ok",
                "kpl.json:1 Records[0] user record 2 ok"
            ]
        );
    }

    #[test]
    fn non_utf8_input_is_rejected_with_its_line() {
        let items = read("bin", b"{}\n\xff");
        assert_eq!(located(&items), ["bin:2 rejected"]);
    }
}
