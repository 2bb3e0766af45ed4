"""Test hooks for a real `tamis run` subprocess (sitecustomize.py here; no test hooks in product code)."""
from __future__ import annotations

import os

HOOKS = os.path.dirname(os.path.abspath(__file__))


def pause_env(base: dict | None = None, **pauses) -> dict:
    """`base` (default os.environ) with this folder first on PYTHONPATH and the pauses set, e.g.
    `pause_env(TAMIS_TEST_PAUSE_BEFORE_COMMIT="20")`: the run sleeps that long right before it commits."""
    env = {**(os.environ if base is None else base), **pauses}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HOOKS, env.get("PYTHONPATH")) if p)
    return env
