//! KPL aggregation: user records packed into Kinesis records in the format
//! the functions deaggregate (`kinesis-deagg`):
//!
//! ```text
//! F3 89 9A C2 | protobuf AggregatedRecord | MD5 of the protobuf bytes
//! ```
//!
//! As the KPL does, only user records of one shard share a Kinesis record:
//! each user record's partition key is mapped to its open shard, the
//! records of a shard are packed in input order, and an aggregate is put
//! with its first user record's partition key and, as `ExplicitHashKey`,
//! that key's hash key, which lies in the shard's range. So every user
//! record lands on the shard its own key maps to, and a shard's user
//! records keep their input order, hence so does every key's.
//!
//! An aggregate is closed when the next user record would take it past
//! the size or the count limit. A user record that does not fit an
//! aggregate on its own goes alone, as a plain record, after the shard's
//! open aggregate; so does an aggregate that ends up with a single user
//! record (the functions read a plain record as they read an aggregate of
//! one). A key that falls in no open shard (a map read mid-resharding)
//! has its records sent plain, with their own keys.

use std::collections::HashMap;

use md5::{Digest, Md5};

use crate::shards::{hash_key, ShardMap};

/// The KPL's default most bytes of an aggregated record.
pub const DEFAULT_MAX_BYTES: usize = 51_200;
/// Most user records in one aggregate, unless told otherwise.
pub const DEFAULT_MAX_RECORDS: usize = 1_000;
/// Most bytes of one Kinesis record: data plus partition key.
pub const KINESIS_MAX_BYTES: usize = 1024 * 1024;

const DIGEST_LEN: usize = 16;
const FRAME_LEN: usize = kinesis_deagg::MAGIC.len() + DIGEST_LEN;

/// How big an aggregate may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Data plus partition key of the Kinesis record, at most
    /// [`KINESIS_MAX_BYTES`].
    pub max_bytes: usize,
    /// User records in it.
    pub max_records: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            max_records: DEFAULT_MAX_RECORDS,
        }
    }
}

/// A user record to aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRecord<'a> {
    pub partition_key: &'a str,
    pub data: &'a [u8],
}

/// One Kinesis record to put: an aggregate, or a user record alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisRecord {
    /// The open shard it is for; `None` for a key in no open shard.
    pub shard_id: Option<String>,
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
    /// Indexes of its user records, in input order.
    pub members: Vec<usize>,
}

impl KinesisRecord {
    pub fn is_aggregate(&self) -> bool {
        kinesis_deagg::is_aggregated(&self.data)
    }

    /// Bytes Kinesis counts for the record.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// The Kinesis records that carry `records`, each shard's in input order.
pub fn plan(records: &[UserRecord<'_>], shards: &ShardMap, limits: Limits) -> Vec<KinesisRecord> {
    let mut planned = Vec::new();
    // The open aggregate of each shard, in the order shards first appear.
    let mut open: Vec<(&str, Packer)> = Vec::new();
    let mut slot_of: HashMap<&str, usize> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        let Some(shard) = shards.shard_of(record.partition_key) else {
            planned.push(alone(index, record, None));
            continue;
        };
        let id = shard.shard_id.as_str();
        let slot = *slot_of.entry(id).or_insert_with(|| {
            open.push((id, Packer::default()));
            open.len() - 1
        });
        let packer = &mut open[slot].1;
        if Packer::default().size_with(record) > limits.max_bytes {
            if let Some(closed) = packer.take(records, id) {
                planned.push(closed);
            }
            planned.push(alone(index, record, Some(id)));
            continue;
        }
        if packer.members.len() >= limits.max_records || packer.size_with(record) > limits.max_bytes
        {
            if let Some(closed) = packer.take(records, id) {
                planned.push(closed);
            }
        }
        packer.push(index, record);
    }
    for (id, mut packer) in open {
        if let Some(closed) = packer.take(records, id) {
            planned.push(closed);
        }
    }
    planned
}

fn alone(index: usize, record: &UserRecord<'_>, shard_id: Option<&str>) -> KinesisRecord {
    KinesisRecord {
        shard_id: shard_id.map(str::to_owned),
        partition_key: record.partition_key.to_owned(),
        explicit_hash_key: None,
        data: record.data.to_vec(),
        members: vec![index],
    }
}

/// The user records of one aggregate in the making, and the size of the
/// protobuf body they make.
#[derive(Debug, Default)]
struct Packer {
    members: Vec<usize>,
    keys: HashMap<String, u64>,
    first_key_len: usize,
    body_len: usize,
}

impl Packer {
    /// Data plus partition key of the aggregate with `record` added.
    fn size_with(&self, record: &UserRecord<'_>) -> usize {
        let key_index = self.keys.get(record.partition_key).copied();
        let first_key_len = if self.members.is_empty() {
            record.partition_key.len()
        } else {
            self.first_key_len
        };
        let new_key = match key_index {
            Some(_) => 0,
            None => field_len(record.partition_key.len()),
        };
        let index = key_index.unwrap_or(self.keys.len() as u64);
        FRAME_LEN
            + self.body_len
            + new_key
            + field_len(record_len(index, record.data.len()))
            + first_key_len
    }

