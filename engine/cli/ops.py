"""Operations commands: `tamis package` (code and dependencies for spark-submit) and `tamis cluster`
(a local standalone Spark cluster)."""
from __future__ import annotations

import json
import os
import sys

import click

from engine.cli.common import exit_codes, out

from engine.code_zip import ZIP_NAME, build_zip

VENV_NAME = "tamis-venv.tar.gz"


# ---------------------------------------------------------------- package


@click.command()
@click.option("-o", "--output", "outdir", default="dist", show_default=True, type=click.Path(file_okay=False),
              help="Folder for tamis.zip (and tamis-venv.tar.gz).")
@click.option("--venv", "with_venv", is_flag=True,
              help="Also pack tamis' runtime dependencies (site-packages only, no interpreter) for "
                   "spark-submit --archives.")
def package(outdir, with_venv):
    """Build what spark-submit ships to executors: tamis.zip (--py-files) and, with --venv, the dependencies."""
    z = build_zip(os.path.join(outdir, ZIP_NAME))
    out.print(f"{z}: engine + filters for --py-files ({os.path.getsize(z) / 1e6:.1f} MB)")
    if with_venv:
        from engine import venv_archive

        with exit_codes("package --venv"):
            p = venv_archive.build(os.path.join(outdir, VENV_NAME))
        v = sys.version_info
        out.print(f"{p.path}: {len(p.dists)} distributions, {p.files} files, "
                  f"{os.path.getsize(p.path) / 1e6:.0f} MB ({p.bytes_in / 1e6:.0f} MB unpacked), no pyspark/Py4J "
                  f"(Spark ships them), for any Python {v.major}.{v.minor} on {sys.platform}", soft_wrap=True)
        out.print(f"  --archives {p.path}#environment --py-files {z} "
                  f"--conf spark.executorEnv.PYTHONPATH=./environment/{venv_archive.SITE} "
                  f"--conf spark.pyspark.python=python{v.major}.{v.minor}", soft_wrap=True, markup=False)
        for member, paths in sorted(p.build_paths.items()):
            out.print(f"[yellow]warning[/]: {member} names this machine's {', '.join(paths)}")


# ---------------------------------------------------------------- cluster


@click.group()
def cluster():
    """A local Spark standalone cluster (master + workers on 127.0.0.1)."""


_state_opt = click.option("--state-dir", default=None, type=click.Path(file_okay=False),
                          help="Pids, URL and logs (default ~/.tamis/cluster or $TAMIS_CLUSTER_DIR).")


@cluster.command("up")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--cores", default=1, show_default=True, type=click.IntRange(1, 256), help="Cores per worker.")
@click.option("--memory", default="2g", show_default=True, help="Memory per worker (e.g. 2g, 512m).")
@click.option("--port", default=None, type=int, help="Master port (default 7077, or a free one).")
@click.option("--webui-port", default=None, type=int, help="Master web UI port (default 8080, or a free one).")
@_state_opt
def cluster_up(workers, cores, memory, port, webui_port, state_dir):
    """Start a master and WORKERS workers; print the master URL when all registered."""
    from engine.spark.cluster import up

    with exit_codes("cluster up", prefix=False):
        st = up(workers=workers, cores=cores, memory=memory, state_dir=state_dir, port=port, webui_port=webui_port)
    click.echo(st.master_url)
    click.echo(f"master {st.master_url} (web UI {st.webui}), {workers} workers x {cores} cores x {memory}; "
               f"logs in {st.state_dir}", err=True)


@cluster.command("down")
@_state_opt
def cluster_down(state_dir):
    """Stop the workers (and their executors) and the master."""
    from engine.spark.cluster import down

    if down(state_dir):
        click.echo("cluster stopped", err=True)
    else:
        click.echo("no cluster recorded", err=True)


@cluster.command("status")
@_state_opt
@click.option("--json", "as_json", is_flag=True)
def cluster_status(state_dir, as_json):
    """Master URL, workers and running applications. Exit 0 when the master runs, 1 otherwise."""
    from engine.spark.cluster import status

    info = status(state_dir)
    if as_json:
        out.print_json(json.dumps(info))
    elif not info["running"]:
        out.print(f"no cluster running (state dir {info['state_dir']})")
    else:
        alive = sum(1 for w in info["workers"] if w["state"] == "ALIVE")
        out.print(f"{info['master_url']}  web UI {info['webui']}  workers alive {alive}/{len(info['worker_pids'])}"
                  f"  apps {info.get('active_apps', [])}  auth {'on' if info['auth'] else 'OFF'}"
                  f"  REST {'on ' + str(info['other_ports']) if info['other_ports'] else 'off'}")
    sys.exit(0 if info["running"] else 1)
