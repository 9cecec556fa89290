"""The CloudFormation template: cfn-lint, least privilege, and what moto cannot create.

moto's CloudFormation skips AWS::Glue::{Job,Connection,Database,Table}, AWS::S3::BucketPolicy,
AWS::SNS::{TopicPolicy,Subscription} and AWS::CloudWatch::Alarm, and ignores the DynamoDB
table's point-in-time recovery: those are checked here on the rendered template;
test_deploy_aws.py checks what moto does create.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loglake_tools.build import DELTA_SPARK_CONF
from loglake_tools.deploy import (
    DEFAULT_TEMPLATE,
    INGEST_OPTIONS,
    MAX_TEMPLATE_BODY,
    template_parameters,
)

pytestmark = pytest.mark.unit

TEMPLATE = DEFAULT_TEMPLATE
#: Job arguments that Glue itself reads (not the ingest CLI).
GLUE_OWN_ARGS = (
    "--datalake-formats",
    "--conf",
    "--additional-python-modules",
    "--extra-jars",
    "--TempDir",
    "--job-language",
    "--enable-",
)

#: Actions that IAM cannot scope to a resource ARN; "*" is allowed for them only.
NO_RESOURCE_LEVEL = {
    "cloudwatch:PutMetricData",  # scoped by the cloudwatch:namespace condition instead
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeRouteTables",
}

#: Every ARN string in a policy must contain one of these (after Fn::Sub), with the reason.
SCOPES = {
    "${AWS::StackName}": "names of this stack's job, function, table, connection",
    "${LakeBucketName}/${LakePrefix}/": "objects under the lake prefix",
    "log-group:/aws-glue/": "Glue writes its job logs to these fixed log groups",
    "network-interface/*": "ENIs that Glue creates in the Kafka subnet (ids unknown up front)",
    "subnet/${KafkaSubnetId}": "the one Kafka subnet",
    "security-group/${KafkaSecurityGroupId}": "the one Kafka security group",
    ":catalog": "GetConnection also needs the account's catalog ARN",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode import decode

    doc, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return json.loads(json.dumps(doc, default=str))


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def _statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for st in policy["PolicyDocument"]["Statement"]:
                    found.append((f"{name}/{policy['PolicyName']}", st))
        elif res["Type"] == "AWS::IAM::Policy":
            for st in props["PolicyDocument"]["Statement"]:
                found.append((name, st))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn_text(resource: Any) -> str:
    if isinstance(resource, str):
        return resource
    if "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return json.dumps(resource)


def _object_arns(statement: dict[str, Any]) -> list[str]:
    return [_arn_text(r) for r in _as_list(statement["Resource"])]


def test_cfn_lint_passes() -> None:
    from cfnlint.api import lint_file

    matches = lint_file(Path(TEMPLATE))
    assert [str(m) for m in matches] == []


def test_template_fits_in_a_template_body() -> None:
    assert len(TEMPLATE.read_bytes()) < MAX_TEMPLATE_BODY


def test_template_parameters_reads_short_form_tags(template: dict[str, Any]) -> None:
    assert template_parameters(TEMPLATE) == set(template["Parameters"])


def test_no_wildcard_actions(resources: dict[str, Any]) -> None:
    statements = _statements(resources)
    assert len(statements) >= 12
    for where, st in statements:
        for action in _as_list(st["Action"]):
            assert action != "*", where
            assert not action.endswith(":*"), f"{where}: wildcard action {action}"


def test_every_statement_is_scoped(resources: dict[str, Any]) -> None:
    for where, st in _statements(resources):
        assert st["Effect"] == "Allow", where
        actions = set(_as_list(st["Action"]))
        for resource in _as_list(st["Resource"]):
            if resource == "*":
                assert actions <= NO_RESOURCE_LEVEL, f"{where}: {actions - NO_RESOURCE_LEVEL} on *"
                if "cloudwatch:PutMetricData" in actions:
                    assert st["Condition"]["StringEquals"]["cloudwatch:namespace"] == "Glue"
                continue
            if isinstance(resource, dict) and ("Ref" in resource or "Fn::GetAtt" in resource):
                target = resource.get("Ref") or resource["Fn::GetAtt"][0]
                assert target in resources, f"{where}: {resource} is not a stack resource"
                continue
            text = _arn_text(resource)
            if text.endswith(":::${LakeBucketName}"):
                # ListBucket on the bucket itself, limited to the lake prefix.
                assert actions == {"s3:ListBucket"}, where
                prefixes = st["Condition"]["StringLike"]["s3:prefix"]
                assert {"Ref": "LakePrefix"} in prefixes
                assert {"Fn::Sub": "${LakePrefix}/*"} in prefixes
                continue
            assert any(scope in text for scope in SCOPES), f"{where}: unscoped resource {text}"


def test_roles_touch_only_their_own_prefixes(resources: dict[str, Any]) -> None:
    def writable(role: str) -> set[str]:
        out = set()
        for where, st in _statements(resources):
            if where.startswith(role) and "s3:PutObject" in _as_list(st["Action"]):
                out |= {a.split("${LakePrefix}/")[1] for a in _object_arns(st)}
        return out

    def readable(role: str) -> set[str]:
        out = set()
        for where, st in _statements(resources):
            if where.startswith(role) and "s3:GetObject" in _as_list(st["Action"]):
                out |= {a.split("${LakePrefix}/")[1] for a in _object_arns(st)}
        return out

    assert writable("IngestRole") == {"raw/*", "_checkpoints/*", "_glue/*"}
    assert writable("EtlRole") == {"processed/*", "_glue/*"}
    assert readable("EtlRole") == {"raw/*", "_artifacts/*", "processed/*", "_glue/*"}
    assert writable("OrchestratorRole") == set()
    assert readable("OrchestratorRole") == set()


def test_orchestrator_role_matches_what_it_calls(resources: dict[str, Any]) -> None:
    by_sid = {st["Sid"]: st for where, st in _statements(resources) if where.startswith("Orch")}
    glue = by_sid["EtlJobRuns"]
    assert set(glue["Action"]) == {
        "glue:StartJobRun",
        "glue:GetJobRun",
        "glue:GetJobRuns",
        "glue:BatchStopJobRun",
    }
    assert _arn_text(glue["Resource"]).endswith(":job/${AWS::StackName}-etl")
    table = by_sid["ControlTable"]
    # TransactWriteItems is authorised per item (PutItem/UpdateItem/ConditionCheckItem).
    assert set(table["Action"]) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
    }
    assert table["Resource"] == {"Fn::GetAtt": ["ControlTable", "Arn"]}
    assert by_sid["Alerts"] == {
        "Sid": "Alerts",
        "Effect": "Allow",
        "Action": "sns:Publish",
        "Resource": {"Ref": "AlertsTopic"},
    }


def test_bucket_is_private_encrypted_tls_only_and_kept(resources: dict[str, Any]) -> None:
    bucket = resources["LakeBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["raw-events-to-infrequent-access"]["Transitions"][0]["TransitionInDays"] == {
        "Ref": "RawInfrequentAccessDays"
    }
    assert rules["quarantine-to-infrequent-access"]["Prefix"] == {
        "Fn::Sub": "${LakePrefix}/raw/quarantine/"
    }
    # No rule expires Delta data files (that would corrupt the tables).
    for rule in rules.values():
        if "ExpirationInDays" in rule:
            assert rule["Prefix"] == {"Fn::Sub": "${LakePrefix}/_glue/temp/"}
    policy = resources["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Effect"] == "Deny"
    assert policy["Principal"] == "*"
    assert policy["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_control_table_on_demand_with_pitr(resources: dict[str, Any]) -> None:
    props = resources["ControlTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]


def test_glue_jobs(resources: dict[str, Any]) -> None:
    etl = resources["EtlJob"]["Properties"]
    assert etl["GlueVersion"] == "6.0"
    assert etl["Command"]["Name"] == "glueetl"
    assert etl["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert etl["Timeout"] == {"Ref": "EtlTimeoutMinutes"}
    assert etl["WorkerType"] == {"Ref": "EtlWorkerType"}
    assert etl["NumberOfWorkers"] == {"Ref": "EtlNumberOfWorkers"}
    assert etl["MaxRetries"] == 0  # the orchestrator retries with back-off
    assert etl["DefaultArguments"]["--datalake-formats"] == "delta"
    # the same Delta and UTC settings as `loglake upload glue` prints
    assert etl["DefaultArguments"]["--conf"] == DELTA_SPARK_CONF
    assert etl["DefaultArguments"]["--additional-python-modules"] == {"Ref": "EtlPythonModules"}
    assert etl["Command"]["ScriptLocation"] == {
        "Fn::Sub": "s3://${LakeBucketName}/${ArtifactsPrefix}/glue/entrypoint.py"
    }
    ingest = resources["IngestJob"]["Properties"]
    assert ingest["GlueVersion"] == "6.0"
    assert ingest["Command"]["Name"] == "gluestreaming"
    assert ingest["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    args = ingest["DefaultArguments"]
    script_options = {a for a in args if not a.startswith(GLUE_OWN_ARGS)}
    # every option meant for the ingest CLI is one the Glue script passes on
    assert script_options == set(INGEST_OPTIONS)
    assert args["--job"] == {"Fn::Sub": "${AWS::StackName}-etl"}
    assert args["--conf"] == DELTA_SPARK_CONF
    assert args["--control-table"] == {"Ref": "ControlTable"}
    assert args["--checkpoint"] == {
        "Fn::Sub": "s3://${LakeBucketName}/${LakePrefix}/_checkpoints/ingest"
    }
    assert args["--bootstrap"] == {"Ref": "KafkaBootstrapServers"}
    assert resources["KafkaConnection"]["Condition"] == "HasKafkaNetwork"
    assert ingest["Connections"]["Fn::If"][0] == "HasIngestNetwork"


def test_lambda_and_rules(resources: dict[str, Any]) -> None:
    fn = resources["OrchestratorFunction"]["Properties"]
    assert fn["Runtime"] == "python3.13"
    assert fn["Handler"] == "loglake_orchestrator.handler.handler"
    assert fn["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", 1, {"Ref": "AWS::NoValue"}]
    }
    state = resources["EtlStateRule"]["Properties"]["EventPattern"]
    assert state["detail"] == {"jobName": [{"Fn::Sub": "${AWS::StackName}-etl"}]}
    assert state["detail-type"] == ["Glue Job State Change"]
    for perm in ("SchedulePermission", "EtlStatePermission"):
        props = resources[perm]["Properties"]
        assert props["Principal"] == "events.amazonaws.com"
        assert "SourceArn" in props


def test_alarms_and_alerts(resources: dict[str, Any]) -> None:
    lam = resources["OrchestratorErrorsAlarm"]["Properties"]
    assert (lam["Namespace"], lam["MetricName"]) == ("AWS/Lambda", "Errors")
    assert lam["Dimensions"][0]["Value"] == {"Ref": "OrchestratorFunction"}
    glue = resources["GlueFailuresAlarm"]["Properties"]
    assert (glue["Namespace"], glue["MetricName"]) == ("AWS/Events", "TriggeredRules")
    assert glue["Dimensions"][0]["Value"] == {"Ref": "GlueFailureRule"}
    for alarm in (lam, glue):
        assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]
    pattern = resources["GlueFailureRule"]["Properties"]["EventPattern"]["detail"]
    assert set(pattern["state"]) == {"FAILED", "TIMEOUT", "ERROR"}
    assert resources["AlertsEmailSubscription"]["Condition"] == "HasAlertEmail"


def test_catalog_tables_are_delta_and_optional(resources: dict[str, Any]) -> None:
    tables = {k: v for k, v in resources.items() if v["Type"] == "AWS::Glue::Table"}
    assert len(tables) == 4
    for table in tables.values():
        assert table["Condition"] == "HasCatalog"
        params = table["Properties"]["TableInput"]["Parameters"]
        assert params["table_type"] == "DELTA"
    assert resources["CatalogDatabase"]["Condition"] == "HasCatalog"


def test_resources_needing_code_wait_for_artifacts(resources: dict[str, Any]) -> None:
    need = {"EtlJob", "IngestJob", "OrchestratorFunction", "ScheduleRule", "EtlStateRule"}
    for name in need:
        assert resources[name]["Condition"] == "HasArtifacts", name
