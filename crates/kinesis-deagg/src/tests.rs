use super::*;

// A minimal protobuf encoder, so each test states the exact bytes it feeds in.

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn key(field: u32, wire_type: u8) -> Vec<u8> {
    varint(u64::from(field) << 3 | u64::from(wire_type))
}

fn varint_field(field: u32, value: u64) -> Vec<u8> {
    [key(field, 0), varint(value)].concat()
}

fn bytes_field(field: u32, bytes: &[u8]) -> Vec<u8> {
    [key(field, 2), varint(bytes.len() as u64), bytes.to_vec()].concat()
}

fn record(partition_key_index: u64, explicit_hash_key_index: Option<u64>, data: &[u8]) -> Vec<u8> {
    let mut out = varint_field(1, partition_key_index);
    if let Some(index) = explicit_hash_key_index {
        out.extend(varint_field(2, index));
    }
    out.extend(bytes_field(3, data));
    out
}

fn wrap(body: &[u8]) -> Vec<u8> {
    [&MAGIC[..], body, Md5::digest(body).as_slice()].concat()
}

fn records_of(data: &[u8]) -> Vec<UserRecord<'_>> {
    match deaggregate(data) {
        Deaggregated::Aggregated(records) => records,
        other => panic!("expected user records, got {other:?}"),
    }
}

fn pass_through_reason(data: &[u8]) -> Option<PassThroughReason> {
    match deaggregate(data) {
        Deaggregated::Single { data: out, reason } => {
            assert_eq!(out, data, "pass-through must hand back the input unchanged");
            reason
        }
        other => panic!("expected pass-through, got {other:?}"),
    }
}

fn malformed(data: &[u8]) -> MalformedReason {
    match pass_through_reason(data) {
        Some(PassThroughReason::Malformed(reason)) => reason,
        other => panic!("expected a malformed body, got {other:?}"),
    }
}

fn two_record_body() -> Vec<u8> {
    [
        bytes_field(1, b"pk-a"),
        bytes_field(1, b"pk-b"),
        bytes_field(2, b"12345"),
        bytes_field(3, &record(0, None, b"first")),
        bytes_field(3, &record(1, Some(0), b"second")),
    ]
    .concat()
}

#[test]
fn decodes_user_records_in_order_with_their_keys() {
    let input = wrap(&two_record_body());
    assert_eq!(
        records_of(&input),
        vec![
            UserRecord {
                partition_key: Some("pk-a"),
                explicit_hash_key: None,
                data: b"first",
                sub_sequence_number: 0,
            },
            UserRecord {
                partition_key: Some("pk-b"),
                explicit_hash_key: Some("12345"),
                data: b"second",
                sub_sequence_number: 1,
            },
        ]
    );
}

#[test]
fn user_records_borrow_from_the_input() {
    let input = wrap(&two_record_body());
    let range = input.as_ptr_range();
    for record in records_of(&input) {
        assert!(range.contains(&record.data.as_ptr()));
        assert!(range.contains(&record.partition_key.unwrap_or_default().as_ptr()));
    }
}

