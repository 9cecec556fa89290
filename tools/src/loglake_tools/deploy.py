"""``loglake deploy`` and ``loglake destroy``: the whole pipeline on AWS with one command.

The stack is ``deploy/loglake.yaml``. A Lambda function and Glue jobs need their code in S3
before CloudFormation creates them, and the code goes into the lake bucket that the same
stack owns, so a first deployment runs in two phases:

1. bootstrap: the stack with ``ArtifactsPrefix=""`` creates only what needs no code (bucket,
   bucket policy, control table, topic, roles, failure rule and alarm);
2. the artifacts are built, uploaded under ``<prefix>/_artifacts/<content hash>/`` and the
   stack is updated with ``ArtifactsPrefix`` pointing there, which creates the jobs, the
   Lambda function, its rules and alarms.

Later deployments skip phase 1. Artifact keys are content-addressed, so a code change is a
parameter change that CloudFormation sees, and an unchanged build changes nothing. A bucket
that already exists (e.g. kept by ``loglake destroy``) is used as it is
(``CreateLakeBucket=false``). Every change goes through a change set that is printed first;
``--dry-run`` stops there.

Example:
    $ loglake deploy --stack-name loglake-prod --bucket my-lake --kafka-bootstrap b-1.msk:9092
"""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from loglake_core.errors import ConfigError, LoglakeError

if TYPE_CHECKING:
    from boto3 import Session

#: Env var naming another template file (default: deploy/loglake.yaml of this repository).
TEMPLATE_ENV: Final = "LOGLAKE_DEPLOY_TEMPLATE"
DEFAULT_TEMPLATE: Final = Path(__file__).resolve().parents[3] / "deploy" / "loglake.yaml"
#: CloudFormation takes a template body up to this size; larger ones go through S3.
MAX_TEMPLATE_BODY: Final = 51_200
LAMBDA_ZIP_NAME: Final = "orchestrator-lambda.zip"
INGEST_SCRIPT_NAME: Final = "ingest_entry.py"
ETL_SCRIPT_NAME: Final = "entrypoint.py"
#: Options of ``loglake_ingest.cli`` that the stack passes to the Glue streaming job.
INGEST_OPTIONS: Final = (
    "--topic",
    "--lake",
    "--bootstrap",
    "--checkpoint",
    "--trigger-seconds",
    "--control-table",
    "--stream",
    "--job",
    "--starting-offsets",
)
#: The Glue script of the ingest job. Glue hands a script its own arguments too (--JOB_ID,
#: --TempDir, --enable-metrics, ...), which the ingest CLI would reject; this keeps only the
#: ingest options and runs the same CLI as ``spark-submit spark_entry.py``.
INGEST_GLUE_SCRIPT: Final = f"""\
\"\"\"Glue streaming entry of loglake ingest (written by loglake deploy).\"\"\"

import sys

from loglake_ingest.cli import main

KEEP = {INGEST_OPTIONS!r}


def ingest_args(argv):
    \"\"\"The ingest options among Glue's ``--key value`` / ``--key=value`` arguments.\"\"\"
    out, i = [], 0
    while i < len(argv):
        name, eq, _ = argv[i].partition("=")
        has_value = not eq and i + 1 < len(argv) and not argv[i + 1].startswith("--")
        if name in KEEP:
            out.extend(argv[i : i + 2] if has_value else argv[i : i + 1])
        i += 2 if has_value else 1
    return out


if __name__ == "__main__":
    sys.exit(main(["run", *ingest_args(sys.argv[1:])]))
"""
#: Extra PyPI requirement of the ingest job on Glue (the control-table client).
INGEST_EXTRA_MODULES: Final = ("dynamodb-json>=1.4.2",)
#: Parameters that ``loglake deploy`` sets itself; ``--param`` may not override them.
MANAGED_PARAMS: Final = {
    "LakeBucketName": "--bucket",
    "LakePrefix": "--prefix",
    "KafkaBootstrapServers": "--kafka-bootstrap",
    "KafkaTopic": "--kafka-topic",
    "CreateLakeBucket": "(chosen by deploy: whether the bucket already exists)",
    "ArtifactsPrefix": "(set by deploy from the uploaded artifacts)",
    "EtlPythonModules": "(set by deploy from the uploaded artifacts)",
    "IngestPythonModules": "(set by deploy from the uploaded artifacts)",
}
STACK_NAME_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,39}$")
BUCKET_RE: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PREFIX_RE: Final = re.compile(r"^[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+)*$")
BOOTSTRAP_RE: Final = re.compile(r"^[^,\s]+:[0-9]+(,[^,\s]+:[0-9]+)*$")
TOPIC_RE: Final = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
DONE_OK: Final = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
NO_CHANGES: Final = ("didn't contain changes", "No updates are to be performed")


