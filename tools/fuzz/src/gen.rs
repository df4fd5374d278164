//! Structured generation: envelopes of every event and command type, KPL
//! aggregates (with a correct digest, so mutations reach the protobuf
//! decoder), and whole Lambda `KinesisEvent`s.
//!
//! Identifiers come from small pools so that one batch often holds several
//! events of one order: that is what exercises per-key ordering, the
//! functions' state (reservations, sagas, sent emails) and duplicates.

use base64::Engine as _;
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use crate::mutate::{self, Raw};
use crate::rng::Rng;

/// The products the in-memory stock stores are seeded with.
pub const PRODUCTS: &[&str] = &["p-1", "p-2", "p-3", "p-4", "p-5"];
const ORDERS: &[&str] = &["o-1", "o-2", "o-3", "o-4", "o-5", "o-6"];
const USERS: &[&str] = &["u-1", "u-2", "u-3", "u-4"];
const REASONS: &[&str] = &[
    "OUT_OF_STOCK",
    "UNKNOWN_PRODUCT",
    "RESERVATION_RELEASED",
    "PAYMENT_DECLINED",
    "SHIPPING_FAILED",
    "ORDER_CANCELLED",
    "TIMED_OUT",
    "OTHER",
    "card declined",
];

/// A kind the contract names, by its wire name.
fn any_kind(rng: &mut Rng) -> &'static str {
    rng.pick(order_events::EventKind::ALL).as_str()
}

fn id(rng: &mut Rng, pool: &[&str]) -> Value {
    if rng.chance(1, 24) {
        Value::String(mutate::hostile_string(rng))
    } else {
        Value::String((*rng.pick(pool)).to_owned())
    }
}

fn money(rng: &mut Rng, raw: &mut Raw) -> Value {
    let text = match rng.below(8) {
        0 => mutate::extreme_number(rng),
        1 => format!("{}", rng.below(1000)),
        _ => format!("{}.{:02}", rng.below(500), rng.below(100)),
    };
    if rng.chance(1, 2) {
        Value::String(text)
    } else {
        raw.value(text)
    }
}

fn quantity(rng: &mut Rng, raw: &mut Raw) -> Value {
    if rng.chance(1, 16) {
        raw.value(mutate::extreme_number(rng))
    } else {
        json!(rng.range(1, 4))
    }
}

fn items(rng: &mut Rng, raw: &mut Raw, allow_empty: bool) -> Value {
    let count = match rng.below(20) {
        0 if allow_empty => 0,
        0 => 1,
        1 => rng.range(49, 53),
        _ => rng.range(1, 3),
    };
    let lines: Vec<Value> = (0..count)
        .map(|i| {
            let product = if count > 5 {
                Value::String(format!("p-{i}"))
            } else if rng.chance(1, 12) {
                Value::String("p-404".into())
            } else {
                id(rng, PRODUCTS)
            };
            let mut line = Map::new();
            line.insert("productId".into(), product);
            line.insert("quantity".into(), quantity(rng, raw));
            if rng.chance(1, 2) {
                line.insert("price".into(), money(rng, raw));
            }
            Value::Object(line)
        })
        .collect();
    Value::Array(lines)
}

fn email(rng: &mut Rng) -> Value {
    if rng.chance(1, 6) {
        Value::String(mutate::hostile_email(rng))
    } else {
        Value::String(format!(
            "{}@example.com",
            rng.pick(&["ada", "grace", "alan"])
        ))
    }
}

