"""JVM class-data sharing (CDS) for the embedded Spark driver: a dynamic archive of the classes a run loads.

Loading and verifying Spark's ~15,000 classes is most of the driver JVM's start-up and of its first job;
mapping them from an archive halves both (figures: bench/bench_startup.py). The archive is made once per key
(the JDK, Spark's jars, the driver's JVM options) by `python -m engine.spark.cds` (scripts/setup.sh runs it):
a small Spark job in a JVM started with `-XX:ArchiveClassesAtExit`, checked by a JVM that must map it
(`-Xshare:on`), then renamed into the cache folder, its size recorded beside it.

A run only asks for the archive (`driver_flags`) when that file and its record exist and agree, and starts
the JVM with `-Xshare:auto` and `-XX:+VerifySharedSpaces` (a checksum of the archive before it is mapped),
so a stale or damaged archive costs the speed-up, never the run: the JDK maps a truncated or overwritten
archive without checking it and crashes (SIGBUS/SIGSEGV), which the size record and the checksum rule out.
CDS warnings are switched off: they would reach the user's terminal with `--verbose`.

Only the driver JVM this process starts uses it: under spark-submit the JVM exists already, and a cluster's
executors are other machines' JVMs (their options are never touched). TAMIS_JVM_CDS=off disables it.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.settings import settings

QUIET = "-Xlog:cds*=off"                         # every CDS log line (cds, cds+dynamic, ...) to nowhere
USE_FLAGS = "-Xshare:auto -XX:+VerifySharedSpaces " + QUIET
DYNAMIC_MAGIC = bytes.fromhex("a8ab0bf0")        # 0xf00baba8 little-endian: a JDK dynamic archive
FORMAT = 1                                       # bump when the way the archive is built changes

_building: str | None = None                     # set by `build`: the next JVM dumps its classes there


def _spark_home() -> str:
    from pyspark.find_spark_home import _find_spark_home

    return _find_spark_home()


def archive_key(java_home: str, java_opts: str, driver_memory: str | None) -> str:
    """What makes an archive valid for a JVM: the JDK build, Spark's jars (the class path), the options."""
    h = hashlib.sha256(f"v{FORMAT}\0{os.path.realpath(java_home)}\0{java_opts}\0{driver_memory}\0".encode())
    release = Path(java_home) / "release"
    if release.exists():
        h.update(release.read_bytes())
    for lib in sorted(glob.glob(os.path.join(java_home, "lib", "server", "libjvm.*"))):
        st = os.stat(lib)
        h.update(f"{lib}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    jars = os.path.join(_spark_home(), "jars")
    h.update(os.path.realpath(jars).encode())
    for entry in sorted(os.scandir(jars), key=lambda e: e.name) if os.path.isdir(jars) else []:
        h.update(f"{entry.name}\0{entry.stat().st_size}\0".encode())
    return h.hexdigest()[:20]


def archive_path(key: str) -> Path:
    return settings().cache_dir / "jvm" / f"spark-{key}.jsa"


def _record_path(archive: Path) -> Path:
    return archive.with_suffix(".json")


def usable(archive: Path) -> bool:
    """The archive exists whole, as built: its recorded size, and the dynamic archive magic."""
    try:
        record = json.loads(_record_path(archive).read_text())
        if archive.stat().st_size != record["bytes"]:
            return False
        with open(archive, "rb") as f:
            return f.read(4) == DYNAMIC_MAGIC
    except (OSError, ValueError, KeyError, TypeError):
        return False


def driver_flags(java_home: str, java_opts: str, driver_memory: str | None) -> str:
    """JVM options to add to the driver's: the archive's when it is usable for these options, else ''.
    While `build` runs, the options that make this JVM dump its classes instead."""
    if _building:
        return f"-XX:ArchiveClassesAtExit={_building} -XX:+VerifySharedSpaces {QUIET}"
    if not settings().jvm_cds:
        return ""
    try:
        archive = archive_path(archive_key(java_home, java_opts, driver_memory))
    except Exception:  # noqa: BLE001 - an unreadable JDK or Spark folder: start without the archive
        return ""
    if not usable(archive):
        return ""
    _mark_used(archive)
    return f"-XX:SharedArchiveFile={archive} {USE_FLAGS}"


def _mark_used(archive: Path) -> None:
    """The record's mtime is the archive's last use: pruning keeps the archives in use, not the newest built
    (a checkout's archive must not go because three test clones built theirs since)."""
    try:
        os.utime(_record_path(archive))
    except OSError:
        pass


def _last_used(archive: Path) -> float:
    times = []
    for p in (archive, _record_path(archive)):
        try:
            times.append(p.stat().st_mtime)
        except OSError:
            pass
    return max(times, default=0.0)


# ---------------------------------------------------------------- building (once per key)

def _workload(spark, folder: str) -> None:
    """A small run's kinds of work, so their classes are archived: Arrow to and from Python workers, shuffles,
    windows, joins, a Parquet write and read, codegen."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = spark.range(0, 2000, numPartitions=2).select(F.col("id"), F.concat(F.lit("doc "), F.col("id")).alias("text"))
    df = df.mapInArrow(lambda batches: (b for b in batches), df.schema)
    df = df.withColumn("hub", F.min("id").over(Window.partitionBy(F.col("id") % 7)))
    df.write.mode("overwrite").parquet(os.path.join(folder, "p"))
    back = spark.read.parquet(os.path.join(folder, "p"))
    joined = back.join(back.groupBy("hub").agg(F.count(F.lit(1)).alias("n")), "hub")
    joined.repartition(2, "hub").sortWithinPartitions("id").groupBy("n").agg(F.sum("id")).collect()


def _check(java_home: str, jvm_args: list[str], class_path: str, archive: str) -> bool:
    """A JVM with the build's options and class path must map the archive (-Xshare:on fails otherwise)."""
    args = [a for a in jvm_args if not a.startswith(("-XX:ArchiveClassesAtExit", "-Xlog:", "-XX:+VerifyShared"))]
    cmd = [os.path.join(java_home, "bin", "java"), *args, f"-XX:SharedArchiveFile={archive}", "-Xshare:on",
           "-XX:+VerifySharedSpaces", QUIET, "-cp", class_path, "-version"]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def build(force: bool = False) -> dict:
    """Make the archive of this machine's embedded local runs (the JVM options `tamis run` uses) unless a
    usable one exists. Run in a process of its own (`python -m engine.spark.cds`): its JVM must start with
    the dump option. Returns {"archive", "bytes", "seconds", "built"}."""
    global _building
    from pyspark import SparkContext

    from engine.spark import session

    if SparkContext._gateway is not None:
        raise RuntimeError("the CDS archive is built in a process that has not started Spark yet")
    home = os.environ.setdefault("JAVA_HOME", session.java_home())
    session._embedded_python_env()
    conf = session._embedded_conf("local[2]", cds=False)
    archive = archive_path(archive_key(home, conf["spark.driver.extraJavaOptions"], conf["spark.driver.memory"]))
    if usable(archive) and not force:
        return {"archive": str(archive), "bytes": archive.stat().st_size, "seconds": 0.0, "built": False}
    archive.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    tmp = archive.with_name(f".{archive.name}.tmp-{os.getpid()}")
    work = tempfile.mkdtemp(prefix="tamis-cds-")
    _building = str(tmp)
    try:
        session.launch_with(log=os.devnull)        # the dump's own output is not the user's concern
        spark = session.get_spark("local[2]", app_name="tamis-cds", shuffle_partitions=2)
        _workload(spark, work)
        jvm = spark.sparkContext._jvm
        jvm_args = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
        class_path = jvm.System.getProperty("java.class.path")
        proc = SparkContext._gateway.proc
        spark.stop()
        proc.stdin.close()                         # the gateway exits on EOF: the JVM writes the archive then
        proc.wait(timeout=600)
        if proc.returncode != 0 or not tmp.exists() or not _check(home, jvm_args, class_path, str(tmp)):
            raise RuntimeError(f"the JVM did not write a usable class-data archive (exit {proc.returncode})")
        os.replace(tmp, archive)
        record = {"bytes": archive.stat().st_size, "seconds": round(time.time() - started, 1), "format": FORMAT}
        rec_tmp = archive.with_name(f".{archive.stem}.json.tmp-{os.getpid()}")
        rec_tmp.write_text(json.dumps(record))
        os.replace(rec_tmp, _record_path(archive))
        prune_others(archive)
        return {"archive": str(archive), **record, "built": True}
    finally:
        _building = None
        shutil.rmtree(work, ignore_errors=True)
        tmp.unlink(missing_ok=True)


KEEP_ARCHIVES = 3        # several checkouts (each its own Spark jars, so its own key) share the cache folder


def prune_others(archive: Path, keep: int = KEEP_ARCHIVES) -> list[Path]:
    """Delete all but the `keep` most recently used archives beside `archive` (`archive` always stays): the
    archives of an older JDK, Spark version or checkout are ~190 MB each. A JVM that mapped one keeps its
    mapping."""
    others = sorted((p for p in archive.parent.glob("spark-*.jsa") if p.name != archive.name),
                    key=_last_used, reverse=True)
    gone = others[max(keep - 1, 0):]
    for other in gone:
        _record_path(other).unlink(missing_ok=True)     # the record first: a half-deleted pair is unusable
        other.unlink(missing_ok=True)
    return gone


def main(argv: list[str]) -> int:
    if not settings().jvm_cds:
        print("cds: TAMIS_JVM_CDS=off, no archive built")
        return 0
    try:
        r = build(force="--force" in argv)
    except Exception as e:  # noqa: BLE001 - an archive is an optimisation: setup goes on without it
        print(f"cds: no class-data archive ({type(e).__name__}: {e}); runs start without it", file=sys.stderr)
        return 0
    verb = f"built in {r['seconds']} s" if r["built"] else "up to date"
    print(f"cds: {r['archive']} ({r['bytes'] / 1e6:.0f} MB) {verb}")
    return 0


if __name__ == "__main__":
    # through the imported module: `_building` must be the one engine.spark.session's import sees
    from engine.spark.cds import main as _main

    sys.exit(_main(sys.argv[1:]))
