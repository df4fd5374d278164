#!/usr/bin/env python3
"""Writes the sample Lambda Kinesis events of inventory-update.

    python3 scripts/events/inventory_update_events.py

Each case becomes events/inventory-update/<case>.json, a full Lambda
KinesisEvent usable with `cargo lambda invoke --data-file`, and
<case>.expected.json, the function's documented answer. The answers assume
the stock described in events/inventory-update/README.md (p-1, p-2, p-3 with
100 units each, p-low with 1 unit, nothing reserved); the crate's
sample_events test runs every file against exactly that stock.

Python standard library only, so it runs anywhere.
"""

import base64
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "events" / "inventory-update"
KPL_FIXTURE = ROOT / "crates" / "kinesis-deagg" / "tests" / "fixtures" / "orders_aggregated.json"

EVENTS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/order-events"
COMMANDS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/order-commands"
ARRIVAL = 1761825600.0  # 2025-10-30T12:00:00Z


def sequence(n):
    return f"4965610421242500{n:040d}"


def record(n, partition_key, data, source_arn=EVENTS_ARN):
    if isinstance(data, (dict, list)):
        data = json.dumps(data, separators=(",", ":")).encode()
    elif isinstance(data, str):
        data = data.encode()
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence(n),
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": ARRIVAL + n / 1000,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence(n)}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
        "awsRegion": "us-east-1",
        "eventSourceARN": source_arn,
    }


def envelope(event_id, event_type, payload, timestamp="2025-10-30T12:00:00.000Z"):
    out = {"eventType": event_type, "timestamp": timestamp, "payload": payload}
    if event_id is not None:
        out = {"eventId": event_id, **out}
    return out


def order_created(event_id, order_id, items, user_id="u-1", timestamp="2025-10-30T12:00:00.000Z"):
    return envelope(
        event_id,
        "ORDER_CREATED",
        {"orderId": order_id, "userId": user_id, "items": items, "status": "PENDING"},
        timestamp,
    )


def reserve(event_id, saga_id, order_id, items):
    return envelope(
        event_id,
        "RESERVE_INVENTORY",
        {"sagaId": saga_id, "orderId": order_id, "userId": "u-1", "items": items},
    )


def release(event_id, saga_id, order_id):
    return envelope(event_id, "RELEASE_INVENTORY", {"sagaId": saga_id, "orderId": order_id})


def cancelled(event_id, order_id):
    return envelope(
        event_id, "ORDER_CANCELLED", {"orderId": order_id, "userId": "u-1", "reason": "customer request"}
    )


def line(product, quantity, price=None):
    out = {"productId": product, "quantity": quantity}
    if price is not None:
        out["price"] = price
    return out


def kpl_record(n):
    fixture = json.loads(KPL_FIXTURE.read_text())
    rec = record(n, fixture["kinesis_partition_key"], b"")
    # The aggregate's bytes, exactly as the KPL wrote them.
    rec["kinesis"]["data"] = fixture["aggregated_base64"]
    return rec


