"""Checks of template.yaml after the SAM transform, for each way it can be
deployed (streams created or passed in, enhanced fan-out on or off, event
filters on or off, tuned parameters).

Each check is a function returning a list of problems, so the same checks
also run against deliberately broken copies of the template
(`test_checks_catch_broken_templates`): a check that cannot fail is caught
there.

Expectations come from the project conventions (which function handles
which types, which variables each binary needs) and, where the code exists,
from the Rust sources themselves (the variables a binary requires and the
AWS calls it makes), so a new required variable or a new SDK call without
its permission fails here before it fails in AWS.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cfn_eval import Stack, Unresolvable, load_template, transform

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
CRATES = ROOT / "crates"

EVENTS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/existing-order-events"
COMMANDS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/existing-order-commands"
KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:order-alarms"

# The contract's types (CONTRACT.md): every event type and every command type.
EVENT_TYPES = {
    "USER_REGISTERED", "ORDER_CREATED", "ORDER_PLACED", "ORDER_CANCELLED",
    "INVENTORY_RESERVED", "INVENTORY_RESERVATION_FAILED", "INVENTORY_RELEASED",
    "PAYMENT_PROCESSED", "PAYMENT_FAILED", "PAYMENT_REFUNDED",
    "ORDER_SHIPPED", "SHIPPING_FAILED", "ORDER_COMPLETED", "ORDER_FAILED",
}  # fmt: skip
COMMAND_TYPES = {"RESERVE_INVENTORY", "RELEASE_INVENTORY", "PROCESS_PAYMENT", "REFUND_PAYMENT", "SHIP_ORDER"}

KINESIS_READ = {
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
}
KINESIS_FAN_OUT = {"kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"}
# Actions IAM cannot scope to a resource: the only ones allowed on "*".
NO_RESOURCE_LEVEL = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


@dataclass(frozen=True)
class Mode:
    name: str
    parameters: dict = field(default_factory=dict)

    def events_arn(self) -> str:
        return self.parameters.get("ExistingOrderEventsStreamArn") or "getatt:OrderEventsStream.Arn"

    def commands_arn(self) -> str:
        return self.parameters.get("ExistingOrderCommandsStreamArn") or "getatt:OrderCommandsStream.Arn"

    @property
    def fan_out(self) -> bool:
        return self.parameters.get("EnableEnhancedFanOut") == "true"

    @property
    def filters(self) -> bool:
        return self.parameters.get("EnableEventFilters", "true") == "true"


BASE = {"SenderEmail": "shop@example.com"}
MODES = [
    Mode("created-streams", {**BASE}),
    Mode("existing-streams", {**BASE, "ExistingOrderEventsStreamArn": EVENTS_ARN, "ExistingOrderCommandsStreamArn": COMMANDS_ARN}),
    Mode("existing-events-stream-only", {**BASE, "ExistingOrderEventsStreamArn": EVENTS_ARN}),
    Mode("created-streams-fan-out", {**BASE, "EnableEnhancedFanOut": "true"}),
    Mode("existing-streams-fan-out", {**BASE, "EnableEnhancedFanOut": "true", "ExistingOrderEventsStreamArn": EVENTS_ARN, "ExistingOrderCommandsStreamArn": COMMANDS_ARN}),
    Mode("no-event-filters", {**BASE, "EnableEventFilters": "false"}),
    Mode(
        "tuned",
        {
            **BASE,
            "Architecture": "x86_64",
            "MemorySize": 256,
            "Timeout": 60,
            "MaxConcurrency": 64,
            "BatchSize": 500,
            "MaximumBatchingWindowInSeconds": 5,
            "ParallelizationFactor": 4,
            "MaximumRetryAttempts": 3,
            "MaximumRecordAgeInSeconds": 600,
            "SenderIdentity": "example.com",
            "ExistingOrderEventsStreamArn": EVENTS_ARN,
            "ExistingOrderCommandsStreamArn": COMMANDS_ARN,
            "StreamKmsKeyArn": KMS_KEY_ARN,
            "AlarmTopicArn": TOPIC_ARN,
        },
    ),
]  # fmt: skip


@dataclass(frozen=True)
class Function:
    logical_id: str
    crate: str
    role: str
    log_group: str
    # stream ("events" | "commands") -> the types this function handles there
    handles: dict
    # every variable the binary requires (conventions file)
    env: frozenset
    # enhanced fan-out consumer per stream
    consumers: dict


FUNCTIONS = [
    Function(
        "EmailNotificationFunction",
        "email-notification",
        "EmailNotificationRole",
        "EmailNotificationLogGroup",
        {"events": {"USER_REGISTERED", "ORDER_PLACED", "ORDER_COMPLETED", "ORDER_FAILED"}},
        frozenset({"SENDER_EMAIL", "CUSTOMERS_TABLE", "IDEMPOTENCY_TABLE", "DEAD_LETTER_QUEUE_URL", "MAX_CONCURRENCY", "METRICS_NAMESPACE"}),
        {"events": "EmailNotificationEventsConsumer"},
    ),
    Function(
        "InventoryUpdateFunction",
        "inventory-update",
        "InventoryUpdateRole",
        "InventoryUpdateLogGroup",
        {"events": {"ORDER_CREATED", "ORDER_CANCELLED"}, "commands": {"RESERVE_INVENTORY", "RELEASE_INVENTORY"}},
        frozenset({"INVENTORY_TABLE", "ORDER_EVENTS_STREAM", "IDEMPOTENCY_TABLE", "DEAD_LETTER_QUEUE_URL", "MAX_CONCURRENCY", "METRICS_NAMESPACE"}),
        {"events": "InventoryUpdateEventsConsumer", "commands": "InventoryUpdateCommandsConsumer"},
    ),
    Function(
        "OrderSagaStepFunction",
        "order-saga-step",
        "OrderSagaStepRole",
        "OrderSagaStepLogGroup",
        {
            "events": {
                "ORDER_PLACED", "ORDER_CANCELLED", "INVENTORY_RESERVED", "INVENTORY_RESERVATION_FAILED",
                "INVENTORY_RELEASED", "PAYMENT_PROCESSED", "PAYMENT_FAILED", "PAYMENT_REFUNDED",
                "ORDER_SHIPPED", "SHIPPING_FAILED",
            }
        },
        frozenset({"SAGA_TABLE", "ORDER_COMMANDS_STREAM", "ORDER_EVENTS_STREAM", "DEAD_LETTER_QUEUE_URL", "MAX_CONCURRENCY", "METRICS_NAMESPACE"}),
        {"events": "OrderSagaStepEventsConsumer"},
    ),
]  # fmt: skip

TABLES = {
    "INVENTORY_TABLE": ("InventoryTable", "productId"),
    "SAGA_TABLE": ("SagaTable", "orderId"),
    "IDEMPOTENCY_TABLE": ("IdempotencyTable", "id"),
    "CUSTOMERS_TABLE": ("CustomersTable", "userId"),
}


def stream_arn(mode: Mode, stream: str) -> str:
    return mode.events_arn() if stream == "events" else mode.commands_arn()


def expected_env_value(stack: Stack, mode: Mode, name: str) -> str:
    if name in TABLES:
        return f"ref:{TABLES[name][0]}"
    return {
        "DEAD_LETTER_QUEUE_URL": "ref:DeadLetterQueue",
        "ORDER_EVENTS_STREAM": mode.events_arn(),
        "ORDER_COMMANDS_STREAM": mode.commands_arn(),
        "SENDER_EMAIL": stack.parameters["SenderEmail"],
        "MAX_CONCURRENCY": stack.parameters["MaxConcurrency"],
        "METRICS_NAMESPACE": stack.parameters["MetricsNamespace"],
    }[name]


def expected_grants(stack: Stack, mode: Mode, fn: Function) -> dict[str, set]:
    """Every action each role may perform, and on exactly which resources."""
    grants: dict[str, set] = {}

    def allow(actions, *resources):
        for action in actions:
            grants.setdefault(action, set()).update(resources)

    allow({"logs:CreateLogStream", "logs:PutLogEvents"}, f"getatt:{fn.log_group}.Arn")
    allow(NO_RESOURCE_LEVEL, "*")
    allow({"sqs:SendMessage"}, "getatt:DeadLetterQueue.Arn")
    for stream in fn.handles:
        allow(KINESIS_READ, stream_arn(mode, stream))
        if mode.fan_out:
            allow(KINESIS_FAN_OUT, f"getatt:{fn.consumers[stream]}.ConsumerARN")
    key = stack.parameters["StreamKmsKeyArn"]
    table = lambda env: f"getatt:{TABLES[env][0]}.Arn"  # noqa: E731
    if fn.crate == "email-notification":
        allow({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}, table("IDEMPOTENCY_TABLE"))
        allow({"dynamodb:GetItem", "dynamodb:UpdateItem"}, table("CUSTOMERS_TABLE"))
        identity = "arn:aws:ses:us-east-1:123456789012:identity/"
        if stack.parameters["SenderIdentity"]:
            allow({"ses:SendEmail"}, identity + stack.parameters["SenderIdentity"])
        else:
            sender = stack.parameters["SenderEmail"]
            allow({"ses:SendEmail"}, identity + sender.split("@")[1], identity + sender)
        if key:
            allow({"kms:Decrypt"}, key)
    elif fn.crate == "inventory-update":
        allow(
            {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"},
            table("INVENTORY_TABLE"),
        )
        allow({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}, table("IDEMPOTENCY_TABLE"))
        allow({"kinesis:PutRecords"}, mode.events_arn())
        if key:
            allow({"kms:Decrypt", "kms:GenerateDataKey"}, key)
    elif fn.crate == "order-saga-step":
        allow({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, table("SAGA_TABLE"))
        allow({"kinesis:PutRecords"}, mode.events_arn(), mode.commands_arn())
        if key:
            allow({"kms:Decrypt", "kms:GenerateDataKey"}, key)
    return grants


# --------------------------------------------------------------- Rust sources


def rust_sources(crate: str) -> list[str]:
    """The non-test code of a crate (test modules cut off)."""
    src = CRATES / crate / "src"
    if not src.is_dir():
        return []
    return [path.read_text(encoding="utf-8").split("#[cfg(test)]")[0] for path in sorted(src.rglob("*.rs"))]


VAR = r'"([A-Z][A-Z0-9_]*)"'
REQUIRED_VAR = re.compile(r"(?:\brequired|StreamRef::from_env)\(\s*[\w&]+\s*,\s*" + VAR + r"|ConfigError::Missing\(\s*" + VAR)
CORE_CONFIG = re.compile(r"CoreConfig::from_vars\(\s*[\w&]+\s*,\s*(true|false)\s*\)")


def required_vars_in_code(crate: str) -> set[str]:
    """Variables the binary stops without: its own and the core's."""
    names: set[str] = set()
    for text in rust_sources(crate):
        names.update(a or b for a, b in REQUIRED_VAR.findall(text))
        for needs_idempotency in CORE_CONFIG.findall(text):
            core_config = (CRATES / "stream-core" / "src" / "config.rs").read_text(encoding="utf-8")
            core = {a or b for a, b in REQUIRED_VAR.findall(core_config.split("#[cfg(test)]")[0])}
            if needs_idempotency == "false":
                core.discard("IDEMPOTENCY_TABLE")
            names |= core
    return names


