"""tamis's own code as one zip for executors: `tamis package` writes it for spark-submit's `--py-files`, and
`tamis run --master spark://...` ships it itself (engine/spark/session.py), so no executor imports a path of
the driver's machine."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "filters")
ZIP_NAME = "tamis.zip"


def build_zip(dest: str) -> str:
    """`engine/` and `filters/` (sources and data files, no bytecode) as a zip for `--py-files`.

    Entries are sorted with a fixed timestamp, so the same sources give the same bytes.
    """
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    tmp = dest + ".part"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for pkg in PACKAGES:
            for f in sorted((ROOT / pkg).rglob("*")):
                rel = f.relative_to(ROOT)
                if f.is_dir() or "__pycache__" in rel.parts or f.suffix in (".pyc", ".pyo") or f.name.startswith("."):
                    continue
                info = zipfile.ZipInfo(str(rel), date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, f.read_bytes())
    os.replace(tmp, dest)
    return dest
