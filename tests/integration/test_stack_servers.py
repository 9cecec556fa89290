"""The local stack's servers answer real clients: Kafka, the S3 API, DynamoDB on moto."""

from __future__ import annotations

import json
import time
import uuid

import pytest

pytestmark = pytest.mark.integration


def _consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=5000, timeout=1.0):
                assert msg.error() is None, msg.error()
                out.append(msg)
        # Nothing more than expected arrives afterwards.
        out.extend(m for m in consumer.consume(num_messages=100, timeout=1.0) if not m.error())
    finally:
        consumer.close()
    return out


def test_produce_consume_round_trip_reconciles_with_the_summary(local_stack, kafka_topic):
    from loglake_tools.produce import produce_events

    summary = produce_events(
        local_stack.kafka_bootstrap,
        kafka_topic,
        6000,
        seed=42,
        malformed_share=0.05,
        duplicate_share=0.04,
        late_share=0.1,
        days=2,
    )
    assert summary["events_total"] == 6000
    assert summary["rate"] > 0

    messages = _consume_all(local_stack.kafka_bootstrap, kafka_topic, 6000)
    assert len(messages) == 6000
    assert {m.partition() for m in messages} == set(range(6))
    ids: list[str] = []
    bad = 0
    for m in messages:
        try:
            event = json.loads(m.value())
            ids.append(event["event_id"]) if isinstance(event, dict) else None
        except (ValueError, KeyError, TypeError):
            bad += 1
    # Valid + duplicate sends all carry ids; every malformed record that still parses
    # has one of its own (bad-*), so unique good ids = valid events.
    good_ids = {i for i in ids if isinstance(i, str) and "-bad-" not in i}
    assert len(good_ids) == summary["valid"]
    assert sum(1 for i in ids if isinstance(i, str) and "-bad-" not in i) == (
        summary["valid"] + summary["duplicates"]
    )
    assert bad <= summary["malformed"]


def test_s3_api_serves_boto3_path_style(local_stack, s3_bucket):
    from loglake_tools.stack import s3_client

    client = s3_client(local_stack.s3_endpoint)
    body = b"x" * (6 * 1024 * 1024)  # large enough for a multipart upload by upload_fileobj
    import io

    client.upload_fileobj(io.BytesIO(body), s3_bucket, "dir/big.bin")
    client.put_object(Bucket=s3_bucket, Key="dir/small.json", Body=b'{"a": 1}')
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="dir/")
    assert sorted(o["Key"] for o in listed["Contents"]) == ["dir/big.bin", "dir/small.json"]
    assert client.get_object(Bucket=s3_bucket, Key="dir/big.bin")["Body"].read() == body
    assert s3_bucket in {b["Name"] for b in client.list_buckets()["Buckets"]}


def test_dynamodb_conditional_put_on_moto_server(local_stack, control_table_name):
    from loglake_tools.stack.moto_server import client

    ddb = client("dynamodb", local_stack.aws_endpoint)
    ddb.create_table(
        TableName=control_table_name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    item = {"pk": {"S": "job#etl"}, "sk": {"S": "state"}, "version": {"N": "1"}}
    ddb.put_item(
        TableName=control_table_name, Item=item, ConditionExpression="attribute_not_exists(pk)"
    )
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(
            TableName=control_table_name, Item=item, ConditionExpression="attribute_not_exists(pk)"
        )
    ddb.update_item(
        TableName=control_table_name,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET version = :new",
        ConditionExpression="version = :old",
        ExpressionAttributeValues={":new": {"N": "2"}, ":old": {"N": "1"}},
    )
    got = ddb.get_item(TableName=control_table_name, Key={"pk": item["pk"], "sk": item["sk"]})
    assert got["Item"]["version"] == {"N": "2"}
    # Another process sees the same server state (it is a real server, not an in-process mock).
    sns = client("sns", local_stack.aws_endpoint)
    assert sns.create_topic(Name="loglake-alerts-test")["TopicArn"].endswith(":loglake-alerts-test")


def test_stack_up_again_is_a_no_op_and_status_reports_every_server(local_stack):
    from click.testing import CliRunner

    from loglake_tools.stack import start_stack
    from loglake_tools.stack.cli import stack

    again = start_stack(directory=local_stack.state_dir)
    assert again.started == ()
    assert set(again.reused) == {"kafka", "s3", "aws"}
    assert again.state.pids == local_stack.pids

    result = CliRunner().invoke(
        stack, ["status", "--json"], env={"LOGLAKE_STATE_DIR": str(local_stack.state_dir)}
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report == {
        "kafka": {
            "up": True,
            "bootstrap": local_stack.kafka_bootstrap,
            "pid": local_stack.pids["kafka"],
        },
        "s3": {"up": True, "endpoint": local_stack.s3_endpoint, "pid": local_stack.pids["s3"]},
        "aws": {"up": True, "endpoint": local_stack.aws_endpoint, "pid": local_stack.pids["aws"]},
    }


def test_a_busy_port_is_reported_with_its_owner(local_stack, tmp_path):
    from loglake_tools.stack import PortInUseError, start_stack

    with pytest.raises(PortInUseError) as info:
        start_stack(directory=tmp_path, kafka_port=local_stack.kafka_port, services=("kafka",))
    message = str(info.value)
    assert f"port {local_stack.kafka_port}" in message
    assert f"pid {local_stack.pids['kafka']}" in message
    assert "--kafka-port" in message


def test_the_servers_fit_in_two_gib(local_stack):
    import psutil

    rss = {
        name: sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
        for name, proc in ((n, psutil.Process(pid)) for n, pid in local_stack.pids.items())
    }
    assert set(rss) == {"kafka", "s3", "aws"}
    assert sum(rss.values()) <= 2 * 1024**3, rss
