"""One run per output at a time, and build folders that name their owner.

- The output lock `<parent>/.<name>.lock` is created with O_CREAT|O_EXCL (atomic on local disks and NFS)
  and holds the owner's host, pid, the pid's start time and a random token. A second run on the output is
  refused (exit 2, naming the holder). A lock whose owner is gone is taken over: on this host, a pid that
  is not alive (or was reused by another process); from another host, where no pid can be checked, only
  a lock older than STALE_AGE. The owner checks the lock is still its own right before committing.
- Build folders `.<name>.tmp-<host>-<pid>-<rand>` (and `.<name>.old-*` of a commit) carry their owner, so a
  cleanup removes only those whose owner is gone (same rule as the lock).
- `finish`: manifest.json written, the files checked against it (engine/manifest_check.py), `_SUCCESS`, then
  `commit`: two renames on the same filesystem, never a partial copy. A failed or killed run leaves nothing
  at the output path.

Remote outputs (object stores: no atomic rename, no O_EXCL) follow another protocol, `finish_remote`: the run
deletes `<out>/_SUCCESS` before writing anything (the old output is no longer committed), writes its files in
place under deterministic names, then manifest.json, checks every listed file (shards, rejects, `extra_files`
such as datasheet.md) is there with its size (one listing), deletes every other file under `<out>/` (leftovers
of a killed or older run), and writes `_SUCCESS` last. Readers trust only an output with `_SUCCESS`. The lock
there is best effort (see `_acquire_remote`).
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

from engine import storage
from engine.manifest_check import ManifestMismatch, check_output_files

STALE_AGE = 7 * 86400       # another host's lock or build folder: presumed abandoned after this long
UNREADABLE_AGE = 600        # a lock file with no content: a run killed between creating and writing it


class OutputExists(Exception):
    """The output exists and the run was not told to replace it (exit 2, one line)."""


class UnsafePath(OutputExists):
    """An output, work dir or input path that tamis refuses (exit 2, one line)."""


class OutputLocked(OutputExists):
    """Another run holds the output (exit 2, one line)."""


class LockLost(RuntimeError):
    """The lock was taken from this run (it was judged stale): it must not commit."""


def lock_path(out: str) -> str:
    out = out.rstrip("/")
    return storage.join(storage.dirname(out) or ".", f".{storage.basename(out)}.lock")


def owner_tag() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _proc_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc), to tell a reused pid from the owner."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_alive(host: str, pid: int, pid_start: str | None = None) -> bool | None:
    """True/False for a process of this host; None when `host` is another machine (cannot be checked)."""
    from engine.procs import alive   # zombie-aware

    if host != socket.gethostname():
        return None
    if not alive(pid):
        return False
    now = _proc_start(pid)
    return pid_start is None or now is None or now == pid_start


def _read(path: str) -> dict | None:
    try:
        d = json.loads(storage.read_bytes(path))
        return d if isinstance(d, dict) and {"host", "pid", "token"} <= d.keys() else None
    except (OSError, ValueError):
        return None


def _mtime(path: str) -> float | None:
    if not storage.is_remote(path):
        return os.path.getmtime(path)
    i = storage.info(path)
    if i is None:
        raise FileNotFoundError(path)
    return i.mtime


def _stale(path: str, holder: dict | None) -> bool:
    try:
        mtime = _mtime(path)
    except OSError:
        return True   # gone meanwhile
    age = time.time() - mtime if mtime is not None else 0.0
    if holder is None:
        return age > UNREADABLE_AGE
    live = owner_alive(holder["host"], int(holder["pid"]), holder.get("pid_start"))
    return age > STALE_AGE if live is None else not live


def _describe(holder: dict | None, path: str) -> str:
    if holder is None:
        return f"output is locked by another tamis run ({path}, being written or unreadable)"
    return (f"output is locked by another tamis run: host {holder['host']}, pid {holder['pid']}, "
            f"started {holder.get('started', '?')} ({path}; remove it only if that run is gone)")


def _break(path: str):
    """Remove a stale lock, and only a stale one: move it aside (atomic, one winner), check what was moved
    is still stale (another run may have replaced it meanwhile), put it back if it is not."""
    aside = f"{path}.stale-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if not _stale(aside, _read(aside)):
        try:
            os.link(aside, path)            # never replaces a lock created in between
        except OSError:
            pass
    os.remove(aside)


class OutputLock:
    def __init__(self, path: str, token: str):
        self.path, self.token = path, token

    def check(self):
        """Raise LockLost unless the lock file is still this run's."""
        holder = _read(self.path)
        if not holder or holder["token"] != self.token:
            raise LockLost(f"lost the output lock {self.path} to another run; nothing was committed")

    def release(self):
        holder = _read(self.path)
        if holder and holder["token"] == self.token:
            storage.delete_file(self.path)