    fn push(&mut self, index: usize, record: &UserRecord<'_>) {
        if self.members.is_empty() {
            self.first_key_len = record.partition_key.len();
        }
        let next = self.keys.len() as u64;
        let key_index = match self.keys.get(record.partition_key) {
            Some(&known) => known,
            None => {
                self.keys.insert(record.partition_key.to_owned(), next);
                self.body_len += field_len(record.partition_key.len());
                next
            }
        };
        self.body_len += field_len(record_len(key_index, record.data.len()));
        self.members.push(index);
    }

    /// The Kinesis record of what was packed, and an empty packer left.
    fn take(&mut self, records: &[UserRecord<'_>], shard_id: &str) -> Option<KinesisRecord> {
        let members = std::mem::take(&mut self.members);
        *self = Self::default();
        match members.as_slice() {
            [] => None,
            &[only] => Some(alone(only, &records[only], Some(shard_id))),
            &[first, ..] => {
                let users: Vec<UserRecord<'_>> = members.iter().map(|&i| records[i]).collect();
                let first_key = records[first].partition_key;
                Some(KinesisRecord {
                    shard_id: Some(shard_id.to_owned()),
                    partition_key: first_key.to_owned(),
                    explicit_hash_key: Some(hash_key(first_key).to_string()),
                    data: encode(&users),
                    members,
                })
            }
        }
    }
}

/// The aggregated record of `records`: magic, `AggregatedRecord` (a
/// partition key table of the distinct keys in first-use order, then the
/// records, none with an explicit hash key or tags), MD5 of the body.
pub fn encode(records: &[UserRecord<'_>]) -> Vec<u8> {
    let mut keys: Vec<&str> = Vec::new();
    let mut index_of: HashMap<&str, u64> = HashMap::new();
    let mut body_records = Vec::new();
    for record in records {
        let index = *index_of.entry(record.partition_key).or_insert_with(|| {
            keys.push(record.partition_key);
            keys.len() as u64 - 1
        });
        let mut message = Vec::with_capacity(record_len(index, record.data.len()));
        varint_field(&mut message, 1, index);
        bytes_field(&mut message, 3, record.data);
        bytes_field(&mut body_records, 3, &message);
    }
    let mut body = Vec::new();
    for key in keys {
        bytes_field(&mut body, 1, key.as_bytes());
    }
    body.extend_from_slice(&body_records);
    let mut out = Vec::with_capacity(FRAME_LEN + body.len());
    out.extend_from_slice(&kinesis_deagg::MAGIC);
    out.extend_from_slice(&body);
    out.extend_from_slice(&Md5::digest(&body));
    out
}

/// Length of a `Record` message: its key index and data fields.
fn record_len(key_index: u64, data_len: usize) -> usize {
    1 + varint_len(key_index) + field_len(data_len)
}

/// Length of a length-delimited field of `len` bytes (fields 1 to 15 have
/// one-byte keys).
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn varint_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u8, value: u64) {
    out.push(field << 3);
    varint(out, value);
}

fn bytes_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push(field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shards::Shard;
    use kinesis_deagg::{deaggregate, Deaggregated};

    fn user<'a>(partition_key: &'a str, data: &'a [u8]) -> UserRecord<'a> {
        UserRecord {
            partition_key,
            data,
        }
    }

    /// (partition key, data) of each user record of an aggregate.
    fn decoded(data: &[u8]) -> Vec<(String, Vec<u8>)> {
        match deaggregate(data) {
            Deaggregated::Aggregated(records) => records
                .iter()
                .map(|r| {
                    assert_eq!(r.explicit_hash_key, None);
                    (r.partition_key.unwrap().to_owned(), r.data.to_vec())
                })
                .collect(),
            other => panic!("not an aggregate: {other:?}"),
        }
    }

    fn halves() -> ShardMap {
        let half = 1u128 << 127;
        ShardMap::new(vec![
            Shard {
                shard_id: "shardId-000000000000".into(),
                starting_hash_key: 0,
                ending_hash_key: half - 1,
            },
            Shard {
                shard_id: "shardId-000000000001".into(),
                starting_hash_key: half,
                ending_hash_key: u128::MAX,
            },
        ])
    }

    /// Keys, data and the user records over them.
    struct Input {
        keys: Vec<String>,
        data: Vec<Vec<u8>>,
    }

    impl Input {
        /// `n` records over `keys` keys, round robin, of varied sizes.
        fn new(n: usize, keys: usize) -> Self {
            let keys = (0..n).map(|i| format!("o-{}", i % keys)).collect();
            let data = (0..n)
                .map(|i| format!("{i}:{}", "x".repeat(i * 37 % 300)).into_bytes())
                .collect();
            Self { keys, data }
        }

        fn records(&self) -> Vec<UserRecord<'_>> {
            self.keys
                .iter()
                .zip(&self.data)
                .map(|(key, data)| user(key, data))
                .collect()
        }
    }

