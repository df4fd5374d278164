"""email-notification in Python, for the side-by-side benchmark.

Sends one SES v2 email per ORDER_PLACED that carries an address. Failed
records are reported in `batchItemFailures` (Kinesis partial batch response).
"""

import json
import os

import boto3
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

SENDER = os.environ["SENDER_EMAIL"]
ses = boto3.client("sesv2")
processor = BatchProcessor(event_type=EventType.KinesisDataStreams)


def send(record):
    event = json.loads(record.kinesis.data_as_text())
    payload = event.get("payload", {})
    if event.get("eventType") != "ORDER_PLACED" or not payload.get("email"):
        return
    order = payload["orderId"]
    text = f"Thank you for your order {order}. Total: {payload.get('total')}."
    ses.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [payload["email"]]},
        Content={
            "Simple": {
                "Subject": {"Data": f"Order {order} confirmed"},
                "Body": {
                    "Text": {"Data": text},
                    "Html": {"Data": f"<p>{text}</p>"},
                },
            }
        },
    )


def handler(event, context):
    return process_partial_response(
        event=event, record_handler=send, processor=processor, context=context
    )
