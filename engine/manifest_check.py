"""Does an output's manifest.json describe exactly the files next to it?

Used twice: by `tamis run` on its build folder before writing `_SUCCESS` (a mismatch fails the run and
nothing is committed), and by `tamis audit` / `engine.audit.queries.open_output` before reading an output (a
mismatch is refused). Every shard `<path>/*.parquet` and rejects file `<path>/rejects/*.parquet` must be
listed in the manifest (`shards`, `rejects`: file, bytes, sha256), exist, and have the listed size and
sha256; a listed file that is missing, a size or checksum that differs, or a Parquet file that is not
listed is a problem. Other files committed with the output (`datasheet.md`) are listed under `extra_files`
(file, bytes, sha256) and checked the same way; an unlisted file that is not Parquet is no problem (an older
output has no `extra_files`). Checksums are read in threads (hashlib releases the GIL on large reads).

The output may be a local folder or a remote URI (engine.storage): one listing gives names and sizes. On a
remote output the sha256 is checked only when asked (`checksums="remote"`): it means reading every byte
back over the network, while the sizes catch a missing or truncated file.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

from engine import storage


class ManifestMismatch(Exception):
    """The files of an output do not match its manifest.json (one line)."""


def sha256_file(path: str) -> str:
    return storage.sha256(path)


def listed_files(manifest: dict) -> tuple[dict[str, dict], list[str]]:
    """{relative path: entry} for every file the manifest lists, and problems with the entries themselves."""
    files, problems = {}, []
    for key, sub in (("shards", ""), ("rejects", "rejects")):
        entries = manifest.get(key) or []
        if not isinstance(entries, list):
            problems.append(f"manifest.json: `{key}` is not a list")
            continue
        for e in entries:
            name = e.get("file") if isinstance(e, dict) else None
            if not isinstance(name, str) or not name or os.path.basename(name) != name or name in (".", ".."):
                problems.append(f"manifest.json: bad `{key}` entry {e!r}"[:200])
            elif not isinstance(e.get("bytes"), int) or not isinstance(e.get("sha256"), str):
                problems.append(f"manifest.json: `{key}` entry {name} has no bytes/sha256")
            else:
                files[f"{sub}/{name}" if sub else name] = e
    return files, problems


_listed = listed_files   # the former name

# names an extra file may not take: the commit's own files and what the output's readers take as data
_RESERVED = {"manifest.json", "_SUCCESS"}


def committed_files(manifest: dict) -> tuple[dict[str, dict], list[str]]:
    """`listed_files` plus the `extra_files` (top-level, not Parquet): every file the commit covers.

    `listed_files` alone stays the Parquet data (the audit and readers take its files as documents)."""
    files, problems = listed_files(manifest)
    entries = manifest.get("extra_files") or []
    if not isinstance(entries, list):
        return files, problems + ["manifest.json: `extra_files` is not a list"]
    for e in entries:
        name = e.get("file") if isinstance(e, dict) else None
        if (not isinstance(name, str) or not name or "/" in name or os.path.basename(name) != name
                or name.startswith(".") or name in _RESERVED or name.endswith(".parquet")):
            problems.append(f"manifest.json: bad `extra_files` entry {e!r}"[:200])
        elif not isinstance(e.get("bytes"), int) or not isinstance(e.get("sha256"), str):
            problems.append(f"manifest.json: `extra_files` entry {name} has no bytes/sha256")
        else:
            files[name] = e
    return files, problems


def _parquet_sizes(folder: str, extra: frozenset = frozenset()) -> dict[str, int | None]:
    """{relative path ('x.parquet', 'rejects/y.parquet'): size} of the output's Parquet files, and of the
    top-level files named in `extra`."""
    base = (folder if storage.is_remote(folder) else storage.local_path(folder)).rstrip("/").rstrip(os.sep)
    out = {}
    for i in storage.walk_files(folder):
        rel = i.path[len(base) + 1:].replace(os.sep, "/")
        parts = rel.split("/")
        if parts[-1].startswith("."):
            continue                      # hidden: not an output file (as a shell glob sees it)
        if rel.endswith(".parquet") and (len(parts) == 1 or len(parts) == 2 and parts[0] == "rejects"):
            out[rel] = i.size
        elif rel in extra:
            out[rel] = i.size
    return out


def size_problems(files: dict[str, dict], present: dict[str, int | None]) -> list[str]:
    """Listed files (`listed_files`) missing from `present` ({relative path: bytes}) or of another size."""
    problems = []
    for rel, e in sorted(files.items()):
        if rel not in present:
            problems.append(f"{rel} is listed in manifest.json but missing")
        elif present[rel] != e["bytes"]:
            problems.append(f"{rel} has {present[rel]} bytes, manifest.json says {e['bytes']}")
    return problems


def mismatch(folder: str, problems: list[str]) -> ManifestMismatch:
    """One line: the first problem and how many more."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ManifestMismatch(f"{folder}: files do not match manifest.json: {problems[0]}{more}")


