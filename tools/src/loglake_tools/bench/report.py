"""Show benchmark results: rich tables, a JSON file, Markdown for the docs, a PNG chart.

Every renderer reads the same result dict (``{"machine", "command", "ingest", "latency",
"etl", "scaling", "targets"}``, each section optional), so ``bench ingest --out x.json``
and ``bench all`` print the same tables.

Example:
    >>> print(markdown({"command": "loglake bench all", "machine": {}})[:20])
    # Benchmark results
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Row = list[str]

SECTIONS = ("ingest", "latency", "etl", "scaling")


# ---------------------------------------------------------------- formatting


def num(value: Any, digits: int = 0, suffix: str = "") -> str:
    """A number with thousands separators, or ``-`` when missing."""
    if value is None:
        return "-"
    try:
        return f"{float(value):,.{digits}f}{suffix}"
    except (TypeError, ValueError):
        return str(value)


def gib(value: Any) -> str:
    """Bytes as GiB with two decimals."""
    return "-" if value is None else f"{float(value) / 1024**3:.2f}"


def _med(c: dict[str, Any]) -> dict[str, Any]:
    return c.get("median") or {}


# ---------------------------------------------------------------- tables as rows


def machine_lines(machine: dict[str, Any]) -> list[str]:
    """A few lines describing the machine, versions and background load."""
    if not machine:
        return []
    cpu = machine.get("cpu", {})
    v = machine.get("versions", {})
    load = machine.get("load_before") or {}
    return [
        f"CPU: {cpu.get('model', '?')}, {cpu.get('logical_cores', '?')} logical cores; "
        f"memory {gib(machine.get('memory_bytes'))} GiB; {machine.get('os', '')}",
        f"Versions: Python {v.get('python')}, Spark {v.get('spark')}, "
        f"Delta {v.get('delta-spark')}, "
        f"Kafka broker {v.get('kafka_broker')}, {v.get('java')}, confluent-kafka "
        f"{v.get('confluent-kafka')}, DuckDB {v.get('duckdb')}, pyarrow {v.get('pyarrow')}",
        f"Background load before the run: {num(load.get('cpu_busy_percent'), 0)}% CPU busy, "
        f"load average {', '.join(f'{x:.2f}' for x in load.get('loadavg', []))}",
    ]


def ingest_rows(ingest: dict[str, Any]) -> tuple[Row, list[Row]]:
    """Header and rows of the ingest table."""
    head = ["contender", "runs", "wall s", "events/s (wall)", "events/s (sustained)",
            "CPU-s per M events", "events per CPU-s", "peak RSS GiB", "broker CPU-s"]  # fmt: skip
    rows = []
    for c in ingest.get("contenders", []):
        if "error" in c:
            rows.append([c["label"], "error", c["error"][:80], *["-"] * 6])
            continue
        m = _med(c)
        rows.append([
            c["label"], str(c["repetitions"]), num(m.get("wall_seconds"), 1),
            num(m.get("events_per_second")), num(m.get("drain_events_per_second")),
            num(m.get("cpu_seconds_per_million"), 1), num(m.get("events_per_cpu_second")),
            gib(m.get("peak_rss_bytes")), num(m.get("broker_cpu_seconds"), 1),
        ])  # fmt: skip
    return head, rows


def latency_rows(lat: dict[str, Any]) -> tuple[Row, list[Row]]:
    """Header and rows of the latency table."""
    s = lat.get("latency_seconds", {})
    o = lat.get("batch_overhead_ms", {})
    head = ["figure", "p50", "p95", "p99", "mean"]
    rows = [
        ["end-to-end latency (s)", num(s.get("p50"), 2), num(s.get("p95"), 2),
         num(s.get("p99"), 2), num(s.get("mean"), 2)],
        ["per-batch overhead (ms)", num(o.get("p50")), num(o.get("p95")), num(o.get("p99")),
         num(o.get("mean"))],
        ["batch duration (ms)", num(lat.get("batch_ms", {}).get("p50")),
         num(lat.get("batch_ms", {}).get("p95")), num(lat.get("batch_ms", {}).get("p99")), "-"],
    ]  # fmt: skip
    return head, rows


def etl_rows(etl: dict[str, Any]) -> tuple[Row, list[Row]]:
    """Header and rows of the ETL table."""
    head = ["contender", "runs", "wall s", "CPU-s", "peak RSS GiB", "rows read",
            "rows after de-dup", "page-metric rows"]  # fmt: skip
    rows = []
    pairs = (etl.get("counts") or {}).get("pairs", {})
    for c, key in zip(etl.get("contenders", []), ("loglake", "duckdb"), strict=False):
        if "error" in c:
            rows.append([c["label"], "error", c["error"][:80], *["-"] * 5])
            continue
        m = _med(c)
        rows.append([
            c["label"], str(c["repetitions"]), num(m.get("wall_seconds"), 1),
            num(m.get("cpu_seconds"), 1), gib(m.get("peak_rss_bytes")),
            num(pairs.get("rows_read", {}).get(key)),
            num(pairs.get("rows_after_dedup", {}).get(key)),
            num(pairs.get("page_metrics_rows", {}).get(key)),
        ])  # fmt: skip
    return head, rows


def scaling_rows(sc: dict[str, Any]) -> tuple[Row, list[Row]]:
    """Header and rows of the scaling table."""
    head = ["events", "ingest wall s", "ingest s per M", "ingest CPU-s per M",
            "ETL wall s", "ETL s per M", "ETL CPU-s per M"]  # fmt: skip
    rows = []
    for p in sc.get("points", []):
        if "error" in p:
            rows.append([num(p["events"]), "error", p["error"][:60], "-", "-", "-", "-"])
            continue
        i, e = _med(p.get("ingest", {})), _med(p.get("etl", {}))
        rows.append([
            num(p["events"]), num(i.get("wall_seconds"), 1),
            num(i.get("wall_seconds_per_million"), 1), num(i.get("cpu_seconds_per_million"), 1),
            num(e.get("wall_seconds"), 1), num(e.get("wall_seconds_per_million"), 1),
            num(e.get("cpu_seconds_per_million"), 1),
        ])  # fmt: skip
    return head, rows


def target_rows(targets: Iterable[dict[str, Any]]) -> tuple[Row, list[Row]]:
    """Header and rows of the targets table."""
    head = ["target", "measured", "limit", "measured / limit", "verdict"]
    rows = []
    for t in targets:
        unit = f" {t['unit']}" if t.get("unit") else ""
        digits = 0 if abs(float(t["threshold"])) >= 100 else 2
        rows.append([
            t["description"], num(t.get("value"), digits, unit),
            f"{t['op']} {num(t['threshold'], digits, unit)}", num(t.get("margin"), 2),
            t["verdict"].upper(),
        ])  # fmt: skip
    return head, rows


def all_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Targets of every section present, in section order."""
    out: list[dict[str, Any]] = []
    for name in SECTIONS:
        section = result.get(name)
        if isinstance(section, dict):
            out.extend(section.get("targets", []))
    return out


