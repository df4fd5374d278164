#!/usr/bin/env python3
# Regenerate: python3 -m venv /tmp/kpl && /tmp/kpl/bin/pip install aws-kinesis-agg six && /tmp/kpl/bin/python scripts/kpl/make_fixtures.py
# (aws-kinesis-agg imports six without declaring it; generated with aws-kinesis-agg 1.2.3, protobuf 7.36.2.)
"""Writes the reference fixtures of crates/kinesis-deagg.

Each aggregated record is built by the awslabs Python aggregator, and every
expectation is checked here against the awslabs Python deaggregator before
it is written, so the Rust tests compare against the reference behaviour
rather than against the Rust code's own idea of the format.

Fixture file layout:

    {
      "description": str,
      "kinesis_partition_key": str | null,      # what to put in the Kinesis record
      "kinesis_explicit_hash_key": str | null,
      "aggregated_base64": str,                 # the Kinesis record's data
      "aggregated": bool,                       # false: passed through whole
      "pass_through_reason": null | "TooShort" | "ChecksumMismatch" | "Malformed",
      "expected": [{"partition_key", "explicit_hash_key", "data_base64", "sub_sequence_number"}]
    }

A passed-through record is expected as one entry holding the whole input,
with null keys: the keys then come from the Kinesis record itself.

One deliberate difference from the Python deaggregator: it gives a user
record without an explicit hash key index the first entry of the explicit
hash key table whenever that table is not empty. The expectations follow
the KCL instead (no index, no explicit hash key), and this script asserts
that the Python output differs only in that way.
"""

import base64
import hashlib
import json
import pathlib
import uuid

import aws_kinesis_agg
from aws_kinesis_agg import deaggregator  # noqa: F401  (sets up the protobuf import path)
from aws_kinesis_agg import messages_pb2
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import iter_deaggregate_records

REPO = pathlib.Path(__file__).resolve().parents[2]
OUT = REPO / "crates" / "kinesis-deagg" / "tests" / "fixtures"

# 2**127: the middle of the hash key range, a valid explicit hash key.
EXPLICIT_HASH_KEY = "170141183460469231731687303715884105728"


def order_created(n, order_id, user_id, items, total):
    event = {
        "eventId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"kinesis-deagg-fixture/{n}")),
        "eventType": "ORDER_CREATED",
        "timestamp": f"2025-10-30T12:00:{n:02d}Z",
        "payload": {
            "orderId": order_id,
            "userId": user_id,
            "items": [{"productId": p, "quantity": q} for p, q in items],
            "status": "PENDING",
            "total": total,
        },
    }
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def aggregate(user_records):
    """user_records: [(partition_key, explicit_hash_key or None, data bytes)]"""
    aggregator = RecordAggregator()
    for partition_key, explicit_hash_key, data in user_records:
        full = aggregator.add_user_record(partition_key, data, explicit_hash_key)
        assert full is None, "fixture does not fit one aggregated record"
    agg = aggregator.clear_and_get()
    partition_key, explicit_hash_key, data = agg.get_contents()
    return partition_key, explicit_hash_key, data


def python_deaggregate(data, partition_key):
    lambda_record = {
        "eventSource": "aws:kinesis",
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
            "approximateArrivalTimestamp": 1761825600.0,
            "data": base64.b64encode(data).decode("ascii"),
        },
    }
    return list(iter_deaggregate_records(lambda_record))


def b64(data):
    return base64.b64encode(data).decode("ascii")


def parsed_body(data):
    body = data[len(aws_kinesis_agg.MAGIC) : -aws_kinesis_agg.DIGEST_SIZE]
    message = messages_pb2.AggregatedRecord()
    message.ParseFromString(body)
    return message


def aggregated_fixture(name, description, user_records):
    partition_key, explicit_hash_key, data = aggregate(user_records)

    # The wire message must say exactly what was put in.
    message = parsed_body(data)
    assert len(message.records) == len(user_records)
    for record, (pk, ehk, payload) in zip(message.records, user_records):
        assert message.partition_key_table[record.partition_key_index] == pk
        assert record.HasField("explicit_hash_key_index") == (ehk is not None)
        if ehk is not None:
            assert message.explicit_hash_key_table[record.explicit_hash_key_index] == ehk
        assert record.data == payload

    expected = [
        {
            "partition_key": pk,
            "explicit_hash_key": ehk,
            "data_base64": b64(payload),
            "sub_sequence_number": i,
        }
        for i, (pk, ehk, payload) in enumerate(user_records)
    ]

    reference = python_deaggregate(data, partition_key)
    assert len(reference) == len(expected), name
    ehk_table = list(message.explicit_hash_key_table)
    for got, want in zip(reference, expected):
        kinesis = got["kinesis"]
        assert kinesis["aggregated"] is True
        assert kinesis["partitionKey"] == want["partition_key"]
        assert kinesis["data"].decode("ascii") == want["data_base64"]
        assert kinesis["subSequenceNumber"] == want["sub_sequence_number"]
        python_fallback = ehk_table[0] if ehk_table else None
        assert kinesis["explicitHashKey"] in (want["explicit_hash_key"], python_fallback)
        if want["explicit_hash_key"] is not None:
            assert kinesis["explicitHashKey"] == want["explicit_hash_key"]

    write(name, description, partition_key, explicit_hash_key, data, True, None, expected)
    return partition_key, explicit_hash_key, data


