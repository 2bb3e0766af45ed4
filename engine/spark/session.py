"""The one way tamis starts Spark: embedded `local[*,3]` by default, `--master URL` or spark-submit otherwise."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.settings import settings as tamis_settings   # `settings` below is Spark conf
from engine.spark.cluster_auth import use_auth_conf


class JavaNotFound(RuntimeError):
    pass


def java_home() -> str:
    """A JDK/JRE 17 or 21: JAVA_HOME if it points at one, else the `java` on PATH."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    if shutil.which("java"):
        candidates.append(Path(os.path.realpath(shutil.which("java"))))
    candidates += sorted(Path("/usr/lib/jvm").glob("*/bin/java")) if Path("/usr/lib/jvm").exists() else []
    for java in candidates:
        try:
            out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
        except (OSError, subprocess.TimeoutExpired):
            continue
        major = _java_major(out)
        if major in (17, 21):
            return str(java.parent.parent)
    raise JavaNotFound("Spark needs Java 17 or 21: install it (Debian: apt-get install openjdk-17-jre-headless) "
                       "or set JAVA_HOME")


def _java_major(version_output: str) -> int | None:
    import re

    m = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 else major


# Defaults for every run; under spark-submit a key the submitter set wins (see get_spark).
ARROW_MAX_RECORDS = 2000            # rows per Arrow batch into Python (default 10000)
ARROW_MAX_BYTES = 64 * 1024 * 1024  # and bytes: batches stay far below Arrow's and the JVM's 2 GB buffers
LOCAL_MAX_FAILURES = 3              # embedded default master local[*,3]: a lost Python worker is retried


def submitted() -> bool:
    """True when this Python runs under spark-submit (or the pyspark shell): the JVM already exists and
    spark-submit's --master, --conf and --py-files are in force."""
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


@dataclass
class Launch:
    """How this process's JVM starts. One JVM serves a process, so the CLI sets this once (`launch_with`) before
    the engine's first `get_spark`, and `run`/`plan` carry no display options. Under spark-submit the JVM
    already runs: only `ui` applies (as a default, like every key tamis sets)."""
    ui: bool = False            # spark.ui.enabled; the URL is spark.sparkContext.uiWebUrl
    verbose: bool = False       # the JVM's output on this process's stdout/stderr, Spark's warnings shown
    log: str | None = None      # otherwise the JVM's stdout and stderr go to this file (None: inherited)


LAUNCH = Launch()


def launch_with(ui: bool = False, verbose: bool = False, log: str | None = None) -> None:
    """Set how the next JVM starts (every field: a CLI command run in-process twice leaves nothing behind)."""
    LAUNCH.ui, LAUNCH.verbose, LAUNCH.log = ui, verbose, log


def get_spark(master: str | None = None, app_name: str = "tamis", conf: dict[str, str] | None = None,
              shuffle_partitions: int | None = None):
    """Start (or reuse) the SparkSession. Python workers run this same interpreter.

    Embedded (`tamis run`): master from `master`, `$TAMIS_MASTER`, else `local[*,3]`.
    Under spark-submit (`jobs/run_mix.py`): the master, the executors' Python and every `--conf` come from
    spark-submit; tamis only adds defaults for keys it left unset, and never points executors at this
    machine's paths (ship the code with `--py-files`, see `tamis package`).
    """
    if not submitted():                             # under spark-submit the JVM already runs
        os.environ.setdefault("JAVA_HOME", java_home())
    from pyspark.sql import SparkSession

    under_submit = submitted() and master is None
    preset = _submitter_conf() if under_submit else {}
    if not under_submit:
        _embedded_python_env()
        master = _embedded_master(master)
    settings = _conf_defaults(master or preset.get("spark.master", ""), shuffle_partitions)
    if not under_submit:
        settings.update(_embedded_conf(master))
    settings.update(conf or {})
    settings = {k: v for k, v in settings.items() if k not in preset}   # what spark-submit was told wins
    builder = SparkSession.builder.appName(app_name)
    if not under_submit:
        builder = builder.master(master)
        _launch_jvm({**settings, "spark.master": master, "spark.app.name": app_name})
    for k, v in settings.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    if not under_submit and not master.startswith("local"):
        _ship_code(spark.sparkContext)
    log_level = tamis_settings().spark_log_level or ("WARN" if LAUNCH.verbose else None)
    spark.sparkContext.setLogLevel(log_level or "ERROR")
    if not log_level:
        _quiet_task_failures(spark)
    return spark


def _launch_jvm(settings: dict[str, str]) -> None:
    """Start the JVM with its stdout and stderr in `LAUNCH.log`, unless it runs already or `--verbose`.

    The JVM (and the Python workers it starts, its children) would otherwise write to this process's terminal:
    `WARNING: Using incubator modules`, log4j lines, a dying worker's stack. A failure still reaches the user
    as one line: it is raised in Python, through py4j (engine/cli/errors.py). pyspark's `launch_gateway` takes
    the Popen arguments for this; the builder then finds the gateway running and starts the same conf on it.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None or LAUNCH.verbose or not LAUNCH.log:
        return
    try:
        os.makedirs(os.path.dirname(LAUNCH.log) or ".", exist_ok=True)
        log = open(LAUNCH.log, "ab")
    except OSError:   # the work dir cannot take it (a full disk): the JVM's lines are dropped, not shown
        log = open(os.devnull, "ab")
    with log:
        log.write(f"--- tamis (pid {os.getpid()}) starting Spark at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log.flush()
        conf = SparkConf(loadDefaults=False).setAll(list(settings.items()))
        SparkContext._ensure_initialized(gateway=launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log}))


def _submitter_conf() -> dict[str, str]:
    """spark-submit's system properties (master, every --conf); connects to its JVM, starts nothing."""
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()
    preset = dict(SparkConf().getAll())
    os.environ.setdefault("PYSPARK_PYTHON", preset.get("spark.pyspark.python", sys.executable))
    return preset