/// A payload of `kind`, mostly valid, for `order`.
// Long: one arm per event kind, each its payload's fields.
pub fn payload(kind: &str, order: &str, rng: &mut Rng, raw: &mut Raw) -> Value {
    let mut p = Map::new();
    let order = if rng.chance(1, 24) {
        Value::String(mutate::hostile_string(rng))
    } else {
        Value::String(order.to_owned())
    };
    let saga = if rng.chance(1, 12) {
        id(rng, ORDERS)
    } else {
        order.clone()
    };
    let maybe = |rng: &mut Rng| rng.chance(1, 2);
    match kind {
        "USER_REGISTERED" => {
            p.insert("userId".into(), id(rng, USERS));
            p.insert("email".into(), email(rng));
            if maybe(rng) {
                p.insert("registrationDate".into(), json!(mutate::timestamp(rng)));
            }
            if maybe(rng) {
                let name = if rng.chance(1, 2) {
                    "Grace Hopper".to_owned()
                } else {
                    mutate::hostile_string(rng)
                };
                p.insert("name".into(), json!(name));
            }
        }
        "ORDER_CREATED" | "ORDER_PLACED" => {
            p.insert("orderId".into(), order);
            p.insert("userId".into(), id(rng, USERS));
            p.insert("items".into(), items(rng, raw, false));
            if kind == "ORDER_CREATED" {
                p.insert("status".into(), json!("PENDING"));
            }
            if maybe(rng) {
                p.insert("total".into(), money(rng, raw));
            }
            if maybe(rng) {
                p.insert("email".into(), email(rng));
            }
        }
        "ORDER_CANCELLED" => {
            p.insert("orderId".into(), order);
            if maybe(rng) {
                p.insert("userId".into(), id(rng, USERS));
            }
            if maybe(rng) {
                p.insert("reason".into(), json!(rng.pick(REASONS)));
            }
        }
        "INVENTORY_RESERVED" | "SHIP_ORDER" => {
            p.insert("orderId".into(), order);
            p.insert("sagaId".into(), saga);
            p.insert("items".into(), items(rng, raw, false));
            if kind == "SHIP_ORDER" {
                p.insert("userId".into(), id(rng, USERS));
            }
        }
        "INVENTORY_RESERVATION_FAILED" => {
            p.insert("orderId".into(), order);
            p.insert("sagaId".into(), saga);
            p.insert("reason".into(), json!(rng.pick(REASONS)));
            if maybe(rng) {
                p.insert("productId".into(), id(rng, PRODUCTS));
            }
        }
        "INVENTORY_RELEASED" => {
            p.insert("orderId".into(), order);
            if maybe(rng) {
                p.insert("sagaId".into(), saga);
            }
            p.insert("items".into(), items(rng, raw, true));
        }
        "ORDER_COMPLETED" | "ORDER_FAILED" => {
            p.insert("orderId".into(), order);
            p.insert("sagaId".into(), saga);
            if kind == "ORDER_FAILED" {
                let reason = if rng.chance(1, 4) {
                    mutate::hostile_string(rng)
                } else {
                    (*rng.pick(REASONS)).to_owned()
                };
                p.insert("reason".into(), json!(reason));
            }
            if maybe(rng) {
                p.insert("userId".into(), id(rng, USERS));
            }
            if maybe(rng) {
                p.insert("email".into(), email(rng));
            }
        }
        "RESERVE_INVENTORY" => {
            p.insert("orderId".into(), order);
            if maybe(rng) {
                p.insert("sagaId".into(), saga);
            }
            p.insert("items".into(), items(rng, raw, false));
            if maybe(rng) {
                p.insert("userId".into(), id(rng, USERS));
            }
        }
        "RELEASE_INVENTORY" => {
            p.insert("orderId".into(), order);
            if maybe(rng) {
                p.insert("sagaId".into(), saga);
            }
        }
        "PROCESS_PAYMENT" | "REFUND_PAYMENT" => {
            p.insert("orderId".into(), order);
            p.insert("sagaId".into(), saga);
            if kind == "PROCESS_PAYMENT" {
                p.insert("userId".into(), id(rng, USERS));
                p.insert("total".into(), money(rng, raw));
            } else if maybe(rng) {
                p.insert("total".into(), money(rng, raw));
            }
        }
        // Participant replies and unknown types.
        _ => {
            p.insert("orderId".into(), order);
            p.insert("sagaId".into(), saga);
            if maybe(rng) {
                p.insert("reason".into(), json!(rng.pick(REASONS)));
            }
        }
    }
    Value::Object(p)
}