def pass_through_fixture(name, description, partition_key, data, reason):
    reference = python_deaggregate(data, partition_key)
    assert len(reference) == 1, name
    kinesis = reference[0]["kinesis"]
    assert "aggregated" not in kinesis, name
    assert base64.b64decode(kinesis["data"]) == data, name
    expected = [
        {
            "partition_key": None,
            "explicit_hash_key": None,
            "data_base64": b64(data),
            "sub_sequence_number": 0,
        }
    ]
    write(name, description, partition_key, None, data, False, reason, expected)


def resign(body):
    return aws_kinesis_agg.MAGIC + body + hashlib.md5(body).digest()


def write(name, description, partition_key, explicit_hash_key, data, aggregated, reason, expected):
    fixture = {
        "description": description,
        "kinesis_partition_key": partition_key,
        "kinesis_explicit_hash_key": explicit_hash_key,
        "aggregated_base64": b64(data),
        "aggregated": aggregated,
        "pass_through_reason": reason,
        "expected": expected,
    }
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(fixture, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(REPO)}")


def main():
    OUT.mkdir(parents=True, exist_ok=True)

    orders = [
        ("o-1", None, order_created(1, "o-1", "u-1", [("p-1", 2)], "19.99")),
        ("o-2", None, order_created(2, "o-2", "u-2", [("p-2", 1), ("p-3", 4)], "42.50")),
        ("o-3", None, order_created(3, "o-3", "u-1", [("p-1", 1)], "9.99")),
    ]
    orders_pk, _, orders_data = aggregated_fixture(
        "orders_aggregated",
        "ORDER_CREATED events for orders o-1, o-2 and o-3, partition key = orderId.",
        orders,
    )

    aggregated_fixture(
        "mixed_keys",
        "Repeated and unicode partition keys, one explicit hash key, unicode and empty data. "
        "The Python deaggregator gives the records without an explicit hash key index the "
        "table's first entry; the KCL, and these expectations, give them none.",
        [
            ("o-10", None, order_created(10, "o-10", "u-10", [("p-1", 1)], "5.00")),
            ("o-größe-11", None, order_created(11, "o-größe-11", "ユーザー-11", [("p-café", 3)], "12.30")),
            ("o-12", EXPLICIT_HASH_KEY, order_created(12, "o-12", "u-12", [("p-2", 1)], "7.25")),
            ("o-10", None, order_created(13, "o-10", "u-10", [("p-4", 2)], "8.00")),
            ("注文-14", None, "plain text, not JSON: ünïcödé ✓".encode("utf-8")),
            ("o-15", None, b""),
        ],
    )

    aggregated_fixture(
        "single_record",
        "An aggregated record holding exactly one user record.",
        [("o-20", None, order_created(20, "o-20", "u-20", [("p-9", 1)], "1.00"))],
    )

    aggregated_fixture(
        "many_keys",
        "150 distinct partition keys, so the later indexes need two-byte varints.",
        [(f"o-{100 + i}", None, f"record {i}".encode("ascii")) for i in range(150)],
    )

    corrupted = bytearray(orders_data)
    corrupted[-1] ^= 0x01
    pass_through_fixture(
        "corrupted_checksum",
        "orders_aggregated with the last digest byte flipped: passed through whole.",
        orders_pk,
        bytes(corrupted),
        "ChecksumMismatch",
    )

    body = orders_data[len(aws_kinesis_agg.MAGIC) : -aws_kinesis_agg.DIGEST_SIZE]
    truncated = resign(body[: len(body) - 5])
    pass_through_fixture(
        "truncated_body",
        "orders_aggregated with its protobuf body cut short and the digest recomputed: "
        "the digest matches but the body does not parse, so it is passed through whole.",
        orders_pk,
        truncated,
        "Malformed",
    )

    pass_through_fixture(
        "magic_only",
        "Only the magic bytes: too short to be aggregated, passed through whole.",
        "o-30",
        aws_kinesis_agg.MAGIC,
        "TooShort",
    )

    pass_through_fixture(
        "plain_json",
        "A record written without aggregation: passed through whole.",
        "o-40",
        order_created(40, "o-40", "u-40", [("p-1", 1)], "2.00"),
        None,
    )


if __name__ == "__main__":
    main()