def manifest_problems(folder: str, manifest: dict, checksums: bool | str = True) -> list[str]:
    """Every way the Parquet files and listed extra files in `folder` differ from `manifest` (empty: they match).

    `checksums`: True: sha256 of local files (a remote output: sizes only); "remote": sha256 everywhere."""
    files, problems = committed_files(manifest)
    present = _parquet_sizes(folder, frozenset(k for k in files if "/" not in k and not k.endswith(".parquet")))
    problems += size_problems(files, present)
    hash_it = checksums == "remote" or (checksums is True and not storage.is_remote(folder))
    to_hash = [(rel, storage.join(folder, rel), e["sha256"]) for rel, e in sorted(files.items())
               if hash_it and present.get(rel) == e["bytes"]]
    problems += [f"{rel} is not listed in manifest.json" for rel in sorted(present.keys() - files.keys())]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for (rel, _p, want), got in zip(to_hash, pool.map(lambda t: sha256_file(t[1]), to_hash)):
            if got != want:
                problems.append(f"{rel} has sha256 {got[:12]}…, manifest.json says {want[:12]}…")
    return problems


def read_manifest(folder: str) -> dict:
    """`folder/manifest.json` as a dict, or ManifestMismatch in one line."""
    try:
        manifest = json.loads(storage.read_bytes(storage.join(folder, "manifest.json")))
    except FileNotFoundError:
        raise ManifestMismatch(f"{folder}: has _SUCCESS but no manifest.json") from None
    except ValueError as e:
        raise ManifestMismatch(f"{folder}: manifest.json unreadable ({type(e).__name__}: {e})") from None
    except OSError as e:
        raise ManifestMismatch(f"manifest.json unreadable: {storage.describe(e, folder)}") from None
    if not isinstance(manifest, dict):
        raise ManifestMismatch(f"{folder}: manifest.json is not an object")
    return manifest


class NotCommitted(Exception):
    """An output folder without `_SUCCESS` (one line)."""


def committed_manifest(folder: str, checksums: bool | str = True) -> dict:
    """The manifest of the committed output at `folder`, its files checked against it: NotCommitted without
    `_SUCCESS`, ManifestMismatch when the files differ. What every reader of an output (audit, export)
    checks first."""
    if not storage.exists(storage.join(folder, "_SUCCESS")):
        raise NotCommitted(f"not a committed output: no _SUCCESS in {folder} (a run that did not finish, or "
                           "one still writing; rerun it)")
    manifest = read_manifest(folder)
    check_output_files(folder, manifest, checksums)
    return manifest


def check_output_files(folder: str, manifest: dict | None = None, checksums: bool | str = True):
    """Raise ManifestMismatch (one line: the first problem and how many more) unless the files match.

    `manifest`: the dict to check against (default: `folder/manifest.json`)."""
    if manifest is None:
        manifest = read_manifest(folder)
    problems = manifest_problems(folder, manifest, checksums)
    if problems:
        raise mismatch(folder, problems)