class DeployError(LoglakeError):
    """A deployment step failed; the message says which and what to do."""


@dataclass(frozen=True)
class DeployConfig:
    """What to deploy where. Validated on construction (see ``validate``)."""

    stack_name: str
    bucket: str
    kafka_bootstrap: str
    kafka_topic: str = "events"
    prefix: str = "lake"
    region: str | None = None
    endpoint_url: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    start_ingest: bool = True
    template: Path = DEFAULT_TEMPLATE
    poll_seconds: float = 5.0
    timeout_seconds: float = 3600.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", self.prefix.strip("/"))
        validate(self)

    @property
    def lake_uri(self) -> str:
        """``s3://bucket/prefix`` of the lake."""
        return f"s3://{self.bucket}/{self.prefix}"


def validate(cfg: DeployConfig) -> None:
    """Check every user-given value; raise ``ConfigError`` naming the value and the fix."""
    checks = [
        (
            "--stack-name",
            cfg.stack_name,
            STACK_NAME_RE,
            "a letter then up to 39 letters, digits, -",
        ),
        ("--bucket", cfg.bucket, BUCKET_RE, "an S3 bucket name: 3-63 of a-z 0-9 . -"),
        ("--prefix", cfg.prefix, PREFIX_RE, "a key prefix such as lake or teams/web/lake"),
        ("--kafka-bootstrap", cfg.kafka_bootstrap, BOOTSTRAP_RE, "host:port[,host:port...]"),
        ("--kafka-topic", cfg.kafka_topic, TOPIC_RE, "a Kafka topic name"),
    ]
    for option, value, pattern, fix in checks:
        if not pattern.match(value or ""):
            raise ConfigError(f"{option} {value!r} is not valid; use {fix}")
    if not cfg.template.is_file():
        raise ConfigError(
            f"template {cfg.template} not found; pass --template or set {TEMPLATE_ENV}"
        )
    known = template_parameters(cfg.template)
    for key in cfg.params:
        if key in MANAGED_PARAMS:
            raise ConfigError(f"--param {key}=… is set by deploy; use {MANAGED_PARAMS[key]}")
        if key not in known:
            raise ConfigError(
                f"--param {key}=… is not a template parameter; known: {', '.join(sorted(known))}"
            )
    network = [cfg.params.get(k, "") for k in ("KafkaSubnetId", "KafkaSecurityGroupId")]
    network.append(cfg.params.get("KafkaAvailabilityZone", ""))
    if any(network) and not all(network):
        raise ConfigError(
            "a Kafka network connection needs all of --param KafkaSubnetId=subnet-…, "
            "KafkaSecurityGroupId=sg-… and KafkaAvailabilityZone=<az of the subnet>"
        )


