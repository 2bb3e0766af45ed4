"""Stage checkpoints: each stage's Parquet under the work dir, keyed by a hash of what it depends on.

The key covers the relevant part of the spec, the code that computes the stage and the input files'
names, sizes and mtimes (as resolved once per run, engine.spec.paths.resolve_source), so a rerun after a
crash, or a mix whose weights changed, reuses what is still valid. A stage folder appears under its final
name only complete (build folder, then rename); a stage holding transient read errors is written but never
reused (the `_TRANSIENT` marker, written by engine/spark/transient.py).

No pyspark here: `stage` only calls the DataFrame methods of what `build` returns and of `spark`.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

from engine.plan.manifest import TAMIS_VERSION
from engine.spec import MixSpec, SourceBase

ANNOTATE_CODE = ("filters/**/*.py", "engine/readers/**/*.py", "engine/annotate.py", "engine/spark/annotate.py",
                 "engine/extract.py", "engine/tokenize.py", "engine/spark/thresholds.py", "engine/schema.py",
                 "engine/spark/ids.py")
DEDUP_CODE = ("engine/spark/dedup*.py", "engine/spark/dedup/**/*.py", "engine/spark/components.py",
              "engine/dedup/**/*.py")
STALE_AGE = 7 * 86400          # another host's build folder: presumed abandoned after this long


# ---------------------------------------------------------------- keys


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def code_fingerprint(patterns=ANNOTATE_CODE) -> str:
    """A hash of the code that computes a stage's result, so a changed filter or reader never reuses stale ones."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for p in sorted({f for pattern in patterns for f in root.glob(pattern)}):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:16]


def mix_only_fields() -> set[str]:
    """Source fields that only steer the mix (declared `json_schema_extra={"mix_only": True}` in the spec
    models): changing them must not recompute annotate or dedup."""
    return {name for name, f in SourceBase.model_fields.items() if (f.json_schema_extra or {}).get("mix_only")}


def stage_keys(spec: MixSpec, inputs: dict) -> dict[str, str]:
    """What each stage's result depends on; a change elsewhere in the spec reuses it.

    `inputs`: {source name: ResolvedSource}, the run's one listing of the input files."""
    mix_only = mix_only_fields()
    sources = [{**s.model_dump(exclude=mix_only, mode="json"),
                "inputs": [[f.path, f.size, f.mtime] for f in inputs[s.name].files]} for s in spec.sources]
    annotate = _digest({"v": TAMIS_VERSION, "code": code_fingerprint(), "tokenizer": spec.tokenizer, "sources": sources})
    dedup = _digest({"annotate": annotate, "code": code_fingerprint(DEDUP_CODE),
                     "dedup": spec.dedup.model_dump(mode="json") if spec.dedup else None})
    return {"annotate": annotate, "dedup": dedup}


def work_dir(spec: MixSpec) -> str:
    return spec.output.work_dir or spec.output.path.rstrip("/") + ".work"


# ---------------------------------------------------------------- transient read errors: never reused

MARKER = "_TRANSIENT"


class StageLog(dict):
    """{stage: reused}, plus `notes[stage]`: extra fields for manifest.json `stages` (why it was recomputed)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.notes: dict[str, dict] = {}


def note(reused: dict, name: str, **fields):
    notes = getattr(reused, "notes", None)
    if notes is not None:
        notes.setdefault(name, {}).update(fields)


def stored_transient(path: str) -> dict | None:
    """The transient read errors a completed stage holds (None when it has none: reusable).

    A stage's key covers the input files' names, sizes and mtimes, not whether they could be read: a file
    moved away mid-run and moved back unchanged gives the same key, so such a stage is recomputed whole."""
    try:
        with open(os.path.join(path, MARKER), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"unreadable": {"docs": None, "files": []}}   # cannot tell: do not reuse


def _summary(errors: dict) -> str:
    return ", ".join(f"{reason} ({v['docs']} docs)" for reason, v in sorted(errors.items()))


def reusable(path: str, reused: dict, name: str) -> bool:
    """Whether the stage at `path` is complete and may be reused; notes why not when it holds transient errors."""
    if not stage_complete(path):
        return False
    held = stored_transient(path)
    if held is not None:
        note(reused, name, recomputed=f"the stored result had transient read errors: {_summary(held)}")
    return held is None


# ---------------------------------------------------------------- build, then rename


def stage_complete(path: str) -> bool:
    """A stage folder only ever appears under its final name complete (see `stage`)."""
    return os.path.isfile(os.path.join(path, "_SUCCESS"))


def _tmp_prefix(path: str) -> str:
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-")


def _clean_stale_builds(path: str):
    """Remove build folders of this stage left by killed runs: on this host, of a process no longer alive."""
    from engine.output import owner_alive

    for d in glob.glob(glob.escape(_tmp_prefix(path)) + "*"):
        parts = d[len(_tmp_prefix(path)):].rsplit("-", 2)
        if len(parts) == 3 and parts[0] == socket.gethostname() and parts[1].isdigit() \
                and owner_alive(parts[0], int(parts[1])) is False:
            shutil.rmtree(d, ignore_errors=True)
        elif time.time() - os.path.getmtime(d) > STALE_AGE:
            shutil.rmtree(d, ignore_errors=True)


def _publish(tmp: str, path: str):
    Path(tmp, "_SUCCESS").touch()            # also when the committer is told not to write it
    if os.path.lexists(path):                # an incomplete folder from an older tamis: never trusted
        shutil.rmtree(path)
    try:
        os.rename(tmp, path)
    except OSError:
        if not stage_complete(path):         # a concurrent run of the same stage finished first: fine
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _mark_transient(spark, tmp: str, reused: dict, name: str):
    """Mark the freshly written stage `tmp` not reusable when it holds transient read errors."""
    from engine.spark.transient import find

    errors = find(spark, tmp)
    if errors:
        with open(os.path.join(tmp, MARKER), "w", encoding="utf-8") as f:
            json.dump(errors, f, indent=1, sort_keys=True)
        note(reused, name, reusable=False, transient_read_errors=errors)


def stage(spark, path: str, build, reused: dict, name: str):
    """Read the stage's Parquet when a completed one exists, else build it, write it, and read it back.

    The stage is written to a hidden sibling (`.<stage>.tmp-<host>-<pid>-<rand>`) and renamed to its final
    name only after Spark committed every task and `_SUCCESS` exists, so a folder under the final name is
    always complete: a run killed mid-stage leaves only a hidden build folder, removed by the next run.
    """
    if reusable(path, reused, name):
        reused[name] = True
        return spark.read.parquet(path)
    reused[name] = False
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    _clean_stale_builds(path)
    tmp = f"{_tmp_prefix(path)}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        build().write.mode("overwrite").parquet(tmp)
        _mark_transient(spark, tmp, reused, name)   # transient read errors: written, never reused
        _publish(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return spark.read.parquet(path)
