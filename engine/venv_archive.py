"""`tamis package --venv`: tamis' runtime dependencies as a relocatable tar.gz for `spark-submit --archives`.

A packed virtualenv is not relocatable: `bin/python` links to the build machine's interpreter and console
scripts carry its path. So the archive holds no interpreter and no scripts, only `site-packages/`: the
installed files (each distribution's RECORD, copied as installed: no network, the exact versions) of the
closure of tamis' `[project] dependencies`, walked through `Requires-Dist`. Any CPython of the same minor
version runs it with `PYTHONPATH=<unpacked>/site-packages` (binary wheels are cpXY + manylinux).

Left out: pyspark and what it requires, Py4J (Spark ships them: executors' Python workers import them from the Spark
installation's python/lib zips, and spark-submit puts the same zips on the driver's path), the dev/bench
extras, bytecode, and packages' `tests/` folders (never imported at run time).
"""
from __future__ import annotations

import gzip
import io
import json
import os
import re
import sys
import tarfile
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = "site-packages"
MANIFEST = "tamis-venv.json"
MTIME = 1577836800          # 2020-01-01: fixed, so the same environment gives the same archive bytes


@dataclass
class Packed:
    path: str
    dists: dict[str, str]                                     # name -> version
    files: int
    bytes_in: int                                             # uncompressed size of the packed files
    build_paths: dict[str, list[str]] = field(default_factory=dict)   # archive member -> build paths it names


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def provided_by_spark() -> frozenset[str]:
    """pyspark and its own (non-extra) requirements, i.e. Py4J: Spark ships both in its python/lib zips."""
    reqs = [r for r in metadata.requires("pyspark") or [] if "extra ==" not in r]
    return frozenset({"pyspark"} | {_canon(re.split(r"[\s;<>=!~\[(]", r, maxsplit=1)[0]) for r in reqs})


def project_requirements(root: Path = ROOT) -> list[str]:
    """tamis' `[project] dependencies`: from this checkout's pyproject.toml, else the installed metadata."""
    pyproject = root / "pyproject.toml"
    if pyproject.exists():
        with open(pyproject, "rb") as f:
            return list(tomllib.load(f)["project"]["dependencies"])
    return [r for r in metadata.requires("tamis") or [] if "extra ==" not in r]


def runtime_closure(requirements: list[str], exclude=None) -> list[metadata.Distribution]:
    """The installed distributions `requirements` need, transitively, sorted by name.

    An excluded name (default: what Spark provides) is not entered, so its own dependencies come in only if
    something else needs them. Markers are evaluated for this interpreter, with the extras each requirement
    asked for.
    """
    exclude = provided_by_spark() if exclude is None else exclude
    from packaging.requirements import Requirement     # a dependency of matplotlib, so always installed

    found: dict[str, set[str]] = {}
    todo = [(Requirement(r), frozenset()) for r in requirements]
    while todo:
        req, extras = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
            continue
        name = _canon(req.name)
        if name in exclude or (name in found and set(req.extras) <= found[name]):
            continue
        found[name] = found.get(name, set()) | set(req.extras)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise RuntimeError(f"{req.name} is required but not installed in {sys.prefix}") from None
        todo += [(Requirement(r), frozenset(found[name])) for r in dist.requires or []]
    return sorted((metadata.distribution(n) for n in found), key=lambda d: _canon(d.metadata["Name"]))


def _skip(rel: Path) -> bool:
    return (rel.parts[0] == ".."                      # console scripts, data files: outside site-packages
            or "__pycache__" in rel.parts or rel.suffix in (".pyc", ".pyo")
            or "tests" in rel.parts[:-1])


def dist_files(dist: metadata.Distribution) -> list[tuple[Path, str]]:
    """(installed file, path under site-packages) for each file of `dist` worth shipping."""
    if dist.files is None:
        raise RuntimeError(f"{dist.metadata['Name']} has no RECORD (not installed by pip): cannot pack it")
    out = []
    for f in dist.files:
        rel = Path(f)
        src = Path(dist.locate_file(f))
        if not _skip(rel) and src.is_file():
            out.append((src, rel.as_posix()))
    return out


def build_paths() -> list[bytes]:
    """Absolute paths of this build machine that must not end up in an archive meant for other machines."""
    paths = {sys.prefix, os.path.realpath(sys.prefix), sys.base_prefix, os.path.realpath(sys.base_prefix),
             str(ROOT)}
    return sorted({p.encode() for p in paths if len(p) > 1}, key=len, reverse=True)


def _add(t: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), MTIME, mode
    t.addfile(info, io.BytesIO(data))


def manifest(dists: list[metadata.Distribution]) -> dict:
    v = sys.version_info
    return {"python": f"{v.major}.{v.minor}", "implementation": sys.implementation.name,
            "platform": sys.platform, "excluded": sorted(provided_by_spark()),
            "dists": {d.metadata["Name"]: d.version for d in dists}}


def build(dest: str, requirements: list[str] | None = None, compresslevel: int = 1) -> Packed:
    """Write the archive to `dest` (`site-packages/...` and `tamis-venv.json`), sorted, with fixed times.

    Every file is searched for this machine's venv, interpreter and checkout paths while it is read: a
    hit is reported in `build_paths` (pip writes none into wheels' files; a package built from source here
    could carry one, e.g. in an RPATH). Level 1 gzip: level 6 is 10% smaller and 3x slower (bench/README.md).
    """
    dists = runtime_closure(project_requirements() if requirements is None else requirements)
    members = sorted({rel: src for d in dists for src, rel in dist_files(d)}.items())
    needles = build_paths()
    packed = Packed(dest, manifest(dists)["dists"], len(members), 0)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    tmp = dest + ".part"
    with open(tmp, "wb") as raw, gzip.GzipFile("", "wb", compresslevel, raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as t:
        for rel, src in members:
            data = src.read_bytes()
            hits = [n.decode() for n in needles if n in data]
            if hits:
                packed.build_paths[f"{SITE}/{rel}"] = hits
            packed.bytes_in += len(data)
            _add(t, f"{SITE}/{rel}", data, 0o755 if os.access(src, os.X_OK) else 0o644)
        _add(t, MANIFEST, json.dumps(manifest(dists), indent=1, sort_keys=True).encode())
    os.replace(tmp, dest)
    return packed
