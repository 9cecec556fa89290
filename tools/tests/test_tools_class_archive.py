"""Building the JVM class archive: a failed training run installs nothing and says why."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pyspark")


def test_a_failed_training_run_leaves_no_archive_and_names_the_cause(tmp_path: Path) -> None:
    from loglake_tools.class_archive import ClassArchiveError, build_class_archive

    empty_jars = tmp_path / "jars"
    empty_jars.mkdir()
    target = tmp_path / "jvm" / "spark-classes.jsa"
    with pytest.raises(ClassArchiveError) as info:
        build_class_archive(target, empty_jars)
    assert "no Spark jars" in str(info.value)
    assert "loglake jars fetch" in str(info.value)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no half-written archive either
