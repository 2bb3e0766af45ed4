"""Tar archives (`.tar`, `.tar.gz`, `.tgz`, `.tar.bz2`, `.tar.xz`) for the code reader: one document per file.

Two passes: the first (random access) lists the names (for the common top folder), finds the license file
and the damaged spans; the second streams the files. Both read with `ignore_zeros`, so a member whose header
is damaged (a bad checksum) does not end the archive there, as tarfile otherwise does without a word: the
reader goes on at the next valid header, and each damaged span (non-zero bytes between the end of one member
and the next header) is one `read:bad_archive` row. An archive cut short is `read:truncated` / `read:bad_archive`
after what precedes the cut.
"""
from __future__ import annotations

import tarfile
import zlib
from typing import Iterator

import pyarrow as pa

from engine import storage
from engine.readers.common import meta_json, relative_key
from engine.readers.code_rows import archive_error, archive_stem, common_top, emit_files
from engine.readers.code_files import detect_license, is_license_file
from engine.schema import read_batch, stable_id

_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error)


def read_tar(path: str, source) -> Iterator[pa.RecordBatch]:
    fkey = relative_key(path, source)
    repo = archive_stem(path)
    names, license_text, gaps, broken = [], None, [], False
    try:
        with storage.open_input_file(path) as raw, tarfile.open(fileobj=raw, mode="r:*", ignore_zeros=True) as tf:
            end = 0   # where the next header should start: the end of the last member's data
            for m in tf:
                if m.offset > end:
                    gaps.append((end, m.offset))
                end = m.offset_data + (-(-m.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE if m.isreg() else 0)
                if m.isfile():
                    names.append(m.name.lstrip("./"))
                    if is_license_file(names[-1].split("/", 1)[-1] if "/" in names[-1] else names[-1]) \
                            and m.size < 200_000 and license_text is None:
                        license_text = tf.extractfile(m).read().decode("utf-8", "replace")
            gaps = [g for g in gaps if not _zeros(tf.fileobj, *g)]   # zeros: concatenated archives, padding
    except _ERRORS as e:
        broken = True
        yield archive_error(source, fkey, path, e, names)
        if not names:
            return
    if gaps:
        yield read_batch([{"id": stable_id(source.name, f"{fkey}@{a}:damaged"), "source": source.name, "kind": "code",
                           "meta": meta_json({"file": fkey, "offset": a, "bytes_skipped": b - a,
                                          "detail": "damaged member header; read on from the next one"}),
                           "reason": "read:bad_archive"} for a, b in gaps])
    strip = common_top(names)
    license = detect_license(license_text) if license_text else None

    def entries():
        try:
            # stream mode: one sequential pass
            with storage.open_input_stream(path) as raw, tarfile.open(fileobj=raw, mode="r|*", ignore_zeros=True) as tf:
                for m in tf:
                    if m.isfile():
                        yield m.name.lstrip("./"), m.size, (lambda m=m: _Closing(tf.extractfile(m)))
        except _ERRORS:
            return   # reported by pass 1
    yield from emit_files(source, fkey, repo, license, entries(), strip, quiet=broken)


def _zeros(f, start: int, stop: int) -> bool:
    f.seek(start)
    return not f.read(min(stop - start, 1 << 16)).strip(b"\0")


class _Closing:
    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self.f

    def __exit__(self, *a):
        if self.f is not None:
            self.f.close()
