//! Splits Kinesis records written by the Kinesis Producer Library (KPL) in
//! aggregated form back into the user records the producer put.
//!
//! # Format
//!
//! An aggregated record's data is
//!
//! ```text
//! F3 89 9A C2 | protobuf AggregatedRecord | MD5 of the protobuf bytes (16 bytes)
//! ```
//!
//! with the protobuf schema
//!
//! ```text
//! message AggregatedRecord {
//!   repeated string partition_key_table     = 1;
//!   repeated string explicit_hash_key_table = 2;
//!   repeated Record records                 = 3;
//! }
//! message Tag    { required string key = 1; optional string value = 2; }
//! message Record {
//!   required uint64 partition_key_index     = 1;
//!   optional uint64 explicit_hash_key_index = 2;
//!   required bytes  data                    = 3;
//!   repeated Tag    tags                    = 4;
//! }
//! ```
//!
//! Each user record names its partition key (and optionally its explicit
//! hash key) by index into the tables, and its sub-sequence number is its
//! position in `records`. Tags are validated but not exposed.
//!
//! # Pass-through rule
//!
//! As in the reference deaggregators (awslabs `kinesis-aggregation`, the
//! KCL), anything that is not a valid aggregated record is delivered
//! unchanged as a single record instead of being dropped:
//!
//! - data that does not start with the magic bytes ([`PassThroughReason`]
//!   is `None`: a plain record);
//! - data that starts with the magic but has no protobuf body between the
//!   magic and the digest ([`PassThroughReason::TooShort`]);
//! - a digest that does not match the body ([`PassThroughReason::ChecksumMismatch`]);
//! - a body that is not a well-formed `AggregatedRecord`: broken wire format,
//!   a missing required field, a key that is not UTF-8, or a table index out
//!   of range ([`PassThroughReason::Malformed`]).
//!
//! The last point follows the KCL, whose protobuf parser enforces required
//! fields. It is stricter than the Python reference, which fills missing
//! fields with defaults and, on a bad index, yields the user records decoded
//! before it and silently drops the rest; passing the whole record through
//! loses nothing. Likewise an explicit hash key is reported only for user
//! records that carry `explicit_hash_key_index`, as the KCL does (the Python
//! reference falls back to table entry 0).
//!
//! Decoding borrows from the input and never panics, whatever the bytes.

// Data from outside the process never meets an unwrap or expect: a bad
// record is a dead letter, not a panic (tests may unwrap what they build).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::fmt;

use md5::{Digest, Md5};

/// The bytes every KPL aggregated record starts with.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

const DIGEST_LEN: usize = 16;

/// One user record inside a Kinesis record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRecord<'a> {
    pub partition_key: Option<&'a str>,
    pub explicit_hash_key: Option<&'a str>,
    pub data: &'a [u8],
    pub sub_sequence_number: u64,
}

/// Outcome of deaggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deaggregated<'a> {
    /// Not aggregated, or bad checksum / malformed protobuf: the bytes pass
    /// through as one record. `reason` says why when the data started with
    /// the magic but was not a valid aggregated record.
    Single {
        data: &'a [u8],
        reason: Option<PassThroughReason>,
    },
    /// The user records, in order. May be empty: a valid aggregate with no
    /// records carries no user data.
    Aggregated(Vec<UserRecord<'a>>),
}

/// Why data that starts with the magic bytes was passed through whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassThroughReason {
    /// No protobuf body between the magic and the digest.
    TooShort,
    /// The trailing MD5 digest does not match the protobuf body.
    ChecksumMismatch,
    /// The digest matches but the body is not a valid `AggregatedRecord`.
    Malformed(MalformedReason),
}

