"""The HTML report renders in a real browser: every chart draws, no console error.

Runs Debian's ``chromium`` headless (CI installs it; see .ci/run) on a report of a small
lake written with delta-rs. The screenshot is kept in ``test-artifacts/report/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.test_report_lake import build_sample_lake, put_sample_runs

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "report"
CHARTS = ("tti-days", "tti-dist", "views-days", "errors-heatmap", "quarantine")
#: What a drawn chart of each kind contains in its SVG.
DRAWN = {
    "tti-days": r'class="scatterlayer.*?<path class="js-line" d="M',
    "tti-dist": r'class="scatterlayer.*?<path class="js-line" d="M',
    "views-days": r'class="trace bars".*?<path d="M',
    "errors-heatmap": r'class="hm".*?<image',
    "quarantine": r'class="trace bars".*?<path d="M',
}
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=10000",
)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed: `apt-get install -y chromium` (CI does this)")


def _run_chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    from loglake_tools.report import build_report

    root = tmp_path_factory.mktemp("render")
    lake = build_sample_lake(root / "lake")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    from moto import mock_aws

    with mock_aws():
        put_sample_runs("loglake-control-render")
        out = build_report(
            lake["base"], ARTIFACTS / "report.html", control_table="loglake-control-render"
        )
    return out, lake


@pytest.mark.unit
def test_report_is_one_self_contained_file(report_file: tuple[Path, dict[str, Any]]) -> None:
    path, lake = report_file
    text = path.read_text(encoding="utf-8")
    assert text.count("<script") == 1 + len(CHARTS)  # plotly.js once, then one per chart
    assert not re.search(r'<script[^>]+src=|<link[^>]+href="http', text)
    for div in CHARTS:
        assert f'id="{div}"' in text
    assert f"{lake['events']:,}" in text  # summary card: events in raw
    assert "✓ equal" in text
    assert "✗ differs" not in text
    assert text.count("local-a") == 1  # the failed run is in the history table
    assert "injected failure" in text


@pytest.mark.unit
def test_report_renders_in_chromium(
    report_file: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, _ = report_file
    url = path.resolve().as_uri()
    dom = _run_chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console_messages(dom.stderr) == []
    html = dom.stdout
    for div in CHARTS:
        start = html.index(f'<div id="{div}"')
        chunk = html[start : html.index("</section>", start)]
        assert 'class="main-svg"' in chunk, f"{div}: plotly drew no SVG"
        assert re.search(DRAWN[div], chunk, re.S), f"{div}: the SVG has no data drawn"

    png = ARTIFACTS / "report.png"
    png.unlink(missing_ok=True)
    shot = _run_chromium(tmp_path, f"--screenshot={png}", "--window-size=1400,4200", url)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert _console_messages(shot.stderr) == []
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000, "a blank page would compress to a few kB"
