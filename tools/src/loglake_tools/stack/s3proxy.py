"""The S3 API server of the local stack: s3proxy with a filesystem backend.

Buckets are folders under ``<state>/s3/data``. Requests are accepted path-style from
boto3 and from Spark's ``s3a://`` (hadoop-aws with the AWS SDK v2). Authentication is
off, so any access key works; the stack hands out ``testing``/``testing``.

Example:
    >>> create_bucket("http://127.0.0.1:19000", "lake")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from loglake_tools.stack import procs
from loglake_tools.stack.errors import StackError
from loglake_tools.stack.kafka import java_bin

if TYPE_CHECKING:
    import psutil

log = logging.getLogger(__name__)

HEAP: Final = "256m"
ACCESS_KEY: Final = "testing"
SECRET_KEY: Final = "testing"
REGION: Final = "us-east-1"
PROBE_TIMEOUT: Final = 2.0


def properties(root: Path, port: int, host: str = "127.0.0.1") -> str:
    """The s3proxy configuration: filesystem backend under ``root/data``, no auth."""
    settings = {
        "s3proxy.endpoint": f"http://{host}:{port}",
        "s3proxy.authorization": "none",
        "s3proxy.identity": ACCESS_KEY,
        "s3proxy.credential": SECRET_KEY,
        "s3proxy.ignore-unknown-headers": "true",
        "s3proxy.cors-allow-all": "false",
        "jclouds.provider": "filesystem",
        "jclouds.identity": ACCESS_KEY,
        "jclouds.credential": SECRET_KEY,
        "jclouds.filesystem.basedir": str(root / "data"),
        "jclouds.region": REGION,
    }
    return "".join(f"{k}={v}\n" for k, v in settings.items())


def logback_xml() -> str:
    """Logging of s3proxy: warnings only (logback's default is DEBUG for every library)."""
    return """<configuration>
  <appender name="out" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{36} - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.gaul.s3proxy" level="INFO"/>
  <root level="WARN"><appender-ref ref="out"/></root>
</configuration>
"""


def start(root: Path, port: int, classpath: str) -> psutil.Process:
    """Start s3proxy detached; it logs to ``<state>/logs/s3proxy.log``."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    conf = root / "s3proxy.conf"
    conf.write_text(properties(root, port))
    logback = root / "logback.xml"
    logback.write_text(logback_xml())
    cmd = [
        java_bin(),
        "-Xms64m",
        f"-Xmx{HEAP}",
        "-XX:+UseSerialGC",
        "-XX:MaxMetaspaceSize=128m",
        "-XX:ReservedCodeCacheSize=64m",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlogback.configurationFile={logback}",
        "-cp",
        classpath,
        "org.gaul.s3proxy.Main",
        "--properties",
        str(conf),
    ]
    return procs.spawn(cmd, log_file=root.parent / "logs" / "s3proxy.log", cwd=root)


def s3_client(endpoint: str, timeout: float = 30.0) -> Any:
    """A boto3 S3 client for ``endpoint`` (path-style, the stack's keys)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 2, "mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def is_ready(endpoint: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the S3 server answers ListBuckets."""
    s3_client(endpoint, timeout).list_buckets()
    return True


def create_bucket(endpoint: str, name: str) -> bool:
    """Create bucket ``name`` unless it exists.

    Returns:
        True when created, False when it already existed.

    Raises:
        StackError: when the server refuses (e.g. an invalid bucket name).
    """
    from botocore.exceptions import ClientError

    client = s3_client(endpoint)
    try:
        client.create_bucket(Bucket=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            return False
        raise StackError(f"creating bucket {name!r} on {endpoint} failed: {code} {exc}") from exc
    return True
