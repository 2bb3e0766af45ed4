"""The checks of a spec's paths that ask a remote store (engine.spec.paths uses them): a remote input's files,
why a remote input pattern names nothing, and how inputs and outputs named by URIs overlap."""
from __future__ import annotations

from engine import storage


def remote_files(p: str) -> list:
    """A remote input's `FileInfo`s: itself, or every file under it (a folder such as a stackexchange site)."""
    from engine.spec.paths import FileInfo

    i = storage.info(p)
    if i is None:
        return [FileInfo(p, None, None)]
    if not i.is_dir:
        return [FileInfo(p, i.size, i.mtime)]
    return [FileInfo(f.path, f.size, f.mtime) for f in storage.walk_files(p)]


def uri_input_problem(x: str, what: str, out: str, work: str) -> tuple | None:
    """`_input_problem` where the input, the output or the work dir is a URI: by their normalized names (an
    object store has no links; a local path and a URI never overlap)."""
    from engine.spec.paths import OUT, WORK, is_within

    if is_within(x, out):
        return OUT, f"refusing output path {out}: it contains {what}, which --overwrite would delete"
    if is_within(out, x):
        return OUT, f"refusing output path {out}: it is inside {what}"
    if is_within(x, work) or is_within(work, x):
        return WORK, f"refusing work dir {work}: it is, contains or is inside {what}"
    return None


def remote_input_problem(p: str, listed: bool, checked: set) -> str | None:
    """Why input pattern `p` names nothing readable: the store's problem (no bucket, denied, down) when it
    has one, else `no such file`. The keys of a path list are not checked one by one (thousands of
    requests): their store is, once."""
    from engine.spec.paths import uri_problem

    msg = uri_problem(p, "input")
    if msg or storage.scheme(p) == "file":
        return msg
    store = storage.split(p)[:2]
    if listed:
        if store in checked:
            return None
        checked.add(store)
        return storage.reachable_problem(p, "input")
    try:
        found = storage.glob(p)
    except OSError as e:
        return f"input {storage.describe(e, p)}"
    return None if found else storage.reachable_problem(p, "input") or f"no such file: {p}"

