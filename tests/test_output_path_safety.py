"""No run writes or deletes outside its output and work dir, and none touches an input.

The attack: `output: {path: "<dir>/x://../data"}` next to inputs in `<dir>/data` validated, and `run --overwrite`
replaced the inputs with the output (the safety checks skipped any path with `://` in it, while the OS read
`x:` + `..` as `<dir>`). Now one rule says what a URI is (engine/spec/paths.py), and every check applies to the real
folders a run creates, renames and deletes. A seeded generator of path forms (schemes, `..`, symlinks, `~`,
`${VAR}`, `://` anywhere, trailing slashes, unicode) checks that through `validate`, and two real
`tamis run --overwrite` runs on the nastiest accepted forms show it on disk.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import stat

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.spec import SpecError, load_spec


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _lines(r) -> list[str]:
    return [l for l in r.output.splitlines() if l.strip()]


def _spec(folder, output: str, inputs: list[str], work: str | None = None, name: str = "mix.yaml"):
    f = folder / name
    work_key = f", work_dir: {json.dumps(work, ensure_ascii=False)}" if work is not None else ""
    sources = "".join(f"  - {{name: s{i}, kind: jsonl, paths: [{json.dumps(p, ensure_ascii=False)}]}}\n"
                      for i, p in enumerate(inputs))
    f.write_text(f"name: t\noutput: {{path: {json.dumps(output, ensure_ascii=False)}{work_key}}}\nsources:\n{sources}",
                 encoding="utf-8")
    return f


def _snapshot(root: str) -> dict[str, str]:
    """Every entry under root: file -> sha256, folder -> 'dir', symlink -> its target."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            if os.path.islink(p):
                out[p] = "link:" + os.readlink(p)
            elif os.path.isdir(p):
                out[p] = "dir"
            else:
                with open(p, "rb") as fh:
                    out[p] = hashlib.sha256(fh.read()).hexdigest()
    return out


# ---------------------------------------------------------------- the reported attack


def test_a_scheme_inside_a_local_output_path_never_deletes_the_inputs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text('{"text": "precious input"}\n')
    f = _spec(tmp_path, f"{tmp_path}/x://../data", [f"{data}/*.jsonl"])
    before = _snapshot(str(tmp_path))
    for cmd in (["validate"], ["plan"], ["run", "--overwrite"]):
        r = CliRunner().invoke(main, [*cmd, str(f)])
        assert r.exit_code == 2 and len(_lines(r)) == 1, (cmd, r.output)
        assert ":2: output.path:" in r.output and "`x://` is not at the start" in r.output, r.output
    assert _snapshot(str(tmp_path)) == before            # inputs byte-identical, no `x:` folder made

    from engine.output import UnsafePath, check_output      # a spec built in code meets the same rule
    spec = load_spec(str(_spec(tmp_path, "out", [f"{data}/*.jsonl"], name="ok.yaml")))
    spec.output.path = f"{tmp_path}/x://../data"
    with pytest.raises(UnsafePath, match="is not at the start"):
        check_output(spec, overwrite=True)
    spec.output.path = f"{tmp_path}/elsewhere/../data/"  # `..` resolved before the checks, not after
    with pytest.raises(UnsafePath, match="contains the input"):
        check_output(spec, overwrite=True)
    assert (data / "a.jsonl").read_text() == '{"text": "precious input"}\n'
    assert sorted(os.listdir(tmp_path)) == ["data", "mix.yaml", "ok.yaml"]


