"""The `score` stage of one source, file by file: which parts are done, which must be computed.

A source's signals live in `<work>/score-<source>-<score key>/` (engine/stage_keys.py), one Parquet part per
input path (a file, or a site folder), named by that path's `part_key`, so a killed run resumes from the
files that finished and an added file is computed alone. A task writes its part (whole or not at all,
engine.storage.open_output) and then `part-<key>.json` (rows, bytes, sha256, transient read errors): a part is
done when its sidecar is there and its Parquet file has the size the sidecar says. A part holding transient
read errors is used by the run that wrote it and recomputed by the next one.

Once every part is there, the stage commits like any stage (engine/stages.py: manifest listing every part
and sidecar, leftovers deleted, `_SUCCESS`), so a committed stage is reused without reading any sidecar.
No pyspark here: the Spark job is engine/spark/score.py.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from engine import storage
from engine.stage_keys import part_key

SIDECAR = ".json"


@dataclass(frozen=True)
class Part:
    source: str
    path: str          # what the reader gets: a file or a site folder
    key: str
    size: int          # bytes under the path, for packing tasks

    @property
    def sidecar(self) -> str:
        return f"part-{self.key}{SIDECAR}"

    def file(self, attempt: int = 0) -> str:
        """A retried or speculative attempt writes its own file; the sidecar names the one that counts."""
        return f"part-{self.key}" + (f"-a{attempt}" if attempt else "") + ".parquet"


def source_parts(resolved) -> list[Part]:
    """One part per input path of the source, in the order the source lists them."""
    out = []
    for path, files in resolved.files_of().items():
        out.append(Part(resolved.source.name, path, part_key(resolved, path, files),
                        sum(f.size or 0 for f in files)))
    return out


def usable(meta: dict | None, listing: dict) -> bool:
    """A part's record says it is complete (its file there with the recorded size) and free of transient
    read errors."""
    if not isinstance(meta, dict) or meta.get("transient"):
        return False
    if not meta.get("rows"):
        return meta.get("rows") == 0
    return listing.get(meta.get("file")) == meta.get("bytes")


def _read_sidecar(folder: str, name: str) -> dict | None:
    try:
        return json.loads(storage.read_bytes(storage.join(folder, name)))
    except (OSError, ValueError):
        return None


def done_parts(folder: str, parts: list[Part], listing: dict, manifest: dict | None) -> dict[str, dict]:
    """{part key: its record} of the parts that need no computing. From the committed manifest when there is
    one (no sidecar read); else from the sidecars present (a killed run's finished files)."""
    known = (manifest or {}).get("parts") or {}
    found = {p.key: known[p.key] for p in parts if usable(known.get(p.key), listing)}
    unread = [p for p in parts if p.key not in found and p.sidecar in listing]
    if unread:
        with ThreadPoolExecutor(16) as pool:      # one small read per finished file of a killed run
            metas = list(pool.map(lambda p: _read_sidecar(folder, p.sidecar), unread))
        found.update({p.key: m for p, m in zip(unread, metas) if usable(m, listing)})
    return found


def stage_manifest(folder: str, parts: list[Part], metas: dict[str, dict], listing: dict, schema: str,
                   errors: dict, fmt: int, version: str) -> dict:
    """The committed manifest of a complete score stage: every part's file and sidecar with their sizes.
    `errors`: the parts' transient read errors merged (such a stage is written, its parts never reused)."""
    files = []
    for p in parts:
        m = metas[p.key]
        if m.get("rows"):
            files.append({"file": m["file"], "rows": m["rows"], "bytes": m["bytes"], "sha256": m["sha256"]})
        files.append({"file": p.sidecar, "rows": 0, "bytes": listing[p.sidecar], "sha256": None})
    return {"format": fmt, "tamis": version, "stage": storage.basename(folder), "files": files,
            "parts": {p.key: metas[p.key] for p in parts}, "rows": sum(metas[p.key]["rows"] for p in parts),
            "schema": schema, "transient_read_errors": errors or None}


def data_files(parts: list[Part], metas: dict[str, dict]) -> list[dict]:
    """The Parquet files to read back, in part order (parts without rows have none)."""
    return [{"file": metas[p.key]["file"], "bytes": metas[p.key]["bytes"]} for p in parts if metas[p.key].get("rows")]


def content_ids(parts: list[Part], metas: dict[str, dict]) -> list[str]:
    """What each part holds, as the dedup key sees it: the sha256 of its data file (a recomputed part whose
    transient errors went away holds other rows, under the same part key)."""
    return [metas[p.key].get("sha256") or f"empty:{p.key}" for p in parts]