def parse_params(pairs: Iterable[str]) -> dict[str, str]:
    """Turn ``K=V`` strings into a dict; raise ``ConfigError`` for a malformed one."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--param {pair!r} is not KEY=VALUE (e.g. --param EtlNumberOfWorkers=4)"
            )
        out[key.strip()] = value
    return out


def template_parameters(path: Path) -> set[str]:
    """Parameter names of a CloudFormation YAML template (short-form tags accepted)."""
    return set(_template_parameters(str(path), path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _template_parameters(path: str, mtime_ns: int) -> frozenset[str]:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster

    class _Loader(base):  # type: ignore[valid-type,misc]
        pass

    def _tag(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_scalar(node)

    _Loader.add_multi_constructor("!", _tag)
    doc = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)
    return frozenset((doc or {}).get("Parameters", {}))


# ---------------------------------------------------------------- AWS session


def aws_session(region: str | None, endpoint_url: str | None) -> tuple[Session, str]:
    """A boto3 session with a region and working credentials, or a ``DeployError`` saying why."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.Session(region_name=region) if region else boto3.Session()
    if not session.region_name:
        raise DeployError(
            "no AWS region: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), "
            "or give your profile a region (aws configure)"
        )
    if session.get_credentials() is None:
        raise DeployError(
            "no AWS credentials found: set AWS_PROFILE (aws configure / aws sso login) "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    try:
        ident = session.client("sts", endpoint_url=endpoint_url).get_caller_identity()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise DeployError(
            f"AWS rejected the credentials ({code}): refresh them (aws sso login, or new keys)"
        ) from exc
    except BotoCoreError as exc:
        raise DeployError(f"cannot reach AWS STS ({exc}); check --endpoint-url/network") from exc
    click.echo(f"account {ident.get('Account')} region {session.region_name} as {ident.get('Arn')}")
    return session, session.region_name


# ---------------------------------------------------------------- artifacts


@dataclass(frozen=True)
class Artifacts:
    """Built files: the Glue files (wheels and scripts) and the Lambda zip."""

    glue_files: tuple[Path, ...]
    lambda_zip: Path

    @property
    def version(self) -> str:
        """Content hash of every file (12 hex digits): the S3 folder of this build."""
        digest = hashlib.sha256()
        for path in sorted((*self.glue_files, self.lambda_zip), key=lambda p: p.name):
            digest.update(path.name.encode())
            digest.update(content_digest(path))
        return digest.hexdigest()[:12]


def content_digest(path: Path) -> bytes:
    """SHA-256 of a file's content; for a zip or wheel, of its members' names and bytes.

    Zip timestamps differ between two builds of the same code; hashing the members keeps
    the version (and so the stack) unchanged when the code is.
    """
    if not zipfile.is_zipfile(path):
        return hashlib.sha256(path.read_bytes()).digest()
    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as zf:
        for name in sorted(zf.namelist()):
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256(zf.read(name)).digest())
    return digest.digest()


def build_artifacts(out_dir: Path) -> Artifacts:
    """Build the Glue wheels and scripts and the Lambda zip into ``out_dir``.

    Uses ``loglake_tools.build.build_glue_artifacts`` and
    ``loglake_tools.lambda_zip.build_lambda_zip``; adds the ingest wheel (if the Glue build did
    not) and ``ingest_entry.py``, the Glue script of the streaming job (``INGEST_GLUE_SCRIPT``).
    """
    from loglake_tools.build import build_glue_artifacts
    from loglake_tools.lambda_zip import build_lambda_zip

    out_dir.mkdir(parents=True, exist_ok=True)
    glue = [Path(p) for p in build_glue_artifacts(out_dir / "glue")]
    if not any(p.name.startswith("loglake_ingest-") for p in glue):
        glue.append(
            _build_wheel(
                Path(__file__).resolve().parents[3] / "packages" / "ingest", out_dir / "glue"
            )
        )
    if not any(p.name == ETL_SCRIPT_NAME for p in glue):
        raise DeployError(f"the Glue build made no {ETL_SCRIPT_NAME} (the ETL job's script)")
    script = out_dir / "glue" / INGEST_SCRIPT_NAME
    script.write_text(INGEST_GLUE_SCRIPT, encoding="utf-8")
    glue.append(script)
    lambda_zip = Path(build_lambda_zip(out_dir / LAMBDA_ZIP_NAME))
    return Artifacts(glue_files=tuple(glue), lambda_zip=lambda_zip)


