"""Every `TAMIS_*` environment variable tamis reads, in one place (the README's "Settings (environment)" lists
them too). Product code asks `settings()`, never `os.environ`, for these.

`settings()` reads the environment once per process, on first use (not at import: a module imported by a
Spark worker must not freeze whatever environment the import happened in). Spark's Python workers are
separate processes, so a worker sees its own environment, as an `os.environ` read there would.
Values that need parsing are parsed when used, so a malformed one fails the step that needs it, with its
name in the message, and nothing else.

Tests that change one of these in-process call `settings.cache_clear()` (tests/conftest.py does it around
every test).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    # TAMIS_MASTER: Spark master of `tamis run`/`plan` when --master is not given; default local[*,3]
    master: str | None
    # TAMIS_DRIVER_MEMORY: the embedded Spark driver's memory (a Spark size: 2g, 512m); default 2g
    driver_memory: str
    # TAMIS_FULL_JIT: any value lets local runs use the JVM's C2 compiler too (default: C1 only, faster on short runs)
    full_jit: bool
    # TAMIS_JVM_CDS: off (or 0, false, no) keeps the embedded driver JVM from using the class-data archive of
    #   Spark's classes in cache_dir/jvm (engine/spark/cds.py); default on, when one was built for this setup
    jvm_cds: bool
    # TAMIS_SPARK_LOG_LEVEL: Spark's log level (ERROR, WARN, INFO...); set, it also keeps Spark's per-task failure logs
    spark_log_level: str | None
    # TAMIS_MAX_TASK_BYTES: bytes of input files per annotate task (default 128 MB); 1 gives every file its own task
    max_task_bytes_raw: str
    # TAMIS_MAX_DOC_BYTES: bytes above which a record is quarantined as read:too_large; default 10,000,000.
    #   A source's `max_doc_bytes` takes precedence.
    max_doc_bytes_raw: str | None
    # TAMIS_DEBUG: any value makes the CLI print a failure's full traceback, like --verbose
    debug: bool
    # TAMIS_CLUSTER_DIR: state folder of `tamis cluster` (pids, URL, secret, logs); default ~/.tamis/cluster
    cluster_dir: str
    # TAMIS_CACHE_DIR: cache files (the NSFW domain-list hashes); default $XDG_CACHE_HOME/tamis or ~/.cache/tamis
    cache_dir: Path
    # AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (the AWS SDKs' standard names): an S3-compatible endpoint,
    #   addressed path-style (http://host:port/bucket/key); the spec's `storage.endpoint` takes precedence
    aws_endpoint_url: str | None
    # AWS_REGION or AWS_DEFAULT_REGION: the S3 region when the spec's `storage.region` does not name one
    aws_region: str | None

    @functools.cached_property
    def max_task_bytes(self) -> int | None:
        """TAMIS_MAX_TASK_BYTES as bytes, None when unset (the caller's default applies)."""
        raw = self.max_task_bytes_raw.strip()
        if raw and not raw.isdigit():
            raise ValueError(f"TAMIS_MAX_TASK_BYTES must be a number of bytes, got {raw!r}")
        return int(raw) if raw else None

    @functools.cached_property   # asked once per record
    def max_doc_bytes(self) -> int:
        return int(self.max_doc_bytes_raw) if self.max_doc_bytes_raw is not None else 10_000_000


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    env = os.environ
    return Settings(
        master=env.get("TAMIS_MASTER") or None,
        driver_memory=env.get("TAMIS_DRIVER_MEMORY", "2g"),
        full_jit=bool(env.get("TAMIS_FULL_JIT")),
        jvm_cds=env.get("TAMIS_JVM_CDS", "on").strip().lower() not in ("off", "0", "false", "no"),
        spark_log_level=env.get("TAMIS_SPARK_LOG_LEVEL") or None,
        max_task_bytes_raw=env.get("TAMIS_MAX_TASK_BYTES", ""),
        max_doc_bytes_raw=env.get("TAMIS_MAX_DOC_BYTES"),
        debug=bool(env.get("TAMIS_DEBUG")),
        cluster_dir=env.get("TAMIS_CLUSTER_DIR") or os.path.join(os.path.expanduser("~"), ".tamis", "cluster"),
        aws_endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
        aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        cache_dir=Path(env.get("TAMIS_CACHE_DIR") or Path(env.get("XDG_CACHE_HOME", "~/.cache")) / "tamis").expanduser(),
    )
