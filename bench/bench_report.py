"""The audit report of the web-code-qa mix, measured in headless Chromium at 1400x900: page height with the
reference folded and open, where the first screen's blocks sit, how long collecting and rendering take, and
the file's size.

    .venv/bin/python bench/bench_report.py                    # runs mixes/web-code-qa.yaml first if needed
    .venv/bin/python bench/bench_report.py --output out/web-code-qa   # an output already there

Without `--output`, the mix is run (`tamis run mixes/web-code-qa.yaml`, into the spec's output folder)
unless that folder already holds a committed output (`--rerun` runs it again). The target, from issue 18:
under 8,000 px with the reference folded, and the spec, drop and language blocks within the first 900 px.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import print_table  # noqa: E402

SPEC = ROOT / "mixes" / "web-code-qa.yaml"


def output_of(spec: Path, rerun: bool) -> Path:
    from engine.spec import load_spec

    out = Path(load_spec(str(spec)).output.path)
    if rerun or not (out / "_SUCCESS").exists():
        subprocess.run([sys.executable, "-c", "from engine.cli import main; main()", "run", str(spec), "--overwrite"],
                       check=True, cwd=ROOT)
    return out


def measure_report(out: Path) -> list[dict]:
    import engine.audit as audit
    from engine.audit.html import render_html
    from tests.test_audit_browser import FIRST, measure

    t0 = time.perf_counter()
    res = audit.collect(audit.open_output(out))
    t1 = time.perf_counter()
    page = render_html(res, str(out))
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "report.html"
        html.write_text(page, encoding="utf-8")
        folded, _ = measure(html, Path(tmp))
        opened, _ = measure(html, Path(tmp), open_all=True)
    rows = [{"what": "page height, reference folded (px)", "value": folded["height"], "target": "< 8,000",
             "met": "yes" if folded["height"] < 8000 else "NO"},
            {"what": "page height, reference open (px)", "value": opened["height"], "target": "", "met": ""}]
    for id_ in FIRST + ("synthetic", "dedup"):
        b = folded["boxes"].get(id_)
        top = None if b is None else round(b["top"])
        rows.append({"what": f"#{id_} top (px)", "value": top, "target": "< 900" if id_ in FIRST else "",
                     "met": ("yes" if top is not None and top < 900 else "NO") if id_ in FIRST else ""})
    rows += [{"what": "collect (s)", "value": round(t1 - t0, 2), "target": "", "met": ""},
             {"what": "render, plots included (s)", "value": round(t2 - t1, 2), "target": "", "met": ""},
             {"what": "HTML size (KB)", "value": round(len(page.encode()) / 1024), "target": "", "met": ""},
             {"what": "images (decoded, reference open)", "value": opened["images"], "target": "", "met": ""}]
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", help="an existing output folder (default: run mixes/web-code-qa.yaml)")
    ap.add_argument("--rerun", action="store_true", help="run the mix again even if its output exists")
    a = ap.parse_args(argv)
    out = Path(a.output) if a.output else output_of(SPEC, a.rerun)
    print(f"audit report of {out}")
    print_table(measure_report(out), [("what", "what"), ("value", "value"), ("target", "target"), ("met", "met")])


if __name__ == "__main__":
    main()
