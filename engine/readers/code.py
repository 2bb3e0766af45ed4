"""Source code (kind `code`): The Stack-style dumps and repository trees or archives, one document per file.

Inputs, by what the path is:
- a Parquet file, or JSONL (plain / .gz / .zst): one row per file, columns named by the source's
  `content_field`, `path_field`, `repo_field`, `license_field`, `lang_field` (The Stack v1 names by
  default); `hexsha`, `size` and `max_stars_repo_head_hexsha` are used when present;
- a folder (a checked-out repository), or a `.tar[.gz|.bz2|.xz]` / `.tgz` / `.zip` archive of one or
  more repositories. The repo name is the folder's or archive's name; when every path in an archive sits
  under one top folder (GitHub's `repo-main/`), that folder is dropped from the paths. VCS internals
  (`.git/`, `.hg/`, `.svn/`), `__pycache__/` and links are skipped silently.

Each file is a `code` document, or a counted reject with one of these reasons (text null, or its first
2000 characters where it was read):
`code:too_large` (over `max_file_bytes`, not read), `code:lock_file` (package-lock.json, yarn.lock,
Cargo.lock, poetry.lock, ...), `code:vendored` (a path under vendor/, node_modules/, third_party/, ...),
`code:binary` (NUL bytes, or not UTF-8/UTF-16 text), `code:minified` (`.min.js`-style names, or lines
over 1000 characters averaging over 100 — The Stack's own thresholds, both at once),
`code:unknown_language` (no language column and an extension/file name not in `code_files.EXTENSIONS`),
`code:empty` (nothing but whitespace). Unreadable archives: `read:bad_archive` / `read:truncated`.

id = stable_id(source, "<repo>/<path>@<git blob sha1>") — the dump's `hexsha` when it has one, computed
from the bytes otherwise (the same value git and The Stack use), so two versions of a file are two
documents. license: the dump's license list comma-joined; for trees/archives, an SPDX id recognised in a
top-level LICENSE/COPYING file, else null. meta: repo, path, code_lang, size (bytes), ext, hexsha,
file (the input's relative key).
"""
from __future__ import annotations

import json
import os
import re
import zipfile
from typing import Iterator

import pyarrow as pa

from engine import storage
from engine.readers.code_files import SKIP_DIRS, detect_license, is_license_file
from engine.readers.common import RowBatcher, meta_json, open_maybe_compressed, open_parquet, relative_key
from engine.readers.code_rows import EXCERPT, archive_error, archive_stem, common_top, emit_files, file_row
from engine.readers.code_tar import read_tar
from engine.readers.quarantine import batch_records, guarded
from engine.schema import read_batch, stable_id


def _license_name(s) -> str | None:
    """A dump's license value (a list, a JSON list as text, or a string) as one comma-joined string."""
    if s is None:
        return None
    if isinstance(s, (list, tuple)):
        vals = [str(x) for x in s if x not in (None, "")]
        return ", ".join(vals) if vals else None
    if isinstance(s, str) and s.startswith("[") and s.endswith("]"):
        try:
            return _license_name(json.loads(s))
        except ValueError:
            pass
    return str(s) or None


# ------------------------------------------------------------------ rows


# ------------------------------------------------------------------ dumps


def _dump_records(path: str, source, wanted: list[str]) -> Iterator[list[dict]]:
    if path.endswith(".parquet"):
        with open_parquet(path) as pf:
            cols = [c for c in wanted if c in set(pf.schema_arrow.names)]
            for batch in pf.iter_batches(batch_size=256, columns=cols):
                yield batch_records(batch)   # a row that cannot be converted is its exception
        return
    recs = []
    with open_maybe_compressed(path) as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError
            except ValueError:
                rec = {"__bad_line__": n, "__raw__": line[:EXCERPT], "__reason__": "read:bad_json"}
            except RecursionError:   # nested deeper than the recursion limit: this line only
                rec = {"__bad_line__": n, "__raw__": line[:EXCERPT], "__reason__": "read:too_deep"}
            recs.append(rec)
            if len(recs) >= 256:
                yield recs
                recs = []
    if recs:
        yield recs


def read_dump(path: str, source) -> Iterator[pa.RecordBatch]:
    fkey = relative_key(path, source)
    wanted = [source.content_field, source.path_field, source.repo_field, source.license_field,
              source.lang_field, "hexsha", "size", "max_stars_repo_head_hexsha"]

    def rows():
        n = 0
        for recs in _dump_records(path, source, wanted):
            for rec in recs:
                key = f"{fkey}:{rec['__bad_line__'] if isinstance(rec, dict) and '__bad_line__' in rec else n}"
                yield guarded(lambda: _dump_row(rec, source, fkey, n), source, key, kind="code", file=fkey, row=n)
                n += 1

    yield from RowBatcher().batches(rows())