/// One record's data: an envelope (or the CQRS command shape) of `kind`.
pub fn envelope_of(kind: &str, order: &str, rng: &mut Rng) -> Vec<u8> {
    let mut raw = Raw::default();
    let payload = payload(kind, order, rng, &mut raw);
    let command = matches!(
        kind,
        "RESERVE_INVENTORY"
            | "RELEASE_INVENTORY"
            | "PROCESS_PAYMENT"
            | "REFUND_PAYMENT"
            | "SHIP_ORDER"
    );
    let mut doc = if command && rng.chance(1, 4) {
        let Value::Object(mut map) = payload else {
            unreachable!("payloads are objects")
        };
        map.insert("commandType".into(), json!(kind));
        map
    } else {
        let mut map = Map::new();
        map.insert("eventType".into(), json!(kind));
        map.insert("payload".into(), payload);
        map
    };
    if rng.chance(4, 5) {
        let event_id = if rng.chance(1, 10) {
            mutate::hostile_string(rng)
        } else {
            format!("evt-{}", rng.below(40))
        };
        doc.insert("eventId".into(), json!(event_id));
    }
    if rng.chance(4, 5) {
        doc.insert("timestamp".into(), json!(mutate::timestamp(rng)));
    }
    if rng.chance(1, 10) {
        doc.insert("schemaVersion".into(), json!(3));
    }
    let mut value = Value::Object(doc);
    if rng.chance(1, 4) {
        for _ in 0..rng.range(1, 3) {
            mutate::mutate_json(&mut value, rng, &mut raw);
        }
    }
    raw.render(&value, rng.chance(1, 10))
}

/// One record's data, of any kind (sometimes an unknown one).
pub fn envelope(rng: &mut Rng) -> Vec<u8> {
    let kind = if rng.chance(1, 20) {
        mutate::kind_name(rng)
    } else {
        any_kind(rng)
    };
    let order = *rng.pick(ORDERS);
    envelope_of(kind, order, rng)
}

/// Data that is not an envelope at all.
pub fn junk(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => Vec::new(),
        1 => b"[]".to_vec(),
        2 => b"null".to_vec(),
        3 => b"{}".to_vec(),
        4 => kinesis_deagg::MAGIC.to_vec(),
        5 => b"\x00\xffnot json at all".to_vec(),
        6 => b"{\"eventType\":\"ORDER_PLACED\",\"payload\":[]}".to_vec(),
        7 => b"  \t{\"commandType\":\"RELEASE_INVENTORY\",\"orderId\":\"o-1\"}".to_vec(),
        8 => {
            let mut v = kinesis_deagg::MAGIC.to_vec();
            v.extend((0..rng.small(64)).map(|_| rng.byte()));
            v
        }
        _ => (0..rng.small(200)).map(|_| rng.byte()).collect(),
    }
}

// ------------------------------------------------------------------ KPL

/// A user record to aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn field_varint(out: &mut Vec<u8>, field: u64, value: u64) {
    varint(out, field << 3);
    varint(out, value);
}

/// Magic, body and digest around a protobuf body.
pub fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = kinesis_deagg::MAGIC.to_vec();
    out.extend_from_slice(body);
    out.extend_from_slice(&Md5::digest(body));
    out
}

/// The protobuf body of an `AggregatedRecord` holding `records`, written
/// with the variations the format allows (shared table entries, tables
/// after the records, tags, unknown fields).
pub fn aggregate_body(records: &[UserRecord], rng: &mut Rng) -> Vec<u8> {
    let mut keys: Vec<&str> = Vec::new();
    let mut hash_keys: Vec<&str> = Vec::new();
    let mut encoded = Vec::new();
    for record in records {
        let key_index = keys
            .iter()
            .position(|k| *k == record.partition_key)
            .filter(|_| rng.chance(3, 4))
            .unwrap_or_else(|| {
                keys.push(&record.partition_key);
                keys.len() - 1
            });
        let mut message = Vec::new();
        field_varint(&mut message, 1, key_index as u64);
        if let Some(hash_key) = &record.explicit_hash_key {
            hash_keys.push(hash_key);
            field_varint(&mut message, 2, hash_keys.len() as u64 - 1);
        }
        field_bytes(&mut message, 3, &record.data);
        if rng.chance(1, 8) {
            let mut tag = Vec::new();
            field_bytes(&mut tag, 1, b"tag");
            if rng.chance(1, 2) {
                field_bytes(&mut tag, 2, b"value");
            }
            field_bytes(&mut message, 4, &tag);
        }
        if rng.chance(1, 16) {
            field_varint(&mut message, 9, 42);
        }
        encoded.push(message);
    }
    if keys.is_empty() {
        // An empty body is not an aggregate; a table entry keeps it one.
        keys.push("k");
    }
    let mut tables = Vec::new();
    for key in &keys {
        field_bytes(&mut tables, 1, key.as_bytes());
    }
    for key in &hash_keys {
        field_bytes(&mut tables, 2, key.as_bytes());
    }
    let mut body_records = Vec::new();
    for message in &encoded {
        field_bytes(&mut body_records, 3, message);
    }
    let mut body = Vec::new();
    if rng.chance(1, 6) {
        body.extend_from_slice(&body_records);
        body.extend_from_slice(&tables);
    } else {
        body.extend_from_slice(&tables);
        body.extend_from_slice(&body_records);
    }
    if rng.chance(1, 16) {
        field_varint(&mut body, 15, 7);
    }
    body
}