# SDK call -> IAM action, per client crate (a file counts only for the
# clients it names, so `.query()` of another library is not DynamoDB's).
SDK_ACTIONS = {
    "aws_sdk_dynamodb": {
        "get_item": "dynamodb:GetItem", "put_item": "dynamodb:PutItem", "update_item": "dynamodb:UpdateItem",
        "delete_item": "dynamodb:DeleteItem", "query": "dynamodb:Query", "scan": "dynamodb:Scan",
        "batch_get_item": "dynamodb:BatchGetItem", "batch_write_item": "dynamodb:BatchWriteItem",
        "transact_get_items": "dynamodb:GetItem",
    },
    "aws_sdk_kinesis": {"put_records": "kinesis:PutRecords", "put_record": "kinesis:PutRecord"},
    "aws_sdk_sqs": {"send_message": "sqs:SendMessage", "send_message_batch": "sqs:SendMessage"},
    "aws_sdk_sesv2": {"send_email": "ses:SendEmail", "send_bulk_email": "ses:SendBulkEmail"},
}  # fmt: skip
# Actions inside TransactWriteItems are authorized one by one.
TRANSACT_ITEMS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def sdk_actions_in(texts: list[str]) -> set[str]:
    actions = set()
    for text in texts:
        for client, calls in SDK_ACTIONS.items():
            if client not in text:
                continue
            for call, action in calls.items():
                if re.search(r"\.\s*" + call + r"\(\)", text):
                    actions.add(action)
            if client == "aws_sdk_dynamodb" and re.search(r"\.\s*transact_write_items\(\)", text):
                for builder, action in TRANSACT_ITEMS.items():
                    if re.search(r"\b" + builder + r"::builder\(\)", text):
                        actions.add(action)
    return actions


