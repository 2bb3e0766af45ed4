"""Common Crawl path lists: a source given as `paths_file:` (a crawl's `warc.paths.gz` / `wet.paths.gz`, or
plain text; one key per line) plus `prefix:` (e.g. `s3://commoncrawl/`), instead of file patterns.

The keys become the source's `paths` when the spec is loaded, so the stage keys, the tasks and the manifest
see the files themselves. `sample_files: N` keeps the N keys with the smallest sha256 of the key: a subset
that depends on the keys only, not on the list's order or on a seed, and that grows by adding files when N
grows (the N files of a smaller sample stay in a larger one).
"""
from __future__ import annotations

import gzip
import hashlib
import io

from engine import storage

MAX_KEYS = 10_000_000     # a path list is a few MB; this bounds memory on a file that is not one


def read_keys(paths_file: str) -> list[str]:
    """The non-empty lines of a path list (gzip by its magic bytes, else plain text), in file order."""
    with storage.open_input_stream(paths_file) as raw:
        f = gzip.GzipFile(fileobj=raw, mode="rb") if raw.peek(2)[:2] == b"\x1f\x8b" else raw
        keys = []
        for line in io.TextIOWrapper(f, encoding="utf-8"):
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(line)
                if len(keys) > MAX_KEYS:
                    raise ValueError(f"more than {MAX_KEYS:,} lines: not a path list")
        return keys


def sample_keys(keys: list[str], n: int | None) -> list[str]:
    """`n` keys chosen by the sha256 of each key (all of them when `n` is None), in sorted order."""
    keys = sorted(dict.fromkeys(keys))
    if n is not None and n < len(keys):
        keys = sorted(sorted(keys, key=lambda k: hashlib.sha256(k.encode()).hexdigest())[:n])
    return keys


def key_path(prefix: str | None, key: str) -> str | None:
    """Where `key` lives: joined to `prefix`; a key that is itself a URI or an absolute path as it is; None
    for a relative key without a prefix."""
    if storage.is_uri(key) or key.startswith("/"):
        return storage.normalize(key)
    if prefix is None:
        return None
    return storage.join(storage.normalize(prefix), key) if storage.is_uri(prefix) else f"{prefix.rstrip('/')}/{key}"


def expand_path_list(source) -> list[str]:
    """The files a `paths_file` source names (see the module doc). Raises OSError / ValueError (one line)."""
    keys = sample_keys(read_keys(source.paths_file), source.sample_files)
    out = []
    for k in keys:
        p = key_path(source.prefix, k)
        if p is None:
            raise ValueError(f"{source.paths_file}: the key {k!r} is relative: give `prefix` (e.g. s3://commoncrawl/)")
        out.append(p)
    if not out:
        raise ValueError(f"{source.paths_file}: the path list is empty")
    return out


def expand_source(s, i: int, base: str) -> list[tuple]:
    """Set source `s` (sources[i])'s `paths` from its path list, resolved against `base` (the spec's folder);
    (field path, message) for what stops it."""
    from engine.spec.paths import resolve, undefined_vars, uri_problem

    field = ("sources", i, "paths_file")
    if undefined_vars(s.paths_file) or undefined_vars(s.prefix or ""):
        return [(field, f"${{{v}}} is not set in the environment ({s.paths_file})")
                for v in undefined_vars(s.paths_file) + undefined_vars(s.prefix or "")]
    s.paths_file = resolve(base, s.paths_file)
    if s.prefix is not None:
        s.prefix = resolve(base, s.prefix).rstrip("/") + "/"
    if problem := uri_problem(s.paths_file, "paths_file"):
        return [(field, problem)]
    try:
        s.paths = expand_path_list(s)
    except FileNotFoundError:
        return [(field, storage.reachable_problem(s.paths_file, "paths_file") or f"no such file: {s.paths_file}")]
    except (OSError, ValueError, UnicodeDecodeError) as e:
        return [(field, f"cannot read paths_file {storage.describe(e, s.paths_file)}")]
    return []
