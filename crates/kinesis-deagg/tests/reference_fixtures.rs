//! Compares the decoder with fixtures built and checked by the awslabs
//! Python reference (`scripts/kpl/make_fixtures.py`).

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use kinesis_deagg::{deaggregate, is_aggregated, Deaggregated, PassThroughReason};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    description: String,
    kinesis_partition_key: Option<String>,
    kinesis_explicit_hash_key: Option<String>,
    aggregated_base64: String,
    aggregated: bool,
    pass_through_reason: Option<String>,
    expected: Vec<Expected>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Expected {
    partition_key: Option<String>,
    explicit_hash_key: Option<String>,
    data_base64: String,
    sub_sequence_number: u64,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load_all() -> Vec<(String, Fixture)> {
    let mut paths: Vec<PathBuf> = fs::read_dir(fixture_dir())
        .expect("fixture directory is readable")
        .map(|entry| entry.expect("fixture entry is readable").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(&path).expect("fixture is readable");
            let fixture = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is not a valid fixture: {e}"));
            (name, fixture)
        })
        .collect()
}

fn reason_name(reason: &PassThroughReason) -> &'static str {
    match reason {
        PassThroughReason::TooShort => "TooShort",
        PassThroughReason::ChecksumMismatch => "ChecksumMismatch",
        PassThroughReason::Malformed(_) => "Malformed",
    }
}

fn check(name: &str, fixture: &Fixture) {
    let input = STANDARD
        .decode(&fixture.aggregated_base64)
        .unwrap_or_else(|e| panic!("{name}: bad base64: {e}"));
    let outcome = deaggregate(&input);

    let actual: Vec<Expected> = match &outcome {
        Deaggregated::Aggregated(records) => records
            .iter()
            .map(|record| Expected {
                partition_key: record.partition_key.map(str::to_owned),
                explicit_hash_key: record.explicit_hash_key.map(str::to_owned),
                data_base64: STANDARD.encode(record.data),
                sub_sequence_number: record.sub_sequence_number,
            })
            .collect(),
        Deaggregated::Single { data, .. } => vec![Expected {
            partition_key: None,
            explicit_hash_key: None,
            data_base64: STANDARD.encode(data),
            sub_sequence_number: 0,
        }],
    };

    let (aggregated, reason) = match &outcome {
        Deaggregated::Aggregated(_) => (true, None),
        Deaggregated::Single { reason, .. } => (false, reason.as_ref().map(reason_name)),
    };
    assert_eq!(
        aggregated, fixture.aggregated,
        "{name} ({}): aggregated or passed through",
        fixture.description
    );
    assert_eq!(
        reason,
        fixture.pass_through_reason.as_deref(),
        "{name}: pass-through reason"
    );
    assert_eq!(actual, fixture.expected, "{name}: user records");
}

#[test]
fn every_reference_fixture_matches() {
    let fixtures = load_all();
    let names: Vec<&str> = fixtures.iter().map(|(name, _)| name.as_str()).collect();
    // Guards against a path or filter mistake silently checking nothing.
    for required in [
        "corrupted_checksum.json",
        "magic_only.json",
        "many_keys.json",
        "mixed_keys.json",
        "orders_aggregated.json",
        "plain_json.json",
        "single_record.json",
        "truncated_body.json",
    ] {
        assert!(names.contains(&required), "missing fixture {required}");
    }
    for (name, fixture) in &fixtures {
        check(name, fixture);
    }
}

#[test]
fn orders_fixture_holds_three_order_created_events() {
    let text = include_str!("fixtures/orders_aggregated.json");
    let fixture: Fixture = serde_json::from_str(text).unwrap();
    // The outer keys are the ones a sample Lambda event built from it needs.
    assert_eq!(fixture.kinesis_partition_key.as_deref(), Some("o-1"));
    assert_eq!(fixture.kinesis_explicit_hash_key, None);
    let input = STANDARD.decode(&fixture.aggregated_base64).unwrap();
    assert!(is_aggregated(&input));

    let Deaggregated::Aggregated(records) = deaggregate(&input) else {
        panic!("orders fixture must deaggregate");
    };
    let orders: Vec<(String, String)> = records
        .iter()
        .map(|record| {
            let event: serde_json::Value = serde_json::from_slice(record.data).unwrap();
            assert_eq!(event["eventType"], "ORDER_CREATED");
            let order_id = event["payload"]["orderId"].as_str().unwrap().to_owned();
            (record.partition_key.unwrap().to_owned(), order_id)
        })
        .collect();
    assert_eq!(
        orders,
        [("o-1", "o-1"), ("o-2", "o-2"), ("o-3", "o-3")].map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
}

#[test]
fn mixed_fixture_keeps_unicode_keys_and_the_explicit_hash_key() {
    let text = include_str!("fixtures/mixed_keys.json");
    let fixture: Fixture = serde_json::from_str(text).unwrap();
    let input = STANDARD.decode(&fixture.aggregated_base64).unwrap();
    let Deaggregated::Aggregated(records) = deaggregate(&input) else {
        panic!("mixed fixture must deaggregate");
    };
    let keys: Vec<Option<&str>> = records.iter().map(|r| r.partition_key).collect();
    assert!(keys.contains(&Some("o-größe-11")));
    assert!(keys.contains(&Some("注文-14")));
    let with_ehk: Vec<&str> = records.iter().filter_map(|r| r.explicit_hash_key).collect();
    assert_eq!(with_ehk, ["170141183460469231731687303715884105728"]);
}
