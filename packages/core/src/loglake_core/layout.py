"""Lake layout: every table and folder of the lake, as URIs under one base URI.

The base is ``file:///…`` by default, ``s3://bucket/prefix`` on AWS, or
``s3a://bucket/prefix`` for any S3 API server (Spark's Hadoop S3 connector).

Example:
    >>> lake = LakeLayout.from_uri("s3://my-bucket/lake/")
    >>> lake.raw_events
    's3://my-bucket/lake/raw/events'
    >>> LakeLayout.from_uri("/tmp/lake").processed_page_metrics
    'file:///tmp/lake/processed/page_metrics_daily'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from loglake_core.errors import ConfigError

SCHEMES: Final = ("file", "s3", "s3a")


@dataclass(frozen=True)
class LakeLayout:
    """Paths of the lake's tables under ``base`` (a URI without a trailing slash)."""

    base: str

    @classmethod
    def from_uri(cls, uri: str) -> LakeLayout:
        """Build a layout from a URI or a local path.

        A local path (absolute or relative) becomes a ``file://`` URI.

        Raises:
            ConfigError: for an empty URI or an unsupported scheme.
        """
        uri = uri.strip()
        if not uri:
            raise ConfigError("lake URI is empty; pass e.g. file:///var/lake or s3://bucket/lake")
        if "://" not in uri:
            uri = "file://" + os.path.abspath(os.path.expanduser(uri))
        scheme, _, rest = uri.partition("://")
        if scheme not in SCHEMES:
            raise ConfigError(
                f"lake URI {uri!r} has scheme {scheme!r}; use one of "
                f"{', '.join(s + '://' for s in SCHEMES)}"
            )
        if scheme in ("s3", "s3a") and not rest.split("/", 1)[0]:
            raise ConfigError(f"lake URI {uri!r} names no bucket; use {scheme}://bucket/prefix")
        return cls(base=uri.rstrip("/"))

    @property
    def scheme(self) -> str:
        """``file``, ``s3`` or ``s3a``."""
        return self.base.split("://", 1)[0]

    @property
    def is_local(self) -> bool:
        """Whether the lake is on the local filesystem."""
        return self.scheme == "file"

    @property
    def local_path(self) -> str:
        """The filesystem path of a ``file://`` lake.

        Raises:
            ConfigError: if the lake is not local.
        """
        if not self.is_local:
            raise ConfigError(f"lake {self.base} is not on the local filesystem")
        return self.base[len("file://") :]

    @property
    def bucket(self) -> str:
        """The bucket of an S3 lake."""
        return self.base.split("://", 1)[1].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """The key prefix of an S3 lake (no leading or trailing slash)."""
        parts = self.base.split("://", 1)[1].split("/", 1)
        return parts[1].strip("/") if len(parts) > 1 else ""

    def path(self, *parts: str) -> str:
        """Join ``parts`` under the base."""
        return "/".join([self.base, *(p.strip("/") for p in parts)])

    def with_scheme(self, scheme: str) -> LakeLayout:
        """The same lake seen through another S3 scheme (``s3`` <-> ``s3a``)."""
        return LakeLayout(base=f"{scheme}://{self.base.split('://', 1)[1]}")

    @property
    def raw_events(self) -> str:
        """Delta table of valid events, partitioned by ``event_date``."""
        return self.path("raw", "events")

    @property
    def raw_quarantine(self) -> str:
        """Delta table of rejected records, partitioned by ``ingest_date``."""
        return self.path("raw", "quarantine")

    @property
    def ingest_batches(self) -> str:
        """Delta table of per-batch reconciliation counters written by ingest."""
        return self.path("raw", "_ingest_batches")

    @property
    def processed_page_metrics(self) -> str:
        """Delta table of daily page metrics, partitioned by ``event_date``."""
        return self.path("processed", "page_metrics_daily")

    @property
    def processed_errors_hourly(self) -> str:
        """Delta table of hourly error counts, partitioned by ``event_date``."""
        return self.path("processed", "errors_hourly")

    def checkpoint(self, name: str = "ingest") -> str:
        """Spark streaming checkpoint folder of the query ``name``."""
        return self.path("_checkpoints", name)

    @property
    def artifacts(self) -> str:
        """Folder of Glue wheels and entry scripts."""
        return self.path("_artifacts")
