"""Checks of template.yaml after the SAM transform, for each way it can be
deployed (streams created or passed in, enhanced fan-out on or off, event
filters off (the default) or on, tuned parameters).

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
import sys
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

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
# Actions a role needs although no function code calls them: every other
# action of a role must be an SDK call of its binary's code.
PLATFORM_ACTIONS = {
    # Lambda writes the function's stdout (its logs and EMF metrics) to its
    # log group with the function's role.
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    # Active tracing: Lambda sends the invocation's segments.
    *NO_RESOURCE_LEVEL,
    # The event source mapping's poller reads the stream with the function's
    # role (shared throughput, and enhanced fan-out consumers).
    *KINESIS_READ,
    *KINESIS_FAN_OUT,
    # Kinesis itself uses a customer managed stream key on behalf of the
    # readers and writers of an encrypted stream (StreamKmsKeyArn).
    "kms:Decrypt",
    "kms:GenerateDataKey",
}


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
        # The default deployment has no filters: every record reaches a
        # function. This is the test's own expectation, not read from the
        # template, so a template whose default turns filters on fails.
        return self.parameters.get("EnableEventFilters", "false") == "true"

    @property
    def creates_events_stream(self) -> bool:
        return not self.parameters.get("ExistingOrderEventsStreamArn")

    @property
    def creates_commands_stream(self) -> bool:
        return not self.parameters.get("ExistingOrderCommandsStreamArn")

    def starting_position(self, stream: str) -> dict:
        """Where a mapping on the stream starts: a stream the stack creates
        holds only this system's records and is read from its beginning; an
        existing one wherever the deployer chose."""
        created = self.creates_events_stream if stream == "events" else self.creates_commands_stream
        if created:
            return {"StartingPosition": "TRIM_HORIZON"}
        position = {"StartingPosition": self.parameters["StartingPosition"]}
        if position["StartingPosition"] == "AT_TIMESTAMP":
            position["StartingPositionTimestamp"] = self.parameters["StartingPositionTimestamp"]
        return position


BASE = {"SenderEmail": "shop@example.com"}
MODES = [
    Mode("created-streams", {**BASE}),
    Mode("existing-streams", {**BASE, "ExistingOrderEventsStreamArn": EVENTS_ARN, "ExistingOrderCommandsStreamArn": COMMANDS_ARN, "StartingPosition": "LATEST"}),
    Mode("existing-events-stream-only", {**BASE, "ExistingOrderEventsStreamArn": EVENTS_ARN, "StartingPosition": "TRIM_HORIZON"}),
    Mode("created-streams-fan-out", {**BASE, "EnableEnhancedFanOut": "true"}),
    Mode("existing-streams-fan-out", {**BASE, "EnableEnhancedFanOut": "true", "ExistingOrderEventsStreamArn": EVENTS_ARN, "ExistingOrderCommandsStreamArn": COMMANDS_ARN, "StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": "1767225600"}),
    Mode("no-event-filters", {**BASE, "EnableEventFilters": "false"}),
    Mode("event-filters", {**BASE, "EnableEventFilters": "true", "FilteredOutAlarmThreshold": 5000, "AlarmTopicArn": TOPIC_ARN}),
    Mode("event-filters-fan-out", {**BASE, "EnableEventFilters": "true", "EnableEnhancedFanOut": "true"}),
    Mode("long-retention", {**BASE, "StreamRetentionHours": 168, "MaximumRecordAgeInSeconds": 518400, "MaximumRetryAttempts": 100}),
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
            "SagaStepTimeoutSeconds": 120,
            "SagaSweepSchedule": "rate(5 minutes)",
            "SenderIdentity": "example.com",
            "ExistingOrderEventsStreamArn": EVENTS_ARN,
            "ExistingOrderCommandsStreamArn": COMMANDS_ARN,
            "StartingPosition": "LATEST",
            "StreamKmsKeyArn": KMS_KEY_ARN,
            "AlarmTopicArn": TOPIC_ARN,
        },
    ),
]  # fmt: skip


# What each function reads, from its descriptor in Rust (`DESCRIPTOR` in
# its crate), through the manifest a Rust test keeps current.
MANIFEST = json.loads((ROOT / "functions.json").read_text())
STREAM_KEYS = {"ORDER_EVENTS_STREAM": "events", "ORDER_COMMANDS_STREAM": "commands"}


def handles_of(crate: str) -> dict:
    """stream ("events" | "commands") -> the types the function handles there."""
    for fn in MANIFEST["functions"]:
        if fn["name"] == crate:
            return {STREAM_KEYS[s["streamVar"]]: set(s["eventTypes"]) for s in fn["sources"]}
    raise KeyError(f"{crate} is not in functions.json")


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
    # the binary SAM builds (BuildProperties.Binary); the crate's name unless
    # the crate has more than one
    binary: str = ""
    # an EventBridge schedule instead of stream events: the parameter holding
    # its expression
    schedule_parameter: str = ""

    @property
    def binary_name(self) -> str:
        return self.binary or self.crate

    @property
    def consumes_streams(self) -> bool:
        return bool(self.handles)


FUNCTIONS = [
    Function(
        "EmailNotificationFunction",
        "email-notification",
        "EmailNotificationRole",
        "EmailNotificationLogGroup",
        handles_of("email-notification"),
        frozenset({"SENDER_EMAIL", "CUSTOMERS_TABLE", "IDEMPOTENCY_TABLE", "DEAD_LETTER_QUEUE_URL", "MAX_CONCURRENCY", "METRICS_NAMESPACE"}),
        {"events": "EmailNotificationEventsConsumer"},
    ),
    Function(
        "InventoryUpdateFunction",
        "inventory-update",
        "InventoryUpdateRole",
        "InventoryUpdateLogGroup",
        handles_of("inventory-update"),
        frozenset({"INVENTORY_TABLE", "ORDER_EVENTS_STREAM", "IDEMPOTENCY_TABLE", "DEAD_LETTER_QUEUE_URL", "MAX_CONCURRENCY", "METRICS_NAMESPACE"}),
        {"events": "InventoryUpdateEventsConsumer", "commands": "InventoryUpdateCommandsConsumer"},
    ),
    Function(
        "OrderSagaStepFunction",
        "order-saga-step",
        "OrderSagaStepRole",
        "OrderSagaStepLogGroup",
        handles_of("order-saga-step"),
        frozenset({"SAGA_TABLE", "ORDER_COMMANDS_STREAM", "ORDER_EVENTS_STREAM", "SAGA_STEP_TIMEOUT_SECONDS", "DEAD_LETTER_QUEUE_URL", "MAX_CONCURRENCY", "METRICS_NAMESPACE"}),
        {"events": "OrderSagaStepEventsConsumer"},
    ),
    # The second binary of the saga crate: no stream, a schedule.
    Function(
        "SagaSweepFunction",
        "order-saga-step",
        "SagaSweepRole",
        "SagaSweepLogGroup",
        {},
        frozenset({"SAGA_TABLE", "ORDER_COMMANDS_STREAM", "ORDER_EVENTS_STREAM", "SAGA_STEP_TIMEOUT_SECONDS", "METRICS_NAMESPACE"}),
        {},
        binary="order-saga-sweep",
        schedule_parameter="SagaSweepSchedule",
    ),
]  # fmt: skip
STREAM_FUNCTIONS = [fn for fn in FUNCTIONS if fn.consumes_streams]

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
        "SAGA_STEP_TIMEOUT_SECONDS": stack.parameters["SagaStepTimeoutSeconds"],
    }[name]


def expected_grants(stack: Stack, mode: Mode, fn: Function) -> dict[str, set]:
    """Every action each role may perform, and on exactly which resources."""
    grants: dict[str, set] = {}

    def allow(actions, *resources):
        for action in actions:
            grants.setdefault(action, set()).update(resources)

    allow({"logs:CreateLogStream", "logs:PutLogEvents"}, f"getatt:{fn.log_group}.Arn")
    allow(NO_RESOURCE_LEVEL, "*")
    if fn.consumes_streams:
        # dead letters, and the mappings' on-failure destination
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
        allow({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, table("INVENTORY_TABLE"))
        allow({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}, table("IDEMPOTENCY_TABLE"))
        allow({"kinesis:PutRecords"}, mode.events_arn())
        if key:
            allow({"kms:Decrypt", "kms:GenerateDataKey"}, key)
    elif fn.binary_name == "order-saga-step":
        allow({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, table("SAGA_TABLE"))
        allow({"kinesis:PutRecords"}, mode.events_arn(), mode.commands_arn())
        if key:
            allow({"kms:Decrypt", "kms:GenerateDataKey"}, key)
    elif fn.binary_name == "order-saga-sweep":
        allow({"dynamodb:Scan", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, table("SAGA_TABLE"))
        allow({"kinesis:PutRecords"}, mode.events_arn(), mode.commands_arn())
        if key:
            allow({"kms:Decrypt", "kms:GenerateDataKey"}, key)
    else:
        raise AssertionError(f"no expected grants for {fn.binary_name}")
    return grants


# --------------------------------------------------------------- Rust sources


def _code(path: Path) -> str:
    """A file's non-test code (test modules cut off)."""
    return path.read_text(encoding="utf-8").split("#[cfg(test)]")[0]


