"""Where an export is written, its manifest, and its commit (the protocol of `tamis run`'s outputs).

The manifest lists every file with bytes and sha256 (from the writers, never read back) and is written after
them; `_SUCCESS`, written last, is the commit. Local: the export is built in a hidden sibling folder
(`.<name>.tmp-<host>-<pid>-<rand>`, engine.output.build_dir) and renamed into place after `_SUCCESS`, so a
failed export leaves nothing at the destination. Object store (no rename): written in place, `_SUCCESS` first
removed, then the files, manifest.json, the listed sizes checked, leftovers of an older export removed, and
`_SUCCESS` last.
"""
from __future__ import annotations

import json
import os
import shutil

from engine import storage
from engine.export import ExportError
from engine.export.megatron import data_path

EXPORT_VERSION = 1


def _real(p: str) -> str:
    return p if storage.is_remote(p) else os.path.realpath(storage.local_path(p))


def prepare(dest: str, output: str, overwrite: bool) -> str:
    """Check `dest` and return the folder the tasks write into (a build folder locally, `dest` remotely)."""
    from engine.output import build_dir

    dest = dest.rstrip("/") or dest
    if storage.is_within(_real(output), _real(dest)):
        raise ExportError(f"--to {dest} is the output or holds it: give a folder of its own")
    try:
        exists = bool(storage.listdir(dest)) if storage.isdir(dest) else storage.exists(dest)
    except OSError as e:
        raise ExportError(f"export destination {storage.describe(e, dest)}") from None
    if exists and not overwrite:
        raise ExportError(f"export exists: {dest} (use --overwrite to replace it)")
    if storage.is_remote(dest):
        storage.delete_file(storage.join(dest, "_SUCCESS"))   # the old export is no longer committed
        return dest
    if exists and not storage.isdir(dest):
        raise ExportError(f"export destination is a file: {dest}")
    tmp = build_dir(storage.local_path(dest))
    os.makedirs(tmp)
    return tmp


def discard(build: str, dest: str):
    """A failed export: its local build folder goes; a remote one stays uncommitted (no `_SUCCESS`)."""
    if not storage.is_remote(dest) and build != dest:
        shutil.rmtree(build, ignore_errors=True)


def build_manifest(fmt: str, output: str, out_manifest: dict, tok: dict, dtype, results: list[dict],
                   seconds: float) -> dict:
    """The export's manifest.json: what a trainer's config needs, and every file with its checksum."""
    from engine.plan.manifest import TAMIS_VERSION

    results = sorted(results, key=lambda r: r["index"])
    files = [{"file": f["file"], "set": r["name"], "shard": r["shard"], "documents": r["documents"],
              "tokens": r["tokens"], "bytes": f["bytes"], "sha256": f["sha256"]} for r in results for f in r["files"]]
    m = {
        "export_version": EXPORT_VERSION, "format": fmt, "tamis_version": TAMIS_VERSION,
        "output": {"path": output, "name": out_manifest.get("name"), "seed": out_manifest.get("seed"),
                   "spec_sha256": out_manifest.get("spec_sha256")},
        "tokenizer": {k: tok[k] for k in ("name", "package", "version")},
        "vocab_size": tok["vocab_size"], "eos_id": tok["eos_id"], "eos_appended": True,
        "dtype": dtype.name, "bytes_per_token": dtype.itemsize,
        "documents": sum(r["documents"] for r in results), "tokens": sum(r["tokens"] for r in results),
        "text_tokens": sum(r["text_tokens"] for r in results),
        "sets": [{k: r[k] for k in ("name", "shard", "documents", "tokens", "text_tokens")} for r in results],
        "files": files, "seconds": round(seconds, 3),
    }
    if fmt == "megatron":   # prefixes relative to the export folder: `--data-path` in a run started there
        m["data_path"] = data_path([(r["tokens"], r["name"]) for r in results if r["documents"]])
    return m


def _verify(folder: str, manifest: dict) -> list[str]:
    """Problems with the listed files (missing, other size), and the other files: leftovers to remove."""
    base = (folder if storage.is_remote(folder) else storage.local_path(folder)).rstrip("/").rstrip(os.sep)
    sizes = {i.path[len(base) + 1:].replace(os.sep, "/"): i.size for i in storage.walk_files(folder)}
    problems = [f"{e['file']} is listed in manifest.json but missing" if e["file"] not in sizes else
                f"{e['file']} has {sizes[e['file']]} bytes, manifest.json says {e['bytes']}"
                for e in manifest["files"] if sizes.get(e["file"]) != e["bytes"]]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RuntimeError(f"{folder}: export files do not match manifest.json: {problems[0]}{more}")
    listed = {e["file"] for e in manifest["files"]} | {"manifest.json"}
    return sorted(set(sizes) - listed)


def finish(build: str, dest: str, manifest: dict, overwrite: bool):
    """manifest.json, the files checked against it, `_SUCCESS`; locally then the rename into place."""
    from engine.output import commit

    storage.write_bytes(storage.join(build, "manifest.json"), (json.dumps(manifest, indent=2) + "\n").encode())
    leftovers = _verify(build, manifest)
    for rel in leftovers:   # remote: an older export's files; local: a killed task attempt's `.inprogress`
        storage.delete_file(storage.join(build, rel))
    storage.write_bytes(storage.join(build, "_SUCCESS"), b"")
    if build != dest:
        commit(build, storage.local_path(dest), overwrite)
