#!/usr/bin/env python3
"""Writes the sample Lambda Kinesis events of order-saga-step and
participant-simulator, with the documented response of each beside it.

    python3 scripts/events/saga_events.py

Each file is a full KinesisEvent, usable with
`cargo lambda invoke <function> --data-file events/<function>/<case>.json`.
A saga sample holds the events that bring one order's saga to the step it
is named after, so it means the same against an empty SAGA_TABLE. Event ids
and sequence numbers are fixed, so regenerating changes nothing.
"""

import base64
import json
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = uuid.UUID("0c7f1a52-2b8e-4f39-9d61-5a8e3c0b7d24")
FIRST_SEQUENCE = 49590338271490256608559692538361571095921575989136588800
ARRIVAL = 1761825600.0  # 2025-10-30T12:00:00Z


def event_id(case, n):
    return str(uuid.uuid5(NAMESPACE, f"{case}/{n}"))


def envelope(event_type, payload, eid):
    return {
        "eventId": eid,
        "eventType": event_type,
        "timestamp": "2025-10-30T12:00:00.000Z",
        "payload": payload,
    }


def kinesis_event(records, stream):
    """records: list of (partition_key, bytes)."""
    out = []
    for n, (key, data) in enumerate(records):
        seq = str(FIRST_SEQUENCE + n)
        out.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": key,
                    "sequenceNumber": seq,
                    "data": base64.b64encode(data).decode("ascii"),
                    "approximateArrivalTimestamp": ARRIVAL + n,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{seq}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
                "awsRegion": "us-east-1",
                "eventSourceARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}",
            }
        )
    return {"Records": out}


def dump(value):
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def write(function, case, event, failures=()):
    directory = ROOT / "events" / function
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{case}.json").write_text(json.dumps(event, indent=2) + "\n")
    response = {"batchItemFailures": [{"itemIdentifier": s} for s in failures]}
    (directory / f"{case}.expected.json").write_text(json.dumps(response, indent=2) + "\n")


# --- order-saga-step: events stream ---------------------------------------

def placed(order):
    return (
        "ORDER_PLACED",
        {
            "orderId": order,
            "userId": "u-42",
            "email": "jane.doe@example.com",
            "items": [
                {"productId": "SKU-RED-MUG", "quantity": 2, "price": 12.5},
                {"productId": "SKU-GREEN-TEA", "quantity": 1, "price": "7.25"},
            ],
            "total": 32.25,
        },
    )


def reply(event_type, order, **extra):
    return (event_type, {"orderId": order, "sagaId": order, **extra})


ITEMS = [{"productId": "SKU-RED-MUG", "quantity": 2}, {"productId": "SKU-GREEN-TEA", "quantity": 1}]
FREE_TEXT_REASON = "card declined\r\nissuer said: \x07DO NOT HONOUR\x00 ref=" + "9" * 600


def step(name, order):
    return {
        "placed": lambda: placed(order),
        "cancelled": lambda: ("ORDER_CANCELLED", {"orderId": order, "reason": "customer request"}),
        "reserved": lambda: reply("INVENTORY_RESERVED", order, items=ITEMS),
        "reservation_failed": lambda: reply(
            "INVENTORY_RESERVATION_FAILED", order, reason="OUT_OF_STOCK", productId="SKU-RED-MUG"
        ),
        "released": lambda: reply("INVENTORY_RELEASED", order, items=ITEMS),
        "paid": lambda: reply("PAYMENT_PROCESSED", order),
        "payment_failed": lambda: reply("PAYMENT_FAILED", order, reason="card declined"),
        # A participant's text as it may come: line breaks, control characters
        # and far longer than the saga keeps.
        "payment_failed_free_text": lambda: reply("PAYMENT_FAILED", order, reason=FREE_TEXT_REASON),
        "refunded": lambda: reply("PAYMENT_REFUNDED", order),
        "shipped": lambda: reply("ORDER_SHIPPED", order),
        "shipping_failed": lambda: reply("SHIPPING_FAILED", order, reason="address unreachable"),
    }[name]()


