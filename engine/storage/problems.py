"""Storage errors as one line a user can act on, and a reachability check for `validate`.

pyarrow reports S3 failures as OSError with the AWS error name in its text ("AWS Error ACCESS_DENIED
during HeadObject operation: ..."); these become "access denied (check the credentials ...)" and the like,
naming the path and, for connection failures, the endpoint.
"""
from __future__ import annotations

import re

from engine.storage.uri import is_remote, scheme, split

_AWS = re.compile(r"AWS Error ([A-Z_]+)")
_HINTS = {
    "ACCESS_DENIED": "access denied: check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, "
                     "instance role) and the bucket's policy",
    "INVALID_ACCESS_KEY_ID": "the access key is not known to the store (AWS_ACCESS_KEY_ID)",
    "SIGNATURE_DOES_NOT_MATCH": "wrong secret key (AWS_SECRET_ACCESS_KEY)",
    "NO_SUCH_BUCKET": "no such bucket",
    "NETWORK_CONNECTION": "cannot connect to the storage endpoint",
    "UNKNOWN": "the store answered with an error",
}


def describe(e: BaseException, path: str) -> str:
    """One line for a storage error on `path`."""
    text = str(e)
    m = _AWS.search(text)
    if m:
        what = _HINTS.get(m.group(1), m.group(1).lower().replace("_", " "))
        if m.group(1) == "NETWORK_CONNECTION":
            what += f" ({endpoint_of(path)})"
        return f"{path}: {what}"
    if isinstance(e, FileNotFoundError):
        return f"{path}: no such file or folder"
    if isinstance(e, PermissionError):
        return f"{path}: permission denied"
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return f"{path}: {first[:300]}"


def endpoint_of(path: str) -> str:
    from engine.settings import settings
    from engine.storage.filesystems import current

    if scheme(path) == "s3":
        return current().endpoint or settings().aws_endpoint_url or "the AWS S3 endpoint"
    return current().endpoint or f"{scheme(path)}:// default endpoint"


def reachable_problem(path: str, what: str, must_exist: bool = False) -> str | None:
    """Why the store holding `path` cannot be used (no bucket, denied, endpoint down), or None.

    Checks the bucket (or the path's parent for other stores) with one request; `must_exist`: `path` itself
    must exist (an input without wildcards)."""
    if not is_remote(path):
        return None
    from pyarrow.fs import FileType

    from engine.storage.filesystems import UnsupportedScheme, filesystem

    s, bucket, key = split(path)
    try:
        fs, _ = filesystem(path)
        probe = bucket if s in ("s3", "gs", "gcs") else filesystem(path)[1]
        if s in ("s3", "gs", "gcs") and fs.get_file_info(probe).type == FileType.NotFound:
            return f"{what} {path}: no such bucket {bucket!r}"
        if must_exist and fs.get_file_info(filesystem(path)[1]).type == FileType.NotFound:
            return f"{what} {path}: no such file"
    except UnsupportedScheme as e:
        return f"{what} {e}"
    except OSError as e:
        return f"{what} {describe(e, path)}"
    return None