def aws_actions_in_code(fn: Function) -> set[str]:
    """The AWS actions the binary performs: its own calls and the core's
    (dead letters always; idempotency and publishing where it uses them)."""
    core = CRATES / "stream-core" / "src"

    def core_file(name: str) -> list[str]:
        path = core / name
        return [path.read_text(encoding="utf-8").split("#[cfg(test)]")[0]] if path.exists() else []

    texts = rust_sources(fn.crate) + core_file("dead_letter.rs")
    if "IDEMPOTENCY_TABLE" in fn.env:
        texts += core_file("idempotency_dynamodb.rs")
    if fn.env & {"ORDER_EVENTS_STREAM", "ORDER_COMMANDS_STREAM"}:
        texts += core_file("publisher.rs")
    return sdk_actions_in(texts)


# ------------------------------------------------------------ filter patterns


def pattern_matches(pattern: dict, document: dict) -> bool:
    """Lambda/EventBridge matching for the subset the template uses: nested
    keys and lists of exact values. Anything else is refused, so a richer
    pattern needs this matcher extended rather than silently passing."""
    for key, rule in pattern.items():
        if key not in document:
            return False
        value = document[key]
        if isinstance(rule, dict):
            if not isinstance(value, dict) or not pattern_matches(rule, value):
                return False
        elif isinstance(rule, list):
            if any(not isinstance(r, (str, int, float)) for r in rule):
                raise NotImplementedError(f"filter rule {rule!r} is beyond this matcher")
            if value not in rule:
                return False
        else:
            raise NotImplementedError(f"filter rule {rule!r} is not a list")
    return True


