"""Is a process alive? Zombie-aware, so a killed child not yet reaped by us counts as dead.

Used by the output lock and build-folder cleanup (engine/output.py) and the local cluster (engine/spark/cluster.py)."""
from __future__ import annotations

import os

def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # a zombie (exited, not yet reaped by us) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
