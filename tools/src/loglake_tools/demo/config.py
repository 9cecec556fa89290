"""The demo's settings and its bookkeeping file.

Every demo lake has its own Kafka topic and control table, named after a token stored
in the demo's bookkeeping file (``demo.json`` in the demo's folder). A second run on
the same lake reuses them, so nothing is produced twice; ``--fresh`` wipes the lake's
tables and starts over with a new token (a new, empty topic and control table).

Example:
    >>> cfg = DemoConfig.resolve(lake="/tmp/demo-lake", workdir="/tmp/demo")
    >>> cfg.lake
    'file:///tmp/demo-lake'
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from loglake_core.layout import LakeLayout

ENV_DEMO_DIR: Final = "LOGLAKE_DEMO_DIR"
ENV_ETL_FAIL_ONCE: Final = "LOGLAKE_ETL_FAIL_ONCE"
DEFAULT_EVENTS: Final = 1_000_000
DEFAULT_DAYS: Final = 3
#: Shares of the load that exercise every path: quarantine, de-duplication, late dates.
MALFORMED_SHARE: Final = 0.01
DUPLICATE_SHARE: Final = 0.02
LATE_SHARE: Final = 0.02
PARTITIONS: Final = 6
BOOKKEEPING_FILE: Final = "demo.json"
#: Bookkeeping fields that must match for a second run to reuse what is in the topic.
LOAD_KEYS: Final = ("events", "days", "seed", "malformed_share", "duplicate_share", "late_share")


def default_workdir() -> Path:
    """``$LOGLAKE_DEMO_DIR``, else ``demo/`` in the local stack's state folder."""
    env = os.environ.get(ENV_DEMO_DIR)
    if env:
        return Path(os.path.expanduser(env)).resolve()
    from loglake_tools.stack.state import state_dir

    return state_dir() / "demo"


@dataclass(frozen=True)
class DemoConfig:
    """What one ``loglake demo`` run does.

    Attributes:
        events: records to produce (valid + duplicates + malformed).
        days: event times span the last ``days`` UTC days.
        rate: events per second to produce at (``None``: as fast as possible).
        lake: the lake's base URI.
        workdir: the demo's folder (bookkeeping, logs, local ETL runs, default lake/report).
        report: the HTML report to write.
        follow: run ingest as a stream while producing (else drain once, available-now).
        fresh: wipe the lake's tables, topic and control table first.
        seed: generator seed.
        fail_etl_once: make the first ETL run fail (shows the orchestrator's retry).
        malformed_share: share of malformed records.
        duplicate_share: share of duplicate re-sends.
        late_share: share of valid events hours or days late.
    """

    events: int
    days: int
    rate: float | None
    lake: str
    workdir: Path
    report: Path
    follow: bool = False
    fresh: bool = False
    seed: int = 0
    fail_etl_once: bool = False
    malformed_share: float = MALFORMED_SHARE
    duplicate_share: float = DUPLICATE_SHARE
    late_share: float = LATE_SHARE

    @classmethod
    def resolve(
        cls,
        *,
        events: int = DEFAULT_EVENTS,
        days: int = DEFAULT_DAYS,
        rate: float | None = None,
        lake: str | None = None,
        workdir: str | Path | None = None,
        report: str | Path | None = None,
        follow: bool = False,
        fresh: bool = False,
        seed: int = 0,
        fail_etl_once: bool | None = None,
    ) -> DemoConfig:
        """Fill the defaults: the demo folder, the lake and report inside it, env flags."""
        folder = Path(workdir).expanduser().resolve() if workdir else default_workdir()
        layout = LakeLayout.from_uri(lake or str(folder / "lake"))
        if fail_etl_once is None:
            fail_etl_once = os.environ.get(ENV_ETL_FAIL_ONCE, "").lower() in ("1", "true", "yes")
        return cls(
            events=events,
            days=days,
            rate=rate,
            lake=layout.base,
            workdir=folder,
            report=Path(report).expanduser().resolve() if report else folder / "report.html",
            follow=follow,
            fresh=fresh,
            seed=seed,
            fail_etl_once=fail_etl_once,
        )

    @property
    def layout(self) -> LakeLayout:
        """The lake's tables."""
        return LakeLayout.from_uri(self.lake)

    @property
    def lake_key(self) -> str:
        """Short stable digest of the lake URI (names the lake's bookkeeping folder)."""
        return hashlib.sha256(self.lake.encode()).hexdigest()[:10]

    @property
    def state_dir(self) -> Path:
        """Bookkeeping of this lake: demo.json, logs, local ETL runs."""
        return self.workdir / "lakes" / self.lake_key

    @property
    def load(self) -> dict[str, Any]:
        """The parameters that define the produced load (compared across runs)."""
        return {
            "events": self.events,
            "days": self.days,
            "seed": self.seed,
            "malformed_share": self.malformed_share,
            "duplicate_share": self.duplicate_share,
            "late_share": self.late_share,
        }


@dataclass
class Bookkeeping:
    """``demo.json``: the token naming the topic/control table, the load and the summary."""

    path: Path
    token: str
    load: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def topic(self) -> str:
        """The demo lake's Kafka topic."""
        return f"loglake-demo-{self.token}"

    @property
    def control_table(self) -> str:
        """The demo lake's control table."""
        return f"loglake-demo-{self.token}"

    @classmethod
    def open(cls, state_dir: Path) -> Bookkeeping:
        """Read ``demo.json`` of a lake, or start a new one with a new token."""
        path = state_dir / BOOKKEEPING_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                path=path,
                token=str(data["token"]),
                load=dict(data.get("load") or {}),
                summary=data.get("summary"),
                runs=list(data.get("runs") or []),
            )
        except (OSError, ValueError, KeyError):
            return cls(path=path, token=uuid.uuid4().hex[:10])

    def save(self) -> None:
        """Write ``demo.json`` atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        body = {"token": self.token, "load": self.load, "summary": self.summary, "runs": self.runs}
        tmp.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(self.path)