#[test]
fn is_aggregated_checks_only_the_magic() {
    assert!(is_aggregated(&MAGIC));
    assert!(is_aggregated(&wrap(&two_record_body())));
    assert!(!is_aggregated(&MAGIC[..3]));
    assert!(!is_aggregated(b""));
    assert!(!is_aggregated(br#"{"eventType":"ORDER_CREATED"}"#));
}

#[test]
fn empty_input_passes_through_as_plain() {
    assert_eq!(pass_through_reason(b""), None);
}

#[test]
fn plain_json_passes_through_as_plain() {
    let json = br#"{"eventId":"e-1","eventType":"ORDER_CREATED","payload":{"orderId":"o-1"}}"#;
    assert_eq!(pass_through_reason(json), None);
}

#[test]
fn prefix_of_magic_is_plain() {
    assert_eq!(pass_through_reason(&MAGIC[..2]), None);
}

#[test]
fn magic_only_is_too_short() {
    assert_eq!(
        pass_through_reason(&MAGIC),
        Some(PassThroughReason::TooShort)
    );
}

#[test]
fn magic_and_partial_digest_is_too_short() {
    let input = [&MAGIC[..], &[0u8; DIGEST_LEN - 1]].concat();
    assert_eq!(
        pass_through_reason(&input),
        Some(PassThroughReason::TooShort)
    );
}

#[test]
fn empty_body_with_valid_digest_is_too_short() {
    let input = wrap(b"");
    assert_eq!(input.len(), MAGIC.len() + DIGEST_LEN);
    assert_eq!(
        pass_through_reason(&input),
        Some(PassThroughReason::TooShort)
    );
}

#[test]
fn bad_checksum_passes_through() {
    let mut input = wrap(&two_record_body());
    let last = input.len() - 1;
    input[last] ^= 0x01;
    assert_eq!(
        pass_through_reason(&input),
        Some(PassThroughReason::ChecksumMismatch)
    );
}

#[test]
fn altered_body_fails_the_checksum() {
    let mut input = wrap(&two_record_body());
    input[MAGIC.len() + 3] ^= 0x20;
    assert_eq!(
        pass_through_reason(&input),
        Some(PassThroughReason::ChecksumMismatch)
    );
}

#[test]
fn truncated_varint_is_malformed() {
    let body = [bytes_field(1, b"pk"), key(3, 2), vec![0x85]].concat();
    assert_eq!(malformed(&wrap(&body)), MalformedReason::TruncatedVarint);
}

#[test]
fn truncated_varint_inside_record_is_malformed() {
    let body = [bytes_field(1, b"pk"), bytes_field(3, &[0x08, 0xFF])].concat();
    assert_eq!(malformed(&wrap(&body)), MalformedReason::TruncatedVarint);
}

#[test]
fn eleven_byte_varint_is_malformed() {
    let body = [key(9, 0), vec![0xFF; 10], vec![0x01]].concat();
    assert_eq!(malformed(&wrap(&body)), MalformedReason::VarintTooLong);
}

#[test]
fn ten_byte_varint_is_accepted() {
    let body = [key(9, 0), vec![0xFF; 9], vec![0x7F], two_record_body()].concat();
    assert_eq!(records_of(&wrap(&body)).len(), 2);
}

#[test]
fn length_past_end_is_malformed() {
    let body = [key(1, 2), varint(10), b"short".to_vec()].concat();
    assert_eq!(malformed(&wrap(&body)), MalformedReason::TruncatedField);
}

#[test]
fn huge_length_is_malformed() {
    let body = [key(1, 2), varint(u64::MAX)].concat();
    assert_eq!(malformed(&wrap(&body)), MalformedReason::TruncatedField);
}

#[test]
fn truncated_fixed_width_fields_are_malformed() {
    let fixed64 = [key(9, 1), vec![0; 7]].concat();
    assert_eq!(malformed(&wrap(&fixed64)), MalformedReason::TruncatedField);
    let fixed32 = [key(9, 5), vec![0; 3]].concat();
    assert_eq!(malformed(&wrap(&fixed32)), MalformedReason::TruncatedField);
}

#[test]
fn out_of_range_partition_key_index_is_malformed() {
    let body = [
        bytes_field(1, b"only"),
        bytes_field(3, &record(1, None, b"x")),
    ]
    .concat();
    assert_eq!(
        malformed(&wrap(&body)),
        MalformedReason::IndexOutOfRange {
            table: "partition_key_table",
            index: 1,
            len: 1,
        }
    );
}

#[test]
fn index_beyond_usize_is_out_of_range() {
    let body = [
        bytes_field(1, b"only"),
        bytes_field(3, &record(u64::MAX, None, b"x")),
    ]
    .concat();
    assert_eq!(
        malformed(&wrap(&body)),
        MalformedReason::IndexOutOfRange {
            table: "partition_key_table",
            index: u64::MAX,
            len: 1,
        }
    );
}

#[test]
fn out_of_range_explicit_hash_key_index_is_malformed() {
    let body = [
        bytes_field(1, b"pk"),
        bytes_field(3, &record(0, Some(0), b"x")),
    ]
    .concat();
    assert_eq!(
        malformed(&wrap(&body)),
        MalformedReason::IndexOutOfRange {
            table: "explicit_hash_key_table",
            index: 0,
            len: 0,
        }
    );
}

#[test]
fn bad_index_in_a_later_record_passes_the_whole_record_through() {
    let body = [
        two_record_body(),
        bytes_field(3, &record(7, None, b"third")),
    ]
    .concat();
    assert!(matches!(
        malformed(&wrap(&body)),
        MalformedReason::IndexOutOfRange { index: 7, .. }
    ));
}

#[test]
fn explicit_hash_key_only_when_the_record_names_one() {
    let body = [
        bytes_field(1, b"pk"),
        bytes_field(2, b"999"),
        bytes_field(3, &record(0, None, b"x")),
    ]
    .concat();
    let input = wrap(&body);
    let records = records_of(&input);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].explicit_hash_key, None);
}