def tables(result: dict[str, Any]) -> list[tuple[str, Row, list[Row]]]:
    """(title, header, rows) of every section present."""
    out = []
    builders = {"ingest": ingest_rows, "latency": latency_rows, "etl": etl_rows,
                "scaling": scaling_rows}  # fmt: skip
    titles = {
        "ingest": "Ingest: drain a pre-loaded topic",
        "latency": "Latency: steady load, continuous trigger",
        "etl": "ETL: page metrics, ours vs DuckDB",
        "scaling": "Scaling: cost per million events",
    }
    for name in SECTIONS:
        section = result.get(name)
        if isinstance(section, dict):
            if "error" in section:
                out.append((titles[name], ["error"], [[section["error"]]]))
                continue
            head, rows = builders[name](section)
            out.append((titles[name], head, rows))
    targets = all_targets(result)
    if targets:
        head, rows = target_rows(targets)
        out.append(("Targets (reported, never asserted)", head, rows))
    return out


# ---------------------------------------------------------------- renderers


def print_tables(result: dict[str, Any]) -> None:
    """Print every table with rich."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    for line in machine_lines(result.get("machine", {})):
        console.print(line)
    for title, head, rows in tables(result):
        table = Table(title=title, title_justify="left")
        for i, h in enumerate(head):
            table.add_column(h, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    notes = notes_of(result)
    for note in notes:
        console.print(f"- {note}")


def notes_of(result: dict[str, Any]) -> list[str]:
    """Plain-language notes derived from the figures (pre-load rate, ratios, start-up)."""
    notes = []
    ing = result.get("ingest") or {}
    pre = ing.get("preload") or {}
    if pre:
        notes.append(
            f"Pre-load: {num(pre.get('events'))} events ({num(pre.get('duplicates'))} duplicates, "
            f"{num(pre.get('malformed'))} malformed, {num(pre.get('late'))} late) in "
            f"{num(pre.get('wall_seconds'), 1)} s by {pre.get('workers')} producer process(es): "
            f"{num(pre.get('events_per_second'))} events/s overall; send-only rates "
            f"{', '.join(num(r) for r in pre.get('send_rates', []))} events/s."
        )
    ratios = ing.get("ratios") or {}
    if ratios:
        notes.append(
            "Ingest ratios: sustained throughput "
            f"{num(ratios.get('vs_spark_bare_throughput'), 2)}x bare Spark "
            f"({num(ratios.get('vs_spark_bare_throughput_wall'), 2)}x over the whole run), "
            f"{num(ratios.get('vs_python_per_cpu_second'), 2)}x the Python consumer's events "
            "per CPU-second."
        )
    for c in ing.get("contenders", []):
        prof = next((r["profile"] for r in c.get("runs", []) if r.get("profile")), None)
        if prof and prof.get("classes"):
            notes.append(f"{_short(c['label'])} stage time (Spark event log): {_classes(prof)}.")
    lat = result.get("latency") or {}
    if lat.get("latency_seconds"):
        cap = lat.get("capacity_events_per_second")
        notes.append(
            f"Latency: {num(lat.get('events_measured'))} events produced at "
            f"{num(lat.get('rate'))} events/s"
            + (f" (50% of the measured capacity {num(cap)} events/s)" if cap else "")
            + f" for {num(lat.get('duration_seconds'))} s, trigger "
            f"{num(lat.get('trigger_seconds'))} s, {num(lat.get('batches'))} batches; "
            f"{num(lat.get('events_not_committed'))} events not committed at the end."
        )
    etl = result.get("etl") or {}
    if etl.get("contenders"):
        notes.append(
            f"ETL: {num((etl.get('ratios') or {}).get('wall_vs_duckdb'), 2)}x DuckDB's wall time; "
            f"of our job's wall time {num(etl.get('startup_seconds'), 1)} s is start-up "
            "(interpreter, JVM, SparkSession); counts identical: "
            f"{etl.get('counts_identical')}."
        )
        prof = etl.get("profile") or {}
        if prof.get("classes"):
            notes.append(f"ETL stage time (Spark event log): {_classes(prof)}.")
    return notes


def _classes(prof: dict[str, Any]) -> str:
    parts = ", ".join(
        f"{name} {num(c['stage_seconds'], 1)} s in {int(c['stages'])} stages "
        f"({num(c['executor_seconds'], 1)} task-s)"
        for name, c in prof["classes"].items()
    )
    first = prof.get("session_to_first_job_seconds")
    lead = f"session start to first job {num(first, 1)} s; " if first is not None else ""
    return f"{lead}{parts}; dominant: {prof.get('dominant_stage_class')}"


def write_json(result: dict[str, Any], path: Path) -> Path:
    """Write ``result`` as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def _md_table(head: Row, rows: list[Row]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in head) + " |"]
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(result: dict[str, Any], chart: str | None = None) -> str:
    """Markdown of the results, ready to paste into ``docs/benchmarks.md``."""
    out = ["# Benchmark results", ""]
    if result.get("command"):
        out += [f"Command: `{result['command']}`", ""]
    if result.get("started_at"):
        out += [
            f"Run: {result['started_at']} to {result.get('finished_at', '?')} "
            f"({num(result.get('duration_seconds'), 0)} s).",
            "",
        ]
    out += [f"- {line}" for line in machine_lines(result.get("machine", {}))]
    sizes = result.get("sizes") or {}
    if sizes:
        out.append(
            f"- Sizes: ingest {num(sizes.get('ingest_events'))} events; latency "
            f"{num(sizes.get('latency_seconds'))} s; ETL {num(sizes.get('etl_events'))} events "
            f"over {sizes.get('etl_days')} days; scaling "
            f"{', '.join(num(n) for n in sizes.get('scaling_events', []))} events; "
            f"{sizes.get('partitions')} Kafka partitions."
        )
    out.append("")
    for title, head, rows in tables(result):
        out += [f"## {title}", "", _md_table(head, rows), ""]
    notes = notes_of(result)
    if notes:
        out += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    if chart:
        out += [f"![benchmark chart]({chart})", ""]
    return "\n".join(out)


