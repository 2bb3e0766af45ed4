"""The driver JVM's class-data archive (engine/spark/cds.py): used only when it exists whole for this JVM's
options, and a damaged one never stops Spark from starting."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.settings import settings
from engine.spark import cds, session

ROOT = Path(__file__).resolve().parent.parent


def _fake_archive(conf: dict, body: bytes = b"\0" * 4096) -> Path:
    """An archive file and its record where a run with `conf` looks for one."""
    path = cds.archive_path(cds.archive_key(os.environ["JAVA_HOME"], conf["spark.driver.extraJavaOptions"],
                                            conf["spark.driver.memory"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cds.DYNAMIC_MAGIC + body)
    path.with_suffix(".json").write_text(json.dumps({"bytes": path.stat().st_size}))
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TAMIS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("JAVA_HOME", os.environ.get("JAVA_HOME") or session.java_home())
    monkeypatch.delenv("TAMIS_JVM_CDS", raising=False)
    monkeypatch.delenv("TAMIS_FULL_JIT", raising=False)
    settings.cache_clear()
    yield tmp_path / "cache"
    settings.cache_clear()


def _driver_opts(master="local[2]") -> str:
    return session._embedded_conf(master)["spark.driver.extraJavaOptions"]


def test_flag_only_when_the_archive_exists_whole_for_these_options(cache, monkeypatch):
    plain = session._embedded_conf("local[2]", cds=False)
    assert "SharedArchiveFile" not in _driver_opts()                       # nothing built yet
    archive = _fake_archive(plain)
    conf = session._embedded_conf("local[2]")
    opts = conf["spark.driver.extraJavaOptions"]
    assert opts.startswith(plain["spark.driver.extraJavaOptions"])         # the existing options are kept
    assert f"-XX:SharedArchiveFile={archive}" in opts and "-Xshare:auto" in opts and "+VerifySharedSpaces" in opts
    assert "-Xshare:on" not in opts
    assert "SharedArchiveFile" not in conf["spark.executor.extraJavaOptions"]   # executors are never touched
    record = archive.with_suffix(".json")
    os.utime(record, (1_000_000, 1_000_000))
    _driver_opts()
    assert record.stat().st_mtime > 1_000_000          # a use marks the record (pruning keeps archives in use)

    monkeypatch.setenv("TAMIS_FULL_JIT", "1")          # other JVM options: another key, no archive for them
    settings.cache_clear()
    assert "SharedArchiveFile" not in _driver_opts()
    monkeypatch.delenv("TAMIS_FULL_JIT")
    monkeypatch.setenv("TAMIS_JVM_CDS", "off")          # the opt-out
    settings.cache_clear()
    assert "SharedArchiveFile" not in _driver_opts()
    monkeypatch.delenv("TAMIS_JVM_CDS")
    settings.cache_clear()
    assert "SharedArchiveFile" in _driver_opts()

    with open(archive, "ab") as f:                      # not the size it was built with (truncated, appended)
        f.write(b"x")
    assert "SharedArchiveFile" not in _driver_opts()
    archive.write_bytes(b"\0" * 4100)                   # right size, not a dynamic archive
    assert "SharedArchiveFile" not in _driver_opts()
    _fake_archive(plain)
    archive.with_suffix(".json").write_text("{")         # a damaged record
    assert "SharedArchiveFile" not in _driver_opts()


def test_cluster_driver_uses_only_an_archive_built_for_its_options(cache):
    _fake_archive(session._embedded_conf("local[2]", cds=False))
    assert "SharedArchiveFile" not in _driver_opts("spark://127.0.0.1:7077")   # no C1-only flag there
    cluster = session._embedded_conf("spark://127.0.0.1:7077", cds=False)
    _fake_archive(cluster)
    conf = session._embedded_conf("spark://127.0.0.1:7077")
    assert "SharedArchiveFile" in conf["spark.driver.extraJavaOptions"]
    assert "spark.executor.extraJavaOptions" not in conf


CHILD = """
import os, sys
from engine.spark import session
from engine.spark.cds import DYNAMIC_MAGIC
sys.path.insert(0, {tests!r})
from test_cds import _fake_archive
os.environ.setdefault("JAVA_HOME", session.java_home())
session._embedded_python_env()
_fake_archive(session._embedded_conf("local[1]", cds=False), os.urandom(1 << 20))   # a damaged archive
spark = session.get_spark("local[1]")
assert "SharedArchiveFile" in spark.conf.get("spark.driver.extraJavaOptions")
print("rows", spark.range(10).count())
"""


def test_damaged_archive_does_not_stop_spark(tmp_path):
    """The JVM is handed a damaged archive that passes tamis' own checks: it starts without it, silently."""
    env = {**os.environ, "TAMIS_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("TAMIS_JVM_CDS", None)
    p = subprocess.run([sys.executable, "-c", CHILD.format(tests=str(ROOT / "tests"))], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "rows 10" in p.stdout
    jvm_lines = p.stderr.lower()
    assert "[cds" not in jvm_lines and "shared archive" not in jvm_lines, p.stderr[-3000:]


def test_a_new_archive_keeps_only_the_most_recently_used_others(cache):
    """Archives of other keys (older JDKs, Spark versions, other checkouts) are pruned to the few used last."""
    folder = cache / "jvm"
    folder.mkdir(parents=True)
    paths = []
    for i in range(5):
        p = folder / f"spark-old{i}.jsa"
        p.write_bytes(cds.DYNAMIC_MAGIC)
        p.with_suffix(".json").write_text("{}")
        for f in (p, p.with_suffix(".json")):
            os.utime(f, (1_000_000 + i, 1_000_000 + i))
        paths.append(p)
    current = folder / "spark-new.jsa"
    current.write_bytes(cds.DYNAMIC_MAGIC)
    gone = cds.prune_others(current, keep=3)
    assert sorted(gone) == sorted(paths[:3])
    assert sorted(p.name for p in folder.iterdir()) == ["spark-new.jsa", "spark-old3.jsa", "spark-old3.json",
                                                        "spark-old4.jsa", "spark-old4.json"]
    # last use, not build time: a run that maps an archive marks its record; the oldest build in use stays
    os.utime(folder / "spark-old3.json", (3_000_000, 3_000_000))
    os.utime(folder / "spark-old4.json", (2_000_000, 2_000_000))
    newer = folder / "spark-newer.jsa"
    newer.write_bytes(cds.DYNAMIC_MAGIC)
    assert cds.prune_others(newer, keep=3) == [folder / "spark-old4.jsa"]