@pytest.mark.parametrize("field", ["path", "work_dir"])
@pytest.mark.parametrize("uri,expected", [
    # object stores are outputs since issue 15; a whole bucket is not, nor a store that does not answer
    ("s3://bucket/", "it is a whole bucket, which --overwrite would empty"),
    ("gs://bucket", "it is a whole bucket, which --overwrite would empty"),
    ("s3a://bucket", " s3://bucket: it is a whole bucket"),   # s3a:// is s3://
    ("s3://bucket/mix", "cannot connect to the storage endpoint"),   # no server at that endpoint
    ("nosuchscheme://bucket/mix", "nosuchscheme://"),
    ("file://otherhost/mix", "file:///absolute/path (no host)"),
])
def test_remote_outputs_that_cannot_be_used_are_refused(tmp_path, field, uri, expected, monkeypatch):
    from engine.storage import configure
    from engine.storage.filesystems import _filesystem

    # an endpoint where nothing listens (the test S3 server may be up on the session's own endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    configure(None)
    _filesystem.cache_clear()
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    out, work = (uri, None) if field == "path" else ("out", uri)
    f = _spec(tmp_path, out, ["a.jsonl"], work=work)
    for cmd in ("validate", "run"):
        r = CliRunner().invoke(main, [cmd, str(f)])
        assert r.exit_code == 2 and len(_lines(r)) == 1, r.output
        assert f":2: output.{field}:" in r.output and expected in r.output, r.output