def delivered(filters: list[dict], data: dict) -> bool:
    """Lambda ORs the filters of one mapping."""
    return any(pattern_matches(f, {"data": data}) for f in filters)


PROBE_TYPES = sorted(EVENT_TYPES | COMMAND_TYPES | {"SOMETHING_NEW", "order_placed"})


def probe_records():
    for kind in PROBE_TYPES:
        yield ("eventType", kind), {"eventType": kind, "timestamp": "2025-01-01T00:00:00Z", "payload": {}}
        yield ("commandType", kind), {"commandType": kind, "orderId": "o-1", "sagaId": "s-1"}


# ------------------------------------------------------------------- checks


def mappings_of(stack: Stack, fn: Function) -> dict[str, dict]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in stack.of_type("AWS::Lambda::EventSourceMapping").items()
        if resource["Properties"].get("FunctionName") == f"ref:{fn.logical_id}"
    }


def event_source_problems(stack: Stack, mode: Mode) -> list[str]:
    problems = []
    p = stack.parameters
    all_mappings = stack.of_type("AWS::Lambda::EventSourceMapping")
    expected_count = sum(len(fn.handles) for fn in FUNCTIONS)
    if len(all_mappings) != expected_count:
        problems.append(f"{len(all_mappings)} event source mappings, expected {expected_count}")
    for fn in FUNCTIONS:
        mappings = mappings_of(stack, fn)
        by_stream = {}
        for stream in fn.handles:
            source = f"getatt:{fn.consumers[stream]}.ConsumerARN" if mode.fan_out else stream_arn(mode, stream)
            found = [m for m in mappings.values() if m.get("EventSourceArn") == source]
            if len(found) != 1:
                problems.append(f"{fn.logical_id}: {len(found)} mappings read {source}, expected 1")
                continue
            by_stream[stream] = found[0]
        if len(mappings) != len(fn.handles):
            problems.append(f"{fn.logical_id}: {len(mappings)} mappings, expected {len(fn.handles)}")
        for stream, m in by_stream.items():
            where = f"{fn.logical_id} <- {stream}"
            expect = {
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "BisectBatchOnFunctionError": True,
                "StartingPosition": "TRIM_HORIZON",
                "DestinationConfig": {"OnFailure": {"Destination": "getatt:DeadLetterQueue.Arn"}},
                "BatchSize": p["BatchSize"],
                "MaximumBatchingWindowInSeconds": p["MaximumBatchingWindowInSeconds"],
                "ParallelizationFactor": p["ParallelizationFactor"],
                "MaximumRetryAttempts": p["MaximumRetryAttempts"],
                "MaximumRecordAgeInSeconds": p["MaximumRecordAgeInSeconds"],
            }
            for key, value in expect.items():
                if m.get(key) != value:
                    problems.append(f"{where}: {key} is {m.get(key)!r}, expected {value!r}")
            retries, age = m.get("MaximumRetryAttempts"), m.get("MaximumRecordAgeInSeconds")
            if retries is None or not 0 <= int(retries) <= 10000:
                problems.append(f"{where}: retries are not bounded ({retries!r})")
            if age is None or not 60 <= int(age) <= 604800:
                problems.append(f"{where}: record age is not bounded ({age!r})")
            problems += filter_problems(where, m.get("FilterCriteria"), fn.handles[stream], stream, mode)
    return problems


def filter_problems(where: str, criteria, handled: set, stream: str, mode: Mode) -> list[str]:
    if not mode.filters:
        return [] if criteria is None else [f"{where}: filters set although EnableEventFilters=false"]
    if not criteria or not criteria.get("Filters"):
        return [f"{where}: no event filter"]
    problems = []
    filters = []
    for f in criteria["Filters"]:
        pattern = json.loads(f["Pattern"])
        if set(pattern) != {"data"}:
            problems.append(f"{where}: pattern {pattern} filters on more than the record data")
        filters.append(pattern)
    if len(filters) > 5:
        problems.append(f"{where}: {len(filters)} filters, Lambda allows 5")
    shapes = ["eventType", "commandType"] if stream == "commands" else ["eventType"]
    expected = {(shape, kind) for shape in shapes for kind in handled}
    actual = {key for key, data in probe_records() if delivered(filters, data)}
    if actual - expected:
        problems.append(f"{where}: delivers types it does not handle: {sorted(actual - expected)}")
    if expected - actual:
        problems.append(f"{where}: filters out types it handles: {sorted(expected - actual)}")
    return problems


