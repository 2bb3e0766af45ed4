"""File operations on a local path or a URI, with one signature for both.

Local paths use the OS directly (errors keep their errno). Remote URIs go through `pyarrow.fs`: reads
stream (`open_input_stream`) or read ranges (`open_input_file`, for Parquet and archives), never a copy of
the whole object; writes stream too and become visible whole when closed (an S3 object appears at the end of
its upload), so `open_output` needs no rename there. Locally it writes `<name>.inprogress` and renames.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
from dataclasses import dataclass

from engine.storage.filesystems import filesystem, local_path
from engine.storage.uri import basename, is_remote, join

READ_BUFFER = 1 << 20
REMOTE_READ_BUFFER = 4 << 20   # each remote read is a round trip: fewer, larger ones (bench/README.md)


@dataclass(frozen=True)
class Info:
    path: str
    size: int | None
    mtime: int | None       # seconds; None where the store has none
    is_dir: bool


def info(p: str) -> Info | None:
    """What is at `p` (None: nothing). A remote prefix with objects under it is a folder."""
    if not is_remote(p):
        try:
            st = os.stat(local_path(p))
        except FileNotFoundError:
            return None
        return Info(p, st.st_size, int(st.st_mtime), os.path.isdir(local_path(p)))
    from pyarrow.fs import FileType

    fs, path = filesystem(p)
    fi = fs.get_file_info(path)
    if fi.type == FileType.NotFound:
        return None
    mtime = int(fi.mtime.timestamp()) if fi.mtime is not None else None
    return Info(p, fi.size if fi.type == FileType.File else None, mtime, fi.type == FileType.Directory)


def exists(p: str) -> bool:
    return info(p) is not None


def isdir(p: str) -> bool:
    i = info(p)
    return bool(i and i.is_dir)


def isfile(p: str) -> bool:
    i = info(p)
    return bool(i and not i.is_dir)


def walk_files(root: str) -> list[Info]:
    """Every file under `root`, recursively, sorted by path."""
    if not is_remote(root):
        out = []
        for d, dirs, files in os.walk(local_path(root)):
            dirs.sort()
            for f in files:
                full = os.path.join(d, f)
                with contextlib.suppress(FileNotFoundError):
                    st = os.stat(full)
                    out.append(Info(full, st.st_size, int(st.st_mtime), False))
        return sorted(out, key=lambda i: i.path)
    from pyarrow.fs import FileSelector, FileType

    fs, path = filesystem(root)
    base = root.rstrip("/")
    out = []
    for fi in fs.get_file_info(FileSelector(path, recursive=True, allow_not_found=True)):
        if fi.type == FileType.File:
            rel = fi.path[len(path.rstrip("/")) + 1:]
            out.append(Info(join(base, rel), fi.size, int(fi.mtime.timestamp()) if fi.mtime else None, False))
    return sorted(out, key=lambda i: i.path)


def listdir(p: str) -> list[str]:
    """Names directly under folder `p` (files and folders), sorted; [] when it does not exist."""
    if not is_remote(p):
        try:
            return sorted(os.listdir(local_path(p)))
        except FileNotFoundError:
            return []
    from pyarrow.fs import FileSelector

    fs, path = filesystem(p)
    return sorted(basename(fi.path) for fi in fs.get_file_info(FileSelector(path, allow_not_found=True)))


class _Buffered(io.RawIOBase):
    """A pyarrow stream as a Python raw stream, so io.BufferedReader (peek, readline) can wrap it."""

    def __init__(self, native):
        self.native = native

    def readable(self):
        return True

    def readinto(self, b):
        data = self.native.read(len(b))
        b[:len(data)] = data
        return len(data)

    def readall(self):
        # one large read per chunk, not io's 8 KB default (each read is a ranged GET on S3)
        chunks = []
        while chunk := self.native.read(REMOTE_READ_BUFFER):
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self):
        self.native.close()
        super().close()


def open_input_stream(p: str):
    """A buffered binary stream of the file, read front to back (bounded memory on any store)."""
    if not is_remote(p):
        return open(local_path(p), "rb", buffering=READ_BUFFER)
    fs, path = filesystem(p)
    # compression=None: the bytes as stored (pyarrow would otherwise gunzip anything named .gz, and the
    # readers' own gzip handling, which recovers damaged members, would never see the real file)
    native = fs.open_input_stream(path, compression=None, buffer_size=None)
    return io.BufferedReader(_Buffered(native), buffer_size=REMOTE_READ_BUFFER)


def open_input_file(p: str):
    """A seekable binary file (ranged reads on object stores): for Parquet, zip and tar indexes."""
    if not is_remote(p):
        return open(local_path(p), "rb")
    fs, path = filesystem(p)
    return fs.open_input_file(path)


def read_bytes(p: str) -> bytes:
    with open_input_stream(p) as f:
        return f.read()


class HashingWriter(io.RawIOBase):
    """Counts and hashes what goes through to `sink`: the sha256 of a written file without reading it back."""

    def __init__(self, sink, path: str = ""):
        self.sink, self.path, self.hash, self.bytes = sink, path, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, b):
        self.hash.update(b)
        self.bytes += len(b)
        with self._naming():
            self.sink.write(b)
        return len(b)

    def flush(self):
        if not self.closed:
            with self._naming():
                self.sink.flush()

    def close(self):
        if not self.closed:
            with self._naming():
                self.sink.flush()
            super().close()
            self.sink.close()

    @contextlib.contextmanager
    def _naming(self):
        """An OSError that names no file ("[Errno 28] No space left on device") raised again with the file's
        path, so the one line the user sees says where the disk filled up (engine.cli.errors)."""
        try:
            yield
        except OSError as e:
            if e.filename is not None or not e.errno or not self.path:
                raise
            raise OSError(e.errno, os.strerror(e.errno), self.path) from e

    @property
    def sha256(self) -> str:
        return self.hash.hexdigest()


@contextlib.contextmanager
def open_output(p: str):
    """A HashingWriter for file `p`: the file appears whole at the end of the block, or not at all when the
    block raises (locally: `<name>.inprogress`, then a rename; remotely: the upload completes at close)."""
    if not is_remote(p):
        path = local_path(p)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.inprogress"
        w = HashingWriter(open(tmp, "wb"), p)
        try:
            yield w
            w.close()
            os.replace(tmp, path)
        except BaseException:
            w.close()
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise
        return
    fs, path = filesystem(p)
    w = HashingWriter(fs.open_output_stream(path, compression=None), p)   # the bytes as given, even for .gz
    try:
        yield w
    except BaseException:
        # the object must not appear: an upload left unfinished is aborted by the store
        _abort(w.sink)
        raise
    w.close()


def _abort(native):
    abort = getattr(native, "abort", None)
    with contextlib.suppress(Exception):
        abort() if abort else None


def write_bytes(p: str, data: bytes) -> dict:
    """Write a whole file; returns {"bytes", "sha256"}."""
    with open_output(p) as w:
        w.write(data)
    return {"bytes": w.bytes, "sha256": w.sha256}


def sha256(p: str) -> str:
    h = hashlib.sha256()
    with open_input_stream(p) as f:
        for chunk in iter(lambda: f.read(READ_BUFFER), b""):
            h.update(chunk)
    return h.hexdigest()


def makedirs(p: str):
    """A folder for files to go in (object stores have none: nothing to do)."""
    if not is_remote(p):
        os.makedirs(local_path(p), exist_ok=True)


def delete_file(p: str):
    """Remove file `p`; nothing there is fine."""
    if not is_remote(p):
        with contextlib.suppress(FileNotFoundError):
            os.remove(local_path(p))
        return
    fs, path = filesystem(p)
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(path)


def delete_tree(p: str):
    """Remove folder `p` and everything under it; nothing there is fine."""
    if not is_remote(p):
        shutil.rmtree(local_path(p), ignore_errors=True)
        return
    fs, path = filesystem(p)
    with contextlib.suppress(FileNotFoundError):
        fs.delete_dir(path)
