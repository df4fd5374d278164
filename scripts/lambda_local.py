"""The functions' resources in the local AWS emulator, for `cargo lambda watch`.

Run by scripts/lambda-tools.sh with the .venv python (boto3 comes with moto),
with AWS_ENDPOINT_URL and test credentials already exported:

    lambda_local.py setup             create what is missing (idempotent) and seed stock
    lambda_local.py env-file PATH     write the functions' variables, KEY=VALUE lines
    lambda_local.py state             print stock, sagas, stream records, mail, dead letters
    lambda_local.py runtime-proxy PORT UPSTREAM_PORT TIMEOUT_S
                                      Lambda runtime API on PORT, forwarded to `cargo lambda
                                      watch` on UPSTREAM_PORT, with a real invocation deadline

Every function reads only its own variables, so one environment serves all three.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import sys
import time
import urllib.error
import urllib.request

import boto3
from botocore.exceptions import ClientError

EVENTS_STREAM = "order-events"
COMMANDS_STREAM = "order-commands"
INVENTORY_TABLE = "inventory"
SAGA_TABLE = "sagas"
IDEMPOTENCY_TABLE = "idempotency"
CUSTOMERS_TABLE = "customers"
DEAD_LETTER_QUEUE = "dead-letters"
SENDER_EMAIL = "orders@example.com"
# The stock the sample events of events/inventory-update/ are written for.
STOCK = {"p-1": 100, "p-2": 100, "p-3": 100, "p-low": 1}

TABLES = {
    INVENTORY_TABLE: "productId",
    SAGA_TABLE: "orderId",
    IDEMPOTENCY_TABLE: "id",
    CUSTOMERS_TABLE: "userId",
}


def client(service: str):
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        sys.exit("lambda_local: AWS_ENDPOINT_URL is not set (eval \"$(scripts/local-aws.sh env)\")")
    return boto3.client(service, endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))


def wait_until(what: str, ready) -> None:
    for _ in range(100):
        if ready():
            return
        time.sleep(0.1)
    sys.exit(f"lambda_local: timed out waiting for {what}")


def setup() -> None:
    ddb = client("dynamodb")
    existing = set(ddb.list_tables()["TableNames"])
    for name, key in TABLES.items():
        if name in existing:
            continue
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        wait_until(f"table {name}", lambda: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE")
        print(f"created table {name} (key {key})", file=sys.stderr)
    reset = os.environ.get("RESET_STOCK") == "1"
    for product, units in STOCK.items():
        item = {"productId": {"S": product}, "available": {"N": str(units)}}
        try:
            if reset:
                ddb.put_item(TableName=INVENTORY_TABLE, Item=item)
            else:
                ddb.put_item(
                    TableName=INVENTORY_TABLE, Item=item, ConditionExpression="attribute_not_exists(productId)"
                )
            print(f"stock {product} = {units}", file=sys.stderr)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    kinesis = client("kinesis")
    streams = set(kinesis.list_streams()["StreamNames"])
    for name in (EVENTS_STREAM, COMMANDS_STREAM):
        if name in streams:
            continue
        kinesis.create_stream(StreamName=name, ShardCount=1)
        wait_until(
            f"stream {name}",
            lambda: kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]
            == "ACTIVE",
        )
        print(f"created stream {name}", file=sys.stderr)

    client("sqs").create_queue(QueueName=DEAD_LETTER_QUEUE)

    domain = SENDER_EMAIL.split("@", 1)[1]
    ses = client("sesv2")
    identities = {i["IdentityName"] for i in ses.list_email_identities().get("EmailIdentities", [])}
    if domain not in identities:
        try:
            ses.create_email_identity(EmailIdentity=domain)
            print(f"created SES identity {domain}", file=sys.stderr)
        except ClientError as err:
            if err.response["Error"]["Code"] != "AlreadyExistsException":
                raise


def env_file(path: str) -> None:
    queue_url = client("sqs").get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
    env = {
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "DEAD_LETTER_QUEUE_URL": queue_url,
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "SENDER_EMAIL": SENDER_EMAIL,
        "CUSTOMERS_TABLE": CUSTOMERS_TABLE,
        "INVENTORY_TABLE": INVENTORY_TABLE,
        "SAGA_TABLE": SAGA_TABLE,
        "ORDER_EVENTS_STREAM": EVENTS_STREAM,
        "ORDER_COMMANDS_STREAM": COMMANDS_STREAM,
        "METRICS_NAMESPACE": "OrderEventsLocal",
    }
    # Passed through when the caller chose them.
    for name in ("AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "RUST_LOG", "MAX_CONCURRENCY", "DEADLINE_MARGIN_MS"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    with open(path, "w", encoding="utf-8") as out:
        for name, value in env.items():
            out.write(f"{name}={value}\n")


def masked(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def stream_records(kinesis, name: str) -> list[dict]:
    records = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            out = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(out["Records"])
            if not out["Records"]:
                break
            iterator = out.get("NextShardIterator")
    return records


def describe_record(data: bytes) -> str:
    try:
        doc = json.loads(data)
        payload = doc.get("payload", {})
        kind = doc.get("eventType") or doc.get("commandType")
        extra = f" reason={payload['reason']!r}" if payload.get("reason") else ""
        return f"{kind} order={payload.get('orderId')} saga={payload.get('sagaId')}{extra}"
    except (ValueError, AttributeError):
        return f"<{len(data)} bytes, not JSON>"


def state() -> None:
    ddb = client("dynamodb")
    stock = ddb.scan(TableName=INVENTORY_TABLE)["Items"]
    products = sorted(
        (i["productId"]["S"], i["available"]["N"]) for i in stock if "available" in i
    )
    print("stock (available): " + (", ".join(f"{p}={n}" for p, n in products) or "none"))
    others = len(stock) - len(products)
    if others:
        print(f"  + {others} reservation item(s)")
    sagas = ddb.scan(TableName=SAGA_TABLE)["Items"]
    print(
        "sagas: "
        + (", ".join(sorted(f"{i['orderId']['S']}={i.get('status', {}).get('S')}" for i in sagas)) or "none")
    )

    kinesis = client("kinesis")
    for name in (EVENTS_STREAM, COMMANDS_STREAM):
        records = stream_records(kinesis, name)
        print(f"stream {name}: {len(records)} record(s)")
        for record in records[-10:]:
            print(f"  {record['PartitionKey']}: {describe_record(record['Data'])}")

    endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as response:
        data = json.load(response)
    messages = [m for m in data.get("ses", {}).get("Message", []) if isinstance(m, dict)]
    print(f"emails sent: {len(messages)}")
    for message in messages[-10:]:
        to = ", ".join(masked(a) for a in message.get("destinations", {}).get("ToAddresses", []))
        print(f"  to {to}: {message.get('subject')!r}")

    sqs = client("sqs")
    queue_url = sqs.get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
    # VisibilityTimeout=0 leaves the messages in the queue for the next look.
    letters = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    count = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    print(f"dead letters: {count['Attributes']['ApproximateNumberOfMessages']}")
    for letter in letters:
        try:
            body = json.loads(letter["Body"])
            data_note = ""
            if body.get("data"):
                data_note = f" data={base64.b64decode(body['data'])[:40]!r}"
            print(f"  {body.get('functionName')}: {body.get('reason')}{data_note}")
        except ValueError:
            print(f"  {letter['Body'][:120]}")


# `cargo lambda watch` (1.9.2) hands every invocation the deadline header
# `Lambda-Runtime-Deadline-Ms: 600000`, a time in January 1970: a function
# that honours its deadline, as these do (they leave records for the next
# invocation when too little time is left), would process nothing. This proxy
# sits between the function and watch's runtime API and gives each
# invocation the deadline Lambda would: TIMEOUT_S from when it is handed out.
# It also turns watch's immediate "no invocation yet" answers (204) into the
# long poll the runtime API normally is.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "date", "server"}


def runtime_proxy(port: int, upstream_port: int, timeout_s: float) -> None:
    upstream = f"http://127.0.0.1:{upstream_port}"

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            is_next = self.command == "GET" and self.path.endswith("/runtime/invocation/next")
            while True:
                request = urllib.request.Request(upstream + self.path, data=body, headers=headers, method=self.command)
                try:
                    with urllib.request.urlopen(request) as response:
                        status, reply_headers, reply = response.status, response.getheaders(), response.read()
                except urllib.error.HTTPError as err:
                    status, reply_headers, reply = err.code, err.headers.items(), err.read()
                if not (is_next and status == 204):
                    break
                time.sleep(0.05)
            self.send_response(status)
            for name, value in reply_headers:
                if name.lower() in HOP_BY_HOP:
                    continue
                if is_next and name.lower() == "lambda-runtime-deadline-ms":
                    value = str(int((time.time() + timeout_s) * 1000))
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def main() -> None:
    match sys.argv[1:]:
        case ["setup"]:
            setup()
        case ["env-file", path]:
            env_file(path)
        case ["state"]:
            state()
        case ["runtime-proxy", port, upstream_port, timeout_s]:
            runtime_proxy(int(port), int(upstream_port), float(timeout_s))
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main()