def crate_binaries(crate: str) -> dict[str, list[Path]]:
    """Each binary of a crate and its own files: src/main.rs (named after
    the crate), src/bin/<name>.rs, src/bin/<name>/**, and [[bin]] paths."""
    root = CRATES / crate
    binaries: dict[str, list[Path]] = {}
    if (root / "src" / "main.rs").is_file():
        binaries[crate] = [root / "src" / "main.rs"]
    bin_dir = root / "src" / "bin"
    if bin_dir.is_dir():
        for entry in sorted(bin_dir.iterdir()):
            if entry.is_file() and entry.suffix == ".rs":
                binaries[entry.stem] = [entry]
            elif entry.is_dir() and (entry / "main.rs").is_file():
                binaries[entry.name] = sorted(entry.rglob("*.rs"))
    manifest = root / "Cargo.toml"
    if manifest.is_file():
        for target in _manifest_bins(manifest.read_text(encoding="utf-8")):
            path = root / target["path"] if target.get("path") else None
            if path is not None and path.is_file():
                binaries[target["name"]] = [path]
    return binaries


def _manifest_bins(text: str) -> list[dict]:
    if tomllib is not None:
        return [b for b in tomllib.loads(text).get("bin", []) if "name" in b]
    bins = []
    for block in re.split(r"^\[\[bin\]\]\s*$", text, flags=re.M)[1:]:
        block = re.split(r"^\[", block, maxsplit=1, flags=re.M)[0]
        name = re.search(r'^name\s*=\s*"([^"]+)"', block, re.M)
        path = re.search(r'^path\s*=\s*"([^"]+)"', block, re.M)
        if name:
            bins.append({"name": name.group(1), **({"path": path.group(1)} if path else {})})
    return bins


def rust_sources(fn: Function) -> tuple[list[str], list[str]]:
    """The non-test code a function's binary is built from, as (shared,
    own): the crate's library and modules, and the binary's own files.
    Files that do not exist yet are simply not read."""
    src = CRATES / fn.crate / "src"
    if not src.is_dir():
        return [], []
    binaries = crate_binaries(fn.crate)
    binary_files = {path for paths in binaries.values() for path in paths}
    shared = [_code(path) for path in sorted(src.rglob("*.rs")) if path not in binary_files]
    own = [_code(path) for path in binaries.get(fn.binary_name, [])]
    return shared, own


def crate_functions(fn: Function) -> list[Function]:
    return [other for other in FUNCTIONS if other.crate == fn.crate]


VAR = r'"([A-Z][A-Z0-9_]*)"'
REQUIRED_VAR = re.compile(r"(?:\brequired|StreamRef::from_env)\(\s*[\w&]+\s*,\s*" + VAR + r"|ConfigError::Missing\(\s*" + VAR)
CORE_CONFIG = re.compile(r"CoreConfig::from_vars\(\s*[\w&]+\s*,\s*(true|false)\s*\)")


def required_vars_in(texts: list[str]) -> set[str]:
    """Variables the code stops without: its own and the core's."""
    names: set[str] = set()
    for text in texts:
        names.update(a or b for a, b in REQUIRED_VAR.findall(text))
        for needs_idempotency in CORE_CONFIG.findall(text):
            core_config = (CRATES / "stream-core" / "src" / "config.rs").read_text(encoding="utf-8")
            core = {a or b for a, b in REQUIRED_VAR.findall(core_config.split("#[cfg(test)]")[0])}
            if needs_idempotency == "false":
                core.discard("IDEMPOTENCY_TABLE")
            names |= core
    return names


