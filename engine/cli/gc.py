"""`tamis gc [SPEC|WORK_DIR]`: remove stage data that no committed output and no current spec references
(engine/gc.py); `--dry-run` lists what it would remove, with sizes."""
from __future__ import annotations

import os

import click

from engine.cli.common import exit_codes, load, out
from engine.display import lit


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


@click.command("gc")
@click.argument("target", metavar="SPEC|WORK_DIR")
@click.option("--dry-run", is_flag=True, help="List what would be removed, remove nothing.")
def gc_cmd(target, dry_run):
    """Remove stage folders (signals, dedup clusters) that neither the spec's current stages nor any committed
    output uses. With a SPEC, its work dir and its current stages; with a WORK_DIR, what its outputs use."""
    from engine import gc, storage

    is_spec = not storage.is_uri(target) and os.path.isfile(target)
    spec = load(target) if is_spec else None
    with exit_codes("gc", spec):
        if spec is not None:
            storage.configure(spec.storage.options())
            work, keep = gc.spec_stages(spec)
        else:
            work, keep = target, set()
        if not storage.isdir(work):
            raise click.ClickException(f"no work dir at {work}")
        entries = gc.collect(work, keep, dry_run=dry_run)
    for e in entries:
        out.print(lit(f"{'would remove' if dry_run and e.action == 'remove' else e.action:<18} "
                      f"{_mb(e.bytes):>12}  {e.name}"), soft_wrap=True)
    gone = [e for e in entries if e.action == "remove"]
    verb = "would free" if dry_run else "freed"
    out.print(lit(f"{len(gone)} of {len(entries)} stage folders {'to remove' if dry_run else 'removed'}, "
                  f"{verb} {_mb(sum(e.bytes for e in gone))} in {work}"), soft_wrap=True)
