//! Listing the queue, and re-publishing chosen dead letters' bytes to their
//! stream.
//!
//! The bytes go back unchanged, so a redriven record keeps its `eventId`
//! (or, without one, the hash of its data that the functions then use as
//! its deduplication key): whatever the functions had already applied is
//! not applied again. A message is deleted only after its record landed,
//! and every message the run did not delete is made visible again.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use sha2::{Digest, Sha256};
use stream_core::StreamRef;

use crate::letter::{compare_sequence_numbers, parse, DeadLetter, Message};
use crate::queue::{Queue, Received};
use crate::select::Selection;
use crate::streams::{
    CallError, Entry, EntryResult, Streams, MAX_BYTES_PER_CALL, MAX_ENTRIES_PER_CALL,
};

/// Attempts at a `PutRecords` round that keeps failing.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Rounds in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RedriveOptions {
    pub selection: Selection,
    /// Publish to this stream instead of the one in each letter's
    /// `eventSourceArn`.
    pub stream: Option<StreamRef>,
    pub dry_run: bool,
    pub retry: Retry,
}

/// What became of one chosen message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The record landed; `deleted` says whether its message left the queue.
    Published {
        stream: String,
        shard_id: String,
        sequence_number: String,
        deleted: Result<(), String>,
    },
    /// Dry run: would be published.
    WouldPublish { stream: String, bytes: usize },
    /// The same record as the chosen message at `of` (same `deadLetterId`,
    /// or same origin and bytes): published once, with it. `deleted` is
    /// `None` while that one was not published.
    Duplicate {
        of: usize,
        deleted: Option<Result<(), String>>,
    },
    /// A letter without data (too large for a message): its record must be
    /// re-read from the stream. Left in the queue.
    NeedsReread,
    /// Lambda's on-failure record: its batch must be re-read from the
    /// stream. Left in the queue.
    BatchNeedsReread,
    /// Cannot be redriven as it is; left in the queue.
    Refused(String),
    /// Publishing failed; left in the queue.
    NotPublished(String),
}

/// One chosen message and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    /// Position among the messages read, which `Duplicate::of` refers to.
    pub index: usize,
    pub message_id: String,
    pub message: Message,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedriveReport {
    /// Messages read from the queue.
    pub read: usize,
    pub chosen: Vec<Chosen>,
    /// `PutRecords` calls made.
    pub calls: u32,
    /// Messages that could not be made visible again (they reappear when
    /// their visibility timeout ends).
    pub release_failures: Vec<(String, String)>,
}

impl RedriveReport {
    pub fn count(&self, what: impl Fn(&Outcome) -> bool) -> usize {
        self.chosen.iter().filter(|c| what(&c.outcome)).count()
    }

    pub fn published(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Published { .. }))
    }

    /// True when something chosen should have been redriven and was not,
    /// or a redriven message is still in the queue.
    pub fn has_failures(&self) -> bool {
        self.chosen.iter().any(|c| match &c.outcome {
            Outcome::Published { deleted, .. } => deleted.is_err(),
            Outcome::Duplicate {
                deleted: Some(deleted),
                ..
            } => deleted.is_err(),
            Outcome::NotPublished(_) => true,
            _ => false,
        })
    }
}

/// Reads every message, then makes them all visible again.
pub async fn list<Q: Queue>(
    queue: &Q,
) -> anyhow::Result<(Vec<(Received, Message)>, Vec<(String, String)>)> {
    let received = queue.receive_all().await?;
    let all: Vec<&Received> = received.iter().collect();
    let results = queue.release(&all).await;
    let failures = release_failures(&all, results);
    let parsed = received
        .into_iter()
        .map(|r| {
            let message = parse(&r.body);
            (r, message)
        })
        .collect();
    Ok((parsed, failures))
}

fn release_failures(
    messages: &[&Received],
    results: Vec<Result<(), String>>,
) -> Vec<(String, String)> {
    messages
        .iter()
        .zip(results)
        .filter_map(|(m, r)| r.err().map(|why| (m.message_id.clone(), why)))
        .collect()
}