    #[test]
    fn an_aggregate_decodes_to_its_user_records_in_order() {
        let big = vec![7u8; 20_000];
        let records = [
            user("o-1", b"first"),
            user("o-2", b""),
            user("o-1", b"third"),
            user("u-\u{e9}", &big),
        ];
        let data = encode(&records);
        assert_eq!(data[..4], kinesis_deagg::MAGIC);
        let expected: Vec<(String, Vec<u8>)> = records
            .iter()
            .map(|r| (r.partition_key.to_owned(), r.data.to_vec()))
            .collect();
        assert_eq!(decoded(&data), expected);
        // Keys are tabled once each: "o-1" twice in the bytes would be a
        // second table entry.
        let o1 = data.windows(3).filter(|w| w == b"o-1").count();
        assert_eq!(o1, 1);
    }

    #[test]
    fn the_trailer_is_the_md5_of_the_body() {
        let data = encode(&[user("k", b"a"), user("k", b"b")]);
        let (head, digest) = data.split_at(data.len() - 16);
        assert_eq!(digest, Md5::digest(&head[4..]).as_slice());
        let mut broken = data.clone();
        broken[6] ^= 1;
        assert!(matches!(
            deaggregate(&broken),
            Deaggregated::Single {
                reason: Some(kinesis_deagg::PassThroughReason::ChecksumMismatch),
                ..
            }
        ));
    }

    #[test]
    fn the_size_counted_while_packing_is_the_size_encoded() {
        // Data lengths around the varint steps (127/128, 16383/16384).
        let sizes = [0, 1, 126, 127, 128, 300, 16_383, 16_384, 20_000];
        let keys: Vec<String> = (0..200).map(|i| format!("key-{}", i % 150)).collect();
        let blobs: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![b'z'; n]).collect();
        let records: Vec<UserRecord<'_>> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| user(key, &blobs[i % blobs.len()]))
            .collect();
        let mut packer = Packer::default();
        for (index, record) in records.iter().enumerate() {
            let predicted = packer.size_with(record);
            packer.push(index, record);
            let actual = encode(&records[..=index]).len() + records[0].partition_key.len();
            assert_eq!(predicted, actual, "after {} records", index + 1);
        }
    }

    #[test]
    fn aggregates_stay_within_the_byte_and_count_limits_and_are_full() {
        let input = Input::new(400, 30);
        let records = input.records();
        let map = halves();
        for limits in [
            Limits {
                max_bytes: 2_000,
                max_records: 1_000,
            },
            Limits {
                max_bytes: 51_200,
                max_records: 7,
            },
        ] {
            let planned = plan(&records, &map, limits);
            assert!(planned.len() < records.len() / 4, "{limits:?}");
            for (n, kinesis) in planned.iter().enumerate() {
                assert!(kinesis.size() <= limits.max_bytes, "{limits:?}");
                assert!(kinesis.members.len() <= limits.max_records, "{limits:?}");
                // Closed only when the shard's next user record would not
                // fit: that record starts the shard's next Kinesis record.
                let next = planned[n + 1..]
                    .iter()
                    .find(|later| later.shard_id == kinesis.shard_id);
                if let Some(next) = next {
                    let mut packer = Packer::default();
                    for &i in &kinesis.members {
                        packer.push(i, &records[i]);
                    }
                    let following = &records[next.members[0]];
                    assert!(
                        kinesis.members.len() == limits.max_records
                            || packer.size_with(following) > limits.max_bytes,
                        "{limits:?}: Kinesis record {n} closed early"
                    );
                }
            }
        }
    }

