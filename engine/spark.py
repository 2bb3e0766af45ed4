"""The one way tamis starts Spark: embedded `local[*]` by default, `--master URL` otherwise."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


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


def get_spark(master: str | None = None, app_name: str = "tamis", conf: dict[str, str] | None = None,
              shuffle_partitions: int | None = None):
    """Start (or reuse) the SparkSession. Python workers run this same interpreter."""
    os.environ.setdefault("JAVA_HOME", java_home())
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    # the workers must import engine/filters even when tamis runs from a checkout
    root = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [root, os.environ.get("PYTHONPATH", "")] if p)
    from pyspark.sql import SparkSession

    master = master or os.environ.get("TAMIS_MASTER") or "local[*]"
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")   # no "hostname resolves to loopback" warning
    log4j = Path(__file__).resolve().parent / "conf" / "log4j2.properties"
    java_opts = f"-Dlog4j2.configurationFile=file:{log4j}"
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.sql.shuffle.partitions", str(shuffle_partitions or _default_partitions(master)))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.adaptive.enabled", "true")
               .config("spark.driver.memory", os.environ.get("TAMIS_DRIVER_MEMORY", "2g"))
               .config("spark.executorEnv.PYTHONPATH", os.environ["PYTHONPATH"])
               .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable)
               .config("spark.python.worker.reuse", "true")
               .config("spark.sql.parquet.compression.codec", "zstd")
               .config("spark.driver.extraJavaOptions", java_opts)
               .config("spark.executor.extraJavaOptions", java_opts))
    for k, v in (conf or {}).items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("TAMIS_SPARK_LOG_LEVEL", "ERROR"))
    return spark


def _default_partitions(master: str) -> int:
    import re

    m = re.match(r"local\[(\d+|\*)", master)
    if m:
        return max(2, 2 * (os.cpu_count() or 2 if m.group(1) == "*" else int(m.group(1))))
    return 64