/// A complete aggregated record.
pub fn aggregate(records: &[UserRecord], rng: &mut Rng) -> Vec<u8> {
    seal(&aggregate_body(records, rng))
}

/// User records with envelope data.
pub fn user_records(rng: &mut Rng, count: usize) -> Vec<UserRecord> {
    (0..count)
        .map(|_| {
            let order = *rng.pick(ORDERS);
            let kind = any_kind(rng);
            UserRecord {
                partition_key: if rng.chance(1, 16) {
                    mutate::hostile_string(rng)
                } else {
                    order.to_owned()
                },
                explicit_hash_key: rng
                    .chance(1, 8)
                    .then(|| format!("{}", rng.next_u64() as u128 * 1_000_003)),
                data: if rng.chance(1, 10) {
                    junk(rng)
                } else {
                    envelope_of(kind, order, rng)
                },
            }
        })
        .collect()
}

// ------------------------------------------------------------------ KinesisEvent

/// One Kinesis record as Lambda delivers it.
#[derive(Debug, Clone)]
pub struct KinesisRecord {
    pub partition_key: String,
    pub sequence_number: String,
    pub data: Vec<u8>,
}

/// The Lambda event JSON of `records`.
pub fn kinesis_event_json(records: &[KinesisRecord], rng: &mut Rng) -> Vec<u8> {
    let mut raw = Raw::default();
    let items: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let arrival = if rng.chance(1, 30) {
                raw.value(mutate::extreme_number(rng))
            } else {
                raw.value(format!("1761825600.{:03}", i % 1000))
            };
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "data": base64::engine::general_purpose::STANDARD.encode(&r.data),
                    "approximateArrivalTimestamp": arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{}", r.sequence_number),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/order-events",
            })
        })
        .collect();
    raw.render(&json!({ "Records": items }), false)
}

/// The kinds of one order's life, in a plausible order, for stories.
const STORIES: &[&[&str]] = &[
    &[
        "ORDER_PLACED",
        "INVENTORY_RESERVED",
        "PAYMENT_PROCESSED",
        "ORDER_SHIPPED",
        "ORDER_COMPLETED",
    ],
    &[
        "ORDER_PLACED",
        "INVENTORY_RESERVED",
        "PAYMENT_FAILED",
        "INVENTORY_RELEASED",
        "ORDER_FAILED",
    ],
    &[
        "ORDER_PLACED",
        "INVENTORY_RESERVED",
        "PAYMENT_PROCESSED",
        "SHIPPING_FAILED",
        "PAYMENT_REFUNDED",
        "INVENTORY_RELEASED",
    ],
    &[
        "ORDER_PLACED",
        "ORDER_CANCELLED",
        "INVENTORY_RESERVED",
        "INVENTORY_RELEASED",
    ],
    &["ORDER_CREATED", "ORDER_CANCELLED", "ORDER_CREATED"],
    &[
        "RESERVE_INVENTORY",
        "RESERVE_INVENTORY",
        "RELEASE_INVENTORY",
        "RELEASE_INVENTORY",
    ],
    &[
        "USER_REGISTERED",
        "ORDER_PLACED",
        "ORDER_COMPLETED",
        "ORDER_FAILED",
    ],
];

