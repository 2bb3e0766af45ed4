"""Code files -> document rows: one file is one row (a document, or a reject with its `code:*` reason), for
every input form of the code reader (dumps, folders, zip and tar archives)."""
from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from typing import Iterator

import pyarrow as pa

from engine.readers.code_files import SKIP_DIRS, classify, code_language, decode_source, git_blob_sha, is_minified
from engine.readers.common import RowBatcher, meta_json
from engine.readers.quarantine import guarded
from engine.schema import read_batch, stable_id

EXCERPT = 2000   # characters of a rejected file's text kept in rejects


def file_row(source, fkey: str, repo: str | None, path: str | None, *, data: bytes | None = None,
             text: str | None = None, size: int | None = None, sha: str | None = None,
             lang: str | None = None, license: str | None = None, url: str | None = None,
             pre_reason: str | None = None) -> dict:
    """One file -> one row (a document, or a reject with its code:* reason)."""
    if text is None and data is not None:
        text = decode_source(data)
        binary = text is None
    else:
        binary = text is not None and "\x00" in text[:8192]
    if size is None:
        size = len(data) if data is not None else (len(text.encode("utf-8", "surrogatepass")) if text is not None else None)
    if sha is None:
        if data is not None:
            sha = git_blob_sha(data)
        elif text is not None:
            sha = git_blob_sha(text.encode("utf-8", "surrogatepass"))
    p = path or ""
    lang = lang or code_language(p)
    reason = (pre_reason or classify(p, size, source.max_file_bytes)) if p else pre_reason
    if reason is None and size is not None and size > source.max_file_bytes:
        reason = "code:too_large"
    if reason is None and binary:
        reason = "code:binary"
    if reason is None and text is not None and is_minified(p, text):
        reason = "code:minified"
    if reason is None and lang is None:
        reason = "code:unknown_language"
    if reason is None and (text is None or not text.strip()):
        reason = "code:empty"
    key = f"{repo or ''}/{p}@{sha}" if p else f"{repo or ''}@{sha}"
    ext = os.path.basename(p).rsplit(".", 1)[1].lower() if "." in os.path.basename(p).strip(".") else None
    meta = {"repo": repo, "path": path, "code_lang": lang, "size": size, "ext": ext, "hexsha": sha, "file": fkey}
    if reason in ("code:binary", "code:too_large"):
        out_text = None
    elif reason is not None:
        out_text = (text or "")[:EXCERPT] or None
    else:
        out_text = text
    return {"id": stable_id(source.name, key), "source": source.name, "kind": "code", "text": out_text,
            "url": url, "license": license, "meta": meta_json(meta), "reason": reason}


def archive_stem(path: str) -> str:
    base = os.path.basename(path.rstrip("/"))
    for ext in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar", ".zip"):
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base


def _skip_path(rel: str) -> bool:
    return any(part in SKIP_DIRS for part in rel.split("/")[:-1]) or rel.split("/")[-1] in SKIP_DIRS


def common_top(names: list[str]) -> str | None:
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        return tops.pop()
    return None


def emit_files(source, fkey, repo, license, entries, strip: str | None, quiet: bool = False) -> Iterator[pa.RecordBatch]:
    out = RowBatcher()
    for rel, size, opener in entries:
        if strip:
            rel = rel[len(strip) + 1:]
        if not rel or _skip_path(rel):
            continue
        pre = classify(rel, size, source.max_file_bytes)
        if pre == "code:too_large":
            row = file_row(source, fkey, repo, rel, size=size, license=license, pre_reason=pre)
        else:
            try:
                with opener() as f:
                    data = f.read(source.max_file_bytes + 1)
            except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as e:
                if quiet:   # the archive-level error row already counts it
                    continue
                row = {"id": stable_id(source.name, f"{repo}/{rel}:unreadable"), "source": source.name,
                       "kind": "code", "meta": meta_json({"repo": repo, "path": rel, "file": fkey, "error": str(e)[:300]}),
                       "reason": "read:truncated" if isinstance(e, EOFError) else "read:bad_archive"}
                b = out.add(row)
                if b is not None:
                    yield b
                continue
            row = guarded(lambda: file_row(source, fkey, repo, rel, data=data, size=size, license=license,
                                           pre_reason=pre), source, f"{repo}/{rel}:error", kind="code",
                          repo=repo, path=rel, file=fkey)
        b = out.add(row)
        if b is not None:
            yield b
    b = out.flush()
    if b is not None:
        yield b


def archive_error(source, fkey, path, e, names) -> pa.RecordBatch:
    reason = "read:truncated" if isinstance(e, EOFError) or "unexpected end" in str(e).lower() else "read:bad_archive"
    return read_batch([{"id": stable_id(source.name, f"{fkey}:archive_error"), "source": source.name, "kind": "code",
                        "meta": meta_json({"file": fkey, "error": f"{type(e).__name__}: {str(e)[:300]}",
                                       "files_listed": len(names)}), "reason": reason}])