/// A letter to publish.
struct Candidate {
    /// Into `RedriveReport::chosen`.
    chosen: usize,
    stream: StreamRef,
    data: Vec<u8>,
    partition_key: String,
    /// Chosen messages that are the same record.
    duplicates: Vec<usize>,
}

/// Re-publishes the chosen letters.
pub async fn redrive<Q: Queue, S: Streams>(
    queue: &Q,
    streams: &S,
    options: &RedriveOptions,
) -> anyhow::Result<RedriveReport> {
    anyhow::ensure!(
        !options.selection.is_empty(),
        "no letters chosen: pass --function, --reason-contains, --sequence-number or --all"
    );
    let received = queue.receive_all().await?;
    let mut choice = Choice::of(&received, options);
    if options.dry_run {
        for candidate in &choice.candidates {
            choice.report.chosen[candidate.chosen].outcome = Outcome::WouldPublish {
                stream: stream_label(&candidate.stream),
                bytes: candidate.data.len(),
            };
        }
    } else {
        for (stream, list) in choice.by_stream() {
            publish_stream(
                queue,
                streams,
                options.retry,
                &stream,
                &list,
                &received,
                &mut choice,
            )
            .await;
        }
    }
    release_the_rest(queue, &received, &mut choice).await;
    Ok(choice.report)
}

/// The chosen messages, what to publish for them, and the report so far.
struct Choice {
    report: RedriveReport,
    /// Which received message each chosen one is.
    origin: Vec<usize>,
    candidates: Vec<Candidate>,
    /// deduplication key -> candidate
    seen: HashMap<String, usize>,
}

impl Choice {
    /// Chooses among `received` as `options` say.
    fn of(received: &[Received], options: &RedriveOptions) -> Self {
        let mut choice = Self {
            report: RedriveReport {
                read: received.len(),
                ..RedriveReport::default()
            },
            origin: Vec::new(),
            candidates: Vec::new(),
            seen: HashMap::new(),
        };
        for (position, message) in received.iter().enumerate() {
            let parsed = parse(&message.body);
            if !options.selection.matches(&parsed) {
                continue;
            }
            let index = choice.report.chosen.len();
            let outcome = match &parsed {
                Message::Unreadable(why) => Outcome::Refused(format!("unreadable: {why}")),
                Message::OnFailure(_) => Outcome::BatchNeedsReread,
                Message::Letter(letter) => match plan(letter, options.stream.as_ref()) {
                    Err(outcome) => outcome,
                    Ok(planned) => choice.candidate(index, letter, planned),
                },
            };
            choice.report.chosen.push(Chosen {
                index,
                message_id: message.message_id.clone(),
                message: parsed,
                outcome,
            });
            choice.origin.push(position);
        }
        choice
    }

    /// The `index`-th chosen letter, planned: a new candidate, a duplicate
    /// of one, or refused for carrying other data under the same id.
    fn candidate(
        &mut self,
        index: usize,
        letter: &DeadLetter,
        (stream, data, partition_key): (StreamRef, Vec<u8>, String),
    ) -> Outcome {
        let keys = dedup_keys(letter, &stream, &data);
        match keys.iter().find_map(|k| self.seen.get(k).copied()) {
            Some(c) if self.candidates[c].data == data => {
                self.candidates[c].duplicates.push(index);
                Outcome::Duplicate {
                    of: self.candidates[c].chosen,
                    deleted: None,
                }
            }
            Some(c) => Outcome::Refused(format!(
                "same deadLetterId as message {} but different data",
                self.report
                    .chosen
                    .get(self.candidates[c].chosen)
                    .map_or("?", |o| o.message_id.as_str())
            )),
            None => {
                for key in keys {
                    self.seen.insert(key, self.candidates.len());
                }
                self.candidates.push(Candidate {
                    chosen: index,
                    stream,
                    data,
                    partition_key,
                    duplicates: Vec::new(),
                });
                Outcome::NotPublished("not attempted".to_owned())
            }
        }
    }