def function_problems(stack: Stack, mode: Mode) -> list[str]:
    problems = []
    p = stack.parameters
    for fn in FUNCTIONS:
        resource = stack.resources.get(fn.logical_id)
        if resource is None or resource["Type"] != "AWS::Lambda::Function":
            problems.append(f"{fn.logical_id} is missing")
            continue
        props = resource["Properties"]
        expect = {
            "Runtime": "provided.al2023",
            "Handler": "bootstrap",
            "Architectures": [p["Architecture"]],
            "MemorySize": p["MemorySize"],
            "Timeout": p["Timeout"],
            "TracingConfig": {"Mode": "Active"},
            "Role": f"getatt:{fn.role}.Arn",
        }
        for key, value in expect.items():
            if props.get(key) != value:
                problems.append(f"{fn.logical_id}: {key} is {props.get(key)!r}, expected {value!r}")
        logging = props.get("LoggingConfig", {})
        if logging.get("LogFormat") != "JSON" or logging.get("LogGroup") != f"ref:{fn.log_group}":
            problems.append(f"{fn.logical_id}: LoggingConfig {logging!r} is not JSON into {fn.log_group}")
        if resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary") != fn.crate:
            problems.append(f"{fn.logical_id}: does not build the binary {fn.crate}")
        if resource.get("Metadata", {}).get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{fn.logical_id}: BuildMethod is not rust-cargolambda")
    return problems


def env_problems(stack: Stack, mode: Mode) -> list[str]:
    problems = []
    for fn in FUNCTIONS:
        resource = stack.resources.get(fn.logical_id)
        if resource is None:
            problems.append(f"{fn.logical_id} is missing")
            continue
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        needed = fn.env | required_vars_in_code(fn.crate)
        for name in sorted(needed):
            if name not in variables:
                problems.append(f"{fn.logical_id}: {name} is not set")
                continue
            try:
                expected = expected_env_value(stack, mode, name)
            except KeyError:
                continue  # a variable this test knows no value for: being set is enough
            if variables[name] != expected:
                problems.append(f"{fn.logical_id}: {name} is {variables[name]!r}, expected {expected!r}")
    return problems


def role_grants(stack: Stack, role: str) -> tuple[dict[str, set], list[str]]:
    """(action -> resources) of a role's identity policies, and problems
    with their shape."""
    problems = []
    resource = stack.resources.get(role)
    if resource is None:
        return {}, [f"{role} is missing"]
    props = resource["Properties"]
    if props.get("ManagedPolicyArns"):
        problems.append(f"{role}: managed policies {props['ManagedPolicyArns']} (their resources are *)")
    grants: dict[str, set] = {}
    for policy in props.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
                problems.append(f"{role}: unexpected statement {statement}")
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in actions:
                if "*" in action:
                    problems.append(f"{role}: wildcard action {action}")
                grants.setdefault(action, set()).update(resources)
    return grants, problems


def iam_problems(stack: Stack, mode: Mode) -> list[str]:
    problems = []
    for fn in FUNCTIONS:
        grants, shape = role_grants(stack, fn.role)
        problems += shape
        for action, resources in sorted(grants.items()):
            wild = sorted(r for r in resources if "*" in str(r))
            if wild and action not in NO_RESOURCE_LEVEL:
                problems.append(f"{fn.role}: {action} on {wild}")
            if any(not str(r) for r in resources):
                problems.append(f"{fn.role}: {action} on an empty resource")
        expected = expected_grants(stack, mode, fn)
        for action in sorted(set(grants) | set(expected)):
            have, want = grants.get(action, set()), expected.get(action, set())
            if have - want:
                problems.append(f"{fn.role}: {action} also allowed on {sorted(have - want)}")
            if want - have:
                problems.append(f"{fn.role}: {action} not allowed on {sorted(want - have)}")
        for action in sorted(aws_actions_in_code(fn)):
            if action not in grants:
                problems.append(f"{fn.role}: the code of {fn.crate} calls {action}, which the role does not allow")
    return problems


