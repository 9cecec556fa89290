"""The small JSON result an ETL run reports (stdout, ``--result-path``, the orchestrator)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EtlResult:
    """What one run read, kept and wrote.

    Attributes:
        status: ``"ok"`` or ``"failed"``.
        dates: the processed dates, ISO strings, sorted.
        rows_read: raw rows of those dates.
        rows_outside_date: rows dropped because ``event_date != to_date(event_time)``.
        duplicates_dropped: rows dropped as repeated ``event_id`` within a date.
        rows_after_dedup: cleaned rows that feed the aggregates.
        rows_written: rows written per processed table.
        rows_by_date: cleaned rows per date (ISO string -> count).
        duration_seconds: wall time of the run.
        lake: base URI of the lake.
        error: the failure message when ``status == "failed"``.
    """

    status: str
    dates: list[str]
    rows_read: int = 0
    rows_outside_date: int = 0
    duplicates_dropped: int = 0
    rows_after_dedup: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    rows_by_date: dict[str, int] = field(default_factory=dict)
    duration_seconds: float = 0.0
    lake: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, JSON-ready."""
        return asdict(self)

    def to_json(self) -> str:
        """One line of JSON.

        Example:
            >>> EtlResult(status="ok", dates=["2026-11-01"]).to_json()[:40]
            '{"status": "ok", "dates": ["2026-11-01"]'
        """
        return json.dumps(self.to_dict(), sort_keys=False)

    def write(self, path: str | Path) -> None:
        """Write the JSON to ``path`` (a local path), creating its folder."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, text: str) -> EtlResult:
        """Parse what ``to_json`` wrote."""
        return cls(**json.loads(text))