def _build_wheel(project: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv")
    cmd = (
        [uv, "build", "--wheel", "--out-dir", str(out_dir), str(project)]
        if uv
        else [sys.executable, "-m", "build", "--wheel", "--outdir", str(out_dir), str(project)]
    )
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DeployError(f"building the wheel of {project.name} failed:\n{done.stderr[-2000:]}")
    wheels = sorted(out_dir.glob(f"loglake_{project.name}-*.whl"))
    if not wheels:
        raise DeployError(f"building {project.name} produced no wheel in {out_dir}")
    return wheels[-1]


def upload_artifacts(s3: Any, cfg: DeployConfig, artifacts: Artifacts) -> dict[str, str]:
    """Upload the build under ``<prefix>/_artifacts/<version>/``; return the stack parameters."""
    base = f"{cfg.prefix}/_artifacts/{artifacts.version}"
    keys = {path: f"{base}/glue/{path.name}" for path in artifacts.glue_files}
    keys[artifacts.lambda_zip] = f"{base}/lambda/{LAMBDA_ZIP_NAME}"
    if not cfg.dry_run:
        for path, key in keys.items():
            s3.upload_file(str(path), cfg.bucket, key)
        click.echo(f"uploaded {len(keys)} artifacts to s3://{cfg.bucket}/{base}/")
    return artifact_parameters(cfg, artifacts)


def artifact_parameters(cfg: DeployConfig, artifacts: Artifacts) -> dict[str, str]:
    """The template parameters that point at one build."""
    base = f"{cfg.prefix}/_artifacts/{artifacts.version}"
    wheels = {p.name: f"s3://{cfg.bucket}/{base}/glue/{p.name}" for p in artifacts.glue_files}

    def pick(*packages: str) -> list[str]:
        return [
            uri
            for name, uri in sorted(wheels.items())
            if name.endswith(".whl") and name.startswith(packages)
        ]

    return {
        "ArtifactsPrefix": base,
        "EtlPythonModules": ",".join(pick("loglake_core-", "loglake_glue_etl-")),
        "IngestPythonModules": ",".join(
            [*pick("loglake_core-", "loglake_ingest-"), *INGEST_EXTRA_MODULES]
        ),
    }


# ---------------------------------------------------------------- CloudFormation


def describe_stack(cfn: Any, name: str) -> dict[str, Any] | None:
    """The stack's description, or None if there is none."""
    from botocore.exceptions import ClientError

    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0] if stacks else None


def _wait(check: Callable[[], bool], what: str, *, poll: float, timeout: float) -> None:
    """Call ``check`` every ``poll`` seconds until it is true; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise DeployError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def failed_events(cfn: Any, stack: str, since: datetime) -> list[str]:
    """``Logical (Type): STATUS: reason`` of every failed resource event since ``since``."""
    lines = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack):
        for event in page["StackEvents"]:
            if event["Timestamp"] < since:
                return lines
            if str(event.get("ResourceStatus", "")).endswith("_FAILED"):
                lines.append(
                    f"{event['LogicalResourceId']} ({event.get('ResourceType')}): "
                    f"{event['ResourceStatus']}: {event.get('ResourceStatusReason', '(no reason)')}"
                )
    return lines


def stack_parameters(
    template_params: set[str], wanted: dict[str, str], stack: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Parameters for a change set: ours, else the stack's previous value, else the default."""
    previous = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])}
    out: list[dict[str, Any]] = []
    for key in sorted(template_params):
        if key in wanted:
            out.append({"ParameterKey": key, "ParameterValue": wanted[key]})
        elif key in previous:
            out.append({"ParameterKey": key, "UsePreviousValue": True})
    return out