SAGA_CASES = {
    "order-placed": ["placed"],
    "order-cancelled": ["placed", "cancelled"],
    "inventory-reserved": ["placed", "reserved"],
    "inventory-reservation-failed": ["placed", "reservation_failed"],
    "inventory-released": ["placed", "reserved", "payment_failed", "released"],
    "payment-processed": ["placed", "reserved", "paid"],
    "payment-failed": ["placed", "reserved", "payment_failed"],
    "payment-refunded": ["placed", "reserved", "paid", "shipping_failed", "refunded"],
    "order-shipped": ["placed", "reserved", "paid", "shipped"],
    "shipping-failed": ["placed", "reserved", "paid", "shipping_failed"],
    # Cancelled while the inventory is being reserved: the saga asks for the
    # release, and INVENTORY_RELEASED ends it in ORDER_FAILED (ORDER_CANCELLED).
    "order-cancelled-compensated": ["placed", "cancelled", "released"],
    # The participant's free text is kept in the saga, cleaned and cut;
    # ORDER_FAILED carries only the code (PAYMENT_DECLINED).
    "payment-failed-free-text": ["placed", "reserved", "payment_failed_free_text", "released"],
}


def saga_samples():
    for number, (case, steps) in enumerate(SAGA_CASES.items(), start=1001):
        order = f"ord-{number}"
        records = []
        for n, name in enumerate(steps):
            event_type, payload = step(name, order)
            records.append((order, dump(envelope(event_type, payload, event_id(case, n)))))
        write("order-saga-step", case, kinesis_event(records, "order-events"))

    # The same INVENTORY_RESERVED delivered twice (a producer retry: same
    # eventId, new sequence number): the second changes nothing.
    order = "ord-2001"
    records = [
        (order, dump(envelope(*placed(order), event_id("duplicate", 0)))),
        (order, dump(envelope(*step("reserved", order), event_id("duplicate", 1)))),
        (order, dump(envelope(*step("reserved", order), event_id("duplicate", 1)))),
    ]
    write("order-saga-step", "duplicate", kinesis_event(records, "order-events"))

    # Records that can never succeed: dead-lettered and acknowledged, so the
    # response names none of them.
    unpriced = {"orderId": "ord-3003", "userId": "u-42", "items": [{"productId": "SKU-RED-MUG", "quantity": 1}]}
    bad_quantity = {"orderId": "ord-3002", "userId": "u-42", "items": [{"productId": "SKU-RED-MUG", "quantity": 0}]}
    records = [
        ("ord-3001", b"this is not JSON"),
        ("ord-3002", dump(envelope("ORDER_PLACED", bad_quantity, event_id("poison", 1)))),
        ("ord-3003", dump(envelope("ORDER_PLACED", unpriced, event_id("poison", 2)))),
    ]
    write("order-saga-step", "poison", kinesis_event(records, "order-events"))


# --- participant-simulator: commands stream --------------------------------

def command(command_type, order, **extra):
    return (command_type, {"orderId": order, "sagaId": order, **extra})


def simulator_samples():
    cases = {
        "process-payment": [command("PROCESS_PAYMENT", "ord-1001", userId="u-42", total=32.25)],
        "refund-payment": [command("REFUND_PAYMENT", "ord-1002", total="32.25")],
        "ship-order": [command("SHIP_ORDER", "ord-1003", userId="u-42", items=ITEMS)],
        # Inventory commands are inventory-update's: skipped here.
        "not-mine": [command("RESERVE_INVENTORY", "ord-1004", userId="u-42", items=ITEMS)],
    }
    for case, commands in cases.items():
        records = [
            (payload["orderId"], dump(envelope(t, payload, event_id(case, n)))) for n, (t, payload) in enumerate(commands)
        ]
        write("participant-simulator", case, kinesis_event(records, "order-commands"))

    # A redelivered command gets the same reply (same eventId).
    t, payload = command("SHIP_ORDER", "ord-2001", userId="u-42", items=ITEMS)
    data = dump(envelope(t, payload, event_id("duplicate", 0)))
    write("participant-simulator", "duplicate", kinesis_event([("ord-2001", data), ("ord-2001", data)], "order-commands"))

    no_total = {"orderId": "ord-3002", "sagaId": "ord-3002", "userId": "u-42"}
    records = [
        ("ord-3001", b"\xff\xfe not UTF-8"),
        ("ord-3002", dump(envelope("PROCESS_PAYMENT", no_total, event_id("poison", 1)))),
    ]
    write("participant-simulator", "poison", kinesis_event(records, "order-commands"))


if __name__ == "__main__":
    saga_samples()
    simulator_samples()