def _dump_row(rec, source, fkey: str, n: int) -> dict:
    """One dump record (a dict, a bad-line marker, or the exception converting a Parquet row) -> one row."""
    if isinstance(rec, Exception):
        raise rec   # quarantined by the caller with this record's key
    if "__bad_line__" in rec:
        return {"id": stable_id(source.name, f"{fkey}:{rec['__bad_line__']}"), "source": source.name,
                "kind": "code", "text": rec["__raw__"].decode("utf-8", "replace"),
                "meta": meta_json({"file": fkey, "row": rec["__bad_line__"]}), "reason": rec["__reason__"]}
    content = rec.get(source.content_field)
    repo, p = rec.get(source.repo_field), rec.get(source.path_field)
    if content is None:
        return {"id": stable_id(source.name, f"{fkey}:{n}"), "source": source.name, "kind": "code",
                "meta": meta_json({"file": fkey, "row": n, "repo": repo, "path": p}), "reason": "read:no_text"}
    head = rec.get("max_stars_repo_head_hexsha")
    url = (f"https://github.com/{repo}/blob/{head}/{p}"
           if repo and p and head and re.match(r"^[\w.-]+/[\w.-]+$", str(repo)) else None)
    size = rec.get("size")
    kw = dict(text=content, data=None) if isinstance(content, str) else dict(
        data=bytes(content) if isinstance(content, (bytes, bytearray)) else None)
    sha, lang = (v if isinstance(v, str) and v else None for v in (rec.get("hexsha"), rec.get(source.lang_field)))
    return file_row(source, fkey, repo and str(repo), p and str(p), size=size if isinstance(size, int) else None,
                    sha=sha, lang=lang, license=_license_name(rec.get(source.license_field)), url=url, **kw)


# ------------------------------------------------------------------ trees and archives


def _tree_entries(root: str):
    """(relative path, size, opener) for the files of a folder, sorted, links and VCS dirs skipped."""
    if storage.is_remote(root):   # an object store has no links; VCS folders are skipped by emit_files
        base = root.rstrip("/") + "/"
        for i in storage.walk_files(root):
            yield i.path[len(base):], i.size, (lambda p=i.path: storage.open_input_stream(p))
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not os.path.islink(os.path.join(dirpath, d)))
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            yield rel, os.path.getsize(full), (lambda full=full: open(full, "rb"))


def read_tree(path: str, source) -> Iterator[pa.RecordBatch]:
    root = path.rstrip("/")
    fkey = relative_key(root, source)
    repo = storage.basename(root)
    license = None
    for rel, size, opener in _tree_entries(root):
        if is_license_file(rel) and size < 200_000:
            with opener() as f:
                license = detect_license(f.read().decode("utf-8", "replace"))
            if license:
                break
    yield from emit_files(source, fkey, repo, license, _tree_entries(root), strip=None)


def read_zip(path: str, source) -> Iterator[pa.RecordBatch]:
    fkey = relative_key(path, source)
    repo = archive_stem(path)
    try:
        zf = zipfile.ZipFile(storage.open_input_file(path))   # seekable: ranged reads of the index
    except (zipfile.BadZipFile, OSError) as e:
        yield archive_error(source, fkey, path, e, [])
        return
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and not _zip_is_link(i)]
        names = [i.filename for i in infos]
        strip = common_top(names)
        license = None
        for i in infos:
            rel = i.filename[len(strip) + 1:] if strip else i.filename
            if is_license_file(rel) and i.file_size < 200_000:
                try:
                    license = detect_license(zf.read(i).decode("utf-8", "replace"))
                except Exception:   # noqa: BLE001
                    license = None
                break
        entries = ((i.filename, i.file_size, (lambda i=i: zf.open(i))) for i in infos)
        yield from emit_files(source, fkey, repo, license, entries, strip)


def _zip_is_link(info) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def read_code(path: str, source) -> Iterator[pa.RecordBatch]:
    found = storage.info(path)
    if found is None:
        raise FileNotFoundError(2, "No such file or directory", path)
    if found.is_dir:
        yield from read_tree(path, source)
        return
    low = path.lower()
    if found.size == 0:
        yield read_batch([{"id": stable_id(source.name, f"{relative_key(path, source)}:empty"), "source": source.name,
                           "kind": "code", "meta": meta_json({"file": relative_key(path, source)}),
                           "reason": "read:empty_file"}])
        return
    with storage.open_input_stream(path) as f:
        magic = f.read(512)
    if low.endswith(".zip") or magic[:4] == b"PK\x03\x04":
        yield from read_zip(path, source)
    elif low.endswith((".parquet",)) or magic[:4] == b"PAR1":
        yield from read_dump(path, source)
    elif low.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")) or \
            (len(magic) > 262 and magic[257:262] == b"ustar"):

        yield from read_tar(path, source)
    else:
        yield from read_dump(path, source)   # JSONL (plain, .gz, .zst)