#[test]
fn unknown_fields_of_every_skippable_wire_type_are_skipped() {
    let unknown = [
        varint_field(15, 300),
        key(16, 1),
        vec![1; 8],
        bytes_field(17, b"ignored"),
        key(18, 5),
        vec![2; 4],
    ]
    .concat();
    let inner = [
        unknown.clone(),
        record(0, None, b"payload"),
        unknown.clone(),
    ]
    .concat();
    let body = [
        unknown.clone(),
        bytes_field(1, b"pk"),
        unknown.clone(),
        bytes_field(3, &inner),
        unknown,
    ]
    .concat();
    let input = wrap(&body);
    let records = records_of(&input);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].partition_key, Some("pk"));
    assert_eq!(records[0].data, b"payload");
}

#[test]
fn known_field_with_another_wire_type_is_treated_as_unknown() {
    // Field 1 as a varint in the message and as bytes in the record: both
    // must be ignored rather than misread.
    let inner = [bytes_field(1, b"\x05"), record(0, None, b"x")].concat();
    let body = [
        varint_field(1, 5),
        bytes_field(1, b"pk"),
        bytes_field(3, &inner),
    ]
    .concat();
    let input = wrap(&body);
    let records = records_of(&input);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].partition_key, Some("pk"));
}

#[test]
fn group_wire_types_are_rejected() {
    let body = [key(9, 3), key(9, 4), two_record_body()].concat();
    assert_eq!(
        malformed(&wrap(&body)),
        MalformedReason::UnsupportedWireType(3)
    );
    let body = [key(9, 6), two_record_body()].concat();
    assert_eq!(
        malformed(&wrap(&body)),
        MalformedReason::UnsupportedWireType(6)
    );
}

#[test]
fn field_number_zero_is_malformed() {
    let body = [vec![0x00, 0x01], two_record_body()].concat();
    assert_eq!(malformed(&wrap(&body)), MalformedReason::InvalidFieldKey);
}

#[test]
fn field_number_beyond_32_bits_is_malformed() {
    let body = [varint(1 << 40), two_record_body()].concat();
    assert_eq!(malformed(&wrap(&body)), MalformedReason::InvalidFieldKey);
}

#[test]
fn missing_required_record_fields_are_malformed() {
    let no_index = [bytes_field(1, b"pk"), bytes_field(3, &bytes_field(3, b"x"))].concat();
    assert_eq!(
        malformed(&wrap(&no_index)),
        MalformedReason::MissingField("Record.partition_key_index")
    );
    let no_data = [bytes_field(1, b"pk"), bytes_field(3, &varint_field(1, 0))].concat();
    assert_eq!(
        malformed(&wrap(&no_data)),
        MalformedReason::MissingField("Record.data")
    );
}

#[test]
fn empty_data_is_a_valid_user_record() {
    let body = [bytes_field(1, b"pk"), bytes_field(3, &record(0, None, b""))].concat();
    let input = wrap(&body);
    let records = records_of(&input);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].data, b"");
}

