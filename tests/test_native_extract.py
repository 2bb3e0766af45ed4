"""The native extractor (engine/native): the compiled module is built, its output is the Python
implementation's on every shared page, its quality on the gold holds, and its rules decide as trafilatura's
do on small pages. No JVM."""
from __future__ import annotations

import sys

import pytest

import engine.native as native
from engine.extract import EXTRACTORS, extract_detailed
from engine.native import pyextract
from tests.conftest import ROOT, shared_data

sys.path.insert(0, str(ROOT / "bench"))
from bench_extract import load_gold, load_pages, score  # noqa: E402


@pytest.fixture(scope="module")
def pages():
    data = shared_data("html")
    return load_pages(data), load_gold(data)


def test_compiled_module_is_built():
    # `pip install -e .` (make setup) compiles it; under CI a silent fallback to Python would hide a broken build
    from engine.native import _fastextract

    assert native.IMPLEMENTATION == "compiled"
    assert native.extract is native.extract_compiled
    assert _fastextract.extract_tree(native.parse("<html><body><p>x</p></body></html>")) == "x"


def test_compiled_and_python_identical_on_shared_pages(pages):
    html_pages, _ = pages
    assert len(html_pages) == 110
    differ = [f for f, html in html_pages if native.extract_compiled(html) != native.extract_python(html)]
    assert differ == []


def test_quality_on_gold(pages):
    # measured: keep 0.913, boilerplate 0.087 (trafilatura's call: 0.916 / 0.093); bench/bench_native_extract.py
    html_pages, gold = pages
    outputs = {f: native.extract(html) for f, html in html_pages}
    keep, boilerplate = score(outputs, gold)
    assert keep >= 0.90
    assert boilerplate <= 0.10
    assert sum(1 for o in outputs.values() if not o) == 0


ARTICLE = " ".join(["This sentence belongs to the article and carries its meaning."] * 6)


def _page(body: str) -> str:
    return f"<html><head><title>t</title><style>p {{}}</style></head><body>{body}</body></html>"


@pytest.mark.parametrize("fn", [native.extract_python, native.extract_compiled], ids=["python", "compiled"])
def test_rules_on_a_small_page(fn):
    html = _page(
        "<nav><a href='/'>Home</a></nav>"
        "<div class='sidebar'><p>Sidebar text that is not content at all, whatever its length.</p></div>"
        "<article><div class='entry-content'>"
        f"<h2>Heading</h2><p>{ARTICLE}</p>"
        "<div class='share-buttons'><p>Share this on every network you know of, right now.</p></div>"
        "<ul><li><a href='/a'>Link one</a></li><li><a href='/b'>Link two</a></li><li><a href='/c'>x</a></li></ul>"
        "<ul><li>First point</li><li>Second <b>point</b></li></ul>"
        "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"
        "<p>Last paragraph<br>with a second line.</p><h3>Related</h3>"
        "</div></article><footer>Footer text</footer>")
    assert fn(html).split("\n") == [
        "Heading", ARTICLE, "- First point", "- Second point", "| a | b | ", "|---|---|", "| 1 | 2 | ",
        "Last paragraph", "with a second line."]


@pytest.mark.parametrize("fn", [native.extract_python, native.extract_compiled], ids=["python", "compiled"])
def test_guard_and_fallbacks(fn):
    # every block of the frame carries a boilerplate class: pruning them all would leave nothing, so none goes
    html = _page(f"<div class='entry-content'><div class='meta'><p>{ARTICLE}</p><p>{ARTICLE}</p></div></div>")
    assert fn(html) == f"{ARTICLE}\n{ARTICLE}"
    # no container at all: the page's own paragraphs are recovered
    assert fn(_page(f"<div><div><p>{ARTICLE}</p></div></div>")) == ARTICLE
    # nothing but a short line: the baseline returns it; an empty page gives None
    assert fn(_page("<div>Just a line</div>")) == "Just a line"
    assert fn(_page("")) is None


def test_registered_and_python_fallback():
    assert "native" in EXTRACTORS
    html = _page(f"<article><p>{ARTICLE}</p><p>{ARTICLE}</p></article>")
    result = extract_detailed(html, "native")
    assert (result.extractor, result.text) == ("native", f"{ARTICLE}\n{ARTICLE}")
    # where the module is missing, the same rules run in Python
    assert pyextract.extract_tree(native.parse(html)) == result.text


ZIPPED_PROBE = """
import json, sys
import engine.native as native
from engine.native import pyextract
pages = json.loads(sys.stdin.read())
print(json.dumps({"implementation": native.IMPLEMENTATION, "engine": native.__file__,
                  "module": getattr(native._fastextract, "__file__", None),
                  "same": [native.extract(h) == native.extract_python(h) for h in pages]}))
"""


def _import_from_zip(zip_path, tmp, pages: list[str]) -> dict:
    import json
    import os
    import subprocess

    # as an executor imports tamis: the zip first on the path, this checkout nowhere on it
    env = {**os.environ, "PYTHONPATH": str(zip_path), "TMPDIR": str(tmp)}
    r = subprocess.run([sys.executable, "-c", ZIPPED_PROBE], input=json.dumps(pages), env=env, cwd=tmp,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_compiled_module_loads_from_the_shipped_code_zip(pages, tmp_path):
    # a cluster's executors import tamis from the driver's zip, where Python loads no extension module: the
    # zipped build is copied to a private folder and loaded, so executors do not fall back to Python
    import os
    import stat

    from engine.code_zip import build_zip
    from engine.native.zipped import CACHE_PREFIX

    zip_path = build_zip(str(tmp_path / "code" / "tamis.zip"))
    sample = [html for _, html in pages[0][:20]]
    first = _import_from_zip(zip_path, tmp_path, sample)
    assert "tamis.zip" in first["engine"]
    assert first["implementation"] == "compiled"
    private = tmp_path / f"{CACHE_PREFIX}{os.getuid()}"
    assert first["module"].startswith(str(private))
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o700
    assert all(first["same"]) and len(first["same"]) == 20
    # a file at that path with other bytes (a damaged copy, another user's) is replaced, never loaded as is
    with open(first["module"], "r+b") as f:
        f.seek(4096)
        f.write(b"\0" * 64)
    again = _import_from_zip(zip_path, tmp_path, sample[:3])
    assert again["implementation"] == "compiled" and all(again["same"])
    # a folder others may write to is refused: the Python implementation runs instead (same output)
    os.chmod(private, 0o777)
    try:
        refused = _import_from_zip(zip_path, tmp_path, sample[:3])
    finally:
        os.chmod(private, 0o700)
    assert refused["implementation"] == "python" and all(refused["same"])
