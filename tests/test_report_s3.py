"""The report reads an S3 lake through the local stack's S3 API server (s3proxy)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.test_report_lake import build_sample_lake

if TYPE_CHECKING:
    from loglake_tools.stack import StackState


@pytest.mark.integration
def test_report_of_an_s3a_lake(local_stack: StackState, s3_bucket: str, tmp_path: Path) -> None:
    from loglake_tools.reconcile import LakeReader, lake_counts
    from loglake_tools.report import build_report

    reader = LakeReader.open(f"s3a://{s3_bucket}/lake", s3_endpoint=local_stack.s3_endpoint)
    # delta-rs needs this to write to an S3 server without a locking provider (test only).
    options = {**reader.storage_options, "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
    lake = build_sample_lake(f"s3://{s3_bucket}/lake", storage_options=options)

    counts = lake_counts(reader)
    assert counts.raw_rows == lake["events"]
    assert counts.quarantined == lake["quarantined"]
    out = build_report(
        f"s3a://{s3_bucket}/lake",
        tmp_path / "report.html",
        control_table="",
        s3_endpoint=local_stack.s3_endpoint,
    )
    text = out.read_text(encoding="utf-8")
    assert f"s3a://{s3_bucket}/lake" in text
    assert f"{lake['events']:,}" in text
    assert 'id="tti-days"' in text