    /// The candidates per stream, in stream order, so the records of one
    /// partition key land in the order they were first written.
    fn by_stream(&self) -> Vec<(StreamRef, Vec<usize>)> {
        let candidates = &self.candidates;
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| {
            let (ca, cb) = (&candidates[a], &candidates[b]);
            stream_label(&ca.stream)
                .cmp(&stream_label(&cb.stream))
                .then_with(|| {
                    stream_position(&self.report.chosen[ca.chosen].message)
                        .cmp_position(&stream_position(&self.report.chosen[cb.chosen].message))
                })
        });
        let mut by_stream: Vec<(StreamRef, Vec<usize>)> = Vec::new();
        for c in order {
            match by_stream.last_mut() {
                Some((stream, list)) if *stream == candidates[c].stream => list.push(c),
                _ => by_stream.push((candidates[c].stream.clone(), vec![c])),
            }
        }
        by_stream
    }
}

/// Makes everything not deleted visible again for the next reader.
async fn release_the_rest<Q: Queue>(queue: &Q, received: &[Received], choice: &mut Choice) {
    let mut deleted = vec![false; received.len()];
    for chosen in &choice.report.chosen {
        let gone = match &chosen.outcome {
            Outcome::Published { deleted, .. } => deleted.is_ok(),
            Outcome::Duplicate {
                deleted: Some(deleted),
                ..
            } => deleted.is_ok(),
            _ => false,
        };
        if gone {
            deleted[choice.origin[chosen.index]] = true;
        }
    }
    let remaining: Vec<&Received> = received
        .iter()
        .zip(&deleted)
        .filter(|(_, gone)| !**gone)
        .map(|(r, _)| r)
        .collect();
    if !remaining.is_empty() {
        let results = queue.release(&remaining).await;
        choice.report.release_failures = release_failures(&remaining, results);
    }
}

/// Where and what to publish, or why not.
fn plan(
    letter: &DeadLetter,
    stream: Option<&StreamRef>,
) -> Result<(StreamRef, Vec<u8>, String), Outcome> {
    let data = match letter.decoded_data() {
        Err(why) => return Err(Outcome::Refused(why)),
        Ok(None) => return Err(Outcome::NeedsReread),
        Ok(Some(data)) => data,
    };
    let partition_key = match letter.partition_key.as_deref() {
        Some(key) if !key.is_empty() && key.len() <= 256 => key.to_owned(),
        Some(_) => {
            return Err(Outcome::Refused(
                "partitionKey is empty or longer than 256".to_owned(),
            ))
        }
        None => return Err(Outcome::Refused("no partitionKey".to_owned())),
    };
    let stream = match stream {
        Some(stream) => stream.clone(),
        None => {
            let name = letter
                .event_source_arn
                .as_deref()
                .and_then(stream_core::record::stream_name_from_arn)
                .filter(|name| !name.is_empty())
                .ok_or_else(|| {
                    Outcome::Refused("eventSourceArn names no stream: pass --stream".to_owned())
                })?;
            StreamRef::parse("eventSourceArn", name).map_err(|e| Outcome::Refused(e.to_string()))?
        }
    };
    Ok((stream, data, partition_key))
}

/// Keys that say two letters are the same record: its `deadLetterId`, and
/// its origin with its bytes.
fn dedup_keys(letter: &DeadLetter, stream: &StreamRef, data: &[u8]) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(id) = letter.dead_letter_id.as_deref().filter(|id| !id.is_empty()) {
        keys.push(format!("id\u{0}{id}"));
    }
    if let (Some(source), Some(sequence)) = (
        letter.event_source_arn.as_deref(),
        letter.sequence_number.as_deref(),
    ) {
        keys.push(format!(
            "record\u{0}{}\u{0}{source}\u{0}{sequence}\u{0}{}\u{0}{}",
            stream_label(stream),
            letter
                .sub_sequence_number
                .map_or(String::new(), |s| s.to_string()),
            hex::encode(Sha256::digest(data))
        ));
    }
    keys
}

