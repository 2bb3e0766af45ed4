"""Capture what the driver really receives when an executor hits an OSError: writes messages.json here.

    sudo .venv/bin/python tests/data/spark_errors/capture.py      # root: it mounts a tiny tmpfs

Each case runs a real Spark job (local[1]) that fails on an executor: shards written by `engine.spark.write` onto a
full tmpfs, raw pyarrow and plain Python writes onto it, Spark's own Parquet writer onto it, a Python task
opening a missing file or writing to a read-only mount, a JVM read of a file deleted after planning, and one
task raising a plain ValueError. The exception's type and `str()` (and a Py4JJavaError's Java `toString`) are
stored verbatim but for the random temp folder, written as /tmp/tamis-capture; tests/test_executor_errors.py
feeds them to engine.cli.errors. Rerun after a pyspark upgrade.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
FULL_KB = 48


def _in_namespace():
    """Re-run this script in a private mount namespace, where mounting a tmpfs touches nothing outside."""
    env = {**os.environ, "_TAMIS_CAPTURE_NS": "1"}
    sys.exit(subprocess.call(["unshare", "--mount", "--propagation", "private", sys.executable, __file__], env=env))


def _mount(path: str, opts: str):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], check=True)


def _cases(spark, base: str) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.spark.write import write_shards

    full, ro, gone = f"{base}/full", f"{base}/ro", f"{base}/gone"
    big = spark.createDataFrame([(str(i), os.urandom(15000).hex(), i) for i in range(50)],
                                "id string, text string, n_tokens long")
    one = spark.range(1)

    def arrow_enospc(batches):
        with pq.ParquetWriter(f"{full}/raw.parquet", pa.schema([("x", pa.string())])) as w:
            w.write_table(pa.table({"x": [os.urandom(200_000).hex()]}))
        yield from batches

    def python_write(batches):
        with open(f"{full}/blob.bin", "wb") as f:
            f.write(os.urandom(1 << 20))
        yield from batches

    def python_open(batches):
        open(f"{base}/no/such/model.bin", "rb")
        yield from batches

    def python_readonly(batches):
        open(f"{ro}/x.txt", "w")
        yield from batches

    def value_error(batches):
        raise ValueError("quality_classifier: label __label__hq not in model")
        yield from batches

    def jvm_deleted():
        spark.range(5).write.mode("overwrite").parquet(gone)
        df = spark.read.parquet(gone)
        for f in Path(gone).glob("*.parquet"):
            f.unlink()
        df.collect()

    return {
        "shards_enospc": lambda: write_shards(big, f"{full}/shards", 1, 1),
        "pyarrow_enospc": lambda: one.mapInArrow(arrow_enospc, one.schema).collect(),
        "python_write_enospc": lambda: one.mapInArrow(python_write, one.schema).collect(),
        "jvm_parquet_enospc": lambda: big.write.mode("overwrite").parquet(f"{full}/stage"),
        "python_enoent": lambda: one.mapInArrow(python_open, one.schema).collect(),
        "python_erofs": lambda: one.mapInArrow(python_readonly, one.schema).collect(),
        "jvm_read_deleted": jvm_deleted,
        "python_value_error": lambda: one.mapInArrow(value_error, one.schema).collect(),
    }


def main():
    if not os.environ.get("_TAMIS_CAPTURE_NS"):
        _in_namespace()
    sys.path.insert(0, str(ROOT))
    from engine.spark.session import get_spark

    base = tempfile.mkdtemp(prefix="tamis-capture-")
    _mount(f"{base}/full", f"size={FULL_KB}k")
    _mount(f"{base}/ro", "size=64k,ro")
    spark = get_spark("local[1]", shuffle_partitions=1)
    out = {}
    for name, job in _cases(spark, base).items():
        try:
            job()
        except Exception as e:  # noqa: BLE001 - capturing exactly this is the point
            rec = {"type": f"{type(e).__module__}.{type(e).__qualname__}", "str": str(e)}
            if hasattr(e, "java_exception"):
                rec["java"] = str(e.java_exception.toString())
            out[name] = {k: v.replace(base, "/tmp/tamis-capture") for k, v in rec.items()}
            print(f"{name}: {rec['type']}, {len(rec['str'].splitlines())} lines")
        else:
            sys.exit(f"{name}: did not fail")
    spark.stop()
    for m in ("full", "ro"):
        subprocess.run(["umount", "--lazy", f"{base}/{m}"], check=True)   # Python workers may still exit
    shutil.rmtree(base)
    (HERE / "messages.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