def _embedded_python_env() -> None:
    """Driver and workers run this interpreter, and import engine/filters even when tamis runs from a checkout."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    root = str(Path(__file__).resolve().parents[2])
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [root, os.environ.get("PYTHONPATH", "")] if p)


def _embedded_master(master: str | None) -> str:
    master = master or tamis_settings().master or f"local[*,{LOCAL_MAX_FAILURES}]"
    if master.startswith("local") or "://127.0.0.1:" in master or "://localhost:" in master:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")   # loopback cluster: driver reachable there
    use_auth_conf(master)      # a `tamis cluster up` master: its secret, from the 0600 file
    return master


def _conf_defaults(master: str, shuffle_partitions: int | None) -> dict[str, str]:
    """Every run's defaults, embedded or submitted."""
    return {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_MAX_RECORDS),
        "spark.sql.execution.arrow.maxBytesPerBatch": str(ARROW_MAX_BYTES),
        "spark.sql.execution.arrow.maxBytesPerOutputBatch": str(ARROW_MAX_BYTES),
        "spark.sql.shuffle.partitions": str(shuffle_partitions or _default_partitions(master)),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "true" if LAUNCH.ui else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.adaptive.enabled": "true",
        "spark.python.worker.reuse": "true",
        "spark.sql.parquet.compression.codec": "zstd",
        # faults: a task is retried on another executor (lost executors do not count against it)
        "spark.task.maxFailures": "4",
        "spark.stage.maxConsecutiveAttempts": "4",
    }


def _embedded_conf(master: str, cds: bool = True) -> dict[str, str]:
    """Embedded runs only: this machine's driver memory, Python, paths and log config; the class-data archive
    of Spark's classes for the driver JVM when one was built for these options (engine/spark/cds.py)."""
    log4j = Path(__file__).resolve().parent / "conf" / "log4j2.properties"
    java_opts = f"-Dlog4j2.configurationFile=file:{log4j}"
    if master.startswith("local") and not tamis_settings().full_jit:
        # Embedded runs are short: the C1 compiler alone saves the JVM's C2 compile time, which a short run
        # never earns back (figures: bench/README.md). Clusters keep the full JIT.
        java_opts += " -XX:TieredStopAtLevel=1"
    conf = {
        "spark.driver.memory": tamis_settings().driver_memory,
        "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
        "spark.driver.extraJavaOptions": java_opts,
    }
    if cds:
        from engine.spark.cds import driver_flags

        home = os.environ.get("JAVA_HOME") or java_home()
        flags = driver_flags(home, java_opts, conf["spark.driver.memory"])
        # the driver only: executors' options stay as they are (local executors live in the driver JVM)
        conf["spark.driver.extraJavaOptions"] = f"{java_opts} {flags}".strip()
    if master.startswith("local"):
        # this machine's paths: a cluster's executors get the code from the driver (_ship_code) and keep
        # their own log config (no worker is assumed to see this checkout)
        conf["spark.executorEnv.PYTHONPATH"] = os.environ["PYTHONPATH"]
        conf["spark.executor.extraJavaOptions"] = java_opts
    return conf


SHIPPED_ZIP = "tamis.zip"


def _ship_code(sc) -> None:
    """A cluster's executors import engine/filters from a zip this driver serves (as `--py-files` would), not
    from a path of this machine: no worker is assumed to share its disk. Built once per SparkContext, in a
    temporary folder that lives as long as this process (Spark serves the file from there)."""
    if SHIPPED_ZIP in (sc._python_includes or []):
        return
    import atexit
    import tempfile

    from engine.code_zip import build_zip

    folder = tempfile.mkdtemp(prefix="tamis-code-")
    atexit.register(shutil.rmtree, folder, True)
    before = list(sys.path)
    sc.addPyFile(build_zip(os.path.join(folder, SHIPPED_ZIP)))
    sys.path[:] = before     # the driver keeps importing its own code (addPyFile puts the zip first here too)


# Embedded executors run in this JVM, and each failed task attempt logs its whole Python and Java stack
# (~45 lines; a failed Parquet write twice, from Utils and FileFormatWriter) to the terminal. The job's
# failure reaches tamis anyway, which prints one line and logs the traceback (engine.cli.errors);
# TAMIS_SPARK_LOG_LEVEL=ERROR (or any level) keeps these logs.
TASK_FAILURE_LOGGERS = ("org.apache.spark.executor.Executor", "org.apache.spark.scheduler.TaskSetManager",
                        "org.apache.spark.util.Utils", "org.apache.spark.sql.execution.datasources.FileFormatWriter")


def _quiet_task_failures(spark):
    """Only this (the driver's) JVM: a cluster's executors keep logging failures to their own logs."""
    try:
        jvm = spark.sparkContext._jvm
        off = jvm.org.apache.logging.log4j.Level.toLevel("OFF")
        for name in TASK_FAILURE_LOGGERS:
            jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, off)
    except Exception:  # noqa: BLE001 - a JVM without log4j 2 (a submitter's own logging): leave it as it is
        pass


def _default_partitions(master: str) -> int:
    import re

    m = re.match(r"local\[(\d+|\*)", master or "")
    if m:
        return max(2, 2 * (os.cpu_count() or 2 if m.group(1) == "*" else int(m.group(1))))
    return 64