def _me() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": _proc_start(os.getpid()),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "token": uuid.uuid4().hex}


def _acquire_remote(path: str) -> OutputLock:
    """The lock object on an object store: read it, refuse a live holder, write ours, read it back.

    Best effort: a store without conditional writes cannot make "create if absent" atomic, so two runs
    starting within the same moment may both see no lock, both write, and the later write wins; the earlier
    run then fails its token check before it deletes leftovers or writes `_SUCCESS` (`OutputLock.check`), so
    at most it leaves uncommitted files that the winner's run removes."""
    holder = _read(path)
    if storage.exists(path) and not _stale(path, holder):
        raise OutputLocked(_describe(holder, path))
    me = _me()
    storage.write_bytes(path, json.dumps(me).encode())
    if (_read(path) or {}).get("token") != me["token"]:
        raise OutputLocked(_describe(_read(path), path))
    return OutputLock(path, me["token"])


def acquire(out: str) -> OutputLock:
    """Take the output's lock, or raise OutputLocked naming its live holder."""
    path = lock_path(out)
    if storage.is_remote(path):
        return _acquire_remote(path)
    me = _me()
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read(path)
            if not _stale(path, holder):
                raise OutputLocked(_describe(holder, path)) from None
            _break(path)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
            f.flush()
            os.fsync(f.fileno())
        return OutputLock(path, me["token"])
    raise OutputLocked(_describe(_read(path), path))


# ---------------------------------------------------------------- build folders


def _pattern(out: str) -> str:
    out = out.rstrip("/")
    return os.path.join(glob.escape(os.path.dirname(out) or "."), glob.escape(f".{os.path.basename(out)}"))


def build_dir(out: str, kind: str = "tmp") -> str:
    """`.<name>.<kind>-<host>-<pid>-<rand>` next to the output."""
    out = out.rstrip("/")
    return os.path.join(os.path.dirname(out) or ".", f".{os.path.basename(out)}.{kind}-{owner_tag()}")


def owner_gone(folder: str, prefix: str) -> bool:
    """Whether the run that named `folder` `<prefix><host>-<pid>-<rand>` is gone. A name without an owner
    (tamis before the output lock) counts as gone: cleanups run under the output lock."""
    parts = folder[len(prefix):].rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return True
    live = owner_alive(parts[0], int(parts[1]))
    if live is None:
        return time.time() - os.path.getmtime(folder) > STALE_AGE
    return not live


def clean_stale_builds(out: str):
    """Remove build folders next to the output whose owner is gone (call it holding the output lock).

    A run killed between the two renames of a commit leaves the previous output as `.<name>.old-*` and
    nothing at `<path>`: that previous output is put back first.
    """
    pat = _pattern(out)
    base = os.path.join(os.path.dirname(out.rstrip("/")) or ".", f".{os.path.basename(out.rstrip('/'))}")
    olds = sorted((d for d in glob.glob(pat + ".old-*") if owner_gone(d, base + ".old-")), key=os.path.getmtime)
    if olds and not os.path.lexists(out) and os.path.exists(os.path.join(olds[-1], "_SUCCESS")):
        os.rename(olds.pop(), out)
    for d in [d for d in glob.glob(pat + ".tmp-*") if owner_gone(d, base + ".tmp-")] + olds:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- checks and commit


