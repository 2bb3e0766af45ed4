"""Paths and URIs as strings: one rule for "is this a URI", and joining, splitting and naming that work the
same on a local path and on `s3://bucket/key`. No I/O here."""
from __future__ import annotations

import os
import posixpath
import re

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Hadoop's names for S3 (what EMR and Spark users write) are the same store to pyarrow
ALIASES = {"s3a": "s3", "s3n": "s3"}
OBJECT_STORES = ("s3", "gs", "gcs")


def is_uri(p: str) -> bool:
    """Only a path that *starts* with `scheme://` is a URI (`<dir>/x://y` is a local path)."""
    return bool(_SCHEME.match(p))


def scheme(p: str) -> str | None:
    """The URI's scheme, lower case, aliases folded (`s3a` -> `s3`); None for a local path."""
    m = _SCHEME.match(p)
    return ALIASES.get(m.group(1).lower(), m.group(1).lower()) if m else None


def normalize(p: str) -> str:
    """`s3a://b/k` and `S3://b/k` -> `s3://b/k`; a local path unchanged."""
    s = scheme(p)
    return f"{s}://{p.split('://', 1)[1]}" if s else p


def is_remote(p: str) -> bool:
    """A URI other than `file://` (its files are not local paths)."""
    return scheme(p) not in (None, "file")


def split(p: str) -> tuple[str, str, str]:
    """(scheme, bucket or host, key) of a URI: `s3://b/x/y` -> ("s3", "b", "x/y")."""
    s = scheme(p)
    rest = p.split("://", 1)[1]
    netloc, _, key = rest.partition("/")
    return s or "", netloc, key


def join(base: str, *parts: str) -> str:
    if not is_uri(base):
        return os.path.join(base, *parts)
    return posixpath.join(base.rstrip("/"), *parts) if parts else base


def dirname(p: str) -> str:
    if not is_uri(p):
        return os.path.dirname(p)
    s, netloc, key = split(normalize(p))
    key = key.rstrip("/")
    return f"{s}://{netloc}/{posixpath.dirname(key)}".rstrip("/") if "/" in key else f"{s}://{netloc}"


def basename(p: str) -> str:
    return posixpath.basename(p.rstrip("/")) if is_uri(p) else os.path.basename(p)


def is_within(path: str, folder: str) -> bool:
    """`path` is `folder` or under it (same kind of path, both normalized)."""
    sep = "/" if is_uri(folder) else os.sep
    path, folder = normalize(path).rstrip(sep), normalize(folder).rstrip(sep)
    return path == folder or path.startswith(folder + sep)


def is_bucket_root(p: str) -> bool:
    """`s3://bucket` or `s3://bucket/`: a whole bucket."""
    return is_remote(p) and not split(p)[2].strip("/")
