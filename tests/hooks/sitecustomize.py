"""Pause a real `tamis run` subprocess at a chosen moment, so a test can kill it or race it there.

On the subprocess's PYTHONPATH (tests.hooks.pause_env), Python imports this module at startup:
- `TAMIS_TEST_PAUSE_BEFORE_VERIFY=<seconds>`: sleep before `engine.output.verify` / `verify_remote` (shards
  and manifest written, no `_SUCCESS`);
- `TAMIS_TEST_PAUSE_BEFORE_COMMIT=<seconds>`: sleep before `engine.output.commit` (`_SUCCESS` written).

Every Python process with that PYTHONPATH runs it, Spark's Python workers included: it does nothing unless a
pause is set, and patches engine.output only when that module is imported, which only the driver does.
"""
import os

# variable -> the engine.output functions it delays (a local output's, then an object store's)
PAUSES = {"TAMIS_TEST_PAUSE_BEFORE_VERIFY": ("verify", "verify_remote"), "TAMIS_TEST_PAUSE_BEFORE_COMMIT": ("commit",)}


def _paused(fn, seconds: float):
    def wrapper(*a, **kw):
        import time

        time.sleep(seconds)
        return fn(*a, **kw)
    return wrapper


def _patch(module):
    for var, names in PAUSES.items():
        for name in names if os.environ.get(var) else ():
            setattr(module, name, _paused(getattr(module, name), float(os.environ[var])))


def _install():
    import importlib.abc
    import importlib.machinery
    import sys

    class PatchOutput(importlib.abc.MetaPathFinder):
        """Finds engine.output like the next finders would, and patches it once it has run."""

        def find_spec(self, name, path, target=None):
            if name != "engine.output":
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
