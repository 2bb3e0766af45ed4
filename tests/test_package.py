"""`tamis package --venv`: only tamis' runtime dependencies, relocatable to another interpreter path.

The end-to-end test unpacks the archive in another folder and runs the demo mix with another Python
(Debian's /usr/bin/python3.11, not the venv's pyenv 3.11): dependencies from the archive, tamis from
tamis.zip, pyspark from a Spark installation that is not the venv (the driver gets pyspark the way
spark-submit gives it: `$SPARK_HOME/python/lib/pyspark.zip` and py4j's zip on PYTHONPATH). The child checks
that nothing it imported came from a virtualenv or this checkout; its shards must equal a normal run's.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

from engine import venv_archive
from tests.conftest import ROOT

OTHER_PYTHON = "/usr/bin/python3.11"      # not the venv's interpreter (pyenv 3.11.7): another path, another build
VENV = Path(sys.prefix)
# what the packed run must not touch: this venv (and the one it links to), the interpreter it was made from,
# and this checkout (tamis comes from tamis.zip)
FORBIDDEN = sorted({str(VENV), os.path.realpath(VENV), str(ROOT / ".venv"), os.path.realpath(ROOT / ".venv"),
                    sys.base_prefix, str(ROOT)})


def _under(path: str, prefixes) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


# ---------------------------------------------------------------- fast: what goes in


def test_closure_is_runtime_dependencies_without_spark_or_extras():
    names = {venv_archive._canon(d.metadata["Name"]) for d in
             venv_archive.runtime_closure(venv_archive.project_requirements())}
    assert {"numpy", "pyarrow", "pandas", "duckdb", "pydantic", "pydantic-core", "click", "datatrove",
            "resiliparse", "scipy", "annotated-types"} <= names            # direct and transitive
    assert not names & {"pyspark", "py4j"}                                # Spark ships them
    assert not names & {"pytest", "pytest-timeout", "nbclient", "ipykernel", "spacy", "psutil", "py-spy"}
    assert "tamis" not in names                                           # tamis is tamis.zip
    # an excluded name's own dependencies come in only when something else needs them
    assert venv_archive.runtime_closure(["pyspark"]) == []
    kept = venv_archive.runtime_closure(["pyspark", "py4j"], exclude={"pyspark"})
    assert [venv_archive._canon(d.metadata["Name"]) for d in kept] == ["py4j"]


def test_small_archive_is_deterministic_relocatable_and_names_no_build_path(tmp_path):
    a = venv_archive.build(str(tmp_path / "a" / "env.tar.gz"), requirements=["click", "pyyaml", "rich"])
    b = venv_archive.build(str(tmp_path / "b" / "env.tar.gz"), requirements=["click", "pyyaml", "rich"])
    assert Path(a.path).read_bytes() == Path(b.path).read_bytes()         # same environment, same bytes
    assert {venv_archive._canon(n) for n in a.dists} >= {"click", "pyyaml", "rich", "pygments"}
    assert a.build_paths == {}
    with tarfile.open(a.path) as t:
        members = t.getmembers()
        names = [m.name for m in members]
        assert venv_archive.MANIFEST in names
        assert all(n.startswith("site-packages/") for n in names if n != venv_archive.MANIFEST)
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or ".." in n.split("/")]
        assert any(n.startswith("site-packages/yaml/_yaml.cpython-311") for n in names)   # a binary module
        for m in members:
            data = t.extractfile(m).read()
            assert not [p for p in FORBIDDEN if p.encode() in data], m.name
        assert json.loads(t.extractfile(venv_archive.MANIFEST).read())["python"] == "3.11"
        t.extractall(tmp_path / "elsewhere")
    site = tmp_path / "elsewhere" / "site-packages"
    code = "import click, yaml, rich, sys; print(yaml.__file__, yaml.__with_libyaml__, sys.executable)"
    r = subprocess.run([OTHER_PYTHON, "-S", "-c", code], env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    path, libyaml, exe = r.stdout.split()
    assert path.startswith(str(site)) and libyaml == "True" and exe == OTHER_PYTHON


# ---------------------------------------------------------------- slow: the demo mix elsewhere


def packed(base: Path) -> dict:
    """`tamis package --venv` into `base/dist`, unpacked into `base/elsewhere/environment`; built once per folder.

    Every member is searched for the forbidden paths while it is unpacked.
    """
    dist, env = base / "dist", base / "elsewhere" / "environment"
    if not (env / "site-packages").is_dir():
        r = subprocess.run([sys.executable, "-m", "engine.cli", "package", "-o", str(dist), "--venv"], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "MB unpacked" in r.stdout and "warning" not in r.stdout, r.stdout
        with tarfile.open(dist / "tamis-venv.tar.gz") as t:
            for m in t:
                if m.isfile():
                    data = t.extractfile(m).read()
                    assert not [p for p in FORBIDDEN if p.encode() in data], m.name
            t.extractall(env)
    return {"zip": dist / "tamis.zip", "archive": dist / "tamis-venv.tar.gz", "site": env / "site-packages"}


def spark_home_elsewhere(base: Path) -> Path:
    """A Spark installation outside the venv, laid out like Spark's own: its Python side as python/lib zips."""
    import pyspark

    src, home = Path(pyspark.__file__).parent, base / "spark"
    if not home.exists():
        (home / "python").mkdir(parents=True)
        shutil.copytree(src / "bin", home / "bin")
        shutil.copytree(src / "python" / "lib", home / "python" / "lib")
        (home / "jars").symlink_to(src / "jars")        # the JVM's classes only: no Python is imported from here
    return home


