"""Which filesystem serves a path: local files directly, `s3://` / `gs://` / `hdfs://` through `pyarrow.fs`,
any other scheme fsspec knows (e.g. `hf://`) through fsspec wrapped as a pyarrow filesystem.

Credentials come from each store's standard environment and config, read by the store's own client (S3:
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `~/.aws`, instance roles).
Non-secret options come from the spec's `storage:` block (`StorageOptions`), set for the process with
`configure` (the driver at the start of a run, every Spark task before it touches a file). The S3 endpoint
may also come from `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`): tamis reads it itself so that a custom
endpoint gets path-style addressing (the AWS SDK would address `bucket.host`, which a MinIO or SeaweedFS
endpoint does not resolve).

One filesystem object per (scheme, bucket, options) per process: a Spark worker builds it once.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from engine.storage.uri import normalize, scheme, split


@dataclass(frozen=True)
class StorageOptions:
    """The spec's `storage:` block: never a secret (those stay in the environment)."""
    endpoint: str | None = None     # e.g. http://127.0.0.1:8333 (S3-compatible server), https://storage.googleapis.com
    region: str | None = None
    # public buckets (s3://commoncrawl/): no credentials sent. True: every bucket; a tuple of bucket names:
    # those only, so a mix reads Common Crawl anonymously and writes to a private bucket
    anonymous: bool | tuple[str, ...] = False

    def anonymous_for(self, bucket: str) -> bool:
        return self.anonymous is True or (isinstance(self.anonymous, tuple) and bucket in self.anonymous)


_OPTIONS = [StorageOptions()]


def configure(options: StorageOptions | dict | None) -> StorageOptions:
    """Set this process's storage options (returns them). Cheap and idempotent: tasks call it first."""
    if isinstance(options, dict):
        options = StorageOptions(**options)
    if isinstance(options, StorageOptions) and isinstance(options.anonymous, list):
        options = StorageOptions(options.endpoint, options.region, tuple(options.anonymous))
    options = options or StorageOptions()
    _OPTIONS[0] = options
    return options


def current() -> StorageOptions:
    return _OPTIONS[0]


def _s3(options: StorageOptions):
    from pyarrow import fs

    endpoint = options.endpoint
    kw: dict = {"region": options.region or "us-east-1"}
    if endpoint:
        u = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        kw.update(endpoint_override=u.netloc, scheme=u.scheme or "https", force_virtual_addressing=False)
    if options.anonymous:
        kw["anonymous"] = True
    # a dead endpoint fails in seconds with the cause, not after minutes of SDK retries
    kw.update(connect_timeout=5, request_timeout=60,
              retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=3))
    return fs.S3FileSystem(**kw)


def _gcs(options: StorageOptions):
    from pyarrow import fs

    from datetime import timedelta

    # without a limit, an unreachable endpoint is retried for minutes
    kw: dict = {"anonymous": options.anonymous, "retry_time_limit": timedelta(seconds=15)}
    if options.endpoint:
        u = urlsplit(options.endpoint)
        kw.update(endpoint_override=u.netloc, scheme=u.scheme or "https")
    return fs.GcsFileSystem(**kw)


def _hdfs(uri: str):
    from pyarrow import fs

    s, netloc, _ = split(uri)
    return fs.HadoopFileSystem.from_uri(f"hdfs://{netloc}")


def _fsspec(uri: str):
    try:
        import fsspec
        from pyarrow.fs import FSSpecHandler, PyFileSystem
    except ImportError:
        raise UnsupportedScheme(f"{uri}: {scheme(uri)}:// needs fsspec (pip install fsspec)") from None
    try:
        return PyFileSystem(FSSpecHandler(fsspec.filesystem(scheme(uri))))
    except (ImportError, ValueError) as e:
        raise UnsupportedScheme(f"{uri}: no filesystem for {scheme(uri)}:// ({e})") from None


class UnsupportedScheme(ValueError):
    """A URI no filesystem serves here (one line)."""


@functools.lru_cache(maxsize=64)
def _filesystem(s: str, netloc: str, options: StorageOptions):
    if s == "s3":
        return _s3(options)
    if s in ("gs", "gcs"):
        return _gcs(options)
    if s == "hdfs":
        return _hdfs(f"hdfs://{netloc}")
    return _fsspec(f"{s}://{netloc}")


def filesystem(uri: str):
    """(pyarrow filesystem, path within it) of a remote URI: `s3://b/k` -> (S3FileSystem, "b/k")."""
    uri = normalize(uri)
    s, netloc, key = split(uri)
    from engine.settings import settings

    options = current()
    # the cache key holds what the filesystem is built from, environment included: never a stale endpoint
    options = StorageOptions(options.endpoint or (settings().aws_endpoint_url if s == "s3" else None),
                             options.region or (settings().aws_region if s == "s3" else None),
                             options.anonymous_for(netloc))
    fs = _filesystem(s, netloc if s == "hdfs" else "", options)
    if s == "hdfs":
        return fs, "/" + key
    if s in ("s3", "gs", "gcs"):
        return fs, f"{netloc}/{key}".rstrip("/") if key else netloc
    return fs, uri


def local_path(p: str) -> str:
    """`file:///x` -> `/x`; a plain path unchanged."""
    return urlsplit(p).path if scheme(p) == "file" else os.fspath(p)