/// What is wrong with a protobuf body whose digest matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedReason {
    /// The input ends inside a varint.
    TruncatedVarint,
    /// A varint runs past the ten bytes a 64-bit value can need.
    VarintTooLong,
    /// A field key with field number 0 or one beyond 32 bits.
    InvalidFieldKey,
    /// Wire types 3 and 4 (groups) and 6, 7 never occur in this format.
    UnsupportedWireType(u8),
    /// A length-delimited or fixed-width field runs past the input.
    TruncatedField,
    /// A required field is absent, named `message.field`.
    MissingField(&'static str),
    /// A string field is not UTF-8, named `message.field`.
    InvalidUtf8(&'static str),
    /// A user record names a table entry that does not exist.
    IndexOutOfRange {
        table: &'static str,
        index: u64,
        len: usize,
    },
}

impl fmt::Display for PassThroughReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort => f.write_str("aggregated record too short to hold a body and digest"),
            Self::ChecksumMismatch => f.write_str("aggregated record digest does not match"),
            Self::Malformed(reason) => write!(f, "malformed aggregated record: {reason}"),
        }
    }
}

impl std::error::Error for PassThroughReason {}

impl fmt::Display for MalformedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TruncatedVarint => f.write_str("truncated varint"),
            Self::VarintTooLong => f.write_str("varint longer than 10 bytes"),
            Self::InvalidFieldKey => f.write_str("invalid field key"),
            Self::UnsupportedWireType(wire_type) => {
                write!(f, "unsupported wire type {wire_type}")
            }
            Self::TruncatedField => f.write_str("field runs past the end of its message"),
            Self::MissingField(field) => write!(f, "required field {field} is missing"),
            Self::InvalidUtf8(field) => write!(f, "{field} is not valid UTF-8"),
            Self::IndexOutOfRange { table, index, len } => {
                write!(f, "index {index} out of range for {table} of {len} entries")
            }
        }
    }
}

/// True when `data` starts with the KPL magic (cheap check, no allocation).
pub fn is_aggregated(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}

/// Splits `data` into its user records, or hands it back whole when it is
/// not a valid aggregated record (see the crate documentation).
pub fn deaggregate(data: &[u8]) -> Deaggregated<'_> {
    match try_deaggregate(data) {
        Ok(Some(records)) => Deaggregated::Aggregated(records),
        Ok(None) => Deaggregated::Single { data, reason: None },
        Err(reason) => Deaggregated::Single {
            data,
            reason: Some(reason),
        },
    }
}

fn try_deaggregate(data: &[u8]) -> Result<Option<Vec<UserRecord<'_>>>, PassThroughReason> {
    let Some(rest) = data.strip_prefix(&MAGIC) else {
        return Ok(None);
    };
    // An empty body is rejected even though it would parse as an empty
    // message, because the reference treats it as a plain record.
    let body_len = rest.len().saturating_sub(DIGEST_LEN);
    if body_len == 0 {
        return Err(PassThroughReason::TooShort);
    }
    let Some((body, digest)) = rest.split_at_checked(body_len) else {
        return Err(PassThroughReason::TooShort);
    };
    if Md5::digest(body).as_slice() != digest {
        return Err(PassThroughReason::ChecksumMismatch);
    }
    decode_aggregated(body)
        .map(Some)
        .map_err(PassThroughReason::Malformed)
}

fn decode_aggregated(body: &[u8]) -> Result<Vec<UserRecord<'_>>, MalformedReason> {
    let mut partition_keys = Vec::new();
    let mut explicit_hash_keys = Vec::new();
    let mut raw_records = Vec::new();

    // Protobuf allows the fields in any order, so the tables may follow the
    // records that index them: collect everything before resolving.
    let mut reader = Reader::new(body);
    while let Some((field, value)) = reader.next_field()? {
        match (field, value) {
            (1, Value::Bytes(bytes)) => {
                partition_keys.push(utf8(bytes, "AggregatedRecord.partition_key_table")?);
            }
            (2, Value::Bytes(bytes)) => {
                explicit_hash_keys.push(utf8(bytes, "AggregatedRecord.explicit_hash_key_table")?);
            }
            (3, Value::Bytes(bytes)) => raw_records.push(bytes),
            _ => {}
        }
    }

    let mut records = Vec::with_capacity(raw_records.len());
    for (sub_sequence_number, raw) in (0u64..).zip(raw_records) {
        let record = decode_record(raw)?;
        let partition_key = lookup(
            &partition_keys,
            record.partition_key_index,
            "partition_key_table",
        )?;
        let explicit_hash_key = record
            .explicit_hash_key_index
            .map(|index| lookup(&explicit_hash_keys, index, "explicit_hash_key_table"))
            .transpose()?;
        records.push(UserRecord {
            partition_key: Some(partition_key),
            explicit_hash_key,
            data: record.data,
            sub_sequence_number,
        });
    }
    Ok(records)
}

