"""Building the JVM class archive: a failed run installs nothing and says why; old ones go."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pyspark")


def test_a_failed_training_run_leaves_no_archive_and_names_the_cause(tmp_path: Path) -> None:
    from loglake_tools.class_archive import ClassArchiveError, build_class_archive

    empty_jars = tmp_path / "jars"
    empty_jars.mkdir()
    target = tmp_path / "jvm" / "spark-classes-2.jsa"
    with pytest.raises(ClassArchiveError) as info:
        build_class_archive(target, empty_jars)
    assert "no Spark jars" in str(info.value)
    assert "loglake jars fetch" in str(info.value)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no half-written archive either


def test_stale_archives_of_older_names_are_removed(tmp_path: Path) -> None:
    from loglake_tools.class_archive import remove_stale_archives

    target = tmp_path / "spark-classes-2.jsa"
    for name in ("spark-classes.jsa", "spark-classes-1.jsa", "spark-classes-2.jsa", "other.jsa"):
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_archives(target)
    assert sorted(p.name for p in removed) == ["spark-classes-1.jsa", "spark-classes.jsa"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.jsa", "spark-classes-2.jsa"]


def test_another_environments_archive_of_the_same_sources_is_kept(tmp_path: Path) -> None:
    from loglake_tools.class_archive import remove_stale_archives

    target = tmp_path / "spark-classes-4-abc123-0000aaaa.jsa"
    names = (
        "spark-classes-4-abc123-0000aaaa.jsa",  # this environment
        "spark-classes-4-abc123-1111bbbb.jsa",  # another checkout, same sources: in use there
        "spark-classes-4-0ld000-0000aaaa.jsa",  # older sources
        "spark-classes-3-abc123.jsa",  # the name before environments were told apart
        "other.jsa",
    )
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_archives(target)
    assert sorted(p.name for p in removed) == [
        "spark-classes-3-abc123.jsa",
        "spark-classes-4-0ld000-0000aaaa.jsa",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "other.jsa",
        "spark-classes-4-abc123-0000aaaa.jsa",
        "spark-classes-4-abc123-1111bbbb.jsa",
    ]


def test_only_the_newest_archives_of_other_environments_are_kept(tmp_path: Path) -> None:
    """A checkout that is gone (a CI clone) must not leave 180 MB behind for good."""
    import os

    from loglake_tools.class_archive import KEEP_OTHER_ENVIRONMENTS, remove_stale_archives

    target = tmp_path / "spark-classes-4-abc123-0000aaaa.jsa"
    target.write_bytes(b"x")
    others = [tmp_path / f"spark-classes-4-abc123-{n:08x}.jsa" for n in range(1, 5)]
    for age, path in enumerate(others):  # the first is the newest
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
    removed = remove_stale_archives(target)
    assert KEEP_OTHER_ENVIRONMENTS == 2
    assert sorted(removed) == sorted(others[2:])
    assert sorted(tmp_path.iterdir()) == sorted([target, *others[:2]])
