"""Pause a real `tamis run` subprocess at a chosen moment, so a test can kill it or race it there.

On the subprocess's PYTHONPATH (tests.hooks.pause_env), Python imports this module at startup:
- `TAMIS_TEST_PAUSE_BEFORE_VERIFY=<seconds>`: sleep before `engine.output.verify` / `verify_remote` (shards
  and manifest written, no `_SUCCESS`);
- `TAMIS_TEST_PAUSE_BEFORE_COMMIT=<seconds>`: sleep before `engine.output.commit` (`_SUCCESS` written);
- `TAMIS_TEST_PAUSE_BEFORE_PART=<seconds>`: sleep before each input file's part of the score stage
  (`engine.spark.score._write_part`, in the Python workers), so a test can kill a run mid-stage.

Every Python process with that PYTHONPATH runs it, Spark's Python workers included: it does nothing unless a
pause is set, and patches a module only when it is imported.
"""
import os

# variable -> (module, the functions it delays)
PAUSES = {"TAMIS_TEST_PAUSE_BEFORE_VERIFY": ("engine.output", ("verify", "verify_remote")),
          "TAMIS_TEST_PAUSE_BEFORE_COMMIT": ("engine.output", ("commit",)),
          "TAMIS_TEST_PAUSE_BEFORE_PART": ("engine.spark.score", ("_write_part",))}


def _paused(fn, seconds: float):
    def wrapper(*a, **kw):
        import time

        time.sleep(seconds)
        return fn(*a, **kw)
    return wrapper


def _patch(module):
    for var, (target, names) in PAUSES.items():
        for name in names if os.environ.get(var) and target == module.__name__ else ():
            setattr(module, name, _paused(getattr(module, name), float(os.environ[var])))


def _install():
    import importlib.abc
    import importlib.machinery
    import sys

    targets = {target for var, (target, _) in PAUSES.items() if os.environ.get(var)}

    class PatchOutput(importlib.abc.MetaPathFinder):
        """Finds the patched modules like the next finders would, and patches them once they have run."""

        def find_spec(self, name, path, target=None):
            if name not in targets:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return None
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                _patch(module)
            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, PatchOutput())


if any(os.environ.get(v) for v in PAUSES):
    _install()