CASES = {
    # One order from an outside producer: its lines are reserved.
    "order-created": [
        record(1, "o-1001", order_created(
            "0b6f7c0e-2a8e-4d0c-9b1e-1f1c2d3e4f50", "o-1001",
            [line("p-1", 2, 19.99), line("p-2", 1, "5.00")]))
    ],
    # A saga command: reserves and answers INVENTORY_RESERVED.
    "reserve-command": [
        record(1, "o-2001", reserve("c1a2b3c4-0000-4000-8000-000000002001", "s-2001", "o-2001",
                                    [line("p-1", 1), line("p-3", 2)]), COMMANDS_ARN)
    ],
    # The same command in the CQRS command shape (no envelope, no eventId).
    "reserve-command-cqrs": [
        record(1, "o-2002", {"commandType": "RESERVE_INVENTORY", "orderId": "o-2002", "userId": "u-1",
                             "items": [line("p-2", 3)]}, COMMANDS_ARN)
    ],
    # A command the stock cannot satisfy: answers INVENTORY_RESERVATION_FAILED
    # with reason OUT_OF_STOCK and productId p-low.
    "reserve-command-insufficient": [
        record(1, "o-2003", reserve("c1a2b3c4-0000-4000-8000-000000002003", "s-2003", "o-2003",
                                    [line("p-1", 1), line("p-low", 5)]), COMMANDS_ARN)
    ],
    # A release with nothing reserved: answers INVENTORY_RELEASED with empty items.
    "release-command": [
        record(1, "o-2001", release("c1a2b3c4-0000-4000-8000-000000012001", "s-2001", "o-2001"), COMMANDS_ARN)
    ],
    # The customer cancels: whatever the order reserved is given back (here: nothing).
    "order-cancelled": [
        record(1, "o-1001", cancelled("5d9e8f7a-1b2c-4d3e-8f40-000000001001", "o-1001"))
    ],
    # Events and commands of several orders, with types this function skips.
    "mixed-batch": [
        record(1, "o-3001", order_created("aa000000-0000-4000-8000-000000003001", "o-3001", [line("p-1", 1)])),
        record(2, "u-9", envelope("aa000000-0000-4000-8000-000000009001", "USER_REGISTERED",
                                  {"userId": "u-9", "email": "jane@example.com",
                                   "registrationDate": "2025-10-30T11:00:00Z"})),
        record(3, "o-3002", reserve("aa000000-0000-4000-8000-000000003002", "s-3002", "o-3002",
                                    [line("p-2", 2), line("p-3", 1)])),
        record(4, "o-3003", envelope("aa000000-0000-4000-8000-000000003003", "ORDER_PLACED",
                                     {"orderId": "o-3003", "userId": "u-1", "items": [line("p-1", 1)]})),
        record(5, "o-3001", cancelled("aa000000-0000-4000-8000-000000013001", "o-3001")),
        record(6, "o-3002", release("aa000000-0000-4000-8000-000000013002", "s-3002", "o-3002")),
    ],
    # One record delivered twice (a producer without eventId, naive timestamp):
    # the order is reserved once.
    "duplicate": [
        record(1, "o-4001", order_created(None, "o-4001", [line("p-3", 4)], timestamp="2025-10-30T12:00:00.123456")),
        record(2, "o-4001", order_created(None, "o-4001", [line("p-3", 4)], timestamp="2025-10-30T12:00:00.123456")),
    ],
    # Non-JSON data between two good records: it is dead-lettered and both orders are reserved.
    "poison-in-batch": [
        record(1, "o-5001", order_created("bb000000-0000-4000-8000-000000005001", "o-5001", [line("p-1", 1)])),
        record(2, "o-5000", "this is not JSON {"),
        record(3, "o-5002", order_created("bb000000-0000-4000-8000-000000005002", "o-5002", [line("p-2", 1)])),
    ],
    # One KPL-aggregated record holding ORDER_CREATED for o-1, o-2 and o-3.
    "kpl-aggregated": [kpl_record(1)],
    # An order for a product the shop does not have: dead-lettered, nothing reserved.
    "unknown-product": [
        record(1, "o-6001", order_created("cc000000-0000-4000-8000-000000006001", "o-6001",
                                          [line("p-1", 1), line("p-unknown", 1)]))
    ],
    # Not enough stock for an ORDER_CREATED: logged and acknowledged, nothing reserved.
    "insufficient-stock": [
        record(1, "o-7001", order_created("dd000000-0000-4000-8000-000000007001", "o-7001",
                                          [line("p-1", 1), line("p-low", 5)]))
    ],
    # 51 distinct products: invalid by contract, dead-lettered, nothing reserved.
    "too-many-lines": [
        record(1, "o-8001", order_created("ee000000-0000-4000-8000-000000008001", "o-8001",
                                          [line(f"p-{i}", 1) for i in range(1, 52)]))
    ],
    # A reservation has one owner. The saga s-9001 reserves p-1 x2; the
    # ORDER_CANCELLED after it leaves the saga's reservation alone (skipped,
    # logged): only the saga's RELEASE_INVENTORY gives it back.
    "cancel-saga-reservation": [
        record(1, "o-9001", reserve("ff000000-0000-4000-8000-000000009001", "s-9001", "o-9001",
                                    [line("p-1", 2)]), COMMANDS_ARN),
        record(2, "o-9001", cancelled("ff000000-0000-4000-8000-000000019001", "o-9001")),
    ],
    # ORDER_CREATED o-9002 reserves p-2 x3; a RELEASE_INVENTORY of saga s-9002
    # gives nothing back (the reservation is ORDER_CREATED's) and answers
    # INVENTORY_RELEASED with empty items.
    "release-order-created-reservation": [
        record(1, "o-9002", order_created("ff000000-0000-4000-8000-000000009002", "o-9002", [line("p-2", 3)])),
        record(2, "o-9002", release("ff000000-0000-4000-8000-000000029002", "s-9002", "o-9002"), COMMANDS_ARN),
    ],
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, records in CASES.items():
        (OUT / f"{name}.json").write_text(json.dumps({"Records": records}, indent=2) + "\n")
        # Every case is acknowledged in full: nothing in them is transient.
        (OUT / f"{name}.expected.json").write_text(json.dumps({"batchItemFailures": []}, indent=2) + "\n")
    print(f"wrote {len(CASES)} cases to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
