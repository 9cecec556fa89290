"""The machine and software a benchmark ran on: cores, memory, CPU model, versions, load.

Every result file records this, so figures from two machines are never compared blindly,
and the load of the machine before the run shows how noisy it was.

Example:
    >>> info = machine_info()  # doctest: +SKIP
    >>> info["cpu"]["logical_cores"]  # doctest: +SKIP
    2
"""

from __future__ import annotations

import contextlib
import glob
import os
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import psutil

#: Python distributions whose versions are recorded.
PACKAGES: Final = (
    "pyspark",
    "delta-spark",
    "confluent-kafka",
    "duckdb",
    "pyarrow",
    "deltalake",
    "orjson",
    "psutil",
)
#: Seconds spent measuring the machine's background CPU use before a run.
LOAD_PROBE_SECONDS: Final = 1.0


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return platform.processor() or platform.machine()


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (``None`` when missing)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def kafka_version(jars_folder: Path | None = None) -> str | None:
    """Version of the Kafka broker jars the local stack runs (from ``kafka_2.13-X.jar``)."""
    if jars_folder is None:
        from loglake_core.spark.session import jars_dir

        jars_folder = jars_dir() / "kafka"
    for path in sorted(glob.glob(str(jars_folder / "kafka_*.jar"))):
        match = re.match(r"kafka_[\d.]+-([\w.\-]+)\.jar$", os.path.basename(path))
        if match:
            return match.group(1)
    return None


def java_version() -> str | None:
    """First line of ``java -version`` (``None`` without java)."""
    try:
        done = subprocess.run(
            ["java", "-version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[0] if lines else None


def background_load(seconds: float = LOAD_PROBE_SECONDS) -> dict[str, Any]:
    """CPU busy share of the machine over ``seconds`` and the load averages, before a run."""
    busy = psutil.cpu_percent(interval=seconds)
    load1, load5, load15 = os.getloadavg()
    return {"cpu_busy_percent": busy, "loadavg": [load1, load5, load15]}


def machine_info(*, probe_load: bool = True) -> dict[str, Any]:
    """Everything recorded about the machine and the software of a benchmark run."""
    mem = psutil.virtual_memory()
    versions: dict[str, Any] = {
        "python": sys.version.split()[0],
        "spark": package_versions(("pyspark",))["pyspark"],
        "kafka_broker": kafka_version(),
        "java": java_version(),
        **{k: v for k, v in package_versions().items() if k != "pyspark"},
    }
    return {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": {
            "model": cpu_model(),
            "logical_cores": psutil.cpu_count(logical=True),
            "physical_cores": psutil.cpu_count(logical=False),
        },
        "memory_bytes": mem.total,
        "versions": versions,
        "load_before": background_load() if probe_load else None,
    }
