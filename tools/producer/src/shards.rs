//! Which shard a partition key goes to, as Kinesis decides it: the MD5 of
//! the key's UTF-8 bytes, read as a 128-bit big-endian integer, falls in
//! one open shard's hash key range, both ends included. The ranges come
//! from `ListShards` (every page); closed shards (those with an
//! `EndingSequenceNumber`) take no more writes and are left out.

use std::future::Future;

use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::operation::list_shards::ListShardsOutput;
use md5::{Digest, Md5};
use stream_core::StreamRef;

/// One open shard and its hash key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub shard_id: String,
    pub starting_hash_key: u128,
    pub ending_hash_key: u128,
}

/// The open shards of a stream, by hash key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMap {
    /// Sorted by starting hash key.
    shards: Vec<Shard>,
}

/// The hash key Kinesis computes for a partition key.
pub fn hash_key(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

impl ShardMap {
    pub fn new(mut shards: Vec<Shard>) -> Self {
        shards.sort_by_key(|shard| shard.starting_hash_key);
        Self { shards }
    }

    /// The shard whose range holds `hash`; `None` where the open shards
    /// leave a gap (a map read in the middle of a resharding).
    pub fn shard_for(&self, hash: u128) -> Option<&Shard> {
        let after = self
            .shards
            .partition_point(|shard| shard.starting_hash_key <= hash);
        let shard = self.shards.get(after.checked_sub(1)?)?;
        (hash <= shard.ending_hash_key).then_some(shard)
    }

    /// The shard `partition_key` goes to.
    pub fn shard_of(&self, partition_key: &str) -> Option<&Shard> {
        self.shard_for(hash_key(partition_key))
    }

    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The open shards among `listed`, as `ListShards` describes them.
    pub fn open_of(listed: &[aws_sdk_kinesis::types::Shard]) -> Result<Vec<Shard>, String> {
        listed
            .iter()
            .filter(|shard| {
                shard
                    .sequence_number_range()
                    .is_none_or(|range| range.ending_sequence_number().is_none())
            })
            .map(|shard| {
                let id = shard.shard_id();
                let range = shard
                    .hash_key_range()
                    .ok_or_else(|| format!("shard {id} has no hash key range"))?;
                let parse = |text: &str| {
                    text.parse::<u128>()
                        .map_err(|err| format!("shard {id}: hash key `{text}`: {err}"))
                };
                Ok(Shard {
                    shard_id: id.to_owned(),
                    starting_hash_key: parse(range.starting_hash_key())?,
                    ending_hash_key: parse(range.ending_hash_key())?,
                })
            })
            .collect()
    }
}

/// The stream's open shards, from every `ListShards` page.
pub async fn list_open_shards(
    client: &aws_sdk_kinesis::Client,
    stream: &StreamRef,
) -> Result<ShardMap, String> {
    let (StreamRef::Name(shown) | StreamRef::Arn(shown)) = stream;
    let open = open_shards_of_pages(|token| {
        let request = match (token, stream) {
            // A page after the first is named by its token alone: Kinesis
            // refuses a stream name beside a token.
            (Some(token), _) => client.list_shards().next_token(token),
            (None, StreamRef::Name(name)) => client.list_shards().stream_name(name),
            (None, StreamRef::Arn(arn)) => client.list_shards().stream_arn(arn),
        };
        async move {
            request
                .send()
                .await
                .map_err(|err| format!("ListShards {shown}: {}", DisplayErrorContext(err)))
        }
    })
    .await?;
    if open.is_empty() {
        return Err(format!("stream {shown} has no open shard"));
    }
    Ok(ShardMap::new(open))
}

/// The open shards of every page `page(token)` gives, from the first
/// (no token) until a page comes without a next token.
async fn open_shards_of_pages<F, Fut>(mut page: F) -> Result<Vec<Shard>, String>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<ListShardsOutput, String>>,
{
    let mut open = Vec::new();
    let mut token = None;
    loop {
        let listed = page(token).await?;
        open.extend(ShardMap::open_of(listed.shards())?);
        match listed.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return Ok(open),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kinesis::types::{HashKeyRange, SequenceNumberRange};

    fn shard(id: &str, start: u128, end: u128) -> Shard {
        Shard {
            shard_id: id.into(),
            starting_hash_key: start,
            ending_hash_key: end,
        }
    }

    /// Two shards splitting the hash key space in half, as CreateStream
    /// splits it.
    fn halves() -> ShardMap {
        let half = 1u128 << 127;
        ShardMap::new(vec![
            shard("shardId-000000000001", half, u128::MAX),
            shard("shardId-000000000000", 0, half - 1),
        ])
    }

    fn id(shard: Option<&Shard>) -> Option<&str> {
        shard.map(|s| s.shard_id.as_str())
    }

    #[test]
    fn the_hash_key_is_the_md5_of_the_key_big_endian() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e.
        assert_eq!(hash_key(""), 0xd41d8cd98f00b204e9800998ecf8427e);
        // MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
        assert_eq!(hash_key("a"), 0x0cc175b9c0f1b6a831c399e269772661);
    }

    #[test]
    fn both_ends_of_a_range_belong_to_its_shard() {
        let map = halves();
        let half = 1u128 << 127;
        for (hash, expected) in [
            (0, "shardId-000000000000"),
            (half - 1, "shardId-000000000000"),
            (half, "shardId-000000000001"),
            (u128::MAX, "shardId-000000000001"),
        ] {
            assert_eq!(id(map.shard_for(hash)), Some(expected), "{hash}");
        }
        // "a" hashes low, "" high.
        assert_eq!(id(map.shard_of("a")), Some("shardId-000000000000"));
        assert_eq!(id(map.shard_of("")), Some("shardId-000000000001"));
    }

    #[test]
    fn a_gap_between_open_shards_maps_to_none() {
        let map = ShardMap::new(vec![shard("a", 0, 99), shard("b", 200, u128::MAX)]);
        assert_eq!(id(map.shard_for(99)), Some("a"));
        assert_eq!(id(map.shard_for(100)), None);
        assert_eq!(id(map.shard_for(199)), None);
        assert_eq!(id(map.shard_for(200)), Some("b"));
        let high = ShardMap::new(vec![shard("c", 10, 20)]);
        assert_eq!(id(high.shard_for(9)), None);
        assert_eq!(id(high.shard_for(21)), None);
    }

    fn listed(id: &str, start: &str, end: &str, closed: bool) -> aws_sdk_kinesis::types::Shard {
        let mut range = SequenceNumberRange::builder().starting_sequence_number("1");
        if closed {
            range = range.ending_sequence_number("9");
        }
        aws_sdk_kinesis::types::Shard::builder()
            .shard_id(id)
            .hash_key_range(
                HashKeyRange::builder()
                    .starting_hash_key(start)
                    .ending_hash_key(end)
                    .build()
                    .unwrap(),
            )
            .sequence_number_range(range.build().unwrap())
            .build()
            .unwrap()
    }

    #[test]
    fn closed_shards_are_left_out_and_full_range_keys_parse() {
        let max = u128::MAX.to_string();
        let open = ShardMap::open_of(&[
            listed("parent", "0", &max, true),
            listed("low", "0", "170141183460469231731687303715884105727", false),
            listed(
                "high",
                "170141183460469231731687303715884105728",
                &max,
                false,
            ),
        ])
        .unwrap();
        assert_eq!(
            open,
            [
                shard("low", 0, (1u128 << 127) - 1),
                shard("high", 1u128 << 127, u128::MAX)
            ]
        );
        let bad = ShardMap::open_of(&[listed("x", "0", "2e38", false)]).unwrap_err();
        assert!(bad.contains("hash key `2e38`"), "{bad}");
    }

    #[tokio::test]
    async fn every_page_is_read_each_with_the_token_of_the_one_before() {
        let at = |quarters: u128| (quarters << 126).to_string();
        let before = |quarters: u128| ((quarters << 126) - 1).to_string();
        let max = u128::MAX.to_string();
        let pages = [
            (
                vec![
                    listed("parent", "0", &max, true),
                    listed("s1", "0", &before(1), false),
                ],
                Some("t1"),
            ),
            (vec![listed("s2", &at(1), &before(2), false)], Some("t2")),
            (vec![listed("s3", &at(2), &max, false)], None),
        ];
        let mut tokens = Vec::new();
        let open = open_shards_of_pages(|token| {
            tokens.push(token);
            let (shards, next) = &pages[tokens.len() - 1];
            let page = ListShardsOutput::builder()
                .set_shards(Some(shards.clone()))
                .set_next_token(next.map(str::to_owned))
                .build();
            async move { Ok(page) }
        })
        .await
        .unwrap();
        assert_eq!(tokens, [None, Some("t1".to_owned()), Some("t2".to_owned())]);
        let ids: Vec<&str> = open.iter().map(|s| s.shard_id.as_str()).collect();
        assert_eq!(ids, ["s1", "s2", "s3"]);

        let failing = open_shards_of_pages(|token| async move {
            match token {
                None => Ok(ListShardsOutput::builder()
                    .shards(listed("s1", "0", "1", false))
                    .next_token("t1")
                    .build()),
                Some(_) => Err("ListShards s: throttled".to_owned()),
            }
        })
        .await;
        assert_eq!(failing, Err("ListShards s: throttled".to_owned()));
    }
}