def test_file_uris_are_local_paths_with_every_check(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text('{"text": "x"}\n')
    f = _spec(tmp_path, f"file://{tmp_path}/out/", [f"file://{data}/*.jsonl"])
    spec = load_spec(str(f))
    assert spec.output.path == str(tmp_path / "out") and spec.sources[0].paths == [f"{data}/*.jsonl"]
    f = _spec(tmp_path, f"file://localhost{data}", [f"{data}/*.jsonl"])
    r = CliRunner().invoke(main, ["run", "--overwrite", str(f)])
    assert r.exit_code == 2 and "contains the input" in r.output, r.output
    assert (data / "a.jsonl").exists()


def test_an_unset_variable_in_the_output_path_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("TAMIS_UNDEFINED_VAR", raising=False)
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    for out, work, field in (("${TAMIS_UNDEFINED_VAR}/out", None, "path"),
                             ("out", "${TAMIS_UNDEFINED_VAR}/work", "work_dir")):
        f = _spec(tmp_path, out, ["a.jsonl"], work=work)
        for cmd in ("validate", "run"):
            r = CliRunner().invoke(main, [cmd, str(f)])
            assert r.exit_code == 2 and len(_lines(r)) == 1, r.output
            assert f":2: output.{field}: ${{TAMIS_UNDEFINED_VAR}} is not set in the environment" in r.output
    assert sorted(os.listdir(tmp_path)) == ["a.jsonl", "mix.yaml"]   # no literal `${...}` folder


def test_a_read_only_work_dir_is_a_user_error(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    try:
        f = _spec(tmp_path, "out", ["a.jsonl"], work=str(ro / "work"))
        for cmd in ("validate", "plan", "run"):   # was: validate ok, then `run` exit 1
            r = CliRunner().invoke(main, [cmd, str(f)])
            assert r.exit_code == 2 and len(_lines(r)) == 1, r.output
            assert ":2: output.work_dir: cannot write work dir" in r.output and str(ro) in r.output, r.output
        assert os.listdir(ro) == [] and not (tmp_path / "out").exists()
    finally:
        ro.chmod(0o755)


def test_an_input_in_a_folder_that_runs_clear_is_refused(tmp_path):
    # `.<output>.tmp-*` and `.<output>.old-*` next to the output are removed as leftovers of killed runs
    keep = tmp_path / ".out.tmp-keep"
    keep.mkdir()
    (keep / "a.jsonl").write_text('{"text": "x"}\n')
    r = CliRunner().invoke(main, ["run", str(_spec(tmp_path, "out", [f"{keep}/a.jsonl"]))])
    assert r.exit_code == 2 and "is under a name runs create and remove next to the output" in r.output, r.output
    assert (keep / "a.jsonl").exists()


# ---------------------------------------------------------------- generated path forms


@pytest.fixture
def world(tmp_path, monkeypatch):
    """Inputs (one through a symlink, one in a dot folder), a spec folder with a link that climbs to the root,
    and HOME and the working folder inside tmp_path."""
    root = (tmp_path / "w").resolve()
    data, specs, home, cwd = root / "data", root / "specs", root / "home", root / "cwd"
    for d in (data / "sub", specs, home, cwd, root / "ünï", root / ".out.tmp-keep"):
        d.mkdir(parents=True)
    (data / "a.jsonl").write_text('{"id": "a", "text": "alpha beta gamma"}\n')
    (data / "sub" / "b.jsonl").write_text('{"id": "b", "text": "delta epsilon"}\n')
    (root / ".out.tmp-keep" / "c.jsonl").write_text('{"id": "c", "text": "zeta eta"}\n')
    os.symlink(data, root / "lnk")
    os.symlink(root, specs / "up")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("T_ROOT", str(root))
    monkeypatch.setenv("T_DATA", str(data))
    monkeypatch.delenv("T_UNSET", raising=False)
    monkeypatch.chdir(cwd)
    inputs = [f"{data}/*.jsonl", f"{root}/lnk/sub/*.jsonl", f"{root}/.out.tmp-keep/c.jsonl"]
    protected = [str(specs), str(home), str(cwd), str(data), str(root)]
    files = [str(data / "a.jsonl"), str(data / "sub" / "b.jsonl"), str(root / ".out.tmp-keep" / "c.jsonl"),
             str(root / "lnk" / "sub" / "b.jsonl")]
    return root, specs, inputs, protected, files


PREFIXES = ["", "./", "../", "../../", "~/", "~", "${T_ROOT}/", "${T_DATA}/", "${T_UNSET}/", "{root}/", "{root}/lnk/",
            "file://{root}/", "file://localhost{root}/", "file://host/", "s3://bucket/", "s3a://b/", "hdfs://nn:8020/",
            "x://", "up/", "up/lnk/../", "/"]
PARTS = ["data", "..", ".", "out", "x://..", "ünï", "lnk", "up", "sub", "specs", "home", "cwd", "", "a.jsonl",
         "~", "${T_DATA}", ".out.tmp-1", "o ut", "é/../..", "données", "out.work"]
SUFFIXES = ["", "/", "//", "/.", "/.."]
NASTY = ("..", "~", "${", "file://", "ünï", "é", "données", "lnk", "up/", "//", "/.")


def _generated(root, n: int, seed: int = 13) -> list[tuple[str, str | None]]:
    rng = random.Random(seed)

    def one():
        p = rng.choice(PREFIXES) + "/".join(rng.choices(PARTS, k=rng.randint(0, 3))) + rng.choice(SUFFIXES)
        return p.replace("{root}", str(root))

    return [(one(), one() if rng.random() < 0.3 else None) for _ in range(n)]


def _must_be_refused(raw: str) -> bool:
    """An unset variable, a URI other than a local file:// one (a whole bucket, or a store that does not answer:
    no S3 server runs at the test endpoint here, HDFS has no client), or `://` anywhere else."""
    rest = next((raw[len(p):] for p in ("file://localhost/", "file:///") if raw.startswith(p)), raw)
    return "${T_UNSET}" in raw or "://" in rest


def _touched(spec) -> list[str]:
    """What a run of this spec creates, renames or deletes: the output, its build siblings, the work dir."""
    from engine.stages import work_dir

    out = spec.output.path
    parent, name = os.path.split(out)
    return [out, os.path.join(parent, f".{name}.tmp-0"), os.path.join(parent, f".{name}.old-0"), work_dir(spec)]


def _check_accepted(spec, raw, protected, files):
    out = spec.output.path
    assert os.path.isabs(out) and out == os.path.realpath(out), (raw, out)   # the checked path is the real one
    parent, name = os.path.split(out)
    for t in _touched(spec):
        real = os.path.realpath(t)
        for f in files:
            for x in {f, os.path.realpath(f)}:
                assert not _within(x, real) and not _within(real, x), (raw, t, f)
                first = os.path.relpath(x, parent).split("/")[0] if _within(x, parent) else ""
                assert not first.startswith((f".{name}.tmp-", f".{name}.old-", f".{name}.lock")), (raw, f)
        for p in protected:
            assert not _within(p, real), (raw, t, p)
        assert real != "/" and not os.path.ismount(real), (raw, t)


def test_generated_output_paths_never_reach_inputs_or_protected_folders(world):
    root, specs, inputs, protected, files = world
    forms = [(f"{root}/x://../data", None), (f"{root}/out", None), ("up/lnk/../../specs/../ünï/out/", None),
             ("~/../w/data/../out", "~/../w/data/../out.work"), ("file://" + str(root) + "/lnk/../o ut//", None),
             ("${T_DATA}/../out", "${T_DATA}/../work"), ("out", "."), ("out", "~"), ("out", "../data/sub")]
    forms += _generated(root, 260)
    accepted, refused = [], 0
    for i, (raw, work) in enumerate(forms):
        f = _spec(specs, raw, inputs, work=work, name=f"g{i}.yaml")
        try:
            spec = load_spec(str(f))
        except SpecError as e:
            refused += 1
            assert e.problems and all(p.startswith(f"{f}:") for p in e.problems), e.problems
            continue
        assert not _must_be_refused(raw) and not (work and _must_be_refused(work)), (raw, work)
        _check_accepted(spec, (raw, work), protected, files)
        accepted.append((raw, work, spec))
    assert refused >= 60 and len(accepted) >= 40, (refused, len(accepted))   # both sides really exercised


def _nastiness(raw: str, work) -> int:
    return sum(raw.count(s) for s in NASTY) + (sum(work.count(s) for s in NASTY) if work else 0)


def test_real_runs_on_the_nastiest_accepted_paths_touch_only_output_and_work(spark, world):
    root, specs, inputs, protected, files = world
    forms = [(f"{root}/x://../data", None)] + _generated(root, 260)
    candidates = []
    for i, (raw, work) in enumerate(forms):
        try:
            spec = load_spec(str(_spec(specs, raw, inputs, work=work, name=f"g{i}.yaml")))
        except SpecError:
            continue
        inside = all(_within(os.path.realpath(t), str(root)) for t in _touched(spec))
        if inside:   # accepted forms like `/out` are fine for validate, but this test writes only under tmp_path
            candidates.append((_nastiness(raw, work), i, raw, work, spec.output.path))
    from engine.stages import work_dir

    picked, outs = [], set()
    for _score, _i, raw, work, out in sorted(candidates, key=lambda c: (-c[0], c[1])):
        if out not in outs and not any(_within(out, o) or _within(o, out) for o in outs):
            picked.append((raw, work, out))
            outs.add(out)
        if len(picked) == 2:
            break
    for raw, work, out in picked:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "stale.txt"), "w") as fh:   # a previous output, for --overwrite to replace
            fh.write("old")
        f = _spec(specs, raw, inputs, work=work, name="run.yaml")
        spec = load_spec(str(f))
        allowed = [spec.output.path, os.path.realpath(work_dir(spec))]
        before = _snapshot(str(root))
        r = CliRunner().invoke(main, ["run", "--overwrite", str(f)])
        assert r.exit_code == 0, (raw, work, r.output)
        after = _snapshot(str(root))
        changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        stray = sorted(p for p in changed if not any(_within(p, a) for a in allowed))
        assert not stray, (raw, work, stray)              # nothing changed outside the output and work dir
        assert not os.path.exists(os.path.join(out, "stale.txt")) and os.path.exists(os.path.join(out, "_SUCCESS"))
        real_inputs = [p for p in files if p == os.path.realpath(p)]
        assert all(after[p] == before[p] for p in real_inputs), raw   # inputs byte-identical
