"""The local driver's file system: permissions and link checks without child processes.

Hadoop's own local file system runs ``chmod`` and ``readlink`` per file when its native
library is absent; ``NioLocalFileSystem`` (in the accelerator's jar) does both in the JVM.
These tests pin what Delta's log store and Spark's checkpoints rely on: permissions as
asked, statuses of files, folders and missing paths, and a rename that never replaces.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.spark


def _hadoop(spark: Any) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    return jvm, spark.sparkContext._jsc.hadoopConfiguration()


def _context(spark: Any) -> Any:
    """Hadoop's ``FileContext`` for ``file://`` (what checkpoints and Delta's log store use)."""
    jvm, conf = _hadoop(spark)
    return jvm.org.apache.hadoop.fs.FileContext.getFileContext(jvm.java.net.URI("file:///"), conf)


def _fs(spark: Any) -> Any:
    jvm, conf = _hadoop(spark)
    return jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI("file:///"), conf)


def _path(spark: Any, local: Path) -> Any:
    jvm, _ = _hadoop(spark)
    return jvm.org.apache.hadoop.fs.Path(local.as_uri())


def test_the_local_driver_gets_the_project_file_system(spark: Any) -> None:
    from loglake_core.spark import accel

    _, conf = _hadoop(spark)
    assert conf.get("fs.file.impl") == accel.LOCAL_FS_CLASS
    assert _fs(spark).getClass().getName() == accel.LOCAL_FS_CLASS
    context_fs = _context(spark).getDefaultFileSystem()
    assert context_fs.getClass().getName() == f"{accel.LOCAL_FS_CLASS}$Fs"


@pytest.mark.parametrize("mode", ["640", "604", "750", "700", "777", "000"])
def test_permissions_are_set_as_asked(spark: Any, tmp_path: Path, mode: str) -> None:
    jvm, _ = _hadoop(spark)
    target = tmp_path / "file"
    target.write_bytes(b"x")
    permission = jvm.org.apache.hadoop.fs.permission.FsPermission(mode)
    _fs(spark).setPermission(_path(spark, target), permission)
    assert stat.S_IMODE(os.stat(target).st_mode) == int(mode, 8)


def test_new_files_and_folders_get_hadoops_permissions(spark: Any, tmp_path: Path) -> None:
    fs = _fs(spark)
    out = fs.create(_path(spark, tmp_path / "made" / "part-0"), True)
    out.write(b"abc")
    out.close()
    assert (tmp_path / "made" / "part-0").read_bytes() == b"abc"
    # the checksum file beside it, as Hadoop's own local file system writes
    assert (tmp_path / "made" / ".part-0.crc").is_file()
    # Hadoop's defaults under its umask (0644 and 0755 with the default 022)
    jvm, conf = _hadoop(spark)
    permission = jvm.org.apache.hadoop.fs.permission.FsPermission
    umask = permission.getUMask(conf)
    file_mode = permission.getFileDefault().applyUMask(umask).toShort()
    dir_mode = permission.getDirDefault().applyUMask(umask).toShort()
    assert stat.S_IMODE(os.stat(tmp_path / "made" / "part-0").st_mode) == file_mode
    assert stat.S_IMODE(os.stat(tmp_path / "made").st_mode) == dir_mode


def test_link_status_of_files_folders_links_and_missing_paths(spark: Any, tmp_path: Path) -> None:
    from py4j.protocol import Py4JJavaError

    fs = _fs(spark)
    (tmp_path / "f").write_bytes(b"12345")
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to(tmp_path / "f")
    status = fs.getFileLinkStatus(_path(spark, tmp_path / "f"))
    assert (status.isFile(), status.isSymlink(), status.getLen()) == (True, False, 5)
    assert fs.getFileLinkStatus(_path(spark, tmp_path / "d")).isDirectory()
    # as Hadoop's own for a qualified path: the status of the path itself, no error
    assert fs.getFileLinkStatus(_path(spark, tmp_path / "l")).getPath().getName() == "l"
    with pytest.raises(Py4JJavaError, match="FileNotFoundException"):
        fs.getFileLinkStatus(_path(spark, tmp_path / "missing"))


def test_a_rename_never_replaces_an_existing_file(spark: Any, tmp_path: Path) -> None:
    """What Delta's log store and Spark's checkpoint files rely on for one writer per version."""
    from py4j.protocol import Py4JJavaError

    jvm, _ = _hadoop(spark)
    context = _context(spark)
    rename = jvm.org.apache.hadoop.fs.Options.Rename
    no_overwrite = spark.sparkContext._gateway.new_array(rename, 1)
    no_overwrite[0] = rename.NONE
    (tmp_path / "tmp-1").write_bytes(b"first")
    (tmp_path / "tmp-2").write_bytes(b"second")
    context.rename(_path(spark, tmp_path / "tmp-1"), _path(spark, tmp_path / "v1"), no_overwrite)
    assert (tmp_path / "v1").read_bytes() == b"first"
    assert not (tmp_path / "tmp-1").exists()
    with pytest.raises(Py4JJavaError, match="FileAlreadyExistsException"):
        context.rename(
            _path(spark, tmp_path / "tmp-2"), _path(spark, tmp_path / "v1"), no_overwrite
        )
    assert (tmp_path / "v1").read_bytes() == b"first"
    assert (tmp_path / "tmp-2").read_bytes() == b"second"
