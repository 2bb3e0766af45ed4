"""The checks of a spec's paths that ask a remote store (engine.spec.paths uses them): a remote input's files,
why a remote input pattern or filter file names nothing, and how inputs and outputs named by URIs overlap."""
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


def remote_filter_file_problem(p: str, what: str) -> str | None:
    """Why a filter's remote file (a model, a list, a benchmark glob) names nothing readable, as
    `remote_input_problem` says it for an input: a pattern must match, a plain URI must be a file."""
    from engine.spec.paths import uri_problem

    msg = uri_problem(p, what)
    if msg or storage.scheme(p) == "file":
        return msg
    try:
        found = storage.glob(p) if storage.has_magic(p) else [p] if storage.isfile(p) else []
    except OSError as e:
        return f"{what} {storage.describe(e, p)}"
    return None if found else storage.reachable_problem(p, what) or f"no such file: {p}"