def storage_problems(stack: Stack, mode: Mode) -> list[str]:
    problems = []
    for env, (logical_id, key) in TABLES.items():
        table = stack.resources.get(logical_id)
        if table is None:
            problems.append(f"{logical_id} ({env}) is missing")
            continue
        props = table["Properties"]
        if props.get("KeySchema") != [{"AttributeName": key, "KeyType": "HASH"}]:
            problems.append(f"{logical_id}: key is {props.get('KeySchema')}, expected {key}")
        if {"AttributeName": key, "AttributeType": "S"} not in props.get("AttributeDefinitions", []):
            problems.append(f"{logical_id}: {key} is not a string attribute")
        if props.get("BillingMode") != "PAY_PER_REQUEST":
            problems.append(f"{logical_id}: not PAY_PER_REQUEST")
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True:
            problems.append(f"{logical_id}: point-in-time recovery is off")
        if props.get("SSESpecification", {}).get("SSEEnabled") is not True:
            problems.append(f"{logical_id}: SSE is off")
        if table.get("DeletionPolicy") != "Retain":
            problems.append(f"{logical_id}: would be deleted with the stack")
    ttl = stack.resources.get("IdempotencyTable", {}).get("Properties", {}).get("TimeToLiveSpecification")
    if ttl != {"AttributeName": "expiration", "Enabled": True}:
        problems.append(f"IdempotencyTable: TTL is {ttl!r}, expected on `expiration`")

    queue = stack.resources.get("DeadLetterQueue", {}).get("Properties", {})
    if queue.get("SqsManagedSseEnabled") is not True and not queue.get("KmsMasterKeyId"):
        problems.append("DeadLetterQueue: not encrypted at rest")

    streams = stack.of_type("AWS::Kinesis::Stream")
    expected_streams = {
        logical_id
        for logical_id, param in (("OrderEventsStream", "ExistingOrderEventsStreamArn"), ("OrderCommandsStream", "ExistingOrderCommandsStreamArn"))
        if not mode.parameters.get(param)
    }  # fmt: skip
    if set(streams) != expected_streams:
        problems.append(f"streams created: {sorted(streams)}, expected {sorted(expected_streams)}")
    for logical_id, stream in streams.items():
        props = stream["Properties"]
        if props.get("StreamModeDetails") != {"StreamMode": "ON_DEMAND"}:
            problems.append(f"{logical_id}: not on-demand")
        if props.get("StreamEncryption") != {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}:
            problems.append(f"{logical_id}: encryption is {props.get('StreamEncryption')!r}")
        if props.get("RetentionPeriodHours") != stack.parameters["StreamRetentionHours"]:
            problems.append(f"{logical_id}: retention is not the StreamRetentionHours parameter")

    consumers = stack.of_type("AWS::Kinesis::StreamConsumer")
    expected_consumers = {
        fn.consumers[stream]: stream_arn(mode, stream) for fn in FUNCTIONS for stream in fn.handles
    } if mode.fan_out else {}
    actual_consumers = {k: v["Properties"].get("StreamARN") for k, v in consumers.items()}
    if actual_consumers != expected_consumers:
        problems.append(f"consumers {actual_consumers}, expected {expected_consumers}")
    names = {}
    for logical_id, consumer in consumers.items():
        key = (consumer["Properties"]["StreamARN"], consumer["Properties"]["ConsumerName"])
        if key in names:
            problems.append(f"{logical_id} and {names[key]} share a consumer name on one stream")
        names[key] = logical_id
    return problems