def chart(result: dict[str, Any], path: Path) -> Path | None:
    """A PNG with one panel per section present (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [name for name in ("ingest", "etl", "scaling", "latency")
              if isinstance(result.get(name), dict) and "error" not in result[name]]  # fmt: skip
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, name in zip(axes[0], panels, strict=True):
        _PANELS[name](ax, result[name])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _short(label: str) -> str:
    return label.split(" (")[0]


def _panel_ingest(ax: Any, ing: dict[str, Any]) -> None:
    cs = [c for c in ing.get("contenders", []) if "median" in c]
    names = [_short(c["label"]) for c in cs]
    sustained = [_med(c).get("drain_events_per_second") or 0 for c in cs]
    wall = [_med(c).get("events_per_second") or 0 for c in cs]
    x = range(len(cs))
    ax.bar([i - 0.2 for i in x], sustained, 0.4, label="sustained")
    ax.bar([i + 0.2 for i in x], wall, 0.4, label="whole run")
    ax.set_xticks(list(x), names, fontsize=8)
    ax.set_ylabel("events / s")
    ax.set_title(f"Ingest of {num(ing.get('events'))} events")
    ax.legend(fontsize=8)


def _panel_etl(ax: Any, etl: dict[str, Any]) -> None:
    cs = [c for c in etl.get("contenders", []) if "median" in c]
    ax.bar([_short(c["label"]) for c in cs], [_med(c).get("wall_seconds") or 0 for c in cs])
    ax.set_ylabel("wall seconds")
    ax.set_title(f"ETL of {num(etl.get('events'))} events")


def _panel_scaling(ax: Any, sc: dict[str, Any]) -> None:
    pts = [p for p in sc.get("points", []) if "ingest" in p]
    xs = [p["events"] / 1e6 for p in pts]
    for part, label in (("ingest", "ingest"), ("etl", "ETL")):
        ys = [_med(p.get(part, {})).get("wall_seconds_per_million") for p in pts]
        ax.plot(xs, [y or 0 for y in ys], marker="o", label=label)
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.set_xlabel("million events")
    ax.set_ylabel("wall seconds per million events")
    ax.set_title("Scaling")
    ax.legend(fontsize=8)


def _panel_latency(ax: Any, lat: dict[str, Any]) -> None:
    s = lat.get("latency_seconds", {})
    keys = ["p50", "p95", "p99"]
    ax.bar(keys, [s.get(k) or 0 for k in keys])
    limit = lat.get("trigger_seconds")
    if limit is not None:
        ax.axhline(float(limit) + 5, color="red", linestyle="--", label="target p95")
        ax.legend(fontsize=8)
    ax.set_ylabel("seconds")
    ax.set_title(f"Latency at {num(lat.get('rate'))} events/s")


_PANELS = {
    "ingest": _panel_ingest,
    "etl": _panel_etl,
    "scaling": _panel_scaling,
    "latency": _panel_latency,
}
