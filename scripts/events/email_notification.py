#!/usr/bin/env python3
"""Writes the sample events of email-notification: events/email-notification/<case>.json,
each a full Lambda KinesisEvent (usable with `cargo lambda invoke --data-file`), and the
sibling <case>.expected.json with the function's documented response.

Run from anywhere: python3 scripts/events/email_notification.py
Standard library only; the output is deterministic.
"""

import base64
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "events" / "email-notification"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/order-events"
ARRIVAL = 1761825600.0  # 2025-10-30T12:00:00Z
SEQUENCE_BASE = 49590338271490256608559692538361571095921575989136588800


def envelope(event_id, event_type, payload):
    return {
        "eventId": event_id,
        "eventType": event_type,
        "timestamp": "2025-10-30T12:00:00.000Z",
        "payload": payload,
    }


def record(seq_offset, partition_key, data, arrival_offset=None):
    """arrival_offset (milliseconds after ARRIVAL) defaults to seq_offset."""
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode("utf-8")
    sequence = str(SEQUENCE_BASE + seq_offset)
    if arrival_offset is None:
        arrival_offset = seq_offset
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence,
            "data": base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": ARRIVAL + arrival_offset / 1000,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def user_registered(event_id, user_id, email, name=None):
    payload = {"userId": user_id, "email": email, "registrationDate": "2025-10-30T11:59:00Z"}
    if name is not None:
        payload["name"] = name
    return envelope(event_id, "USER_REGISTERED", payload)


def order_placed(event_id, order_id, user_id, email=None):
    payload = {
        "orderId": order_id,
        "userId": user_id,
        "items": [
            {"productId": "sku-mug", "quantity": 2, "price": 12.5},
            {"productId": "sku-tea", "quantity": 3, "price": "4.99"},
        ],
        "total": 39.97,
    }
    if email is not None:
        payload["email"] = email
    return envelope(event_id, "ORDER_PLACED", payload)


CASES = {
    # A new user: the welcome email, and the address is remembered.
    "user_registered": [
        record(1, "user-1001", user_registered("evt-ur-1001", "user-1001", "ada@example.com", "Ada Lovelace")),
    ],
    # An order with its own address: the confirmation with lines, prices and total.
    "order_placed": [
        record(2, "order-2001", order_placed("evt-op-2001", "order-2001", "user-1001", "ada@example.com")),
    ],
    "order_completed": [
        record(3, "order-2001", envelope("evt-oc-2001", "ORDER_COMPLETED", {
            "orderId": "order-2001", "sagaId": "order-2001", "userId": "user-1001", "email": "ada@example.com",
        })),
    ],
    # The reason is a code: the email shows that code's fixed wording.
    "order_failed": [
        record(4, "order-2002", envelope("evt-of-2002", "ORDER_FAILED", {
            "orderId": "order-2002", "sagaId": "order-2002", "userId": "user-1001",
            "email": "ada@example.com", "reason": "PAYMENT_DECLINED",
        })),
    ],
    # A reason that is not a code (an older producer's free text): the email
    # shows the wording of OTHER and never the text itself.
    "order_failed_free_text_reason": [
        record(7, "order-2007", envelope("evt-of-2007", "ORDER_FAILED", {
            "orderId": "order-2007", "sagaId": "order-2007", "userId": "user-1001",
            "email": "ada@example.com",
            "reason": "reserve for order order-2007: DispatchFailure: connection reset by peer at 10.0.0.1",
        }), arrival_offset=4),
    ],
    # The order has no email: it goes to the address registered earlier in the batch.
    "order_placed_registered_user": [
        record(5, "user-1002", user_registered("evt-ur-1002", "user-1002", "grace@example.com", "Grace")),
        record(6, "order-2003", order_placed("evt-op-2003", "order-2003", "user-1002")),
    ],
    # The same event delivered twice (a producer retry): one email.
    "duplicate": [
        record(7, "order-2004", order_placed("evt-op-2004", "order-2004", "user-1001", "ada@example.com")),
        record(8, "order-2004", order_placed("evt-op-2004", "order-2004", "user-1001", "ada@example.com")),
    ],
    # Bytes that are not an event: dead-lettered and acknowledged; the next
    # record of the same key still runs.
    "poison": [
        record(9, "order-2005", b"\x00\xffnot json at all"),
        record(10, "order-2005", envelope("evt-oc-2005", "ORDER_COMPLETED", {
            "orderId": "order-2005", "sagaId": "order-2005", "email": "ada@example.com",
        })),
    ],
    # No email and no registration for the user: dead-lettered with the reason.
    "unknown_address": [
        record(11, "order-2006", order_placed("evt-op-2006", "order-2006", "user-never-registered")),
    ],
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, records in CASES.items():
        (OUT / f"{name}.json").write_text(json.dumps({"Records": records}, indent=2) + "\n")
        # Every case is acknowledged in full: sent, duplicate or dead-lettered.
        (OUT / f"{name}.expected.json").write_text(json.dumps({"batchItemFailures": []}, indent=2) + "\n")
    print(f"wrote {len(CASES)} cases to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