def apply_change_set(
    cfn: Any, cfg: DeployConfig, wanted: dict[str, str], template_body: str, *, label: str
) -> bool:
    """Create, print and (unless dry run) execute one change set; return whether it changed.

    Raises:
        DeployError: if the change set or the stack operation fails (with the failing
            resources' reasons from the stack events).
    """
    from botocore.exceptions import ClientError

    stack = describe_stack(cfn, cfg.stack_name)
    status = (stack or {}).get("StackStatus", "")
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployError(f"stack {cfg.stack_name} is busy ({status}); wait for it and run again")
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
        raise DeployError(
            f"stack {cfg.stack_name} is {status} and cannot be updated; "
            f"run `loglake destroy --stack-name {cfg.stack_name}` and deploy again"
        )
    kind = "UPDATE" if stack and status != "REVIEW_IN_PROGRESS" else "CREATE"
    name = f"loglake-{label}-{datetime.now(UTC):%Y%m%d%H%M%S}"
    started = datetime.now(UTC)
    try:
        _create_change_set(cfn, cfg, name, kind, wanted, template_body, stack, label)
    except ClientError as exc:
        if any(marker in str(exc) for marker in NO_CHANGES):
            click.echo(f"[{label}] no changes")
            return False
        raise DeployError(f"creating change set {name} failed: {exc}") from exc
    described: dict[str, Any] = {}

    def ready() -> bool:
        described.update(cfn.describe_change_set(StackName=cfg.stack_name, ChangeSetName=name))
        return described.get("Status") in ("CREATE_COMPLETE", "FAILED")

    _wait(ready, f"change set {name}", poll=cfg.poll_seconds, timeout=cfg.timeout_seconds)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        cfn.delete_change_set(StackName=cfg.stack_name, ChangeSetName=name)
        if any(marker in reason for marker in NO_CHANGES):
            click.echo(f"[{label}] no changes")
            return False
        raise DeployError(f"change set {name} failed: {reason}")
    print_change_set(described, kind, label)
    if cfg.dry_run:
        cfn.delete_change_set(StackName=cfg.stack_name, ChangeSetName=name)
        if kind == "CREATE":
            # The CREATE change set left an empty REVIEW_IN_PROGRESS stack behind.
            cfn.delete_stack(StackName=cfg.stack_name)
        click.echo(f"[{label}] dry run: change set not executed")
        return True
    cfn.execute_change_set(StackName=cfg.stack_name, ChangeSetName=name)
    final: dict[str, Any] = {}

    def finished() -> bool:
        final.update(describe_stack(cfn, cfg.stack_name) or {})
        return not str(final.get("StackStatus", "")).endswith("_IN_PROGRESS")

    _wait(finished, f"stack {cfg.stack_name}", poll=cfg.poll_seconds, timeout=cfg.timeout_seconds)
    if final.get("StackStatus") not in DONE_OK:
        reasons = failed_events(cfn, cfg.stack_name, started) or ["(no failed resource event)"]
        raise DeployError(
            f"stack {cfg.stack_name} ended {final.get('StackStatus')}: "
            f"{final.get('StackStatusReason', '')}\n  " + "\n  ".join(reasons)
        )
    click.echo(f"[{label}] stack {cfg.stack_name}: {final['StackStatus']}")
    return True


def _create_change_set(
    cfn: Any,
    cfg: DeployConfig,
    name: str,
    kind: str,
    wanted: dict[str, str],
    template_body: str,
    stack: dict[str, Any] | None,
    label: str,
) -> None:
    cfn.create_change_set(
        StackName=cfg.stack_name,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateBody=template_body,
        Parameters=stack_parameters(template_parameters(cfg.template), wanted, stack),
        Capabilities=["CAPABILITY_IAM"],
        Tags=[{"Key": "loglake:stack", "Value": cfg.stack_name}],
        Description=f"loglake deploy ({label})",
    )


def print_change_set(described: dict[str, Any], kind: str, label: str) -> None:
    """Print one line per resource change of a change set."""
    changes = described.get("Changes", [])
    click.echo(
        f"[{label}] change set {described.get('ChangeSetName')} ({kind}), {len(changes)} changes:"
    )
    for change in changes:
        rc = change.get("ResourceChange", {})
        replace = f" replacement={rc['Replacement']}" if rc.get("Replacement") else ""
        click.echo(
            f"  {rc.get('Action', '?'):<8} {rc.get('LogicalResourceId', '?'):<28} "
            f"{rc.get('ResourceType', '?')}{replace}"
        )