def check_output(spec, overwrite: bool):
    """Refuse unsafe paths (engine.spec.paths rules) and an existing output unless `overwrite`."""
    from engine.spec.paths import canonicalize, path_problems

    storage.configure(spec.storage.options())   # the CLI checks before `run` configures the store
    problems = path_problems(spec)
    if problems:
        raise UnsafePath(problems[0][1])
    canonicalize(spec)   # the run writes exactly the real folders just checked (a spec may be built in code)
    out = spec.output.path
    if storage.is_remote(out):
        problem = storage.reachable_problem(out, "output")   # no bucket, denied, endpoint down: one line
        if problem:
            raise UnsafePath(problem)
        try:   # an object store has no empty folders: the output exists when anything is under its prefix
            exists = bool(storage.listdir(out))
        except OSError as e:
            raise UnsafePath(f"output {storage.describe(e, out)}") from None
    else:
        exists = os.path.exists(out) and bool(os.listdir(out))
    if exists and not overwrite:
        raise OutputExists(f"output exists: {out} (use --overwrite to replace it)")


def verify(folder: str, manifest: dict):
    """Every file the manifest lists is in `folder`, with its size and sha256, and no other shard."""
    check_output_files(folder, manifest)


def commit(tmp: str, out: str, overwrite: bool, lock: OutputLock | None = None):
    """Move the finished output into place: a rename on the same filesystem, never a partial copy.

    `lock`: checked first, so a run never commits after another run took the output over."""
    if lock is not None:
        lock.check()
    for f in glob.glob(os.path.join(glob.escape(tmp), "**", "*.inprogress"), recursive=True):
        os.remove(f)                             # a killed task attempt's file; its retry wrote the shard
    if os.path.dirname(os.path.realpath(out)) == os.path.realpath(out) or os.path.realpath(out) == os.path.expanduser("~"):
        raise UnsafePath(f"refusing to replace {out}")
    old = None
    if os.path.exists(out):
        if not overwrite and os.listdir(out):
            raise OutputExists(f"output exists: {out} (use --overwrite to replace it)")
        old = build_dir(out, "old")
        os.rename(out, old)
    os.rename(tmp, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def _manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode()


def finish(tmp: str, out: str, manifest: dict, overwrite: bool, lock: OutputLock, master: str | None = None):
    """Write manifest.json into the build folder, check the files against it, mark it `_SUCCESS`, commit.

    `verify` and `commit` are looked up here at call time (tests/hooks/sitecustomize.py pauses before them).
    `master`: on a real cluster a missing file most likely means the executors wrote to their own disks."""
    Path(tmp, "manifest.json").write_bytes(_manifest_bytes(manifest))
    try:
        verify(tmp, manifest)
    except ManifestMismatch as e:
        if master and not master.startswith("local"):
            raise ManifestMismatch(f"{e}; the executors may not share the driver's disk: give the output as "
                                   "an object store URI (e.g. s3://bucket/path)") from None
        raise
    Path(tmp, "_SUCCESS").write_text("")
    commit(tmp, out, overwrite, lock)


# ---------------------------------------------------------------- remote outputs (object stores)


def start_remote(out: str):
    """Before a run writes anything under a remote output: the old output is no longer committed."""
    storage.delete_file(storage.join(out, "_SUCCESS"))


def verify_remote(out: str, manifest: dict) -> list[str]:
    """Every file the manifest lists (shards, rejects, `extra_files` such as datasheet.md) is under `out`
    with its size (one listing; the sha256 came from the writers). Returns the other files under `out`:
    leftovers to delete before `_SUCCESS`."""
    from engine.manifest_check import committed_files, mismatch, size_problems

    files, problems = committed_files(manifest)   # shards, rejects and extra files (datasheet.md) are kept
    base = out.rstrip("/") + "/"
    sizes = {i.path[len(base):]: i.size for i in storage.walk_files(out)}
    problems += size_problems(files, sizes)
    if problems:
        raise mismatch(out, problems)
    return sorted(set(sizes) - set(files) - {"manifest.json"})


def finish_remote(out: str, manifest: dict, lock: OutputLock):
    """manifest.json, the listed files checked, leftovers deleted, `_SUCCESS` last (no rename anywhere)."""
    lock.check()
    storage.write_bytes(storage.join(out, "manifest.json"), _manifest_bytes(manifest))
    leftovers = verify_remote(out, manifest)
    lock.check()                                 # never delete files another run may have written
    for rel in leftovers:
        storage.delete_file(storage.join(out, rel))
    lock.check()
    storage.write_bytes(storage.join(out, "_SUCCESS"), b"")