pub fn stream_label(stream: &StreamRef) -> String {
    match stream {
        StreamRef::Name(name) | StreamRef::Arn(name) => name.clone(),
    }
}

/// Where a letter's record was in its stream.
struct Position<'a> {
    source: Option<&'a str>,
    shard: Option<&'a str>,
    sequence: Option<&'a str>,
    sub: Option<u64>,
}

fn stream_position(message: &Message) -> Position<'_> {
    match message {
        Message::Letter(letter) => Position {
            source: letter.event_source_arn.as_deref(),
            shard: letter.shard(),
            sequence: letter.sequence_number.as_deref(),
            sub: letter.sub_sequence_number,
        },
        _ => Position {
            source: None,
            shard: None,
            sequence: None,
            sub: None,
        },
    }
}

impl Position<'_> {
    /// Letters with a position first, in stream order; the rest keep the
    /// queue's order (the sort is stable).
    fn cmp_position(&self, other: &Self) -> Ordering {
        match (self.sequence, other.sequence) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => self
                .source
                .cmp(&other.source)
                .then_with(|| self.shard.cmp(&other.shard))
                .then_with(|| compare_sequence_numbers(a, b))
                .then_with(|| self.sub.cmp(&other.sub)),
        }
    }
}

/// Publishes one stream's candidates (`list`, in order): each call carries
/// at most one record per partition key, so a failed entry is re-sent
/// before anything after it of the same key, and a key whose record keeps
/// failing holds its later records back.
async fn publish_stream<Q: Queue, S: Streams>(
    queue: &Q,
    streams: &S,
    retry: Retry,
    stream: &StreamRef,
    list: &[usize],
    received: &[Received],
    choice: &mut Choice,
) {
    let Choice {
        report,
        origin,
        candidates,
        ..
    } = choice;
    let mut queues = KeyQueues::new(list, candidates);
    let mut failures_in_a_row = 0u32;
    loop {
        let batch = queues.next_call(candidates);
        if batch.is_empty() {
            return;
        }
        report.calls += 1;
        let call = put_call(streams, stream, &batch, candidates).await;
        for (c, _, _) in &call.landed {
            queues.landed(&candidates[*c]);
        }
        if !call.landed.is_empty() {
            record_landed(
                queue,
                stream,
                &call.landed,
                candidates,
                received,
                origin,
                report,
            )
            .await;
        }
        let Some(error) = call.error else {
            failures_in_a_row = 0;
            continue;
        };
        failures_in_a_row += 1;
        if call.permanent || failures_in_a_row >= retry.max_attempts {
            for &c in queues.waiting() {
                report.chosen[candidates[c].chosen].outcome = Outcome::NotPublished(error.clone());
            }
            return;
        }
        let cap = retry
            .base_delay
            .saturating_mul(1u32 << failures_in_a_row.min(16))
            .min(retry.max_delay);
        let delay = rand::Rng::random_range(&mut rand::rng(), cap / 2..=cap);
        tokio::time::sleep(delay).await;
    }
}

/// The candidates still to publish, one queue per partition key, keys in
/// the order first seen.
struct KeyQueues<'a> {
    order: Vec<&'a str>,
    pending: HashMap<&'a str, VecDeque<usize>>,
}

impl<'a> KeyQueues<'a> {
    fn new(list: &[usize], candidates: &'a [Candidate]) -> Self {
        let mut queues = Self {
            order: Vec::new(),
            pending: HashMap::new(),
        };
        for &c in list {
            let key = candidates[c].partition_key.as_str();
            queues
                .pending
                .entry(key)
                .or_insert_with(|| {
                    queues.order.push(key);
                    VecDeque::new()
                })
                .push_back(c);
        }
        queues
    }

