"""Does an output's manifest.json describe exactly the files next to it?

Used twice: by `tamis run` on its build folder before writing `_SUCCESS` (a mismatch fails the run and
nothing is committed), and by `tamis audit` / `engine.audit.queries.open_output` before reading an output (a
mismatch is refused). Every shard `<path>/*.parquet` and rejects file `<path>/rejects/*.parquet` must be
listed in the manifest (`shards`, `rejects`: file, bytes, sha256), exist, and have the listed size and
sha256; a listed file that is missing, a size or checksum that differs, or a Parquet file that is not
listed is a problem. Checksums are read in threads (hashlib releases the GIL on large reads).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor


class ManifestMismatch(Exception):
    """The files of an output do not match its manifest.json (one line)."""


def sha256_file(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _listed(manifest: dict) -> tuple[dict[str, dict], list[str]]:
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
                files[os.path.join(sub, name) if sub else name] = e
    return files, problems


def manifest_problems(folder: str, manifest: dict, checksums: bool = True) -> list[str]:
    """Every way the Parquet files in `folder` differ from `manifest` (empty when they match)."""
    files, problems = _listed(manifest)
    present = {os.path.relpath(p, folder) for p in glob.glob(os.path.join(glob.escape(folder), "*.parquet"))
               + glob.glob(os.path.join(glob.escape(folder), "rejects", "*.parquet"))}
    to_hash = []
    for rel, e in sorted(files.items()):
        path = os.path.join(folder, rel)
        if not os.path.isfile(path):
            problems.append(f"{rel} is listed in manifest.json but missing")
        elif os.path.getsize(path) != e["bytes"]:
            problems.append(f"{rel} has {os.path.getsize(path)} bytes, manifest.json says {e['bytes']}")
        elif checksums:
            to_hash.append((rel, path, e["sha256"]))
    problems += [f"{rel} is not listed in manifest.json" for rel in sorted(present - files.keys())]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for (rel, _p, want), got in zip(to_hash, pool.map(lambda t: sha256_file(t[1]), to_hash)):
            if got != want:
                problems.append(f"{rel} has sha256 {got[:12]}…, manifest.json says {want[:12]}…")
    return problems


def check_output_files(folder: str, manifest: dict | None = None, checksums: bool = True):
    """Raise ManifestMismatch (one line: the first problem and how many more) unless the files match.

    `manifest`: the dict to check against (default: `folder/manifest.json`)."""
    if manifest is None:
        try:
            with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
                manifest = json.load(f)
        except FileNotFoundError:
            raise ManifestMismatch(f"{folder}: has _SUCCESS but no manifest.json") from None
        except (OSError, ValueError) as e:
            raise ManifestMismatch(f"{folder}: manifest.json unreadable ({type(e).__name__}: {e})") from None
        if not isinstance(manifest, dict):
            raise ManifestMismatch(f"{folder}: manifest.json is not an object")
    problems = manifest_problems(folder, manifest, checksums)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ManifestMismatch(f"{folder}: files do not match manifest.json: {problems[0]}{more}")