def bucket_state(s3: Any, bucket: str) -> str:
    """``mine`` (exists, we can use it), ``missing``, or a ``DeployError`` if someone else's."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            return "missing"
        if code in ("403", "AccessDenied"):
            raise DeployError(
                f"bucket {bucket} exists but belongs to another account (or you may not list it);"
                " choose another --bucket"
            ) from exc
        raise
    return "mine"


def deploy_stack(
    session: Session, cfg: DeployConfig, build: Callable[[Path], Artifacts] = build_artifacts
) -> dict[str, str]:
    """Deploy (or update) the stack; return its outputs (empty for a dry run)."""
    cfn = session.client("cloudformation", endpoint_url=cfg.endpoint_url)
    s3 = session.client("s3", endpoint_url=cfg.endpoint_url)
    body = cfg.template.read_text(encoding="utf-8")
    if len(body.encode()) > MAX_TEMPLATE_BODY:
        raise DeployError(f"template {cfg.template} is over {MAX_TEMPLATE_BODY} bytes")
    stack = describe_stack(cfn, cfg.stack_name)
    if stack and stack.get("StackStatus") == "REVIEW_IN_PROGRESS":
        stack = None  # an empty stack left by a change set that never ran
    previous = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in (stack or {}).get("Parameters", [])
    }
    if previous.get("LakeBucketName") not in (None, cfg.bucket):
        raise DeployError(
            f"stack {cfg.stack_name} uses bucket {previous['LakeBucketName']}, not {cfg.bucket};"
            " a stack keeps its lake bucket (deploy another stack for another bucket)"
        )
    wanted = {
        **cfg.params,
        "LakeBucketName": cfg.bucket,
        "LakePrefix": cfg.prefix,
        "KafkaBootstrapServers": cfg.kafka_bootstrap,
        "KafkaTopic": cfg.kafka_topic,
    }
    exists = bucket_state(s3, cfg.bucket) == "mine"
    if stack and not exists:
        raise DeployError(
            f"bucket {cfg.bucket} of stack {cfg.stack_name} no longer exists; create it again "
            f"(aws s3 mb s3://{cfg.bucket}) or run `loglake destroy --stack-name "
            f"{cfg.stack_name}` and deploy again"
        )
    if "CreateLakeBucket" in previous:
        wanted["CreateLakeBucket"] = previous["CreateLakeBucket"]
    else:
        wanted["CreateLakeBucket"] = "false" if exists else "true"
        if exists:
            click.echo(
                f"bucket {cfg.bucket} exists: the stack uses it as it is (no encryption, public "
                "access block, TLS policy or lifecycle managed by the stack)"
            )
    if not exists and not cfg.dry_run:
        click.echo(f"phase 1: bootstrap stack {cfg.stack_name} with bucket {cfg.bucket}")
        apply_change_set(cfn, cfg, {**wanted, "ArtifactsPrefix": ""}, body, label="bootstrap")
    with tempfile.TemporaryDirectory(prefix="loglake-deploy-") as tmp:
        click.echo("building artifacts")
        artifacts = build(Path(tmp))
        if cfg.dry_run and not exists:
            click.echo(f"dry run: bucket {cfg.bucket} does not exist yet; nothing uploaded")
        wanted.update(upload_artifacts(s3, cfg, artifacts))
        apply_change_set(cfn, cfg, wanted, body, label="pipeline")
    if cfg.dry_run:
        return {}
    if cfg.start_ingest:
        glue = session.client("glue", endpoint_url=cfg.endpoint_url)
        start_ingest(glue, f"{cfg.stack_name}-ingest")
    return stack_outputs(cfn, cfg.stack_name)


def stack_outputs(cfn: Any, name: str) -> dict[str, str]:
    """The stack's outputs as a dict."""
    stack = describe_stack(cfn, name) or {}
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def start_ingest(glue: Any, job: str) -> None:
    """Start the streaming ingest job unless a run is already active."""
    from botocore.exceptions import ClientError

    try:
        runs = glue.get_job_runs(JobName=job, MaxResults=10).get("JobRuns", [])
        active = [r for r in runs if r.get("JobRunState") in ("STARTING", "RUNNING", "WAITING")]
        if active:
            click.echo(
                f"ingest job {job} already running ({active[0]['Id']});"
                " restart it to pick up new code"
            )
            return
        run = glue.start_job_run(JobName=job)
        click.echo(f"started ingest job {job}: run {run['JobRunId']}")
    except ClientError as exc:
        click.echo(f"warning: could not start ingest job {job}: {exc}", err=True)


