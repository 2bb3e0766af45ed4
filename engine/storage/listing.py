"""Glob patterns on any store. Locally `glob.glob`; on an object store, one recursive listing under the
pattern's fixed prefix (the part before the first wildcard), matched as `glob` would (fsspec's
`glob_translate`): `*` and `?` never cross a `/`, and `**` matches any number of folders."""
from __future__ import annotations

import glob as _glob
import re

from engine.storage.filesystems import filesystem, local_path
from engine.storage.uri import is_remote, join, normalize


def has_magic(p: str) -> bool:
    return _glob.has_magic(p)


def fixed_prefix(pattern: str) -> str:
    """The folder a pattern's matches are under: everything up to the last `/` before the first wildcard."""
    head = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    return head if not has_magic(pattern) else head[:head.rfind("/")] if "/" in head else ""


def _segment_regex(pattern: str) -> re.Pattern:
    """`pattern` (relative, `/`-separated) as a regex matching what `glob.glob(recursive=True)` would: fsspec's
    translation of Python's glob rules."""
    from fsspec.utils import glob_translate

    return re.compile(glob_translate(pattern))


def glob(pattern: str) -> list[str]:
    """Sorted files and folders matching `pattern` (a local glob, or a URI with wildcards in its key)."""
    if not is_remote(pattern):
        return sorted(_glob.glob(local_path(pattern), recursive=True))
    pattern = normalize(pattern)
    if not has_magic(pattern):
        from engine.storage.files import exists
        return [pattern] if exists(pattern) else []
    from pyarrow.fs import FileSelector

    prefix = fixed_prefix(pattern)
    fs, path = filesystem(prefix)
    regex = _segment_regex(pattern[len(prefix) + 1:])
    found = set()
    for fi in fs.get_file_info(FileSelector(path, recursive=True, allow_not_found=True)):
        rel = fi.path[len(path.rstrip("/")) + 1:]
        if regex.match(rel):
            found.add(join(prefix, rel))
    return sorted(found)
