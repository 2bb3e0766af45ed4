"""Stage checkpoints: each stage's Parquet under the work dir, keyed by a hash of what it depends on
(engine/stage_keys.py: the score stage per source, the dedup clusters), so a rerun after a crash, or a mix
whose thresholds or weights changed, reuses what is still valid. Decisions are not stored.

The work dir may be on an object store, where nothing renames atomically, and executors may share no disk
with the driver; so a stage commits like an output: parts written in place by the tasks
(engine/spark/stage_io.py), then `manifest.json` listing each with its size and sha256, then `_SUCCESS`.
Only a committed manifest whose files are all there is reused; anything else in the folder is a leftover
of a killed or older run, deleted when the stage is next built. A stage holding transient read errors is
written but never reused (its manifest says so).

No pyspark here: the Spark side is engine/spark/stage_io.py and engine/spark/transient.py.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import time

from engine import storage
from engine.plan.manifest import TAMIS_VERSION
from engine.spec import MixSpec
from engine.stage_keys import code_fingerprint  # noqa: F401 - re-exported: what a datasheet calls the code

STALE_AGE = 7 * 86400          # an older tamis's build folder of another host: presumed abandoned after this long
MANIFEST, SUCCESS = "manifest.json", "_SUCCESS"
FORMAT = 2                     # of a stage's manifest: another one is never reused


def work_dir(spec: MixSpec) -> str:
    return spec.output.work_dir or spec.output.path.rstrip("/") + ".work"


# ---------------------------------------------------------------- transient read errors: never reused


class StageLog(dict):
    """{stage: reused}, plus `notes[stage]`: extra fields for manifest.json `stages` (why it was recomputed)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.notes: dict[str, dict] = {}


def note(reused: dict, name: str, **fields):
    notes = getattr(reused, "notes", None)
    if notes is not None:
        notes.setdefault(name, {}).update(fields)


def _summary(errors: dict) -> str:
    return ", ".join(f"{reason} ({v['docs']} docs)" for reason, v in sorted(errors.items()))


# ---------------------------------------------------------------- committed manifest


def listing(path: str) -> dict[str, int | None]:
    """{name relative to the stage folder: size} of every file under it: one listing."""
    if storage.is_remote(path):
        base = path.rstrip("/") + "/"
        return {i.path[len(base):]: i.size for i in storage.walk_files(path) if i.path.startswith(base)}
    base = storage.local_path(path)
    return {os.path.relpath(i.path, base): i.size for i in storage.walk_files(path)}


def committed(path: str, found: dict | None = None) -> dict | None:
    """The stage's manifest when it is committed (`_SUCCESS`, a readable manifest of this format) and every
    file it lists is there with its size; else None. sha256s are not read back: a file is written whole or
    not at all, so its size tells a killed write from a complete one."""
    found = listing(path) if found is None else found
    if SUCCESS not in found or MANIFEST not in found:
        return None
    try:
        manifest = json.loads(storage.read_bytes(storage.join(path, MANIFEST)))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    if any(found.get(f["file"]) != f["bytes"] for f in manifest["files"]):
        return None
    return manifest


def stage_complete(path: str) -> bool:
    return committed(path) is not None


def reusable(path: str, reused: dict, name: str) -> dict | None:
    """The committed manifest of the stage at `path` when it may be reused; notes why not when it holds
    transient read errors."""
    manifest = committed(path)
    if manifest is None:
        return None
    held = manifest.get("transient_read_errors")
    if held:
        note(reused, name, recomputed=f"the stored result had transient read errors: {_summary(held)}")
        return None
    return manifest


# ---------------------------------------------------------------- build and commit


def _clean_stale_builds(path: str):
    """Remove build folders (`.<stage>.tmp-<host>-<pid>-<rand>`) that older versions, which renamed a
    finished build into place, left when killed: on this host, of a process no longer alive."""
    from engine.output import owner_alive

    if storage.is_uri(path):
        return                   # older versions wrote only local work dirs
    prefix = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-")
    for d in glob.glob(glob.escape(prefix) + "*"):
        parts = d[len(prefix):].rsplit("-", 2)
        if len(parts) == 3 and parts[0] == socket.gethostname() and parts[1].isdigit() \
                and owner_alive(parts[0], int(parts[1])) is False:
            shutil.rmtree(d, ignore_errors=True)
        elif time.time() - os.path.getmtime(d) > STALE_AGE:
            shutil.rmtree(d, ignore_errors=True)


def _delete_leftovers(path: str, keep: set[str]):
    """Delete every file under the stage folder but `keep`: parts of killed runs, older versions' files."""
    for rel in listing(path):
        if rel not in keep:
            storage.delete_file(storage.join(path, rel))
    if not storage.is_remote(path):          # folders left empty (an older Spark writer's `_temporary`)
        for name in storage.listdir(path):
            if os.path.isdir(os.path.join(storage.local_path(path), name)):
                storage.delete_tree(storage.join(path, name))


def begin(path: str):
    """Before writing into a stage folder: from here it holds no committed stage until `commit_manifest`."""
    _clean_stale_builds(path)
    storage.delete_file(storage.join(path, SUCCESS))


def commit_manifest(path: str, manifest: dict):
    """Commit the stage at `path`: `manifest.json` (listing every file to keep, with its size), every
    other file deleted (parts of killed runs, older versions' files), then `_SUCCESS`."""
    storage.write_bytes(storage.join(path, MANIFEST), json.dumps(manifest, indent=1, sort_keys=True).encode())
    _delete_leftovers(path, {f["file"] for f in manifest["files"]} | {MANIFEST})
    storage.write_bytes(storage.join(path, SUCCESS), b"")


def _commit(spark, path: str, df, reused: dict, name: str, options):
    """Write `df` as the stage at `path` and commit it; returns the stage read back."""
    from engine.spark.stage_io import read_stage, write_stage

    files, schema, errors = write_stage(df, path, options)   # errors: transient read errors, counted as written
    out = read_stage(spark, path, files, schema, options)
    if errors:                                  # written, never reused
        note(reused, name, reusable=False, transient_read_errors=errors)
    commit_manifest(path, {"format": FORMAT, "tamis": TAMIS_VERSION, "stage": storage.basename(path),
                           "files": files, "rows": sum(f["rows"] for f in files), "schema": schema,
                           "transient_read_errors": errors or None})
    return out


def stage(spark, path: str, build, reused: dict, name: str):
    """Read the stage at `path` when a committed one may be reused, else build, write and commit it.

    `_SUCCESS` is deleted before anything is written, so from then on the folder holds no committed stage
    until this one is: a run killed mid-stage leaves only parts that the next build deletes."""
    from engine.spark.stage_io import read_stage

    options = storage.current()                 # what the driver was configured with, for the tasks
    manifest = reusable(path, reused, name)
    if manifest is not None:
        reused[name] = True
        return read_stage(spark, path, manifest["files"], manifest["schema"], options)
    reused[name] = False
    begin(path)
    try:
        return _commit(spark, path, build(), reused, name, options)
    except BaseException:
        with contextlib.suppress(Exception):     # uncommitted: worth nothing, and would only be leftovers
            storage.delete_tree(path)
        raise