struct RawRecord<'a> {
    partition_key_index: u64,
    explicit_hash_key_index: Option<u64>,
    data: &'a [u8],
}

fn decode_record(bytes: &[u8]) -> Result<RawRecord<'_>, MalformedReason> {
    let mut partition_key_index = None;
    let mut explicit_hash_key_index = None;
    let mut data = None;
    let mut reader = Reader::new(bytes);
    // A repeated scalar field keeps its last value, as protobuf specifies.
    while let Some((field, value)) = reader.next_field()? {
        match (field, value) {
            (1, Value::Varint(index)) => partition_key_index = Some(index),
            (2, Value::Varint(index)) => explicit_hash_key_index = Some(index),
            (3, Value::Bytes(bytes)) => data = Some(bytes),
            (4, Value::Bytes(tag)) => check_tag(tag)?,
            _ => {}
        }
    }
    Ok(RawRecord {
        partition_key_index: partition_key_index
            .ok_or(MalformedReason::MissingField("Record.partition_key_index"))?,
        explicit_hash_key_index,
        data: data.ok_or(MalformedReason::MissingField("Record.data"))?,
    })
}

/// Tags are not exposed, but a broken tag means a broken record, so its
/// wire format and required key are still checked.
fn check_tag(bytes: &[u8]) -> Result<(), MalformedReason> {
    let mut has_key = false;
    let mut reader = Reader::new(bytes);
    while let Some((field, value)) = reader.next_field()? {
        if let (1, Value::Bytes(_)) = (field, value) {
            has_key = true;
        }
    }
    if has_key {
        Ok(())
    } else {
        Err(MalformedReason::MissingField("Tag.key"))
    }
}

fn lookup<'a>(
    table: &[&'a str],
    index: u64,
    name: &'static str,
) -> Result<&'a str, MalformedReason> {
    usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i).copied())
        .ok_or(MalformedReason::IndexOutOfRange {
            table: name,
            index,
            len: table.len(),
        })
}

fn utf8<'a>(bytes: &'a [u8], field: &'static str) -> Result<&'a str, MalformedReason> {
    std::str::from_utf8(bytes).map_err(|_| MalformedReason::InvalidUtf8(field))
}

/// A decoded field value; fixed-width values are never needed, only skipped.
#[derive(Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32,
}

/// Protobuf wire-format reader over a borrowed buffer.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The next field, or `None` at the end of the message. A known field
    /// number with an unexpected wire type is returned as is and ignored by
    /// the caller, which is how protobuf treats it (as an unknown field).
    fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, MalformedReason> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| MalformedReason::InvalidFieldKey)?;
        if field == 0 {
            return Err(MalformedReason::InvalidFieldKey);
        }
        // Masked to three bits, so the cast cannot truncate.
        let wire_type = (key & 0x7) as u8;
        let value = match wire_type {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| MalformedReason::TruncatedField)?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Value::Fixed32
            }
            other => return Err(MalformedReason::UnsupportedWireType(other)),
        };
        Ok(Some((field, value)))
    }

    fn varint(&mut self) -> Result<u64, MalformedReason> {
        let mut value = 0u64;
        // Bits beyond 64 in the tenth byte are dropped, as protobuf does.
        for shift in (0..64).step_by(7) {
            let Some((&byte, rest)) = self.rest.split_first() else {
                return Err(MalformedReason::TruncatedVarint);
            };
            self.rest = rest;
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(MalformedReason::VarintTooLong)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], MalformedReason> {
        let (head, rest) = self
            .rest
            .split_at_checked(len)
            .ok_or(MalformedReason::TruncatedField)?;
        self.rest = rest;
        Ok(head)
    }
}

#[cfg(test)]
mod tests;