#[test]
fn tags_are_optional_but_checked() {
    let tag = [bytes_field(1, b"k"), bytes_field(2, b"v")].concat();
    let inner = [record(0, None, b"x"), bytes_field(4, &tag)].concat();
    let body = [bytes_field(1, b"pk"), bytes_field(3, &inner)].concat();
    assert_eq!(records_of(&wrap(&body)).len(), 1);

    let keyless = bytes_field(2, b"v");
    let inner = [record(0, None, b"x"), bytes_field(4, &keyless)].concat();
    let body = [bytes_field(1, b"pk"), bytes_field(3, &inner)].concat();
    assert_eq!(
        malformed(&wrap(&body)),
        MalformedReason::MissingField("Tag.key")
    );

    let broken = vec![0x0A, 0x05];
    let inner = [record(0, None, b"x"), bytes_field(4, &broken)].concat();
    let body = [bytes_field(1, b"pk"), bytes_field(3, &inner)].concat();
    assert_eq!(malformed(&wrap(&body)), MalformedReason::TruncatedField);
}

#[test]
fn non_utf8_keys_are_malformed() {
    let body = [
        bytes_field(1, b"\xFF"),
        bytes_field(3, &record(0, None, b"x")),
    ]
    .concat();
    assert_eq!(
        malformed(&wrap(&body)),
        MalformedReason::InvalidUtf8("AggregatedRecord.partition_key_table")
    );
    let body = [bytes_field(2, b"\xC3"), two_record_body()].concat();
    assert_eq!(
        malformed(&wrap(&body)),
        MalformedReason::InvalidUtf8("AggregatedRecord.explicit_hash_key_table")
    );
}

#[test]
fn tables_may_follow_the_records() {
    let body = [
        bytes_field(3, &record(1, None, b"x")),
        bytes_field(1, "clé-0".as_bytes()),
        bytes_field(1, "clé-1".as_bytes()),
    ]
    .concat();
    assert_eq!(records_of(&wrap(&body))[0].partition_key, Some("clé-1"));
}

#[test]
fn repeated_scalar_field_keeps_the_last_value() {
    let inner = [varint_field(1, 0), record(1, None, b"x")].concat();
    let body = [
        bytes_field(1, b"a"),
        bytes_field(1, b"b"),
        bytes_field(3, &inner),
    ]
    .concat();
    assert_eq!(records_of(&wrap(&body))[0].partition_key, Some("b"));
}

#[test]
fn valid_aggregate_without_records_yields_no_user_records() {
    let body = bytes_field(1, b"pk");
    assert_eq!(
        deaggregate(&wrap(&body)),
        Deaggregated::Aggregated(Vec::new())
    );
}

#[test]
fn reasons_display_what_went_wrong() {
    assert_eq!(
        PassThroughReason::ChecksumMismatch.to_string(),
        "aggregated record digest does not match"
    );
    assert_eq!(
        PassThroughReason::Malformed(MalformedReason::IndexOutOfRange {
            table: "partition_key_table",
            index: 3,
            len: 2,
        })
        .to_string(),
        "malformed aggregated record: index 3 out of range for partition_key_table of 2 entries"
    );
    assert_eq!(
        PassThroughReason::Malformed(MalformedReason::MissingField("Record.data")).to_string(),
        "malformed aggregated record: required field Record.data is missing"
    );
}

// Round trip and robustness over generated inputs. A fixed-seed xorshift
// keeps failures reproducible without a property-testing dependency.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

struct Generated {
    user_records: Vec<(String, Option<String>, Vec<u8>)>,
    aggregated: Vec<u8>,
}

