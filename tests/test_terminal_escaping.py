"""Data on the terminal is shown as written: rich markup in documents, ids, reasons, benchmark names or paths
neither crashes a command (`[/]` closes nothing: MarkupError) nor restyles the terminal (`[bold red]`,
`[link=…]`) nor turns into an emoji (`:cat:`).

A real `tamis run` (CliRunner, shared Spark session) over documents, ids and a benchmark file built from
markup, then a real `tamis audit` of its output; plus `validate` and `audit` on paths containing `[/]`.
"""
from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

WIDE = {"COLUMNS": "400"}   # long rows on one line: the checks look for whole strings
QUESTION = ("a farmer sells twelve baskets of apples every morning at the market and buys three new goats "
            "with the money each week")
BENCH_FILE = "[bold red]bench[link=x].jsonl"      # benchmark name = file stem: part of reasons
MARKUP_TEXT = ("[/] closes nothing, [bold red]x[/] is no style, [link=https://evil.example]click[/link] no link "
               "and :cat: no emoji. ")
PROSE = ("The library opens at nine in the morning and closes late in the evening, so that students who work "
         "during the day can still borrow books, read newspapers and use the computers in the quiet room. ")
DUP_TEXT = "Two copies [/] of the same [bold red]page[/] text. " + PROSE


def _docs() -> list[dict]:
    return [
        {"id": "[/]doc-1", "text": MARKUP_TEXT + PROSE * 2},
        {"id": "[bold red]dup-a[/]", "text": DUP_TEXT},
        {"id": "[bold red]dup-b[/]", "text": DUP_TEXT},
        {"id": "contaminated-1", "text": f"I copied this from a workbook: {QUESTION}. " + PROSE},
        {"id": "plain-1", "text": PROSE * 3},
    ]


@pytest.fixture(scope="module")
def markup_run(spark, tmp_path_factory):
    """A real `tamis run` whose documents, ids, reasons and benchmark name are rich markup."""
    base = tmp_path_factory.mktemp("markup")
    (base / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in _docs()))
    (base / "bench").mkdir()
    (base / "bench" / BENCH_FILE).write_text(json.dumps({"id": "[/]item", "question": QUESTION}) + "\n")
    bench = glob.escape(str(base / "bench" / BENCH_FILE))   # the spec's paths are globs: brackets escaped
    spec = base / "mix.yaml"
    spec.write_text(f"""\
name: markup
seed: 3
output: {{path: out, keep_rejects: true}}
dedup: {{exact: true}}
sources:
  - name: web
    kind: jsonl
    paths: ["{base}/docs.jsonl"]
    filters:
      - {{kind: decontaminate, benchmarks: ["{bench}"]}}
""")
    r = CliRunner().invoke(main, ["run", str(spec)], env=WIDE)
    assert r.exit_code == 0, r.output
    return base / "out", r.output


@pytest.mark.spark
def test_run_summary_shows_markup_reasons_literally(markup_run):
    _out, printed = markup_run
    assert "decontaminated:[bold red]bench[link=x]" in printed


@pytest.mark.spark
def test_audit_shows_markup_in_documents_ids_reasons_literally(markup_run):
    out, _ = markup_run
    r = CliRunner().invoke(main, ["audit", str(out), "--sample", "20"], env=WIDE)
    assert r.exit_code == 0, r.output            # before: MarkupError "closing tag '[/]' ... has nothing to close"
    o = r.output
    for literal in ("[/] closes nothing", "[bold red]x[/] is no style",           # document text (samples)
                    "[link=https://evil.example]click[/link]", ":cat: no emoji",
                    "Two copies [/] of the same [bold red]page[/]",                 # duplicate cluster, samples
                    "decontaminated:[bold red]bench[link=x]",                       # reason (drops, pairs)
                    "│ [bold red]bench[link=x] │ [/]item │"):                       # benchmark and its item
        assert literal in o, literal
    assert "\N{CAT FACE}" not in o and "\N{CAT}" not in o


def test_paths_with_markup_are_printed_literally(tmp_path):
    odd = tmp_path / "a[" / "]"                  # the path's text contains "[/]"
    r = CliRunner().invoke(main, ["audit", str(odd / "out")])
    assert r.exit_code == 2 and f"not a directory: {odd}/out" in r.output, r.output
    odd.mkdir(parents=True)
    data = odd / "d.jsonl"
    data.write_text(json.dumps({"id": "1", "text": PROSE}) + "\n")
    spec = odd / "mix.yaml"
    spec.write_text(f'name: t\noutput: {{path: out}}\nsources:\n  - {{name: web, kind: jsonl, paths: ["{glob.escape(str(data))}"]}}\n')
    r = CliRunner().invoke(main, ["validate", str(spec)], env=WIDE)
    assert r.exit_code == 0 and f"{spec}: ok (1 sources" in r.output, r.output


def test_lit_keeps_every_character():
    from rich.console import Console

    from engine.display import lit

    con = Console(record=True, width=200)
    for s in ("[/]", "[bold red]x[/]", "a\\", "\\[bold]z", ":cat: [link=https://e.x]y[/link]"):
        con.print(lit(("error:", "red"), " ", s))
    assert con.export_text().splitlines() == [f"error: {s}" for s in
                                              ("[/]", "[bold red]x[/]", "a\\", "\\[bold]z", ":cat: [link=https://e.x]y[/link]")]
