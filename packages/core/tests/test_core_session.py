"""The local driver: the class archive when present, never required; jars on its classpath."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# loglake_core.spark needs pyspark (absent from the Lambda environment)
pytestmark = pytest.mark.spark

ENV_JARS_DIR = "LOGLAKE_JARS_DIR"
ENV_CLASS_ARCHIVE = "LOGLAKE_JVM_CLASS_ARCHIVE"


@pytest.fixture
def jars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(ENV_JARS_DIR, str(tmp_path))
    monkeypatch.delenv(ENV_CLASS_ARCHIVE, raising=False)
    return tmp_path


def test_the_archive_under_the_jars_folder_is_used_once_built(jars: Path) -> None:
    from loglake_core.spark import session

    assert (session.ENV_JARS_DIR, session.ENV_CLASS_ARCHIVE) == (ENV_JARS_DIR, ENV_CLASS_ARCHIVE)
    assert session.class_archive() is None
    built = jars / "jvm" / session.CLASS_ARCHIVE_NAME
    built.parent.mkdir()
    built.write_bytes(b"x")
    assert session.class_archive() == built


def test_the_environment_names_another_archive_or_turns_it_off(
    jars: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loglake_core.spark.session import CLASS_ARCHIVE_NAME, class_archive

    (jars / "jvm").mkdir()
    (jars / "jvm" / CLASS_ARCHIVE_NAME).write_bytes(b"x")
    other = jars / "other.jsa"
    monkeypatch.setenv(ENV_CLASS_ARCHIVE, str(other))
    assert class_archive() is None  # named but absent: started without one
    other.write_bytes(b"x")
    assert class_archive() == other
    for off in ("off", "OFF", "0", "false"):
        monkeypatch.setenv(ENV_CLASS_ARCHIVE, off)
        assert class_archive() is None


def test_driver_options_keep_the_base_and_add_the_archive() -> None:
    from loglake_core.spark.session import driver_java_options

    archive = Path("/cache/jvm/spark.jsa")
    assert driver_java_options("-Duser.timezone=UTC", None) == "-Duser.timezone=UTC"
    assert driver_java_options("-Duser.timezone=UTC -XX:+UseParallelGC", archive) == (
        "-Duser.timezone=UTC -XX:+UseParallelGC -XX:SharedArchiveFile=/cache/jvm/spark.jsa"
    )
    assert driver_java_options("", archive) == "-XX:SharedArchiveFile=/cache/jvm/spark.jsa"


def test_a_local_driver_gets_the_jars_on_its_classpath_others_through_spark_jars() -> None:
    import os

    from loglake_core.spark.session import jar_settings

    jars = ["/j/delta.jar", "/j/kafka.jar"]
    for master in ("local", "local[2]", "local[*]"):
        assert jar_settings(jars, master, submitted=False) == {
            "spark.driver.extraClassPath": os.pathsep.join(jars)
        }
    assert jar_settings(jars, "spark://h:7077", submitted=False) == {
        "spark.jars": "/j/delta.jar,/j/kafka.jar"
    }
    # spark-submit launched the JVM already: only spark.jars can still add them
    assert jar_settings(jars, "local[2]", submitted=True) == {
        "spark.jars": "/j/delta.jar,/j/kafka.jar"
    }
    assert jar_settings([], "local[2]", submitted=False) == {}


def test_the_driver_environment_is_set_while_the_jvm_starts_and_the_users_value_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from loglake_core.spark.session import DRIVER_ENV, _driver_env

    assert DRIVER_ENV == {"MALLOC_ARENA_MAX": "2"}
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    with _driver_env(DRIVER_ENV):
        assert os.environ["MALLOC_ARENA_MAX"] == "2"
    assert "MALLOC_ARENA_MAX" not in os.environ
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    with _driver_env(DRIVER_ENV):
        assert os.environ["MALLOC_ARENA_MAX"] == "8"
    assert os.environ["MALLOC_ARENA_MAX"] == "8"


def test_jemalloc_is_preloaded_when_found_a_named_library_wins_and_off_turns_it_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctypes.util

    from loglake_core.errors import ConfigError
    from loglake_core.spark.session import driver_env, jemalloc_library

    monkeypatch.delenv("LOGLAKE_JEMALLOC", raising=False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so.2")
    assert jemalloc_library() == "libjemalloc.so.2"
    assert driver_env() == {"MALLOC_ARENA_MAX": "2", "LD_PRELOAD": "libjemalloc.so.2"}

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert jemalloc_library() is None
    assert driver_env() == {"MALLOC_ARENA_MAX": "2"}

    library = tmp_path / "libjemalloc.so.2"
    library.write_bytes(b"")
    monkeypatch.setenv("LOGLAKE_JEMALLOC", str(library))
    assert driver_env()["LD_PRELOAD"] == str(library)

    monkeypatch.setenv("LOGLAKE_JEMALLOC", "off")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so.2")
    assert "LD_PRELOAD" not in driver_env()

    missing = tmp_path / "nowhere.so"
    monkeypatch.setenv("LOGLAKE_JEMALLOC", str(missing))
    with pytest.raises(ConfigError) as err:
        jemalloc_library()
    assert "$LOGLAKE_JEMALLOC" in str(err.value)
    assert str(missing) in str(err.value)
    assert "'off'" in str(err.value)


def test_the_local_driver_jvm_runs_on_jemalloc_exactly_when_it_is_installed(
    spark: SparkSession,
) -> None:
    import os

    from loglake_core.spark.session import jemalloc_library

    jvm = spark.sparkContext._jvm
    assert jvm is not None
    pid = int(jvm.java.lang.ProcessHandle.current().pid())
    assert pid != os.getpid()
    with open(f"/proc/{pid}/maps", encoding="utf-8") as maps:
        mapped = any("libjemalloc" in line for line in maps)
    users = os.environ.get("LD_PRELOAD")  # a preload the user set wins
    expected = "jemalloc" in users if users is not None else jemalloc_library() is not None
    assert mapped == expected


def test_the_project_file_system_only_where_its_jar_is_on_the_drivers_classpath(
    jars: Path,
) -> None:
    from loglake_core.spark import accel
    from loglake_core.spark.session import jar_settings, local_fs_settings

    def given(jar_list: list[str], master: str, *, submitted: bool = False) -> dict[str, str]:
        return local_fs_settings(jar_settings(jar_list, master, submitted=submitted))

    ours = str(accel.jar_path(jars))
    assert given(["/j/spark.jar", ours], "local[2]") == {
        "spark.hadoop.fs.file.impl": accel.LOCAL_FS_CLASS,
        "spark.hadoop.fs.AbstractFileSystem.file.impl": f"{accel.LOCAL_FS_CLASS}$Fs",
    }
    assert given(["/j/spark.jar"], "local[2]") == {}
    # a cluster's executors, or a driver spark-submit started: the cluster's file system
    assert given([ours], "spark://h:7077") == {}
    assert given([ours], "local[2]", submitted=True) == {}


def test_the_jar_digest_covers_every_java_source() -> None:
    from loglake_core.spark import accel

    names = [s.name for s in accel._sources()]
    assert names == [
        "AcceptFlatEvent.java",
        "DeclinedRules.java",
        "FilteredRocksDBStateStoreProvider.java",
        "NioLocalFileSystem.java",
    ]
    assert len(accel.source_digest()) == 12


def test_the_archive_name_tells_python_environments_apart() -> None:
    """Two checkouts' drivers have different classpaths; one archive name served neither."""
    import hashlib

    import pyspark

    from loglake_core.spark import accel
    from loglake_core.spark.session import CLASS_ARCHIVE_NAME, environment_key

    folder = str(Path(pyspark.__file__).resolve().parent)
    assert environment_key() == hashlib.sha256(folder.encode()).hexdigest()[:8]
    assert f"spark-classes-5-{accel.source_digest()}-{environment_key()}.jsa" == CLASS_ARCHIVE_NAME
