"""inventory-update in Python, for the side-by-side benchmark.

Reserves stock for every ORDER_CREATED: one DynamoDB TransactWriteItems per
order, one conditional decrement per line (`available >= quantity`), so an
order holds all of its stock or none. Failed records are reported in
`batchItemFailures` (Kinesis partial batch response).
"""

import json
import os

import boto3
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

TABLE = os.environ["INVENTORY_TABLE"]
dynamodb = boto3.client("dynamodb")
processor = BatchProcessor(event_type=EventType.KinesisDataStreams)


def reserve(record):
    event = json.loads(record.kinesis.data_as_text())
    if event.get("eventType") != "ORDER_CREATED":
        return
    items = [
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"productId": {"S": item["productId"]}},
                "UpdateExpression": "SET available = available - :qty",
                "ConditionExpression": "attribute_exists(productId) AND available >= :qty",
                "ExpressionAttributeValues": {":qty": {"N": str(int(item["quantity"]))}},
            }
        }
        for item in event["payload"]["items"]
    ]
    dynamodb.transact_write_items(TransactItems=items)


def handler(event, context):
    return process_partial_response(
        event=event, record_handler=reserve, processor=processor, context=context
    )
