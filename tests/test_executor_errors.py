"""An OSError on a Spark executor (disk full, read-only file system, a missing file) is one line naming the cause
and the path, not ~115 lines of Python and Java stack; the traceback goes to `<work dir>/tamis-error.log`.

Unit: `engine.cli.errors` on the exception texts pyspark really produced (tests/data/spark_errors/messages.json,
captured from failing Spark jobs by capture.py there). End to end: a real `tamis run` whose output folder is a
48 KB tmpfs, and a real `tamis plan` whose work dir is one (mounted in a private mount namespace: needs root,
which CI has).
"""
from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.errors import exception_text, failure_line, gist, os_cause, write_log
from tests.conftest import ROOT, shared_data

MESSAGES = json.loads((ROOT / "tests" / "data" / "spark_errors" / "messages.json").read_text())
CAP = "/tmp/tamis-capture"
EXPECTED = {   # case -> the cause line (None: not an OSError)
    "shards_enospc": f"no space left on device: {CAP}/full/shards/shard-00000.parquet.inprogress",
    "pyarrow_enospc": "no space left on device",            # pyarrow names no file; engine.spark.write adds it
    "python_write_enospc": "no space left on device",       # neither does a Python file's write()
    "jvm_parquet_enospc": f"no space left on device: {CAP}/full/stage",   # Spark's "writing rows to file:"
    "python_enoent": f"no such file or directory: {CAP}/no/such/model.bin",
    "python_erofs": f"read-only file system: {CAP}/ro/x.txt",
    "jvm_read_deleted": f"no such file or directory: {CAP}/gone/part-00000-",
    "python_value_error": None,
}


def test_captured_messages_cover_every_case():
    assert set(MESSAGES) == set(EXPECTED)
    assert MESSAGES["jvm_parquet_enospc"]["type"] == "py4j.protocol.Py4JJavaError"
    assert MESSAGES["shards_enospc"]["type"] == "pyspark.errors.exceptions.captured.PythonException"


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_root_os_error_of_real_spark_messages(case):
    cause = os_cause(MESSAGES[case]["str"])
    if EXPECTED[case] is None:
        assert cause is None
    else:
        assert str(cause).startswith(EXPECTED[case]) and "\n" not in str(cause)


def test_errno_of_the_disk_full_cases():
    for case in ("shards_enospc", "pyarrow_enospc", "python_write_enospc", "jvm_parquet_enospc"):
        assert os_cause(MESSAGES[case]["str"]).errno == errno.ENOSPC, case


def test_a_python_worker_error_that_is_no_os_error_reads_as_its_last_line():
    e = RuntimeError(MESSAGES["python_value_error"]["str"])
    assert gist(e) == "RuntimeError: ValueError: quality_classifier: label __label__hq not in model"
    e = RuntimeError("executor lost\n  at some.java.Frame")   # anything else: the first line, as before
    assert gist(e) == "RuntimeError: executor lost"


def test_driver_side_os_error_names_stage_and_log(tmp_path):
    from rich.console import Console

    from engine.spark.progress import StageProgress

    progress = StageProgress(Console(file=io.StringIO()))
    progress.stage("write", "writing shards")
    try:
        open(tmp_path / "missing" / "manifest.json")
    except OSError as e:
        line = failure_line(e, progress, "/w/tamis-error.log")
    assert line == (f"no such file or directory: {tmp_path}/missing/manifest.json "
                    "(stage write: writing shards; full traceback in /w/tamis-error.log)")
    assert failure_line(ValueError("x"), None, None) == "ValueError: x (--verbose shows the traceback)"


def test_log_goes_to_the_work_dir_and_nowhere_else(tmp_path):
    try:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/out/shard-00000.parquet")
    except OSError as e:
        err = e
    log = write_log(err, str(tmp_path / "work"), "run")
    assert log == str(tmp_path / "work" / "tamis-error.log")
    text = Path(log).read_text()
    assert text.startswith("tamis run failed at") and "Traceback" in text and "No space left on device" in text
    (tmp_path / "afile").write_text("")                 # a work dir that cannot be made: no log, and the
    assert write_log(err, str(tmp_path / "afile" / "work"), "plan") is None   # line says --verbose instead
    assert failure_line(err, None, None).endswith("(--verbose shows the traceback)")
    assert "No space left on device" in exception_text(err)


# ------------------------------------------------------------------------------------------ end to end


def _root_or_skip():
    if os.geteuid() == 0 and shutil.which("unshare"):
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI runs as root with util-linux: the disk-full tests must run")
    pytest.skip("needs root and unshare: mounts a tiny tmpfs in a private mount namespace")


def _on_tiny_tmpfs(mountpoint: Path, args: list[str], env: dict) -> tuple[int, str]:
    """`tamis ARGS` in a private mount namespace where `mountpoint` is a 48 KB tmpfs; (exit code, all output)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    script = 'mount -t tmpfs -o size=48k tmpfs "$1" && shift && exec "$@"'
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                        str(mountpoint), sys.executable, "-m", "engine.cli", *args],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout + p.stderr


def _spec(tmp_path: Path, output: Path, work: Path) -> str:
    data = shared_data("jsonl", "multiple_files")
    spec = tmp_path / "mix.yaml"
    spec.write_text(f"name: full\noutput: {{path: {output}, work_dir: {work}}}\n"
                    f"sources:\n  - {{name: web, kind: jsonl, paths: ['{data}/*.jsonl.gz']}}\n")
    return str(spec)


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TAMIS_DEBUG", "TAMIS_SPARK_LOG_LEVEL")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**env, "TMPDIR": str(tmp_path / "tmp")}


def _check_one_line(code: int, printed: str, command: str) -> str:
    lines = [l for l in printed.splitlines() if l.strip()]
    assert code == 1, printed
    assert len(lines) < 10 and "Traceback" not in printed and "Exception" not in printed, printed
    errors = [l for l in lines if l.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {command} failed: no space left on device: "), printed
    return errors[0]


@pytest.mark.spark
def test_run_on_a_full_disk_is_one_line(tmp_path):
    _root_or_skip()
    full, work = tmp_path / "full", tmp_path / "work"
    code, printed = _on_tiny_tmpfs(full, ["run", _spec(tmp_path, full / "out", work)], _env(tmp_path))
    line = _check_one_line(code, printed, "run")
    assert line.startswith(f"error: run failed: no space left on device: {full}/"), line     # the shard's path
    log = work / "tamis-error.log"
    assert line.endswith(f".parquet (stage write: writing shards; full traceback in {log})"), line   # the shard named
    text = log.read_text()
    assert "Traceback" in text and "No space left on device" in text and "PythonException" in text


@pytest.mark.spark
def test_plan_with_a_full_work_dir_is_one_line(tmp_path):
    _root_or_skip()
    full = tmp_path / "full"
    code, printed = _on_tiny_tmpfs(full, ["plan", _spec(tmp_path, tmp_path / "out", full / "work")], _env(tmp_path))
    line = _check_one_line(code, printed, "plan")
    assert line.startswith(f"error: plan failed: no space left on device: {full}/work/"), line   # the stage part being written
    assert "(stage score: reading and scoring; " in line, line
    # the log goes to the work dir, on the full disk: written if the failed stage's files freed room, else none
    assert line.endswith((f"full traceback in {full}/work/tamis-error.log)", "--verbose shows the traceback)")), line
