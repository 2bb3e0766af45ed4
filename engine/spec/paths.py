"""A spec's paths: one rule for "is this a URI", resolution, and what tamis may write to or delete.

- A path is a URI only when it *starts* with `scheme://` (`is_uri`, engine.storage). `file://` URIs become
  local paths and get every local check. Remote URIs (s3://, s3a:// = s3://, gs://, hdfs://, any scheme
  fsspec serves) are inputs, outputs and work dirs like local paths, listed and read through engine.storage;
  a scheme no filesystem serves is refused. A remote output or work dir must not be a whole bucket (what
  `--overwrite` would empty), contain or sit in an input, or contain the other; its store must answer.
- A local path with `name://` further in (`<dir>/x://../data`) is refused for the output and work dir: it is a
  folder `x:` plus `..`, which climbs back to wherever it starts, not the URL it looks like.
- `${VAR}` must be set in the environment (`${PYTHON_STDLIB}` is this Python's standard library).
- The output and work dir are checked, then used, as canonical real paths (relative to the spec's folder, `~`,
  `..` and symlinks resolved), so the checks see exactly the folders `run` creates, renames and deletes: the
  output, its `.<name>.tmp-*`/`.<name>.old-*`/`.<name>.lock` siblings and the work dir.
"""
from __future__ import annotations

import glob
import os
import re
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from engine import storage
from engine.spec.path_lists import expand_source
from engine.spec.remote_checks import remote_files, remote_filter_file_problem, remote_input_problem
from engine.storage import is_remote, is_uri
from filters.registry import path_params

_INNER_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_VAR = re.compile(r"\$\{(\w+)\}")
_KNOWN = ("s3", "gs", "gcs", "hdfs")   # pyarrow's own filesystems; other schemes need fsspec to know them


def _env() -> dict:
    return {"PYTHON_STDLIB": sysconfig.get_paths()["stdlib"], **os.environ}


def expand(p: str) -> str:
    """`${VAR}` from the environment; an undefined one is left as is (`undefined_vars` reports it)."""
    env = _env()
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), p)


def undefined_vars(p: str) -> list[str]:
    env = _env()
    return [v for v in _VAR.findall(p) if v not in env]


def _from_file_uri(p: str) -> str:
    """`file:///x` and `file://localhost/x` -> `/x`; a file URI naming another host stays a URI (refused)."""
    u = urlsplit(p)
    return unquote(u.path) if u.netloc in ("", "localhost") and u.path.startswith("/") else p


def resolve(base: str, p: str) -> str:
    """An input or filter file: variables, `file://` and `~` expanded, relative to `base` (the spec's folder)."""
    p = expand(p)
    if is_uri(p):
        p = _from_file_uri(p) if p[:7].lower() == "file://" else p
        if is_uri(p):
            return storage.normalize(p)
    p = os.path.expanduser(p)
    return p if os.path.isabs(p) else os.path.realpath(os.path.join(base, p))


def resolve_target(base: str, p: str) -> str:
    """An output or work dir, before checks: like `resolve`, but `..` and `//` kept for `uri_problem` to see."""
    p = expand(p)
    if is_uri(p):
        p = _from_file_uri(p) if p[:7].lower() == "file://" else p
        if is_uri(p):
            return storage.normalize(p)
    return os.path.join(base, os.path.expanduser(p))


def canonical(p: str) -> str:
    """The real folder a local output or work path names (what `run` creates, renames and deletes)."""
    return p if is_uri(p) else os.path.realpath(p)


def uri_problem(p: str, what: str) -> str | None:
    """Why `p` (an output, work dir, input or file) is not a usable path, or None (no I/O here)."""
    if is_uri(p):
        scheme = storage.scheme(p)
        if scheme == "file":
            return f"{what} {p}: a file:// URI names a local path: file:///absolute/path (no host)"
        if scheme not in _KNOWN:
            try:
                storage.filesystems.filesystem(p)
            except storage.UnsupportedScheme as e:
                return f"{what} {e}"
        if what in ("output path", "work dir") and storage.is_bucket_root(p):
            return f"refusing {what} {p}: it is a whole bucket, which --overwrite would empty"
        return None
    m = _INNER_SCHEME.search(p)
    if m and what != "input":
        return (f"{what} {p}: `{m.group(0)}` is not at the start, so this is a local path through a folder "
                f"named `{m.group(0)[:-2]}` (a URI must start with its scheme)")
    return None