    #[test]
    fn every_user_record_goes_once_to_its_keys_shard_in_input_order() {
        let input = Input::new(500, 41);
        let records = input.records();
        let map = halves();
        let planned = plan(
            &records,
            &map,
            Limits {
                max_bytes: 3_000,
                max_records: 1_000,
            },
        );
        let mut seen = vec![0; records.len()];
        let mut per_shard: HashMap<&str, Vec<usize>> = HashMap::new();
        for kinesis in &planned {
            let shard = map.shard_of(&kinesis.partition_key).unwrap();
            assert_eq!(kinesis.shard_id.as_deref(), Some(shard.shard_id.as_str()));
            if kinesis.is_aggregate() {
                let hash: u128 = kinesis.explicit_hash_key.as_ref().unwrap().parse().unwrap();
                assert!((shard.starting_hash_key..=shard.ending_hash_key).contains(&hash));
                assert_eq!(
                    kinesis.partition_key,
                    records[kinesis.members[0]].partition_key
                );
                let expected: Vec<(String, Vec<u8>)> = kinesis
                    .members
                    .iter()
                    .map(|&i| {
                        (
                            records[i].partition_key.to_owned(),
                            records[i].data.to_vec(),
                        )
                    })
                    .collect();
                assert_eq!(decoded(&kinesis.data), expected);
            } else {
                assert_eq!(kinesis.members.len(), 1);
                assert_eq!(kinesis.data, records[kinesis.members[0]].data);
            }
            for &i in &kinesis.members {
                seen[i] += 1;
                assert_eq!(
                    map.shard_of(records[i].partition_key).unwrap().shard_id,
                    shard.shard_id,
                    "user record {i} on another key's shard"
                );
                per_shard.entry(&shard.shard_id).or_default().push(i);
            }
        }
        assert!(
            seen.iter().all(|&n| n == 1),
            "each user record exactly once"
        );
        assert_eq!(per_shard.len(), 2, "both shards used");
        for (shard, order) in per_shard {
            assert!(
                order.windows(2).all(|w| w[0] < w[1]),
                "{shard}: user records out of input order"
            );
        }
    }

    #[test]
    fn a_record_too_big_to_aggregate_goes_alone_after_the_open_aggregate() {
        let big = vec![b'b'; 5_000];
        // "a" and "c" hash to the lower half.
        let records = [
            user("a", b"1"),
            user("c", b"2"),
            user("a", &big),
            user("a", b"4"),
            user("c", b"5"),
        ];
        let map = halves();
        let planned = plan(
            &records,
            &map,
            Limits {
                max_bytes: 4_096,
                max_records: 100,
            },
        );
        let members: Vec<(&[usize], bool)> = planned
            .iter()
            .map(|k| (k.members.as_slice(), k.is_aggregate()))
            .collect();
        assert_eq!(
            members,
            [(&[0, 1][..], true), (&[2][..], false), (&[3, 4][..], true)]
        );
        assert_eq!(planned[1].data, big);
        assert_eq!(planned[1].partition_key, "a");
        assert_eq!(planned[1].explicit_hash_key, None);
    }

    #[test]
    fn a_lone_user_record_and_a_key_in_no_open_shard_are_sent_plain() {
        let upper_only = ShardMap::new(vec![Shard {
            shard_id: "upper".into(),
            starting_hash_key: 1u128 << 127,
            ending_hash_key: u128::MAX,
        }]);
        // "" hashes to the upper half, "a" to the lower, outside the map.
        let records = [user("", b"x"), user("a", b"y"), user("a", b"z")];
        let planned = plan(&records, &upper_only, Limits::default());
        let shape: Vec<(Option<&str>, &str, &[u8], bool)> = planned
            .iter()
            .map(|k| {
                (
                    k.shard_id.as_deref(),
                    k.partition_key.as_str(),
                    k.data.as_slice(),
                    k.is_aggregate(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (None, "a", &b"y"[..], false),
                (None, "a", &b"z"[..], false),
                (Some("upper"), "", &b"x"[..], false),
            ]
        );
    }
}