/// A whole Lambda event: plain records, KPL aggregates and junk, with
/// sequence numbers mostly ascending (sometimes repeated or odd).
pub fn kinesis_event(rng: &mut Rng) -> Vec<u8> {
    let mut datas: Vec<(String, Vec<u8>)> = Vec::new();
    if rng.chance(1, 3) {
        // Stories: each order's events in order, orders interleaved.
        let mut stories: Vec<(String, Vec<&str>)> = (0..rng.range(1, 3))
            .map(|_| {
                let order = (*rng.pick(ORDERS)).to_owned();
                (order, rng.pick(STORIES).to_vec())
            })
            .collect();
        while stories.iter().any(|(_, kinds)| !kinds.is_empty()) {
            let i = rng.below(stories.len());
            let (order, kinds) = &mut stories[i];
            if kinds.is_empty() {
                continue;
            }
            let kind = kinds.remove(0);
            let data = envelope_of(kind, order, rng);
            if rng.chance(1, 10) {
                datas.push((order.clone(), data.clone()));
            }
            if !rng.chance(1, 12) {
                datas.push((order.clone(), data));
            }
        }
    } else {
        let count = if rng.chance(1, 30) {
            rng.range(100, 300)
        } else {
            rng.range(1, 12)
        };
        for _ in 0..count {
            let order = (*rng.pick(ORDERS)).to_owned();
            let data = match rng.below(20) {
                0 | 1 => {
                    let count = rng.range(0, 4);
                    let records = user_records(rng, count);
                    aggregate(&records, rng)
                }
                2 => junk(rng),
                _ => {
                    let kind = any_kind(rng);
                    envelope_of(kind, &order, rng)
                }
            };
            datas.push((order, data));
        }
    }
    let mut sequence: u128 = 49_656_104_212_425_000_000_000_000_000_000;
    let records: Vec<KinesisRecord> = datas
        .into_iter()
        .map(|(order, data)| {
            sequence += 1 + rng.below(3) as u128;
            let sequence_number = match rng.below(40) {
                0 => format!("{}", sequence - 1),
                1 => String::new(),
                2 => mutate::hostile_string(rng),
                _ => format!("{sequence:056}"),
            };
            let partition_key = match rng.below(30) {
                0 => mutate::hostile_string(rng),
                1 => (*rng.pick(ORDERS)).to_owned(),
                _ => order,
            };
            KinesisRecord {
                partition_key,
                sequence_number,
                data,
            }
        })
        .collect();
    kinesis_event_json(&records, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinesis_deagg::{deaggregate, Deaggregated};

    #[test]
    fn aggregates_decode_to_their_user_records() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let count = rng.range(1, 5);
            let records = user_records(&mut rng, count);
            let data = aggregate(&records, &mut rng);
            let Deaggregated::Aggregated(users) = deaggregate(&data) else {
                panic!("not decoded as an aggregate");
            };
            assert_eq!(users.len(), records.len());
            for (user, record) in users.iter().zip(&records) {
                assert_eq!(user.data, record.data.as_slice());
                assert_eq!(user.partition_key, Some(record.partition_key.as_str()));
                assert_eq!(user.explicit_hash_key, record.explicit_hash_key.as_deref());
            }
        }
    }

    #[test]
    fn generated_events_deserialise_as_lambda_events() {
        let mut rng = Rng::new(5);
        let mut ok = 0;
        for _ in 0..200 {
            let text = kinesis_event(&mut rng);
            let event = crate::engine::quietly(|| {
                serde_json::from_slice::<stream_core::KinesisEvent>(&text).ok()
            });
            ok += usize::from(matches!(event, Ok(Some(_))));
        }
        assert!(ok > 150, "only {ok} of 200 generated events deserialise");
    }

    #[test]
    fn most_generated_envelopes_are_valid_events() {
        let mut rng = Rng::new(9);
        let mut valid = 0;
        for _ in 0..500 {
            let data = envelope(&mut rng);
            if let Ok(env) = order_events::Envelope::parse(&data) {
                if let Some(kind) = env.kind() {
                    valid += usize::from(env.event(kind).is_ok());
                }
            }
        }
        assert!(
            valid > 200,
            "only {valid} of 500 envelopes are valid events"
        );
    }
}
