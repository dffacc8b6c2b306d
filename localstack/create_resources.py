#!/usr/bin/env python3
"""Create the local AWS resources from infra/template.yaml, idempotently.

Reads the DynamoDB tables, the EventBridge bus and the SQS queues from the SAM template (the single source of
truth) and creates them against local endpoints:

  DynamoDB tables  -> $DYNAMODB_ENDPOINT (DynamoDB Local, or LocalStack)
  bus and queues   -> $EVENTS_ENDPOINT   (moto server, or LocalStack)

Names: a template name "${AWS::StackName}-<suffix>" becomes "${TABLE_PREFIX:-shop-}<suffix>"; the bus name is
$EVENT_BUS_NAME, else the template parameter's default. Running it twice changes nothing the second time.

EventBridge rules that target Lambdas (`EventBridgeRule` events of the functions) get a local stand-in: a queue
"shop-<kebab event name>" (OrderPlaced -> shop-order-placed) and a rule "<queue>-to-queue" on the bus with the
template's pattern, targeting that queue. The local dispatcher reads the queue and plays the Lambda target
(tools/src/local_events/setup.rs starts from the same names, ORDER_QUEUE and RULE_NAME, with one queue and rule
per shard).

Works with any Python that has boto3 and PyYAML: the moto venv of localstack/stack.sh has both
(~/.cache/shop-backend/venv-moto-<version>/bin/python), and so has the LocalStack image.

Usage: create_resources.py [--template PATH] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

STACK_NAME_PREFIX = "${AWS::StackName}-"
DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"


# ------------------------------------------------------------------------------------------------------------
# template loading
# ------------------------------------------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long form (!Ref x -> {"Ref": x})."""


def _cfn_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        template = yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(template, dict) or "Resources" not in template:
        raise SystemExit(f"{path}: not a CloudFormation template (no Resources)")
    return template


# ------------------------------------------------------------------------------------------------------------
# name resolution
# ------------------------------------------------------------------------------------------------------------


class Names:
    def __init__(self, template: dict[str, Any]) -> None:
        self.prefix = os.environ.get("TABLE_PREFIX", "shop-")
        self.parameters = template.get("Parameters", {}) or {}

    def parameter(self, name: str) -> str:
        if name == "EventBusName" and os.environ.get("EVENT_BUS_NAME"):
            return os.environ["EVENT_BUS_NAME"]
        env_name = "CFN_PARAM_" + name
        if os.environ.get(env_name):
            return os.environ[env_name]
        spec = self.parameters.get(name)
        if not isinstance(spec, dict) or "Default" not in spec:
            raise ValueError(f"parameter {name} has no Default (set {env_name})")
        return str(spec["Default"])

    def resolve(self, value: Any, what: str) -> str:
        """Resolves a resource name: a plain string, !Ref Parameter, or !Sub "${AWS::StackName}-<suffix>"."""
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" and isinstance(arg, str):
                return self.parameter(arg)
            if key == "Fn::Sub" and isinstance(arg, str) and arg.startswith(STACK_NAME_PREFIX):
                suffix = arg[len(STACK_NAME_PREFIX):]
                if "${" not in suffix:
                    return self.prefix + suffix
        raise ValueError(f"{what}: unsupported name {value!r} (use \"${{AWS::StackName}}-<suffix>\" or !Ref)")


def plain(value: Any, what: str) -> Any:
    """Fails on intrinsics where the template must stay plain (key schemas are read by Rust too)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" or k.startswith("Fn::") or k == "Condition":
                raise ValueError(f"{what}: must be plain, found {k}")
            plain(v, what)
    elif isinstance(value, list):
        for v in value:
            plain(v, what)
    return value


def kebab(name: str) -> str:
    """OrderPlaced -> order-placed."""
    return "".join(("-" + c.lower()) if c.isupper() and i else c.lower() for i, c in enumerate(name))


def resolve_bus(value: Any, template: dict[str, Any], names: Names, what: str) -> str:
    """A bus name: plain, !Ref Parameter, or !Ref of the template's AWS::Events::EventBus (its Name)."""
    if value is None:
        return "default"
    if isinstance(value, dict) and set(value) == {"Ref"}:
        target = template["Resources"].get(value["Ref"])
        if isinstance(target, dict) and target.get("Type") == "AWS::Events::EventBus":
            return names.resolve((target.get("Properties") or {}).get("Name"), f"{value['Ref']}.Name")
    return names.resolve(value, what)


