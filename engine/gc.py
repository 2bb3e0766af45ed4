"""`tamis gc`: remove stage data that no committed output and no current spec references.

Every edit of a spec can leave stage folders behind (a new score key per changed source, a new dedup key).
A stage folder is kept when
- the current spec uses it (`tamis gc SPEC`: its keys, engine/stage_status.py), or
- a committed output lists it in its manifest's `stages`: each run records its output under
  `<work>/refs/` (one small file per output), and that output's `manifest.json` names the folders it used;
- or it is being written: no `_SUCCESS` and a file younger than IN_USE_AGE (a run may be filling it now).
Everything else matching a stage folder name (`score-*`, `dedup-*`, older versions' `annotate-*`,
`thresholds-*` and their build folders) goes. Other files in the work dir (logs) are left alone. Works on
object stores through engine.storage. No pyspark here.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from engine import storage
from engine.stage_keys import digest

REFS = "refs"
IN_USE_AGE = 3600
STAGE_NAME = re.compile(r"^\.?(score|dedup|annotate|thresholds)-[\w.-]+$")


@dataclass
class Entry:
    name: str
    bytes: int
    action: str              # remove, keep (used), keep (in progress)


def record_output(work: str, out: str):
    """Note under the work dir that the committed output `out` uses stages of it (read by `gc`)."""
    storage.write_bytes(storage.join(work, REFS, f"{digest(out)}.json"), json.dumps({"output": out}).encode())


def _output_stages(out: str, work: str) -> set[str] | None:
    """The stage folders the committed output `out` used in `work`; None when it is not committed."""
    try:
        if not storage.exists(storage.join(out, "_SUCCESS")):
            return None
        manifest = json.loads(storage.read_bytes(storage.join(out, "manifest.json")))
    except (OSError, ValueError):
        return None
    if storage.normalize(str(manifest.get("work_dir", ""))).rstrip("/") != storage.normalize(work).rstrip("/"):
        return set()            # it has moved to another work dir since
    stages = manifest.get("stages") or {}
    names = {v.get("stage") for v in (stages.get("score") or {}).get("sources", {}).values()}
    names.add((stages.get("dedup") or {}).get("stage"))
    return {n for n in names if n}


def referenced(work: str) -> tuple[set[str], list[str]]:
    """(stage folders used by committed outputs, ref files of outputs no longer committed)."""
    used, stale = set(), []
    for name in storage.listdir(storage.join(work, REFS)):
        ref = storage.join(work, REFS, name)
        try:
            out = json.loads(storage.read_bytes(ref))["output"]
        except (OSError, ValueError, KeyError, TypeError):
            stale.append(ref)
            continue
        names = _output_stages(out, work)
        if names is None:
            stale.append(ref)
        else:
            used |= names
    return used, stale


def _in_progress(files, now: float) -> bool:
    if any(storage.basename(f.path) == "_SUCCESS" for f in files):
        return False
    return any(f.mtime is not None and now - f.mtime < IN_USE_AGE for f in files)


def collect(work: str, keep: set[str], dry_run: bool = True) -> list[Entry]:
    """Every stage folder of `work` with its size and what gc does with it; removes when not `dry_run`."""
    used, stale = referenced(work)
    keep = keep | used
    now, out = time.time(), []
    for name in storage.listdir(work):
        if not STAGE_NAME.match(name):
            continue
        path = storage.join(work, name)
        files = storage.walk_files(path)
        size = sum(f.size or 0 for f in files)
        if name in keep:
            out.append(Entry(name, size, "keep (used)"))
        elif _in_progress(files, now):
            out.append(Entry(name, size, "keep (in progress)"))
        else:
            out.append(Entry(name, size, "remove"))
            if not dry_run:
                storage.delete_tree(path)
    if not dry_run:
        for ref in stale:
            storage.delete_file(ref)
    return out


def spec_stages(spec) -> tuple[str, set[str]]:
    """(work dir, the stage folders the spec uses now)."""
    from engine.run import resolve_inputs
    from engine.stage_status import stage_status
    from engine.stages import work_dir

    work = work_dir(spec)
    return work, {s.folder for s in stage_status(spec, resolve_inputs(spec), work) if s.folder}