/// Aggregates the way the KPL does: each distinct key enters its table once.
fn aggregate(user_records: Vec<(String, Option<String>, Vec<u8>)>) -> Generated {
    let mut partition_keys: Vec<&str> = Vec::new();
    let mut explicit_hash_keys: Vec<&str> = Vec::new();
    let mut records = Vec::new();
    for (partition_key, explicit_hash_key, data) in &user_records {
        let pk_index = index_of(&mut partition_keys, partition_key);
        let ehk_index = explicit_hash_key
            .as_deref()
            .map(|ehk| index_of(&mut explicit_hash_keys, ehk));
        records.push(record(pk_index, ehk_index, data));
    }
    let mut body = Vec::new();
    for key in &partition_keys {
        body.extend(bytes_field(1, key.as_bytes()));
    }
    for key in &explicit_hash_keys {
        body.extend(bytes_field(2, key.as_bytes()));
    }
    for record in &records {
        body.extend(bytes_field(3, record));
    }
    let aggregated = wrap(&body);
    Generated {
        user_records,
        aggregated,
    }
}

fn index_of<'a>(table: &mut Vec<&'a str>, key: &'a str) -> u64 {
    let position = table.iter().position(|k| *k == key).unwrap_or_else(|| {
        table.push(key);
        table.len() - 1
    });
    position as u64
}

fn generate(rng: &mut Rng) -> Generated {
    let keys = ["o-1", "o-2", "ß-3", "注文-4", "o-5"];
    let count = 1 + rng.below(200);
    let user_records = (0..count)
        .map(|_| {
            let partition_key = keys[rng.below(keys.len())].to_string();
            let explicit_hash_key = (rng.below(3) == 0).then(|| rng.next().to_string());
            let len = if rng.below(10) == 0 {
                300
            } else {
                rng.below(40)
            };
            (partition_key, explicit_hash_key, rng.bytes(len))
        })
        .collect();
    aggregate(user_records)
}

#[test]
fn aggregated_user_records_round_trip() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..300 {
        let generated = generate(&mut rng);
        let records = records_of(&generated.aggregated);
        assert_eq!(records.len(), generated.user_records.len());
        for (i, (record, (pk, ehk, data))) in
            records.iter().zip(&generated.user_records).enumerate()
        {
            assert_eq!(record.partition_key, Some(pk.as_str()));
            assert_eq!(record.explicit_hash_key, ehk.as_deref());
            assert_eq!(record.data, data.as_slice());
            assert_eq!(record.sub_sequence_number, i as u64);
        }
    }
}

#[test]
fn every_truncation_of_a_valid_body_is_rejected_without_panicking() {
    let mut rng = Rng(42);
    let generated = generate(&mut rng);
    let full = &generated.aggregated;
    let body = &full[MAGIC.len()..full.len() - DIGEST_LEN];
    for cut in 1..body.len() {
        // Re-signing each prefix makes the decoder, not the digest, decide.
        let input = wrap(&body[..cut]);
        match deaggregate(&input) {
            Deaggregated::Aggregated(records) => {
                assert!(records.len() < generated.user_records.len());
            }
            Deaggregated::Single { data, reason } => {
                assert_eq!(data, input.as_slice());
                assert!(matches!(reason, Some(PassThroughReason::Malformed(_))));
            }
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(7);
    for round in 0..20_000 {
        let len = rng.below(64);
        let body = rng.bytes(len);
        // Half the inputs carry a valid digest so the protobuf decoder runs.
        let input = if round % 2 == 0 {
            wrap(&body)
        } else {
            [&MAGIC[..], &body].concat()
        };
        if let Deaggregated::Single { data, .. } = deaggregate(&input) {
            assert_eq!(data, input.as_slice());
        }
    }
}

#[test]
fn mutated_aggregates_never_panic() {
    let mut rng = Rng(1234);
    for _ in 0..2_000 {
        let generated = generate(&mut rng);
        let full = &generated.aggregated;
        let mut body = full[MAGIC.len()..full.len() - DIGEST_LEN].to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(body.len());
            body[at] = rng.next() as u8;
        }
        let input = wrap(&body);
        if let Deaggregated::Aggregated(records) = deaggregate(&input) {
            let range = input.as_ptr_range();
            assert!(records
                .iter()
                .all(|r| r.data.is_empty() || range.contains(&r.data.as_ptr())));
        }
    }
}
