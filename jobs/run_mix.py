"""spark-submit entry point: run one mix spec on whatever master spark-submit was given.

    spark-submit --master spark://host:7077 --py-files dist/tamis.zip jobs/run_mix.py mixes/demo.yaml [--overwrite]

Arguments only; the work is `engine.run`. Exit codes as `tamis run`: 0 ok, 2 bad spec or existing output, 1 failure.
"""
import sys

from engine.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit("usage: spark-submit [options] jobs/run_mix.py SPEC [--overwrite] [--verbose]")
    main(["run", *args], prog_name="run_mix.py")
