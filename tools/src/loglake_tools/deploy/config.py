"""What to deploy and destroy: options, their checks, and the template's parameters."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from loglake_core.errors import ConfigError

#: Env var naming another template file (default: deploy/loglake.yaml of this repository).
TEMPLATE_ENV: Final = "LOGLAKE_DEPLOY_TEMPLATE"
DEFAULT_TEMPLATE: Final = Path(__file__).resolve().parents[4] / "deploy" / "loglake.yaml"
#: CloudFormation takes a template body up to this size; larger ones go through S3.
MAX_TEMPLATE_BODY: Final = 51_200
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


@dataclass(frozen=True)
class DestroyConfig:
    """What ``loglake destroy`` removes."""

    stack_name: str
    delete_data: bool = False
    region: str | None = None
    endpoint_url: str | None = None
    poll_seconds: float = 5.0
    timeout_seconds: float = 3600.0