def required_vars_in_code(fn: Function) -> set[str]:
    """Variables the function's binary may stop without: everything its
    crate's shared code and its own files require."""
    shared, own = rust_sources(fn)
    return required_vars_in(shared + own)


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


# The core's SDK adapters, by the type a function's code names; each is
# read from the core file that defines it, wherever the module lives.
CORE_ADAPTERS = ("SqsDeadLetters", "DynamoDbIdempotencyStore", "KinesisPutRecords")
CORE = CRATES / "stream-core" / "src"


def core_files_defining(type_name: str) -> list[str]:
    definition = re.compile(r"\bstruct\s+" + type_name + r"\b")
    texts = [_code(path) for path in sorted(CORE.rglob("*.rs"))]
    found = [text for text in texts if definition.search(text)]
    assert found, f"stream-core defines no {type_name}"
    return found


def aws_actions_in_code(fn: Function) -> tuple[set[str], set[str]]:
    """The AWS actions in the code of the function's binary, as (shared,
    own): the crate's shared code and the binary's own files, each with the
    core adapters it names. A stream consumer also gets the core's dead
    letters, and its idempotency and publishing where its variables say it
    uses them."""

    def with_adapters(texts: list[str]) -> list[str]:
        joined = "\n".join(texts)
        return texts + [text for adapter in CORE_ADAPTERS if adapter in joined for text in core_files_defining(adapter)]

    shared, own = rust_sources(fn)
    shared, own = with_adapters(shared), with_adapters(own)
    if fn.consumes_streams:
        own += core_files_defining("SqsDeadLetters")
        if "IDEMPOTENCY_TABLE" in fn.env:
            own += core_files_defining("DynamoDbIdempotencyStore")
        if fn.env & {"ORDER_EVENTS_STREAM", "ORDER_COMMANDS_STREAM"}:
            own += core_files_defining("KinesisPutRecords")
    return sdk_actions_in(shared), sdk_actions_in(own)


IDEMPOTENCY_SCOPE = re.compile(r'\bIDEMPOTENCY_SCOPE\s*:\s*&str\s*=\s*"([^"]+)"')
# How the core builds an idempotency key from its scope: "<scope>#<key>".
FULL_KEY = re.compile(r'fn full_key\b[^{]*\{\s*format!\(\s*"\{\}#\{\}"\s*,\s*self\.scope\s*,')


def idempotency_key_prefix(fn: Function) -> str | None:
    """The prefix of every idempotency key the function writes, from its
    crate's IDEMPOTENCY_SCOPE and the core's key layout; None for a
    function without idempotency records."""
    if "IDEMPOTENCY_TABLE" not in fn.env:
        return None
    shared, own = rust_sources(fn)
    scopes = {scope for text in shared + own for scope in IDEMPOTENCY_SCOPE.findall(text)}
    assert len(scopes) == 1, f"{fn.crate}: IDEMPOTENCY_SCOPE found {sorted(scopes)}"
    core = "\n".join(_code(path) for path in sorted(CORE.rglob("*.rs")))
    assert FULL_KEY.search(core), "the core no longer builds keys as <scope>#<key>: the roles' dynamodb:LeadingKeys must follow"
    return f"{scopes.pop()}#"


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
    # Lambda discards a record only past MaximumRecordAgeInSeconds (or the
    # retry count, when one is set), and it must still be in the stream then.
    age = int(p["MaximumRecordAgeInSeconds"])
    for created, name in ((mode.creates_events_stream, "events"), (mode.creates_commands_stream, "commands")):
        if created and not age < int(p["StreamRetentionHours"]) * 3600:
            problems.append(f"MaximumRecordAgeInSeconds {age} is not below the {name} stream's retention of {p['StreamRetentionHours']} h")
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
                "StartingPositionTimestamp": None,
                **mode.starting_position(stream),
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
            # Unbounded retries (-1) are fine, unbounded age is not: a record
            # would then be retried until it expires from the stream, and
            # vanish without an on-failure record.
            if retries is None or not -1 <= int(retries) <= 10000:
                problems.append(f"{where}: retries out of range ({retries!r})")
            if age is None or not 60 <= int(age) <= 604800:
                problems.append(f"{where}: record age is not bounded ({age!r})")
            if m.get("MetricsConfig") != {"Metrics": ["EventCount"]}:
                problems.append(f"{where}: MetricsConfig is {m.get('MetricsConfig')!r}, so no dropped or filtered-out counts")
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
        if resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary") != fn.binary_name:
            problems.append(f"{fn.logical_id}: does not build the binary {fn.binary_name}")
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
        needed = fn.env | required_vars_in_code(fn)
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


