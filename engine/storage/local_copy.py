"""A local copy of a remote file, for libraries that open local paths only (fastText's `load_model`).

The copy goes to the cache folder (`TAMIS_CACHE_DIR`, `files/` under it), named by a hash of the URI plus the
object's size and mtime: a file changed on the store gets a new name, so it is fetched again (and the copy of
its older version is removed). A store that keeps no mtime is keyed by size only. On one machine a single
process fetches a given file (a lock file per URI); the others wait for it and use its copy. A fetch writes
`<name>.<pid>.part` and renames it, so a copy is whole or absent. Local paths are returned as they are.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from engine.storage.files import REMOTE_READ_BUFFER, info, open_input_stream
from engine.storage.filesystems import local_path
from engine.storage.uri import basename, is_remote, normalize


def local_copy(p: str) -> str:
    """A local path holding the content of `p`: `p` itself when it is local, else a cached copy of it."""
    if not is_remote(p):
        return local_path(p)
    found = info(p)
    if found is None or found.is_dir:
        raise FileNotFoundError(errno.ENOENT, "no such file", p)
    return str(_fetched(normalize(p), found.size, found.mtime))


def cache_name(uri: str, size: int, mtime: int | None) -> str:
    """`<uri hash>-<size>-<mtime>-<file name>`: the name keeps the file's own name for whoever lists the cache."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", basename(uri))[-80:]
    return f"{_uri_hash(uri)}-{size}-{mtime or 0}-{name}"


def cache_folder() -> Path:
    """`<TAMIS_CACHE_DIR>/files`, or a folder under the temp dir when that cannot be created (an executor's
    home may be read-only)."""
    from engine.settings import settings

    folder = settings().cache_dir / "files"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    except OSError:
        pass
    folder = Path(tempfile.gettempdir()) / f"tamis-cache-{os.getuid()}" / "files"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _uri_hash(uri: str) -> str:
    return hashlib.sha256(uri.encode("utf-8")).hexdigest()[:24]


def _whole(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False


def _fetched(uri: str, size: int, mtime: int | None) -> Path:
    folder = cache_folder()
    target = folder / cache_name(uri, size, mtime)
    if _whole(target, size):
        return target
    with _locked(folder / f"{_uri_hash(uri)}.lock"):
        if _whole(target, size):        # another process fetched it while this one waited
            return target
        part = target.with_name(f"{target.name}.{os.getpid()}.part")
        try:
            with open_input_stream(uri) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst, REMOTE_READ_BUFFER)
            got = part.stat().st_size
            if got != size:
                raise OSError(f"{uri}: fetched {got} bytes, expected {size} (the file changed while it was fetched)")
            os.replace(part, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
        _remove_older(folder, uri, target.name)
    return target


@contextlib.contextmanager
def _locked(lock: Path):
    import fcntl

    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _remove_older(folder: Path, uri: str, keep: str):
    """Copies of earlier versions of `uri` (a loaded model is in memory: its file is no longer needed)."""
    for old in folder.glob(f"{_uri_hash(uri)}-*"):
        if old.name != keep and not old.name.endswith(".part"):
            with contextlib.suppress(OSError):
                old.unlink()
