"""What each stored stage depends on, as short digests: a stage is reused only under the same key.

- `score` (one stage per source): the source's reader options (every field but the mix-only ones, its input
  list and its filters), the score-side parameters of its filters (`Filter.score_params`: thresholds and
  `mode` are decide-side and left out), the files those filters read (word lists, models, benchmarks: path,
  size, mtime), the tokenizer, and the code that computes the signals: the readers, the chain and the
  modules of the filters the source uses, with every project module they import (so editing gopher.py
  recomputes the sources that use gopher, and only those). The inputs are keyed per input path (`part_key`),
  so adding a file computes that file only.
- `dedup`: every source's score key and the content of its parts (sha256), the dedup parameters that shape clusters (the keep
  policy only picks survivors, at decide time) and the dedup code.

Decisions are never stored: `decide` reruns over the stored signals every run (engine/spark/decide.py).
No pyspark here.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
from pathlib import Path

from engine import storage
from engine.plan.manifest import TAMIS_VERSION
from engine.spec import MixSpec, SourceBase

ROOT = Path(__file__).resolve().parent.parent
# what every source's signals go through, whatever its filters
SCORE_CODE = ("engine/readers/**/*.py", "engine/annotate.py", "engine/spark/score.py", "engine/score_parts.py",
              "engine/extract.py", "engine/tokenize.py", "engine/schema.py", "filters/base.py",
              "filters/chain.py", "filters/registry.py", "filters/text/**/*",
              # the extractor's sources (its compiled module is built from the .pyx/.pxi)
              "engine/native/*.py", "engine/native/*.pyx", "engine/native/*.pxi")
DEDUP_CODE = ("engine/spark/dedup.py", "engine/spark/components.py", "engine/spark/ids.py", "engine/dedup/**/*.py")
# fields that pick a source's files: they key the parts (`part_key`), not the source
INPUT_FIELDS = {"paths", "paths_file", "prefix", "sample_files"}
DEDUP_DECIDE = {"keep", "keep_signal", "keep_sources"}


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@functools.cache
def _project_files(root: Path) -> dict[str, object]:
    """{path relative to the project (posix): how to read it} of every file under engine/ and filters/: the
    source tree, or the zip the code runs from (`tamis package`, shipped with spark-submit --py-files)."""
    if root.is_file():                       # engine and filters imported from tamis.zip
        import zipfile

        with zipfile.ZipFile(root) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
        return {n: functools.partial(_zip_read, root, n) for n in names if n.startswith(("engine/", "filters/"))}
    out = {}
    for pkg in ("engine", "filters"):
        for f in (root / pkg).rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts:
                out[f.relative_to(root).as_posix()] = f.read_bytes
    return out


def _zip_read(root: Path, name: str) -> bytes:
    import zipfile

    with zipfile.ZipFile(root) as z:
        return z.read(name)


def _read(rel: str) -> bytes:
    """A project file; a filter module outside engine/ and filters/ (a test's, a plugin's) from disk."""
    files = _project_files(ROOT)
    return files[rel]() if rel in files else (ROOT / rel).read_bytes()


def _matches(rel: str, pattern: str) -> bool:
    """`pattern` as Path.glob reads it (`**/`: any folders, none included; `*`: within one name)."""
    from fsspec.utils import glob_translate

    return re.fullmatch(glob_translate(pattern), rel) is not None


def _project_file(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] not in ("engine", "filters"):
        return None
    files = _project_files(ROOT)
    for candidate in ("/".join(parts) + ".py", "/".join(parts) + "/__init__.py"):
        if candidate in files:
            return candidate
    return None


@functools.cache
def _imports(rel: str) -> tuple[str, ...]:
    """The project modules `rel` imports (anywhere in it, lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(_read(rel))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]   # `from pkg import module`
        found |= {f for f in map(_project_file, names) if f is not None}
    return tuple(sorted(found))


def module_closure(files) -> list[str]:
    """`files` (paths relative to the project) and every project module they import, transitively."""
    seen, todo = set(), list(files)
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        if f.endswith(".py"):
            todo.extend(_imports(f))
    return sorted(seen)


def _fingerprint(files) -> str:
    h = hashlib.sha256()
    for rel in sorted(set(files)):
        if not rel.endswith(".pyc"):
            h.update(rel.encode() + b"\0" + _read(rel))
    return h.hexdigest()[:16]


def code_fingerprint(patterns=SCORE_CODE, modules=()) -> str:
    """A hash of the code (and data files) matched by `patterns`, plus `modules` and what they import."""
    files = {rel for rel in _project_files(ROOT) for pattern in patterns if _matches(rel, pattern)}
    return _fingerprint(files | set(module_closure(modules)))


def filter_modules(filters) -> list[str]:
    """The modules (paths relative to the project) that define `filters`' classes."""
    import inspect

    def rel(p: Path) -> str:
        return p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else p.as_posix()

    return sorted({rel(Path(inspect.getsourcefile(type(f)))) for f in filters})


def mix_only_fields() -> set[str]:
    """Source fields that only steer the mix (declared `json_schema_extra={"mix_only": True}` in the spec
    models): changing them must not recompute any stored stage."""
    return {name for name, f in SourceBase.model_fields.items() if (f.json_schema_extra or {}).get("mix_only")}


def _filter_files(f) -> list:
    """(path, size, mtime) of the files a filter names: their content shapes its signals."""
    from engine.spec.paths import filter_files

    out = []
    for _, pattern in filter_files(f):
        for p in storage.glob(pattern) if storage.has_magic(pattern) else [pattern]:   # a benchmark glob: each file
            found = storage.info(p)
            out.append([p, found.size, found.mtime] if found else [p, None, None])
    return out


def score_key(spec: MixSpec, source) -> str:
    """The key of `source`'s signals (see the module docstring)."""
    from engine.annotate import source_filters

    filters = source_filters(source)
    reader = source.model_dump(exclude=mix_only_fields() | INPUT_FIELDS | {"filters"}, mode="json")
    return digest({"v": TAMIS_VERSION, "tokenizer": spec.tokenizer, "reader": reader,
                   "filters": [f.score_params() for f in filters],
                   "filter_files": [_filter_files(f) for f in filters],
                   "code": code_fingerprint(SCORE_CODE, filter_modules(filters))})


def part_key(resolved, path: str, files) -> str:
    """The key of one input path's part: its records' keys depend on the pattern it matched
    (engine.readers.common.relative_key), its content on the files under it (path, size, mtime)."""
    from engine.readers.common import relative_key

    return digest({"path": path, "key": relative_key(path, resolved.source),
                   "files": [[f.path, f.size, f.mtime] for f in files]})


def dedup_key(spec: MixSpec, score_keys: dict[str, str], parts: dict[str, list[str]]) -> str:
    """The key of the dedup clusters: every source's signals (score key, and each part's content:
    engine.score_parts.content_ids), the cluster-shaping parameters and the dedup code."""
    params = spec.dedup.model_dump(mode="json", exclude=DEDUP_DECIDE) if spec.dedup else None
    return digest({"v": TAMIS_VERSION, "sources": [[name, score_keys[name], parts[name]] for name in score_keys],
                   "dedup": params, "code": code_fingerprint(DEDUP_CODE)})