    /// The next call's candidates: the front of each key's queue, within
    /// `PutRecords`' limits; none when everything is published.
    fn next_call(&mut self, candidates: &[Candidate]) -> Vec<usize> {
        let pending = &self.pending;
        self.order
            .retain(|k| pending.get(k).is_some_and(|q| !q.is_empty()));
        let mut batch: Vec<usize> = Vec::new();
        let mut bytes = 0usize;
        for key in &self.order {
            let Some(&c) = self.pending.get(key).and_then(|q| q.front()) else {
                continue;
            };
            let size = candidates[c].data.len() + candidates[c].partition_key.len();
            if batch.len() == MAX_ENTRIES_PER_CALL
                || (!batch.is_empty() && bytes + size > MAX_BYTES_PER_CALL)
            {
                break;
            }
            bytes += size;
            batch.push(c);
        }
        batch
    }

    fn landed(&mut self, candidate: &Candidate) {
        if let Some(queue) = self.pending.get_mut(candidate.partition_key.as_str()) {
            queue.pop_front();
        }
    }

    /// Every candidate not published yet.
    fn waiting(&self) -> impl Iterator<Item = &usize> {
        self.pending.values().flatten()
    }
}

/// What one `PutRecords` call came to.
struct PutCall {
    /// (candidate, shard, sequence number) of each record that landed.
    landed: Vec<(usize, String, String)>,
    /// The last failure, if anything failed.
    error: Option<String>,
    /// The call itself failed for good.
    permanent: bool,
}

async fn put_call<S: Streams>(
    streams: &S,
    stream: &StreamRef,
    batch: &[usize],
    candidates: &[Candidate],
) -> PutCall {
    let entries: Vec<Entry<'_>> = batch
        .iter()
        .map(|&c| Entry {
            data: &candidates[c].data,
            partition_key: &candidates[c].partition_key,
        })
        .collect();
    let mut call = PutCall {
        landed: Vec::new(),
        error: None,
        permanent: false,
    };
    match streams.put_records(stream, &entries).await {
        Err(CallError { message, transient }) => {
            call.permanent = !transient;
            call.error = Some(message);
        }
        Ok(results) if results.len() != batch.len() => {
            call.error = Some(format!(
                "PutRecords answered {} entries for {}",
                results.len(),
                batch.len()
            ));
        }
        Ok(results) => {
            for (&c, result) in batch.iter().zip(results) {
                match result {
                    EntryResult::Ok {
                        shard_id,
                        sequence_number,
                    } => call.landed.push((c, shard_id, sequence_number)),
                    EntryResult::Failed { code, message } => {
                        call.error = Some(format!("{code}: {message}"));
                    }
                }
            }
        }
    }
    call
}

/// Deletes the messages of records that landed (and of their duplicates),
/// and notes what became of each.
async fn record_landed<Q: Queue>(
    queue: &Q,
    stream: &StreamRef,
    landed: &[(usize, String, String)],
    candidates: &[Candidate],
    received: &[Received],
    origin: &[usize],
    report: &mut RedriveReport,
) {
    // Chosen indexes whose messages go: each landed record's and its duplicates'.
    let mut doomed: Vec<usize> = Vec::new();
    for (c, _, _) in landed {
        doomed.push(candidates[*c].chosen);
        doomed.extend(&candidates[*c].duplicates);
    }
    let messages: Vec<&Received> = doomed.iter().map(|&i| &received[origin[i]]).collect();
    let results = queue.delete(&messages).await;
    let mut results: HashMap<usize, Result<(), String>> = doomed.into_iter().zip(results).collect();
    let mut take = |i: usize| {
        results
            .remove(&i)
            .unwrap_or_else(|| Err("no answer to the delete".to_owned()))
    };
    for (c, shard_id, sequence_number) in landed {
        let candidate = &candidates[*c];
        report.chosen[candidate.chosen].outcome = Outcome::Published {
            stream: stream_label(stream),
            shard_id: shard_id.clone(),
            sequence_number: sequence_number.clone(),
            deleted: take(candidate.chosen),
        };
        for &d in &candidate.duplicates {
            report.chosen[d].outcome = Outcome::Duplicate {
                of: candidate.chosen,
                deleted: Some(take(d)),
            };
        }
    }
}

#[cfg(test)]
mod tests;