def alarm_problems(stack: Stack, mode: Mode) -> list[str]:
    problems = []
    alarms = list(stack.of_type("AWS::CloudWatch::Alarm").values())

    def find(namespace, metric, dimension):
        return [
            a["Properties"]
            for a in alarms
            if a["Properties"].get("Namespace") == namespace
            and a["Properties"].get("MetricName") == metric
            and dimension in a["Properties"].get("Dimensions", [])
        ]

    wanted = [("AWS/Lambda", metric, {"Name": "FunctionName", "Value": f"ref:{fn.logical_id}"})
              for fn in FUNCTIONS for metric in ("IteratorAge", "Errors")]  # fmt: skip
    wanted.append(("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"Name": "QueueName", "Value": "getatt:DeadLetterQueue.QueueName"}))
    topic = stack.parameters["AlarmTopicArn"]
    for namespace, metric, dimension in wanted:
        found = find(namespace, metric, dimension)
        if len(found) != 1:
            problems.append(f"{len(found)} alarms on {metric} of {dimension['Value']}, expected 1")
            continue
        alarm = found[0]
        if (alarm.get("AlarmActions") or []) != ([topic] if topic else []):
            problems.append(f"{metric} of {dimension['Value']}: actions {alarm.get('AlarmActions')!r}")
        if metric == "IteratorAge" and alarm.get("Threshold") != stack.parameters["IteratorAgeAlarmThresholdMs"]:
            problems.append(f"IteratorAge of {dimension['Value']}: threshold is not the parameter")
        if metric != "IteratorAge" and (alarm.get("Threshold") not in (0, "0") or alarm.get("ComparisonOperator") != "GreaterThanThreshold"):
            problems.append(f"{metric} of {dimension['Value']}: does not fire on the first one")
    return problems


def output_problems(stack: Stack, mode: Mode) -> list[str]:
    expected = {
        "OrderEventsStreamArn": mode.events_arn(),
        "OrderCommandsStreamArn": mode.commands_arn(),
        "OrderEventsStreamName": EVENTS_ARN.split("/")[1] if mode.parameters.get("ExistingOrderEventsStreamArn") else "ref:OrderEventsStream",
        "OrderCommandsStreamName": COMMANDS_ARN.split("/")[1] if mode.parameters.get("ExistingOrderCommandsStreamArn") else "ref:OrderCommandsStream",
        "DeadLetterQueueUrl": "ref:DeadLetterQueue",
        **{f"{logical_id}Name": f"ref:{logical_id}" for logical_id, _ in TABLES.values()},
    }  # fmt: skip
    return [
        f"output {name} is {stack.outputs.get(name)!r}, expected {value!r}"
        for name, value in expected.items()
        if stack.outputs.get(name) != value
    ]


CHECKS = [
    event_source_problems,
    function_problems,
    env_problems,
    iam_problems,
    storage_problems,
    alarm_problems,
    output_problems,
]


# -------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def source_template() -> dict:
    return load_template(str(TEMPLATE))


@pytest.fixture(scope="module")
def transformed(source_template) -> dict:
    return transform(source_template)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_template(transformed, mode, check):
    stack = Stack(transformed, mode.parameters)
    assert check(stack, mode) == []


def test_cfn_lint_version_runs_the_sam_transform():
    from importlib.metadata import version

    # Later cfn-lint releases skip the SAM transform and pass broken templates.
    assert version("cfn-lint") == "1.53.3"


def test_cfn_lint_is_clean():
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    # Informational findings too (explicit deletion policies on stateful resources).
    config = ManualArgs(regions=["us-east-1"], include_checks=["I"])
    matches = lint(TEMPLATE.read_text(encoding="utf-8"), config=config)
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_conventions_lists_match_the_code_where_it_exists():
    """Each binary's required variables, read from its sources, are among
    the ones the conventions list (a new requirement must be added to the
    contract, the template and this test together)."""
    for fn in FUNCTIONS:
        assert required_vars_in_code(fn.crate) <= fn.env, fn.crate


def test_filters_match_exactly_the_types_of_the_conventions():
    """The handled sets above are the conventions file's lists, and every one
    of them is a contract type."""
    for fn in FUNCTIONS:
        for stream, types in fn.handles.items():
            assert types <= (EVENT_TYPES if stream == "events" else COMMAND_TYPES), fn.logical_id


def test_pattern_matcher():
    pattern = {"data": {"eventType": ["A", "B"]}}
    assert delivered([pattern], {"eventType": "A"})
    assert not delivered([pattern], {"eventType": "C"})
    assert not delivered([pattern], {"commandType": "A"})
    assert delivered([pattern, {"data": {"commandType": ["A"]}}], {"commandType": "A"})
    with pytest.raises(NotImplementedError):
        delivered([{"data": {"eventType": [{"prefix": "A"}]}}], {"eventType": "A"})


def test_code_scan_finds_calls():
    text = "use aws_sdk_dynamodb::x; client.transact_write_items(); Put::builder(); ConditionCheck::builder(); c.get_item()"
    assert sdk_actions_in([text]) == {"dynamodb:PutItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem"}
    assert sdk_actions_in(["url.query()"]) == set()
    assert REQUIRED_VAR.findall('required(vars, "SAGA_TABLE")?; StreamRef::from_env(&env, "X_Y")') == [
        ("SAGA_TABLE", ""),
        ("X_Y", ""),
    ]


# ------------------------------------------------- the checks can fail


def _function_events(t, function, event):
    return t["Resources"][function]["Properties"]["Events"][event]["Properties"]


def _statement(t, role, sid):
    for s in t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
        if isinstance(s, dict) and s.get("Sid") == sid:
            return s
    raise KeyError(sid)


def _break_bisect(t):
    del _function_events(t, "OrderSagaStepFunction", "OrderEvents")["BisectBatchOnFunctionError"]


def _break_retries(t):
    _function_events(t, "EmailNotificationFunction", "OrderEvents")["MaximumRetryAttempts"] = -1


def _break_filter_extra_type(t):
    criteria = _function_events(t, "EmailNotificationFunction", "OrderEvents")["FilterCriteria"]
    criteria["Fn::If"][1]["Filters"][0]["Pattern"] = (
        '{"data": {"eventType": ["USER_REGISTERED", "ORDER_PLACED", "ORDER_COMPLETED", "ORDER_FAILED", "ORDER_SHIPPED"]}}'
    )


def _break_filter_command_shape(t):
    criteria = _function_events(t, "InventoryUpdateFunction", "OrderCommands")["FilterCriteria"]
    del criteria["Fn::If"][1]["Filters"][1]


def _break_env(t):
    del t["Resources"]["InventoryUpdateFunction"]["Properties"]["Environment"]["Variables"]["IDEMPOTENCY_TABLE"]


def _break_env_stream_name(t):
    t["Resources"]["OrderSagaStepFunction"]["Properties"]["Environment"]["Variables"]["ORDER_COMMANDS_STREAM"] = {
        "Ref": "OrderCommandsStream"
    }


def _break_iam_wildcard(t):
    _statement(t, "InventoryUpdateRole", "Inventory")["Resource"] = "*"


def _break_iam_missing(t):
    _statement(t, "OrderSagaStepRole", "PublishCommandsAndOutcomes")["Resource"].pop()


def _break_pitr(t):
    del t["Resources"]["SagaTable"]["Properties"]["PointInTimeRecoverySpecification"]


def _break_ttl(t):
    t["Resources"]["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"] = "ttl"


def _break_destination(t):
    del _function_events(t, "InventoryUpdateFunction", "OrderEvents")["DestinationConfig"]


def _break_alarm(t):
    del t["Resources"]["InventoryUpdateIteratorAgeAlarm"]


def _break_fan_out_source(t):
    # reads the stream directly although fan-out is on
    _function_events(t, "EmailNotificationFunction", "OrderEvents")["Stream"]["Fn::If"][1] = {
        "Fn::GetAtt": ["OrderEventsStream", "Arn"]
    }


def _break_unconditional_stream_ref(t):
    t["Resources"]["InventoryUpdateFunction"]["Properties"]["Environment"]["Variables"]["ORDER_EVENTS_STREAM"] = {
        "Fn::GetAtt": ["OrderEventsStream", "Arn"]
    }


BREAKAGES = {
    "no bisect": (_break_bisect, event_source_problems, "created-streams"),
    "unbounded retries": (_break_retries, event_source_problems, "created-streams"),
    "filter delivers an extra type": (_break_filter_extra_type, event_source_problems, "created-streams"),
    "filter drops the command shape": (_break_filter_command_shape, event_source_problems, "created-streams"),
    "no on-failure destination": (_break_destination, event_source_problems, "existing-streams"),
    "mapping bypasses the fan-out consumer": (_break_fan_out_source, event_source_problems, "created-streams-fan-out"),
    "missing variable": (_break_env, env_problems, "created-streams"),
    "stream name instead of ARN": (_break_env_stream_name, env_problems, "created-streams"),
    "wildcard resource": (_break_iam_wildcard, iam_problems, "created-streams"),
    "missing permission": (_break_iam_missing, iam_problems, "existing-streams"),
    "no point-in-time recovery": (_break_pitr, storage_problems, "created-streams"),
    "wrong TTL attribute": (_break_ttl, storage_problems, "created-streams"),
    "missing alarm": (_break_alarm, alarm_problems, "created-streams"),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_checks_catch_broken_templates(source_template, name):
    breakage, check, mode_name = BREAKAGES[name]
    mode = next(m for m in MODES if m.name == mode_name)
    broken = copy.deepcopy(source_template)
    breakage(broken)
    stack = Stack(transform(broken), mode.parameters)
    assert check(stack, mode) != []


def test_a_reference_to_a_stream_that_is_not_created_is_caught(source_template):
    broken = copy.deepcopy(source_template)
    _break_unconditional_stream_ref(broken)
    transformed = transform(broken)
    Stack(transformed, MODES[0].parameters)  # fine while the stack creates it
    with pytest.raises(Unresolvable, match="OrderEventsStream"):
        Stack(transformed, {**BASE, "ExistingOrderEventsStreamArn": EVENTS_ARN})


def test_cfn_lint_catches_a_broken_reference(source_template):
    from cfnlint.api import lint

    text = TEMPLATE.read_text(encoding="utf-8").replace(
        "Destination: !GetAtt DeadLetterQueue.Arn", "Destination: !GetAtt DeadLetterQueu.Arn", 1
    )
    assert any(m.rule.id.startswith("E") for m in lint(text, regions=["us-east-1"]))


def test_every_parameter_is_in_one_console_group(source_template):
    groups = source_template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(source_template["Parameters"])


def test_samconfig_deploys_with_the_template_roles():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    with open(ROOT / "samconfig.toml", "rb") as f:
        config = tomllib.load(f)["default"]
    assert config["global"]["parameters"]["stack_name"]
    deploy = config["deploy"]["parameters"]
    assert "CAPABILITY_IAM" in deploy["capabilities"].split()
    assert deploy["resolve_s3"] is True
    assert config["validate"]["parameters"]["lint"] is True