def is_within(path: str, folder: str) -> bool:
    """`path` is `folder` or inside it (both real, absolute paths, or both URIs)."""
    if is_uri(path) or is_uri(folder):
        return storage.is_within(path, folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def source_files(source) -> list[str]:
    """Every input file (or folder, for stackexchange sites) of a source, sorted, globs expanded (object
    stores listed). A remote path without wildcards is taken as it is (a crawl's path list names thousands:
    no request each); an executor that cannot open it fails the run naming it."""
    out = []
    for p in source.paths:
        if is_remote(p) and not storage.has_magic(p):
            out.append(storage.normalize(p))
        else:   # locally glob's own rules, as before (`**` is one folder level)
            out.extend(storage.glob(p) if is_remote(p) else sorted(glob.glob(p)))
    return sorted(dict.fromkeys(out))


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int | None       # None: could not be stat'ed (gone meanwhile)
    mtime: int | None


@dataclass(frozen=True)
class ResolvedSource:
    """A source with its inputs listed once per run: the stage keys, the score tasks and the manifest all
    use this list, so they cannot disagree about what was read."""
    source: object
    paths: tuple[str, ...]            # `source_files`: what the readers get (a file, or a site folder)
    files: tuple[FileInfo, ...]       # every file under `paths` (a folder's content), for the stage keys
    groups: tuple[tuple[FileInfo, ...], ...] = ()   # per path of `paths`: the files under it

    @property
    def sizes(self) -> dict[str, int | None]:
        return {f.path: f.size for f in self.files}

    def files_of(self) -> dict[str, tuple[FileInfo, ...]]:
        """{path: the files under it} (a file: itself), as `resolve_source` grouped them."""
        return dict(zip(self.paths, self.groups))


def _stat(f: str) -> FileInfo:
    try:
        st = os.stat(f)
        return FileInfo(f, st.st_size, int(st.st_mtime))
    except OSError:
        return FileInfo(f, None, None)


def resolve_source(source) -> ResolvedSource:
    paths = tuple(source_files(source))
    remote, found = [p for p in paths if is_remote(p)], {}
    if remote:
        with ThreadPoolExecutor(16) as pool:   # one request per remote input: in parallel
            found = dict(zip(remote, pool.map(remote_files, remote)))
    groups = [tuple(found[p]) if p in found else
              tuple(_stat(x) for x in ([p] if os.path.isfile(p) else
                                       sorted(glob.glob(os.path.join(p, "**", "*"), recursive=True))))
              for p in paths]
    return ResolvedSource(source, paths, tuple(f for g in groups for f in g), tuple(groups))


def writable_problem(p: str, what: str, start: str) -> str | None:
    """`start` (or the nearest folder above it that exists) must be a folder this process may write into.

    As root, `os.access` says yes to any folder; a folder whose mode grants nobody write access was made
    read-only on purpose (shared data), so root is refused there too.
    """
    probe = start
    while not os.path.lexists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        return f"cannot write {what} {p}: {probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"cannot write {what} {p}: {probe} is not writable"
    if os.geteuid() == 0 and not os.stat(probe).st_mode & 0o222:
        return f"cannot write {what} {p}: {probe} is read-only (mode {os.stat(probe).st_mode & 0o777:o})"
    return None


# ---------------------------------------------------------------- resolving a spec's paths

def filter_files(f) -> list[tuple[str, str]]:
    """(parameter, path) of every file a filter names (its registry entry's `path_params`)."""
    out = []
    for name in path_params(f.kind):
        v = getattr(f, name, None)
        values = [v] if isinstance(v, str) else list(v.values()) if isinstance(v, dict) else v or []
        out += [(name, x) for x in values if isinstance(x, str)]
    return out


def _resolve_filter_paths(base: str, f):
    """Files named in filter parameters resolve against the spec's folder, like source paths."""
    update = {}
    for name in path_params(f.kind):
        v = getattr(f, name, None)
        if isinstance(v, str):
            update[name] = resolve(base, v)
        elif isinstance(v, list):
            update[name] = [resolve(base, x) if isinstance(x, str) else x for x in v]
        elif isinstance(v, dict):
            update[name] = {k: resolve(base, x) if isinstance(x, str) else x for k, x in v.items()}
    return f.model_copy(update=update) if update else f


def resolve_spec_paths(spec, base: str) -> list[tuple]:
    """Resolve every path of the spec in place (see `resolve`, `resolve_target`); (field, message) for each
    `${VAR}` that is not set, which would otherwise become a literal folder name."""
    problems = []

    def check_vars(field, raw):
        problems.extend((field, f"${{{v}}} is not set in the environment ({raw})") for v in undefined_vars(raw))

    check_vars(("output", "path"), spec.output.path)
    spec.output.path = resolve_target(base, spec.output.path)
    if spec.output.work_dir is not None:
        check_vars(("output", "work_dir"), spec.output.work_dir)
        spec.output.work_dir = resolve_target(base, spec.output.work_dir)
    for i, s in enumerate(spec.sources):
        for j, p in enumerate(s.paths):
            check_vars(("sources", i, "paths", j), p)
        for j, f in enumerate(s.filters):
            for name, x in filter_files(f):
                check_vars(("sources", i, "filters", j, name), x)
        s.paths = [resolve(base, p) for p in s.paths]
        s.filters = [_resolve_filter_paths(base, f) for f in s.filters]
        if getattr(s, "paths_file", None):
            problems += expand_source(s, i, base)
    return problems


def canonicalize(spec):
    """Set the output and work dir to the real folders the checks looked at (and `run` uses)."""
    spec.output.path = canonical(spec.output.path)
    if spec.output.work_dir:
        spec.output.work_dir = canonical(spec.output.work_dir)


# ---------------------------------------------------------------- what a run may write to or delete

OUT, WORK = ("output", "path"), ("output", "work_dir")


def _protected(spec, spec_dir: str | None) -> dict[str, str]:
    """Folders no output may be or contain (`--overwrite` would delete them) and no work dir may hold."""
    protected = {"the home folder": os.path.expanduser("~"), "the working folder": os.getcwd()}
    if spec_dir or (spec.spec_path and os.path.exists(spec.spec_path)):
        protected["the spec's folder"] = spec_dir or os.path.dirname(os.path.abspath(spec.spec_path))
    return {what: os.path.realpath(folder) for what, folder in protected.items()}


def _show(raw: str, real: str) -> str:
    raw = os.path.normpath(raw)
    return raw if raw == real else f"{raw} (= {real})"


def _target_problems(field, what: str, raw: str, real: str, protected: dict, why: str) -> list[tuple]:
    if field == OUT and (os.path.dirname(real) == real or os.path.ismount(real)):
        return [(field, f"refusing {what} {_show(raw, real)}: it is a filesystem root or mount point")]
    for name, folder in protected.items():
        if is_within(folder, real):
            return [(field, f"refusing {what} {_show(raw, real)}: it is or contains {name} ({folder}), {why}")]
    return []


def _input_problem(x: str, what: str, out: str, work: str) -> tuple | None:
    """Why input `x` (a real or absolute path, or a URI) is in the way of what a run writes or deletes, or
    None. Where any of the three is a URI, they are compared by their normalized names (an object store has
    no links, and a local path and a URI never overlap), and there are no build siblings to collide with."""
    if is_within(x, out):
        return OUT, f"refusing output path {out}: it contains {what}, which --overwrite would delete"
    if is_within(out, x):
        return OUT, f"refusing output path {out}: it is inside {what}"
    if is_within(x, work) or is_within(work, x):
        return WORK, f"refusing work dir {work}: it is, contains or is inside {what}"
    if is_uri(x) or is_uri(out) or is_uri(work):
        return None
    parent, name = os.path.split(out)
    first = os.path.relpath(x, parent).split(os.sep)[0] if is_within(x, parent) else ""
    if first.startswith((f".{name}.tmp-", f".{name}.old-")) or first == f".{name}.lock":
        return OUT, (f"refusing output path {out}: {what} is under a name runs create and remove next to "
                     f"the output (.{name}.tmp-*, .{name}.old-*, .{name}.lock)")
    return None


def _inputs_problems(spec, out: str, work: str) -> list[tuple]:
    problems, refused = [], set()
    for i, source in enumerate(spec.sources):
        for f in source_files(source):
            what = f"the input {f} of sources[{i}] ({source.name})"
            remote = is_uri(f) or is_uri(out) or is_uri(work)
            for x in [f] if remote else dict.fromkeys((os.path.abspath(f), os.path.realpath(f))):
                p = _input_problem(x, what, out, work)
                if p and p[0] not in refused:   # one line per field: the first input in the way
                    refused.add(p[0])
                    problems.append(p)
            if remote:
                continue
            if not os.path.exists(f):
                problems.append((("sources", i, "paths"), f"cannot read input {f}: broken link or vanished"))
            elif not os.access(f, os.R_OK | (os.X_OK if os.path.isdir(f) else 0)):
                problems.append((("sources", i, "paths"), f"cannot read input {f}: permission denied"))
    return problems


def path_problems(spec, spec_dir: str | None = None, check_inputs: bool = True) -> list[tuple]:
    """What makes a spec's output, work dir or inputs unsafe or unusable, as (field path, message) pairs.

    The output folder is replaced wholesale by `--overwrite` (renamed away on commit, its build siblings
    removed), so it must not be a filesystem root or mount point, nor be or contain the home folder, the
    working folder or the spec's folder, nor hold, sit in, or share its build-folder names with an input.
    The work dir (stage folders are written and removed in it) must not be or contain those folders or an
    input, nor contain the output or sit in it. Inputs must be readable. The nearest existing folder of
    the output and of the work dir must be writable.
    """
    raw_out, raw_work = spec.output.path, spec.output.work_dir
    problems = [(field, msg) for field, raw, what in ((OUT, raw_out, "output path"), (WORK, raw_work, "work dir"))
                if raw is not None for msg in [uri_problem(raw, what)] if msg]
    if problems:
        return problems
    out = canonical(raw_out)
    work = canonical(raw_work) if raw_work else canonical(out + ".work")
    if is_remote(out) or is_remote(work):
        return _remote_target_problems(spec, spec_dir, out, work, raw_work, check_inputs)
    protected = _protected(spec, spec_dir)
    problems = _target_problems(OUT, "output path", raw_out, out, protected, "which --overwrite would delete")
    problems += _target_problems(WORK, "work dir", raw_work or work, work, protected,
                                 "where runs write and remove stage folders")
    if problems:
        return problems
    if is_within(work, out) or is_within(out, work):
        problems.append((WORK, f"work dir {work} and output path {out} must not contain each other"))
    if os.path.lexists(out) and not os.path.isdir(out):
        problems.append((OUT, f"refusing output path {out}: it exists and is not a folder"))
    if check_inputs:
        problems += _inputs_problems(spec, out, work)
    msg = writable_problem(out, "output", os.path.dirname(out))
    problems += [(OUT, msg)] if msg else []
    if raw_work or not msg:   # the default work dir sits next to the output: one line says it for both
        msg = writable_problem(work, "work dir", work)
        problems += [(WORK, msg)] if msg else []
    return problems


def _remote_target_problems(spec, spec_dir, out: str, work: str, raw_work, check_inputs: bool) -> list[tuple]:
    """`path_problems` when the output or the work dir is on a remote store: a local one gets the local
    checks, a remote one must be reachable (bucket there, credentials accepted, endpoint up)."""
    problems, protected = [], _protected(spec, spec_dir)
    for field, what, path in ((OUT, "output path", out), (WORK, "work dir", work)):
        if not is_remote(path):
            problems += _target_problems(field, what, path, path, protected, "which --overwrite would delete")
    if problems:
        return problems
    if is_within(work, out) or is_within(out, work):
        problems.append((WORK, f"work dir {work} and output path {out} must not contain each other"))
    if check_inputs:
        problems += _inputs_problems(spec, out, work)
    seen = set()
    for field, what, path in ((OUT, "output", out), (WORK, "work dir", work)):
        if is_remote(path):
            bucket = storage.split(path)[:2]
            msg = None if bucket in seen else storage.reachable_problem(path, what)
            seen.add(bucket)
            problems += [(field, f"cannot write {msg}")] if msg else []
        elif field == WORK and (raw_work or not problems):
            msg = writable_problem(path, what, path)
            problems += [(field, msg)] if msg else []
        elif field == OUT:
            msg = writable_problem(path, "output", os.path.dirname(path))
            problems += [(field, msg)] if msg else []
    return problems


def missing_files(spec) -> list[tuple]:
    """Inputs and filter files that do not exist or cannot be listed (a remote one: its store must answer)."""
    problems = []
    for i, s in enumerate(spec.sources):
        for j, f in enumerate(s.filters):
            for name, x in filter_files(f):
                msg = remote_filter_file_problem(x, f"{f.kind} file") if is_uri(x) else \
                    None if glob.glob(x) else f"no such file: {x}"
                problems += [(("sources", i, "filters", j, name), msg)] if msg else []
        listed = bool(getattr(s, "paths_file", None))
        checked = set()   # (scheme, bucket): one reachability request per store
        for j, p in enumerate(s.paths):
            field = ("sources", i, "paths_file") if listed else ("sources", i, "paths", j)
            msg = remote_input_problem(p, listed, checked) if is_uri(p) else \
                None if glob.glob(p) else f"no such file: {p}"
            problems += [(field, msg)] if msg else []
            if msg and listed:
                break
    return problems