def role_statements(stack: Stack, role: str) -> list[dict]:
    resource = stack.resources.get(role, {"Properties": {}})
    return [s for policy in resource["Properties"].get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def leading_key_problems(stack: Stack, fn: Function) -> list[str]:
    """Idempotency records share one table: a role reaches only the keys
    of its own function's scope."""
    problems = []
    prefix = idempotency_key_prefix(fn)
    table = f"getatt:{TABLES['IDEMPOTENCY_TABLE'][0]}.Arn"
    for statement in role_statements(stack, fn.role):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if table not in resources:
            continue
        where = f"{fn.role} {statement.get('Sid', '')}"
        if prefix is None:
            problems.append(f"{where}: {fn.binary_name} keeps no idempotency records")
            continue
        if resources != [table]:
            problems.append(f"{where}: the key condition covers other resources too: {resources}")
        expected = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{prefix}*"]}}
        if statement.get("Condition") != expected:
            problems.append(f"{where}: condition {statement.get('Condition')!r}, expected {expected!r}")
    return problems


def iam_problems(stack: Stack, mode: Mode) -> list[str]:
    problems = []
    for fn in FUNCTIONS:
        grants, shape = role_grants(stack, fn.role)
        problems += shape
        problems += leading_key_problems(stack, fn)
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
        shared, own = aws_actions_in_code(fn)
        for action in sorted(own):
            if action not in grants:
                problems.append(f"{fn.role}: the code of {fn.binary_name} calls {action}, which the role does not allow")
        for action in sorted(set(grants) - PLATFORM_ACTIONS - own - shared):
            problems.append(f"{fn.role}: allows {action}, which the code of {fn.binary_name} never calls")
        # The crate's shared code runs in whichever of its binaries uses it:
        # each action must be allowed to at least one of them.
        siblings = crate_functions(fn)
        sibling_grants = set().union(*(role_grants(stack, other.role)[0] for other in siblings))
        for action in sorted(shared - sibling_grants):
            problems.append(
                f"{fn.role}: the code of {fn.crate} calls {action}, which no role of "
                f"{', '.join(other.binary_name for other in siblings)} allows"
            )
    # Per crate, the roles of its binaries allow exactly what its code calls,
    # beyond what Lambda itself does with them (PLATFORM_ACTIONS).
    for crate in sorted({fn.crate for fn in FUNCTIONS}):
        functions = [fn for fn in FUNCTIONS if fn.crate == crate]
        granted = set().union(*(role_grants(stack, fn.role)[0] for fn in functions)) - PLATFORM_ACTIONS
        called = set().union(*(set().union(*aws_actions_in_code(fn)) for fn in functions))
        if granted != called:
            problems.append(f"{crate}: roles allow {sorted(granted - called)} beyond the code, code calls {sorted(called - granted)} beyond the roles")
    return problems


# ------------------------------------------------------------ observability

# Metric names come from the code: the EMF documents list them as
# ("Name", value[, unit]) tuples inside each `to_emf`.
EMF_METRIC = re.compile(r'\(\s*"([A-Z][A-Za-z]+)"\s*,')
# AWS's own metrics the dashboard may show, per namespace and dimension.
AWS_METRICS = {
    ("AWS/Lambda", "FunctionName"): {"IteratorAge", "Duration", "Errors", "Invocations", "Throttles", "ConcurrentExecutions"},
    ("AWS/SQS", "QueueName"): {"ApproximateNumberOfMessagesVisible", "NumberOfMessagesSent", "ApproximateAgeOfOldestMessage"},
}


def emf_metrics_in(texts: list[str]) -> set[str]:
    names = set()
    for text in texts:
        for body in re.findall(r"fn to_emf\b(.*?)\n    \}\n", text, flags=re.S):
            names.update(EMF_METRIC.findall(body))
    return names


def emf_metrics_of(fn: Function) -> set[str]:
    """The EMF metrics the function's binary writes: the core's batch
    metrics for a stream consumer, plus any `to_emf` of its own code (the
    crate's shared code counts for the binary that names its report)."""
    core = [_code(path) for path in sorted(CORE.rglob("*.rs"))]
    names = emf_metrics_in(core) if fn.consumes_streams else set()
    shared, own = rust_sources(fn)
    names |= emf_metrics_in(own)
    if not fn.consumes_streams:
        names |= emf_metrics_in(shared)
    return names


def dashboard_metrics(stack: Stack) -> list[tuple[str, str, str, str]]:
    """(namespace, metric, dimension, value) of every metric on the
    stack's dashboards; problems if a widget's row is of another shape."""
    rows = []
    for logical_id, dashboard in stack.of_type("AWS::CloudWatch::Dashboard").items():
        body = json.loads(dashboard["Properties"]["DashboardBody"])
        for widget in body["widgets"]:
            for row in widget["properties"].get("metrics", []):
                fields = [f for f in row if not isinstance(f, dict)]
                assert len(fields) == 4, f"{logical_id}: metric row {row} is not namespace, name, one dimension"
                rows.append(tuple(fields))
    return rows


def dashboard_problems(stack: Stack, mode: Mode) -> list[str]:
    problems = []
    dashboards = stack.of_type("AWS::CloudWatch::Dashboard")
    if len(dashboards) != 1:
        return [f"{len(dashboards)} dashboards, expected 1"]
    namespace = stack.parameters["MetricsNamespace"]
    by_ref = {f"ref:{fn.logical_id}": fn for fn in FUNCTIONS}
    shown = dashboard_metrics(stack)
    for ns, metric, dimension, value in shown:
        if ns == namespace:
            fn = by_ref.get(value)
            if dimension != "FunctionName" or fn is None:
                problems.append(f"{metric}: dimension {dimension}={value}, expected a function's FunctionName")
            elif metric not in emf_metrics_of(fn):
                problems.append(f"{metric} of {fn.binary_name}: the code never emits it")
        elif (ns, dimension) in AWS_METRICS:
            if metric not in AWS_METRICS[(ns, dimension)]:
                problems.append(f"{ns} {metric}: not a metric this dashboard knows")
            if ns == "AWS/Lambda" and value not in by_ref:
                problems.append(f"{metric}: FunctionName {value} is not one of the stack's functions")
            if ns == "AWS/SQS" and value != "getatt:DeadLetterQueue.QueueName":
                problems.append(f"{metric}: queue {value} is not the dead-letter queue")
        else:
            problems.append(f"{ns}/{metric}: unexpected namespace")
    # What an operator looks for first, per function.
    wanted = {("AWS/Lambda", "IteratorAge", f"ref:{fn.logical_id}") for fn in STREAM_FUNCTIONS}
    wanted |= {("AWS/Lambda", "Duration", f"ref:{fn.logical_id}") for fn in FUNCTIONS}
    wanted |= {(namespace, m, f"ref:{fn.logical_id}") for fn in STREAM_FUNCTIONS for m in ("RecordsProcessed", "PermanentFailures", "TransientFailures")}
    wanted |= {(namespace, "SagasFailedByDeadline", "ref:SagaSweepFunction")}
    have = {(ns, metric, value) for ns, metric, _, value in shown}
    for missing in sorted(wanted - have):
        problems.append(f"dashboard does not show {missing}")
    return problems


def query_problems(stack: Stack, mode: Mode) -> list[str]:
    """The saved Logs Insights queries read the functions' log groups."""
    problems = []
    groups = {f"ref:{logical_id}" for logical_id in stack.of_type("AWS::Logs::LogGroup")}
    stream_groups = {f"ref:{fn.log_group}" for fn in STREAM_FUNCTIONS}
    queries = stack.of_type("AWS::Logs::QueryDefinition")
    if len(queries) < 4:
        problems.append(f"{len(queries)} saved queries, expected the README's 4")
    for logical_id, query in queries.items():
        names = query["Properties"].get("LogGroupNames", [])
        for name in names:
            if name not in groups:
                problems.append(f"{logical_id}: log group {name!r} is not one of the stack's")
        if not stream_groups <= set(names):
            problems.append(f"{logical_id}: does not read {sorted(stream_groups - set(names))}")
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
        fn.consumers[stream]: stream_arn(mode, stream) for fn in STREAM_FUNCTIONS for stream in fn.handles
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

    function = lambda fn: {"Name": "FunctionName", "Value": f"ref:{fn.logical_id}"}  # noqa: E731
    wanted = [("AWS/Lambda", "Errors", function(fn)) for fn in FUNCTIONS]
    wanted += [("AWS/Lambda", "IteratorAge", function(fn)) for fn in STREAM_FUNCTIONS]
    wanted.append(("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"Name": "QueueName", "Value": "getatt:DeadLetterQueue.QueueName"}))
    # Every record an event source mapping gives up on, whether reported to
    # the on-failure destination or dropped, and (only while filters are on)
    # what its filter removes.
    mappings = [f"ref:{logical_id}" for logical_id in stack.of_type("AWS::Lambda::EventSourceMapping")]
    if len(mappings) != sum(len(fn.handles) for fn in FUNCTIONS):
        problems.append(f"{len(mappings)} event source mappings to watch, expected one per function and stream")
    per_mapping = ["OnFailureDestinationDeliveredEventCount", "DroppedEventCount"]
    for mapping in mappings:
        wanted += [("AWS/Lambda", metric, {"Name": "EventSourceMappingUUID", "Value": mapping}) for metric in per_mapping]
        filtered = find("AWS/Lambda", "FilteredOutEventCount", {"Name": "EventSourceMappingUUID", "Value": mapping})
        if mode.filters:
            wanted.append(("AWS/Lambda", "FilteredOutEventCount", {"Name": "EventSourceMappingUUID", "Value": mapping}))
        elif filtered:
            problems.append(f"FilteredOutEventCount alarm on {mapping} although nothing is filtered")
    topic = stack.parameters["AlarmTopicArn"]
    thresholds = {
        "IteratorAge": stack.parameters["IteratorAgeAlarmThresholdMs"],
        "FilteredOutEventCount": stack.parameters["FilteredOutAlarmThreshold"],
    }
    for namespace, metric, dimension in wanted:
        found = find(namespace, metric, dimension)
        if len(found) != 1:
            problems.append(f"{len(found)} alarms on {metric} of {dimension['Value']}, expected 1")
            continue
        alarm = found[0]
        if (alarm.get("AlarmActions") or []) != ([topic] if topic else []):
            problems.append(f"{metric} of {dimension['Value']}: actions {alarm.get('AlarmActions')!r}")
        if alarm.get("ComparisonOperator") != "GreaterThanThreshold":
            problems.append(f"{metric} of {dimension['Value']}: compares with {alarm.get('ComparisonOperator')}")
        if metric in thresholds:
            if str(alarm.get("Threshold")) != str(thresholds[metric]):
                problems.append(f"{metric} of {dimension['Value']}: threshold is not the parameter")
        elif alarm.get("Threshold") not in (0, "0"):
            problems.append(f"{metric} of {dimension['Value']}: does not fire on the first one")
        if metric.endswith("EventCount") and alarm.get("Statistic") != "Sum":
            problems.append(f"{metric} of {dimension['Value']}: statistic {alarm.get('Statistic')}, counts need Sum")
    return problems


def schedule_problems(stack: Stack, mode: Mode) -> list[str]:
    """Scheduled functions: one EventBridge rule on the parameter's
    expression, targeting the function, and leave to invoke it."""
    problems = []
    rules = stack.of_type("AWS::Events::Rule")
    permissions = stack.of_type("AWS::Lambda::Permission")
    for fn in FUNCTIONS:
        targeting = [
            rule["Properties"]
            for rule in rules.values()
            if any(t.get("Arn") == f"getatt:{fn.logical_id}.Arn" for t in rule["Properties"].get("Targets", []))
        ]
        if not fn.schedule_parameter:
            if targeting:
                problems.append(f"{fn.logical_id}: has a schedule, expected stream events only")
            continue
        if len(targeting) != 1:
            problems.append(f"{fn.logical_id}: {len(targeting)} schedules, expected 1")
            continue
        rule = targeting[0]
        if rule.get("ScheduleExpression") != stack.parameters[fn.schedule_parameter]:
            problems.append(f"{fn.logical_id}: schedule {rule.get('ScheduleExpression')!r}, expected the {fn.schedule_parameter} parameter")
        if rule.get("State", "ENABLED") != "ENABLED":
            problems.append(f"{fn.logical_id}: schedule is {rule.get('State')}")
        invokers = [
            p["Properties"]
            for p in permissions.values()
            if p["Properties"].get("FunctionName") == f"ref:{fn.logical_id}"
            and p["Properties"].get("Principal") == "events.amazonaws.com"
            and p["Properties"].get("Action") == "lambda:InvokeFunction"
        ]
        if len(invokers) != 1:
            problems.append(f"{fn.logical_id}: {len(invokers)} permissions for EventBridge to invoke it, expected 1")
        if mappings_of(stack, fn):
            problems.append(f"{fn.logical_id}: reads a stream, expected a schedule only")
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
    schedule_problems,
    output_problems,
    dashboard_problems,
    query_problems,
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
    contract, the template and this test together). A binary's own files
    answer for it alone; a crate's shared code, for one of its binaries at
    least. Sources not written yet are not read."""
    for fn in FUNCTIONS:
        shared, own = rust_sources(fn)
        assert required_vars_in(own) <= fn.env, fn.binary_name
        assert required_vars_in(shared) <= set().union(*(f.env for f in crate_functions(fn))), fn.crate


def test_binaries_are_found_in_their_crates(tmp_path, monkeypatch):
    """The source split the env and IAM checks rely on: src/main.rs is the
    crate's binary, src/bin/ and [[bin]] entries are the others, the rest is
    shared."""
    crate = tmp_path / "two-bins"
    (crate / "src" / "bin").mkdir(parents=True)
    (crate / "src" / "lib.rs").write_text('required(vars, "SHARED_VAR")')
    (crate / "src" / "main.rs").write_text('required(vars, "MAIN_VAR")')
    (crate / "src" / "bin" / "other.rs").write_text('required(vars, "OTHER_VAR")')
    (crate / "src" / "third.rs").write_text('required(vars, "THIRD_VAR")')
    (crate / "Cargo.toml").write_text('[package]\nname = "two-bins"\n\n[[bin]]\nname = "third"\npath = "src/third.rs"\n')
    monkeypatch.setattr(sys.modules[__name__], "CRATES", tmp_path)
    assert sorted(crate_binaries("two-bins")) == ["other", "third", "two-bins"]
    for binary, own_var in (("", "MAIN_VAR"), ("other", "OTHER_VAR"), ("third", "THIRD_VAR"), ("missing", None)):
        fn = Function("F", "two-bins", "R", "L", {}, frozenset(), {}, binary=binary)
        shared, own = rust_sources(fn)
        assert required_vars_in(shared) == {"SHARED_VAR"}
        assert required_vars_in(own) == ({own_var} if own_var else set())


def test_the_default_deployment_delivers_every_record(source_template):
    """Filters off unless asked for: with a data filter, Lambda drops every
    record that is not JSON (KPL aggregates included) before any function
    sees it, so it never reaches the dead-letter queue."""
    assert source_template["Parameters"]["EnableEventFilters"]["Default"] == "false"
    stack = Stack(transform(source_template), BASE)
    mappings = stack.of_type("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == sum(len(fn.handles) for fn in FUNCTIONS)
    for logical_id, mapping in mappings.items():
        assert "FilterCriteria" not in mapping["Properties"], logical_id
    assert not [a for a in stack.of_type("AWS::CloudWatch::Alarm").values() if a["Properties"].get("MetricName") == "FilteredOutEventCount"]
    # ...and the parameter says what turning filters on loses.
    description = " ".join(source_template["Parameters"]["EnableEventFilters"]["Description"].split())
    for words in ("not JSON", "KPL-aggregated", "never dead-lettered", "FilteredOutEventCount"):
        assert words in description


def test_a_dependency_outage_of_six_hours_discards_nothing(source_template):
    """Retries unbounded by count and bounded by age: 12 h by default, at
    least 6 h, below the created streams' retention of 24 h, so a record
    given up on can still be re-read."""
    parameters = source_template["Parameters"]
    assert parameters["MaximumRetryAttempts"]["Default"] == -1
    assert parameters["MaximumRecordAgeInSeconds"]["Default"] == 43200
    assert parameters["StreamRetentionHours"]["Default"] == 24
    stack = Stack(transform(source_template), BASE)
    for logical_id, mapping in stack.of_type("AWS::Lambda::EventSourceMapping").items():
        props = mapping["Properties"]
        assert props["MaximumRetryAttempts"] == "-1", logical_id
        assert 6 * 3600 <= int(props["MaximumRecordAgeInSeconds"]) < int(stack.parameters["StreamRetentionHours"]) * 3600
        assert props["BisectBatchOnFunctionError"] is True, logical_id
    for logical_id, stream in stack.of_type("AWS::Kinesis::Stream").items():
        assert stream["Properties"]["RetentionPeriodHours"] == "24", logical_id


def test_the_retention_constraint_is_stated_where_it_is_chosen(source_template):
    """CloudFormation rules cannot compare numbers, so the constraint lives
    in the parameters' descriptions (and in event_source_problems)."""
    for name in ("MaximumRecordAgeInSeconds", "StreamRetentionHours"):
        description = " ".join(source_template["Parameters"][name]["Description"].split())
        assert "StreamRetentionHours * 3600" in description, name


def test_every_mode_passes_the_rules(transformed):
    for mode in MODES:
        assert Stack(transformed, mode.parameters).rule_failures() == [], mode.name


@pytest.mark.parametrize(
    "parameters, rule",
    [
        # an existing stream, and nobody said where to start reading it
        ({"ExistingOrderEventsStreamArn": EVENTS_ARN}, "ExistingStreamsNeedAStartingPosition"),
        ({"ExistingOrderCommandsStreamArn": COMMANDS_ARN}, "ExistingStreamsNeedAStartingPosition"),
        ({"StartingPosition": "LATEST"}, "CreatedStreamsStartAtTheirBeginning"),
        ({"ExistingOrderEventsStreamArn": EVENTS_ARN, "StartingPosition": "AT_TIMESTAMP"}, "AtTimestampNeedsATimestamp"),
        ({"ExistingOrderEventsStreamArn": EVENTS_ARN, "StartingPosition": "LATEST", "StartingPositionTimestamp": "1767225600"}, "TimestampOnlyWithAtTimestamp"),
    ],
)  # fmt: skip
def test_a_deployment_that_would_read_from_an_unchosen_position_fails(transformed, parameters, rule):
    failures = Stack(transformed, {**BASE, **parameters}).rule_failures()
    assert [f.split(":")[0] for f in failures] == [rule]


def test_created_streams_are_read_from_their_beginning_and_existing_ones_from_the_choice(source_template):
    transformed = transform(source_template)
    created = Stack(transformed, BASE)
    for mapping in created.of_type("AWS::Lambda::EventSourceMapping").values():
        assert mapping["Properties"]["StartingPosition"] == "TRIM_HORIZON"
        assert "StartingPositionTimestamp" not in mapping["Properties"]
    chosen = {**BASE, "ExistingOrderEventsStreamArn": EVENTS_ARN, "StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": "1767225600"}
    mixed = Stack(transformed, chosen)
    positions = {
        m["Properties"]["EventSourceArn"]: (m["Properties"]["StartingPosition"], m["Properties"].get("StartingPositionTimestamp"))
        for m in mixed.of_type("AWS::Lambda::EventSourceMapping").values()
    }
    assert positions == {EVENTS_ARN: ("AT_TIMESTAMP", "1767225600"), "getatt:OrderCommandsStream.Arn": ("TRIM_HORIZON", None)}
    # Without the rule, the mapping would have no starting position: CloudFormation refuses it as well.
    unchosen = Stack(transformed, {**BASE, "ExistingOrderEventsStreamArn": EVENTS_ARN})
    for mapping in unchosen.of_type("AWS::Lambda::EventSourceMapping").values():
        if mapping["Properties"]["EventSourceArn"] == EVENTS_ARN:
            assert "StartingPosition" not in mapping["Properties"]


# How long the functions remember a record's effect, from their code.
TTL_CONSTANT = re.compile(r"(?:idempotency_ttl|REPLY_TTL)\s*(?::\s*Duration)?\s*[:=]\s*Duration::from_secs\(([0-9_ *]+)\)")


def idempotency_ttls_in_code() -> dict[str, int]:
    ttls = {}
    for fn in STREAM_FUNCTIONS:
        if "IDEMPOTENCY_TABLE" not in fn.env:
            continue
        shared, own = rust_sources(fn)
        found = {expr for text in shared + own for expr in TTL_CONSTANT.findall(text)}
        assert found, f"{fn.crate}: no idempotency TTL found"
        seconds = [eval(expr.replace("_", ""), {"__builtins__": {}}) for expr in found]  # digits and * only
        ttls[fn.crate] = min(seconds)
    return ttls


def test_a_stream_never_keeps_a_record_longer_than_the_functions_remember_it(source_template):
    """A redelivery must find the idempotency record of its first delivery:
    the streams' retention may not exceed the shortest idempotency TTL."""
    ttls = idempotency_ttls_in_code()
    assert set(ttls) == {"email-notification", "inventory-update"}
    retention = source_template["Parameters"]["StreamRetentionHours"]
    assert int(retention["MaxValue"]) * 3600 <= min(ttls.values()), ttls
    description = " ".join(retention["Description"].split())
    assert f"{min(ttls.values()) // 86400} days" in description and str(retention["MaxValue"]) in description
    with pytest.raises(Unresolvable, match="above"):
        Stack(source_template, {**BASE, "StreamRetentionHours": int(retention["MaxValue"]) + 1})


def test_the_saved_queries_are_the_readme_s(source_template):
    """The Operations section's Logs Insights queries, saved with the stack."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = {" ".join(line.split()) for line in readme.splitlines() if line.startswith("fields ")}
    stack = Stack(transform(source_template), BASE)
    saved = {" ".join(q["Properties"]["QueryString"].split()) for q in stack.of_type("AWS::Logs::QueryDefinition").values()}
    assert saved and saved <= documented, sorted(saved - documented)


def test_the_dashboard_check_reads_metric_names_from_the_code():
    core = {n for n in emf_metrics_in([_code(p) for p in sorted(CORE.rglob("*.rs"))])}
    assert {"RecordsProcessed", "PermanentFailures", "BatchDuration"} <= core
    sweep = next(fn for fn in FUNCTIONS if fn.binary_name == "order-saga-sweep")
    assert "SagasFailedByDeadline" in emf_metrics_of(sweep) and "RecordsProcessed" not in emf_metrics_of(sweep)


@pytest.mark.parametrize("fn", STREAM_FUNCTIONS, ids=lambda f: f.crate)
def test_cargo_lambda_deploys_with_the_template_s_settings(source_template, fn):
    """`cargo lambda deploy <fn>` (package.metadata.lambda.deploy) gives the
    function the template's memory, timeout, tracing and fixed variables,
    and names the ones a deployment supplies in its env file."""
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    text = (CRATES / fn.crate / "Cargo.toml").read_text(encoding="utf-8")
    deploy = tomllib.loads(text)["package"]["metadata"]["lambda"]["deploy"]
    parameters = source_template["Parameters"]
    assert deploy["memory"] == parameters["MemorySize"]["Default"]
    assert deploy["timeout"] == parameters["Timeout"]["Default"]
    assert deploy["tracing"] == "active"
    assert deploy["env_file"] == f"{fn.crate}.env"
    stack = Stack(transform(source_template), BASE)
    variables = stack.resources[fn.logical_id]["Properties"]["Environment"]["Variables"]
    assert {name: variables[name] for name in deploy["env"]} == deploy["env"]
    for name in fn.env - set(deploy["env"]):
        assert name in text, f"{fn.crate}/Cargo.toml does not say that {name} comes from the env file"


def test_the_saga_step_timeout_reaches_both_saga_binaries(source_template):
    assert source_template["Parameters"]["SagaStepTimeoutSeconds"]["Default"] == 300
    assert source_template["Parameters"]["SagaSweepSchedule"]["Default"] == "rate(1 minute)"
    stack = Stack(transform(source_template), {**BASE, "SagaStepTimeoutSeconds": 45})
    for logical_id in ("OrderSagaStepFunction", "SagaSweepFunction"):
        variables = stack.resources[logical_id]["Properties"]["Environment"]["Variables"]
        assert variables["SAGA_STEP_TIMEOUT_SECONDS"] == "45", logical_id


def test_the_sweep_schedule_accepts_eventbridge_expressions_only(source_template):
    transformed = transform(source_template)
    for good in ("rate(1 minute)", "rate(5 minutes)", "cron(0/2 * * * ? *)"):
        Stack(transformed, {**BASE, "SagaSweepSchedule": good})
    for bad in ("rate(0 minutes)", "every minute", "rate(1 second)"):
        with pytest.raises(Unresolvable):
            Stack(transformed, {**BASE, "SagaSweepSchedule": bad})


def test_filters_match_exactly_the_types_of_the_conventions():
    """The handled sets above are the descriptors' lists, every function in
    the manifest has a template resource, and every type is a contract type
    on its own stream."""
    assert {f["name"] for f in MANIFEST["functions"]} == {fn.crate for fn in STREAM_FUNCTIONS}
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


def _break_record_age(t):
    _function_events(t, "EmailNotificationFunction", "OrderEvents")["MaximumRecordAgeInSeconds"] = -1


def _break_age_beyond_retention(t):
    t["Parameters"]["MaximumRecordAgeInSeconds"]["Default"] = 86400


def _break_filters_by_default(t):
    t["Parameters"]["EnableEventFilters"]["Default"] = "true"


def _break_metrics_config(t):
    del _function_events(t, "InventoryUpdateFunction", "OrderCommands")["MetricsConfig"]


def _break_dropped_alarm(t):
    del t["Resources"]["OrderSagaStepEventsDroppedAlarm"]


def _break_on_failure_alarm_dimension(t):
    dimensions = t["Resources"]["InventoryUpdateCommandsOnFailureAlarm"]["Properties"]["Dimensions"]
    dimensions[0]["Value"] = {"Ref": "InventoryUpdateFunctionOrderEvents"}


def _break_filtered_out_alarm(t):
    del t["Resources"]["EmailNotificationEventsFilteredOutAlarm"]


def _break_filtered_out_alarm_condition(t):
    del t["Resources"]["EmailNotificationEventsFilteredOutAlarm"]["Condition"]


def _break_sweep_scan(t):
    _statement(t, "SagaSweepRole", "Sagas")["Action"].remove("dynamodb:Scan")


def _break_sweep_dead_letters(t):
    _statement(t, "SagaSweepRole", "Sagas")["Action"].append("sqs:SendMessage")


def _break_sweep_schedule(t):
    del t["Resources"]["SagaSweepFunction"]["Properties"]["Events"]


def _break_sweep_schedule_expression(t):
    t["Resources"]["SagaSweepFunction"]["Properties"]["Events"]["Deadlines"]["Properties"]["Schedule"] = "rate(1 minute)"


def _break_sweep_binary(t):
    t["Resources"]["SagaSweepFunction"]["Metadata"]["BuildProperties"]["Binary"] = "order-saga-step"


def _break_sweep_timeout(t):
    del t["Resources"]["SagaSweepFunction"]["Properties"]["Environment"]["Variables"]["SAGA_STEP_TIMEOUT_SECONDS"]


def _break_sweep_errors_alarm(t):
    del t["Resources"]["SagaSweepErrorsAlarm"]


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


def _break_starting_position(t):
    _function_events(t, "InventoryUpdateFunction", "OrderCommands")["StartingPosition"] = "TRIM_HORIZON"


def _break_leading_keys(t):
    del _statement(t, "InventoryUpdateRole", "Idempotency")["Condition"]


def _break_other_scope(t):
    _statement(t, "EmailNotificationRole", "Idempotency")["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] = ["inventory-update#*"]


def _break_unused_action(t):
    _statement(t, "InventoryUpdateRole", "Inventory")["Action"].append("dynamodb:ConditionCheckItem")


def _edit_dashboard(t, old, new):
    body = t["Resources"]["PipelineDashboard"]["Properties"]["DashboardBody"]
    assert old in body["Fn::Sub"]
    body["Fn::Sub"] = body["Fn::Sub"].replace(old, new)


def _break_dashboard_metric(t):
    _edit_dashboard(t, '"RecordsProcessed"', '"RecordsHandled"')


def _break_dashboard_sweep_metric_on_step(t):
    _edit_dashboard(t, "${SagaSweepFunction}", "${OrderSagaStepFunction}")


def _break_query_log_group(t):
    t["Resources"]["OutcomesQuery"]["Properties"]["LogGroupNames"][0] = {"Fn::Sub": "/aws/lambda/${AWS::StackName}/email"}


def _break_query_misses_a_function(t):
    t["Resources"]["DeadLetteredQuery"]["Properties"]["LogGroupNames"].pop()


def _break_unconditional_stream_ref(t):
    t["Resources"]["InventoryUpdateFunction"]["Properties"]["Environment"]["Variables"]["ORDER_EVENTS_STREAM"] = {
        "Fn::GetAtt": ["OrderEventsStream", "Arn"]
    }


BREAKAGES = {
    "no bisect": (_break_bisect, event_source_problems, "created-streams"),
    "record age unbounded": (_break_record_age, event_source_problems, "created-streams"),
    "record age beyond the stream retention": (_break_age_beyond_retention, event_source_problems, "created-streams"),
    "filters on by default": (_break_filters_by_default, event_source_problems, "created-streams"),
    "no mapping metrics": (_break_metrics_config, event_source_problems, "existing-streams"),
    "missing dropped-records alarm": (_break_dropped_alarm, alarm_problems, "created-streams"),
    "on-failure alarm watches another mapping": (_break_on_failure_alarm_dimension, alarm_problems, "existing-streams"),
    "missing filtered-out alarm": (_break_filtered_out_alarm, alarm_problems, "event-filters"),
    "filtered-out alarm without filters": (_break_filtered_out_alarm_condition, alarm_problems, "created-streams"),
    "sweep cannot scan": (_break_sweep_scan, iam_problems, "created-streams"),
    "sweep may dead-letter": (_break_sweep_dead_letters, iam_problems, "existing-streams"),
    "sweep never runs": (_break_sweep_schedule, schedule_problems, "created-streams"),
    "sweep ignores its schedule parameter": (_break_sweep_schedule_expression, schedule_problems, "tuned"),
    "sweep builds the wrong binary": (_break_sweep_binary, function_problems, "created-streams"),
    "sweep without its timeout": (_break_sweep_timeout, env_problems, "created-streams"),
    "sweep without errors alarm": (_break_sweep_errors_alarm, alarm_problems, "created-streams"),
    "filter delivers an extra type": (_break_filter_extra_type, event_source_problems, "event-filters"),
    "filter drops the command shape": (_break_filter_command_shape, event_source_problems, "event-filters-fan-out"),
    "no on-failure destination": (_break_destination, event_source_problems, "existing-streams"),
    "mapping bypasses the fan-out consumer": (_break_fan_out_source, event_source_problems, "created-streams-fan-out"),
    "missing variable": (_break_env, env_problems, "created-streams"),
    "stream name instead of ARN": (_break_env_stream_name, env_problems, "created-streams"),
    "wildcard resource": (_break_iam_wildcard, iam_problems, "created-streams"),
    "missing permission": (_break_iam_missing, iam_problems, "existing-streams"),
    "no point-in-time recovery": (_break_pitr, storage_problems, "created-streams"),
    "wrong TTL attribute": (_break_ttl, storage_problems, "created-streams"),
    "missing alarm": (_break_alarm, alarm_problems, "created-streams"),
    "existing stream read from its beginning regardless": (_break_starting_position, event_source_problems, "existing-streams"),
    "idempotency table without key condition": (_break_leading_keys, iam_problems, "created-streams"),
    "idempotency keys of another function": (_break_other_scope, iam_problems, "existing-streams"),
    "action the code never calls": (_break_unused_action, iam_problems, "created-streams"),
    "dashboard metric the code does not emit": (_break_dashboard_metric, dashboard_problems, "created-streams"),
    "sweep metric shown for the step function": (_break_dashboard_sweep_metric_on_step, dashboard_problems, "tuned"),
    "query reads a log group not in the stack": (_break_query_log_group, query_problems, "created-streams"),
    "query misses a function": (_break_query_misses_a_function, query_problems, "created-streams"),
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