# ---------------------------------------------------------------- destroy


def stop_job_runs(glue: Any, jobs: Iterable[str]) -> None:
    """Stop the active runs of ``jobs`` (best effort: a missing job is fine)."""
    from botocore.exceptions import ClientError

    for job in jobs:
        try:
            runs = glue.get_job_runs(JobName=job, MaxResults=50).get("JobRuns", [])
            active = [
                r["Id"] for r in runs if r.get("JobRunState") in ("STARTING", "RUNNING", "WAITING")
            ]
            if active:
                glue.batch_stop_job_run(JobName=job, JobRunIds=active)
                click.echo(f"stopped {len(active)} run(s) of {job}")
        except ClientError as exc:
            click.echo(f"note: {job}: {exc.response.get('Error', {}).get('Code', exc)}")


def delete_objects(s3: Any, bucket: str, prefix: str = "") -> int:
    """Delete every object (and object version) under ``prefix``; return how many."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        keys = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in (*page.get("Versions", []), *page.get("DeleteMarkers", []))
        ]
        for start in range(0, len(keys), 1000):
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": keys[start : start + 1000], "Quiet": True}
            )
        deleted += len(keys)
    return deleted


def destroy_stack(session: Session, cfg: DestroyConfig) -> None:
    """Delete the stack; with ``delete_data`` also the lake (bucket or prefix)."""
    cfn = session.client("cloudformation", endpoint_url=cfg.endpoint_url)
    stack = describe_stack(cfn, cfg.stack_name)
    if stack is None:
        raise DeployError(f"no stack named {cfg.stack_name} in region {session.region_name}")
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    bucket, prefix = params.get("LakeBucketName", ""), params.get("LakePrefix", "")
    owned = params.get("CreateLakeBucket") == "true"
    stop_job_runs(
        session.client("glue", endpoint_url=cfg.endpoint_url),
        [f"{cfg.stack_name}-ingest", f"{cfg.stack_name}-etl"],
    )
    started = datetime.now(UTC)
    cfn.delete_stack(StackName=cfg.stack_name)
    final: dict[str, Any] = {}

    def gone() -> bool:
        final.clear()
        final.update(describe_stack(cfn, cfg.stack_name) or {"StackStatus": "DELETE_COMPLETE"})
        return final["StackStatus"] != "DELETE_IN_PROGRESS"

    _wait(gone, f"deletion of {cfg.stack_name}", poll=cfg.poll_seconds, timeout=cfg.timeout_seconds)
    if final["StackStatus"] != "DELETE_COMPLETE":
        reasons = failed_events(cfn, cfg.stack_name, started) or ["(no failed resource event)"]
        raise DeployError(
            f"deleting {cfg.stack_name} ended {final['StackStatus']}:\n  " + "\n  ".join(reasons)
        )
    click.echo(f"stack {cfg.stack_name} deleted")
    if not bucket:
        return
    if not cfg.delete_data:
        click.echo(
            f"kept s3://{bucket}/{prefix} (lake data and artifacts); --delete-data removes it"
        )
        return
    s3 = session.client("s3", endpoint_url=cfg.endpoint_url)
    if owned:
        count = delete_objects(s3, bucket)
        s3.delete_bucket(Bucket=bucket)
        click.echo(f"deleted bucket {bucket} ({count} objects)")
    else:
        count = delete_objects(s3, bucket, f"{prefix}/")
        click.echo(
            f"deleted {count} objects under s3://{bucket}/{prefix}/"
            " (the bucket was not the stack's, so it stays)"
        )


@dataclass(frozen=True)
class DestroyConfig:
    """What ``loglake destroy`` removes."""

    stack_name: str
    delete_data: bool = False
    region: str | None = None
    endpoint_url: str | None = None
    poll_seconds: float = 5.0
    timeout_seconds: float = 3600.0


# ---------------------------------------------------------------- CLI

_region = click.option("--region", help="AWS region (default: AWS_REGION or the profile's).")
_endpoint = click.option(
    "--endpoint-url", help="AWS API endpoint (e.g. a local moto server); default: AWS itself."
)


@click.command()
@click.option(
    "--stack-name", required=True, help="CloudFormation stack name (also names resources)."
)
@click.option("--bucket", required=True, help="S3 bucket of the lake (created unless it exists).")
@click.option("--kafka-bootstrap", required=True, help="Kafka bootstrap servers host:port[,…].")
@click.option(
    "--kafka-topic", default="events", show_default=True, help="Kafka topic of the events."
)
@click.option(
    "--prefix", default="lake", show_default=True, help="Key prefix of the lake in the bucket."
)
@_region
@_endpoint
@click.option("--dry-run", is_flag=True, help="Build and print the change set; change nothing.")
@click.option(
    "--param", "params", multiple=True, metavar="K=V", help="Any other template parameter."
)
@click.option(
    "--start-ingest/--no-start-ingest",
    default=True,
    show_default=True,
    help="Start the streaming job.",
)
@click.option(
    "--template",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=TEMPLATE_ENV,
    default=DEFAULT_TEMPLATE,
    show_default="deploy/loglake.yaml",
    help="CloudFormation template.",
)
def deploy(
    stack_name: str,
    bucket: str,
    kafka_bootstrap: str,
    kafka_topic: str,
    prefix: str,
    region: str | None,
    endpoint_url: str | None,
    dry_run: bool,
    params: tuple[str, ...],
    start_ingest: bool,
    template: Path,
) -> None:
    """Build, upload and deploy the whole pipeline to AWS with CloudFormation."""
    try:
        cfg = DeployConfig(
            stack_name=stack_name,
            bucket=bucket,
            kafka_bootstrap=kafka_bootstrap,
            kafka_topic=kafka_topic,
            prefix=prefix,
            region=region,
            endpoint_url=endpoint_url,
            params=parse_params(params),
            dry_run=dry_run,
            start_ingest=start_ingest,
            template=template,
        )
        session, _ = aws_session(region, endpoint_url)
        outputs = deploy_stack(session, cfg, build=build_artifacts)
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc
    for key, value in sorted(outputs.items()):
        click.echo(f"{key}: {value}")


@click.command()
@click.option("--stack-name", required=True, help="CloudFormation stack to delete.")
@click.option(
    "--delete-data", is_flag=True, help="Also delete the lake (the bucket if the stack made it)."
)
@click.option("--yes", is_flag=True, help="Do not ask before deleting data.")
@_region
@_endpoint
def destroy(
    stack_name: str, delete_data: bool, yes: bool, region: str | None, endpoint_url: str | None
) -> None:
    """Delete the stack; the lake bucket stays unless --delete-data."""
    if delete_data and not yes:
        click.confirm(f"Delete stack {stack_name} AND all its lake data?", abort=True)
    try:
        session, _ = aws_session(region, endpoint_url)
        destroy_stack(
            session,
            DestroyConfig(
                stack_name, delete_data=delete_data, region=region, endpoint_url=endpoint_url
            ),
        )
    except LoglakeError as exc:
        raise click.ClickException(str(exc)) from exc
