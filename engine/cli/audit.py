"""`tamis audit PATH [--html FILE] [--sample N] [--seed S]` and `tamis audit --compare A B`.

Queries live in `engine.audit`, the terminal report in `engine.audit.text`, the HTML in `engine.audit.html`.
"""
from __future__ import annotations

from pathlib import Path

import click

from engine.cli.common import exit_codes, fail
from engine.display import lit


@click.command("audit")
@click.argument("path", required=False)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write a self-contained HTML report.")
@click.option("--sample", default=5, show_default=True, type=click.IntRange(0, 10_000),
              help="Documents per language label in 'quality at a glance'.")
@click.option("--seed", type=int, default=None, help="Seed of the samples (default: the run's seed).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="Reason pairs and duplicate clusters shown.")
@click.option("--examples", default=2, show_default=True, type=click.IntRange(0, 50),
              help="Rejected documents shown per source and reason in the HTML report.")
@click.option("--compare", nargs=2, metavar="A B", default=None,
              help="Compare two outputs instead (tokens per leaf/source/language, drop rates per reason); with "
                   "--html, B's report with the changes since A inside.")
@click.option("--no-checksums", is_flag=True,
              help="Check files against manifest.json by name and size only, not sha256 (faster on large outputs).")
@click.option("--verify-checksums", is_flag=True,
              help="On a remote output (s3://...), also check every file's sha256 (reads every byte back; "
                   "by default a remote output's files are checked by name and size).")
def audit_cmd(path, html_path, sample, seed, top, examples, compare, no_checksums, verify_checksums):
    """Audit the output PATH of `tamis run` (a folder or a URI such as s3://bucket/out) with DuckDB: mix, drops,
    signals, duplicates, languages, synthetic diversity, decontamination; --html: a report laid out for one
    screen first, the rest folded below. Views for your own SQL: docs, rejects, manifest (see
    README, "Audit"). An output whose Parquet files are not exactly those manifest.json lists (name, size,
    sha256) is refused (exit 2), and so is a remote output without `_SUCCESS` (not committed)."""
    if compare and path:
        fail("give either PATH or --compare A B, not both", 2)
    if not compare and not path:
        fail("missing PATH (or --compare A B)", 2)
    checksums = False if no_checksums else "remote" if verify_checksums else True
    if compare:
        _compare(*compare, html_path, checksums, dict(sample=sample, seed=seed, top=top, examples=examples))
    else:
        _audit(path, html_path, checksums, dict(sample=sample, seed=seed, top=top, examples=examples))


def _audit(path, html_path, checksums, opts: dict):
    import engine.audit as audit
    from engine.audit.text import print_audit, report_console

    con = report_console()
    with exit_codes("audit"):
        res = audit.collect(audit.open_output(path, checksums=checksums), **opts)
    print_audit(con, res, path)
    if html_path:
        from engine.audit.html import render_html

        Path(html_path).write_text(render_html(res, path), encoding="utf-8")
        con.print(lit("\nwrote ", html_path))


def _compare(a, b, html_path, checksums, opts: dict):
    import engine.audit as audit
    from engine.audit.text import print_compare, report_console

    con = report_console()
    with exit_codes("audit"):
        con_b = audit.open_output(b, checksums)
        cmp = audit.compare(audit.open_output(a, checksums), con_b)
    print_compare(con, cmp, a, b)
    if html_path:
        from engine.audit.html import render_html

        with exit_codes("audit"):
            res = audit.collect(con_b, **opts)
        Path(html_path).write_text(render_html(res, b, compare=cmp, labels=(a, b)), encoding="utf-8")
        con.print(lit("wrote ", html_path))
