"""notebooks/audit.ipynb executes top to bottom against a real run output (TAMIS_OUTPUT), every code cell shows
a result, and none fails.

The kernel is this interpreter: a kernelspec pointing at `sys.executable` is written to a temporary
JUPYTER_PATH, so a fresh venv needs no `ipykernel install`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_audit import _synthetic, audit_run_output  # noqa: F401 - fixture shared with test_audit

NOTEBOOK = ROOT / "notebooks" / "audit.ipynb"
KERNEL = "tamis-audit-test"


def execute(out: Path, tmp: Path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    spec = tmp / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tamis venv", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp / "jupyter"))
    monkeypatch.setenv("TAMIS_OUTPUT", str(out))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, kernel_name=KERNEL, timeout=300, resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


def check_outputs(nb):
    code = [c for c in nb.cells if c.cell_type == "code"]
    md = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(code) >= 10 and len(md) >= 10
    for c in code:
        assert not [o for o in c.outputs if o.output_type == "error"], c.source[:200]
        assert c.outputs, f"cell shows nothing: {c.source[:200]}"
    text = "\n".join(json.dumps(o.get("data", {})) + o.get("text", "") for c in code for o in c.outputs)
    return text


@pytest.mark.spark
def test_notebook_on_real_output(audit_run_output, tmp_path, monkeypatch):  # noqa: F811
    import duckdb

    nb = execute(audit_run_output, tmp_path, monkeypatch)
    text = check_outputs(nb)
    # the results are the run's: tables (HTML from pandas), plots, and the numbers of the output
    assert "text/html" in text and "image/png" in text
    tokens = duckdb.sql(f"select sum(n_tokens) from '{audit_run_output}/*.parquet' where source = 'cc'").fetchall()[0][0]
    assert str(tokens) in text
    for s in ("language:not_kept", "gsm8k_test", "lang_score"):
        assert s in text
    assert "dedup is not on in this output" in text


def test_notebook_on_synthetic_output(tmp_path, monkeypatch):
    """Every optional section (dedup clusters, decontamination, requested tokens) runs too."""
    nb = execute(_synthetic(tmp_path / "synth"), tmp_path, monkeypatch)
    text = check_outputs(nb)
    assert "gsm8k_test" in text and "dup_cluster" in text and "1500" in text