# Runs in the child: checks its own sys.path, then runs tamis, then records every imported module's file.
CHILD = """
import atexit, json, os, sys
forbidden = json.loads(os.environ["FORBIDDEN"])
bad = [p for p in sys.path if any(p == f or p.startswith(f.rstrip("/") + "/") for f in forbidden)]
assert not bad, bad
def report():
    files = {n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())}
    json.dump({"executable": sys.executable, "path": sys.path,
               "files": {n: f for n, f in files.items() if f}}, open(os.environ["REPORT"], "w"))
atexit.register(report)
from engine.cli import main
main(sys.argv[1:], prog_name="tamis")
"""


def shared_packed(tmp_path_factory) -> tuple[Path, dict]:
    """One archive per test session, for this module and tests/test_cluster.py."""
    base = tmp_path_factory.getbasetemp() / "tamis-packed"
    base.mkdir(exist_ok=True)
    no_numpy = subprocess.run([OTHER_PYTHON, "-c", "import numpy"], capture_output=True, timeout=60)
    assert no_numpy.returncode != 0, "the other Python must not have the dependencies by itself"
    return base, packed(base)


@pytest.mark.spark
@pytest.mark.slow
def test_packed_dependencies_run_the_demo_mix_with_another_python(tmp_path_factory, spark, monkeypatch):
    from engine.run import run
    from engine.spec import load_spec
    from tests.test_cluster import run_cli, shard_hashes

    shared, pk = shared_packed(tmp_path_factory)
    home, base = spark_home_elsewhere(shared), tmp_path_factory.mktemp("packed-demo")
    here, there = base / "here", base / "there"
    (here / "mixes").mkdir(parents=True)
    shutil.copy(ROOT / "mixes" / "demo.yaml", here / "mixes")
    subprocess.run([sys.executable, str(ROOT / "mixes" / "sample" / "prepare.py"), str(here / "mixes" / "sample" /
                    "data")], check=True, capture_output=True, timeout=300)
    shutil.copytree(here, there)
    stdlib = sysconfig.get_paths()["stdlib"]        # the code source's input: the same files in both runs
    monkeypatch.setenv("PYTHON_STDLIB", stdlib)
    run(load_spec(str(here / "mixes" / "demo.yaml")))       # the reference: this venv, this session

    lib = home / "python" / "lib"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(base), "LANG": "C.UTF-8", "SPARK_HOME": str(home),
           "PYTHON_STDLIB": stdlib, "FORBIDDEN": json.dumps(FORBIDDEN), "REPORT": str(base / "report.json"),
           "PYTHONPATH": os.pathsep.join(map(str, [pk["site"], pk["zip"], *sorted(lib.glob("*.zip"))]))}
    env.update({k: v for k, v in os.environ.items() if k in ("JAVA_HOME", "TAMIS_SHARED_DATA")})
    r = run_cli([OTHER_PYTHON, "-S", "-c", CHILD, "run", "mixes/demo.yaml"], env=env, cwd=there)
    assert r.returncode == 0, r.stderr[-3000:]

    rep = json.loads((base / "report.json").read_text())
    assert rep["executable"] == OTHER_PYTHON
    assert not [f for f in rep["files"].values() if _under(f, FORBIDDEN)]
    assert rep["files"]["numpy"].startswith(str(pk["site"]))
    assert rep["files"]["pyarrow"].startswith(str(pk["site"]))
    assert rep["files"]["engine"].startswith(str(pk["zip"]))
    assert rep["files"]["pyspark"].startswith(str(lib / "pyspark.zip"))
    ref = shard_hashes(here / "out" / "demo")
    assert len(ref) >= 2 and shard_hashes(there / "out" / "demo") == ref