def eventbridge_rules(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(function id, event id, properties) of every `EventBridgeRule` event of a serverless function."""
    rules = []
    for function_id, res in template["Resources"].items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::Serverless::Function":
            continue
        for event_id, event in ((res.get("Properties") or {}).get("Events") or {}).items():
            if isinstance(event, dict) and event.get("Type") == "EventBridgeRule":
                rules.append((function_id, event_id, event.get("Properties") or {}))
    return rules


def resources_of(template: dict[str, Any], cfn_type: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, res.get("Properties", {}) or {})
        for logical_id, res in template["Resources"].items()
        if isinstance(res, dict) and res.get("Type") == cfn_type
    ]


# ------------------------------------------------------------------------------------------------------------
# creation
# ------------------------------------------------------------------------------------------------------------


def table_request(logical_id: str, props: dict[str, Any], names: Names) -> dict[str, Any]:
    req: dict[str, Any] = {
        "TableName": names.resolve(props.get("TableName"), f"{logical_id}.TableName"),
        "AttributeDefinitions": plain(props["AttributeDefinitions"], f"{logical_id}.AttributeDefinitions"),
        "KeySchema": plain(props["KeySchema"], f"{logical_id}.KeySchema"),
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if req["BillingMode"] == "PROVISIONED":
        req["ProvisionedThroughput"] = plain(props["ProvisionedThroughput"], f"{logical_id}.ProvisionedThroughput")
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if key in props:
            req[key] = plain(props[key], f"{logical_id}.{key}")
    stream = props.get("StreamSpecification")
    if stream:
        req["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": plain(stream, f"{logical_id}.StreamSpecification")["StreamViewType"],
        }
    return req


def ensure_table(ddb: Any, logical_id: str, props: dict[str, Any], names: Names, dry_run: bool) -> None:
    req = table_request(logical_id, props, names)
    name = req["TableName"]
    ttl = plain(props.get("TimeToLiveSpecification"), f"{logical_id}.TimeToLiveSpecification")
    if dry_run:
        print(f"table {name} ({logical_id}): {req['KeySchema']}, ttl={ttl}, stream={req.get('StreamSpecification')}")
        return
    try:
        ddb.create_table(**req)
        print(f"table {name}: created")
    except ddb.exceptions.ResourceInUseException:
        existing = ddb.describe_table(TableName=name)["Table"]
        if sorted(map(str, existing["KeySchema"])) != sorted(map(str, req["KeySchema"])):
            raise SystemExit(f"table {name} exists with another key schema: {existing['KeySchema']}")
        print(f"table {name}: exists")
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if ttl and ttl.get("Enabled"):
        current = ddb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
            print(f"table {name}: TTL on {ttl['AttributeName']}")
    # PointInTimeRecoverySpecification is not applied locally (DynamoDB Local has no backups).


QUEUE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                    "VisibilityTimeout")


def ensure_queue(sqs: Any, logical_id: str, props: dict[str, Any], names: Names, dry_run: bool) -> None:
    name = names.resolve(props.get("QueueName"), f"{logical_id}.QueueName")
    attributes = {k: str(plain(props[k], logical_id)) for k in QUEUE_ATTRIBUTES if k in props}
    if dry_run:
        print(f"queue {name} ({logical_id}): {attributes}")
        return
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        print(f"queue {name}: {url}")
    except sqs.exceptions.QueueNameExists:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        print(f"queue {name}: exists, attributes updated")


def ensure_bus(events: Any, logical_id: str, props: dict[str, Any], names: Names, dry_run: bool) -> None:
    name = names.resolve(props.get("Name"), f"{logical_id}.Name")
    if dry_run:
        print(f"event bus {name} ({logical_id})")
        return
    try:
        events.create_event_bus(Name=name)
        print(f"event bus {name}: created")
    except events.exceptions.ResourceAlreadyExistsException:
        print(f"event bus {name}: exists")


LOCAL_QUEUE_PREFIX = "shop-"
# The same target id as tools/src/local_events/setup.rs: both set-ups may run against one moto, and a second id
# on the same rule would deliver every event twice.
LOCAL_TARGET_ID = "order-queue"


def ensure_rule_queue(events: Any, sqs: Any, template: dict[str, Any], function_id: str, event_id: str,
                      props: dict[str, Any], names: Names, dry_run: bool) -> None:
    """The local stand-in for a rule -> Lambda target: the same rule, targeting a queue."""
    what = f"{function_id}.Events.{event_id}"
    bus = resolve_bus(props.get("EventBusName"), template, names, f"{what}.EventBusName")
    pattern = json.dumps(plain(props["Pattern"], f"{what}.Pattern"), sort_keys=True)
    queue = LOCAL_QUEUE_PREFIX + kebab(event_id)
    rule = f"{queue}-to-queue"
    if dry_run:
        print(f"rule {rule} on bus {bus} ({what}): {pattern} -> queue {queue}")
        return
    try:
        url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    except sqs.exceptions.QueueNameExists:
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # put_rule / put_targets replace what is there: running again changes nothing.
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=pattern, State="ENABLED")
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": LOCAL_TARGET_ID, "Arn": arn}])
    print(f"rule {rule} on bus {bus}: {pattern} -> queue {queue} ({url})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path,
                        default=Path(os.environ.get("SHOP_TEMPLATE", str(DEFAULT_TEMPLATE))))
    parser.add_argument("--dry-run", action="store_true", help="print what would be created, touch nothing")
    args = parser.parse_args()

    template = load_template(args.template)
    names = Names(template)
    tables = resources_of(template, "AWS::DynamoDB::Table")
    buses = resources_of(template, "AWS::Events::EventBus")
    queues = resources_of(template, "AWS::SQS::Queue")
    rules = eventbridge_rules(template)

    ddb = sqs = events = None
    if not args.dry_run:
        import boto3  # only needed for real runs

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "ap-northeast-2"
        # Local servers accept any credentials; never fall through to a real profile by accident.
        creds = {
            "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        }
        ddb_endpoint = os.environ.get("DYNAMODB_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
        events_endpoint = os.environ.get("EVENTS_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
        if not ddb_endpoint or not events_endpoint:
            raise SystemExit("set DYNAMODB_ENDPOINT and EVENTS_ENDPOINT (or AWS_ENDPOINT_URL): "
                             "this script only talks to local endpoints")
        ddb = boto3.client("dynamodb", endpoint_url=ddb_endpoint, region_name=region, **creds)
        sqs = boto3.client("sqs", endpoint_url=events_endpoint, region_name=region, **creds)
        events = boto3.client("events", endpoint_url=events_endpoint, region_name=region, **creds)

    for logical_id, props in tables:
        ensure_table(ddb, logical_id, props, names, args.dry_run)
    for logical_id, props in buses:
        ensure_bus(events, logical_id, props, names, args.dry_run)
    for logical_id, props in queues:
        ensure_queue(sqs, logical_id, props, names, args.dry_run)
    for function_id, event_id, props in rules:
        ensure_rule_queue(events, sqs, template, function_id, event_id, props, names, args.dry_run)
    print(f"done: {len(tables)} tables, {len(buses)} event bus(es), {len(queues)} queue(s), "
          f"{len(rules)} local rule queue(s) from {args.template}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
