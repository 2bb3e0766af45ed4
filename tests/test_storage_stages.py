"""Stage checkpoints on any store: Parquet parts written and read by Spark tasks through engine.storage, a
manifest and `_SUCCESS` instead of a rename, locally and on a real S3 server."""
from __future__ import annotations

import datetime
import decimal
import json
import uuid

import pytest

from engine import storage

pytestmark = pytest.mark.spark


def _frame(spark):
    from pyspark.sql.types import (ArrayType, BinaryType, BooleanType, DateType, DecimalType, DoubleType,
                                   IntegerType, LongType, MapType, StringType, StructField, StructType,
                                   TimestampType)

    schema = StructType([
        StructField("id", LongType(), False),
        StructField("text", StringType(), True),
        StructField("tags", ArrayType(StringType(), containsNull=False), True),
        StructField("scores", MapType(StringType(), DoubleType(), valueContainsNull=True), True),
        StructField("doc", StructType([StructField("n", IntegerType(), False),
                                       StructField("ids", ArrayType(LongType()), True)]), True),
        StructField("ts", TimestampType(), True),
        StructField("day", DateType(), True),
        StructField("price", DecimalType(10, 2), True),
        StructField("raw", BinaryType(), True),
        StructField("ok", BooleanType(), True),
    ])
    rows = [(1, "x", ["a", "b"], {"k": 1.0, "n": None}, (1, [1, None]), datetime.datetime(2020, 1, 1, 3),
             datetime.date(2020, 1, 2), decimal.Decimal("1.50"), b"\x00\x01", True),
            (2, None, None, None, None, None, None, None, None, None),
            (3, "z", [], {}, (2, []), None, None, None, b"", False)]
    # 4 partitions for 3 rows: at least one empty partition, which writes no file
    return spark.createDataFrame(rows, schema).repartition(4), schema, rows


def _round_trip(spark, folder):
    from engine.spark.stage_io import read_stage, write_stage

    df, schema, rows = _frame(spark)
    files, schema_json, _ = write_stage(df, folder)
    assert 1 <= len(files) < 4 and sum(f["rows"] for f in files) == 3
    for f in files:
        path = storage.join(folder, f["file"])
        assert storage.info(path).size == f["bytes"] and storage.sha256(path) == f["sha256"]
    back = read_stage(spark, folder, files, schema_json)
    assert back.schema == schema                  # nullability, map/array/struct types: exact
    assert sorted(back.collect()) == sorted(spark.createDataFrame(rows, schema).collect())
    empty = read_stage(spark, folder, [], schema_json)
    assert empty.schema == schema and empty.count() == 0


def test_stage_round_trips_exactly_locally(spark, tmp_path):
    _round_trip(spark, str(tmp_path / "stage"))


def test_stage_round_trips_exactly_on_s3(spark, s3_env):
    # Spark's Python workers reach the server through the AWS_* variables the test process started with
    _round_trip(spark, s3_env.bucket(f"stage-{uuid.uuid4().hex[:8]}") + "/work/annotate-abc")


@pytest.fixture(params=["local", "s3"])
def work(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "work")
    server = request.getfixturevalue("s3_env")
    return server.bucket(f"work-{uuid.uuid4().hex[:8]}") + "/mix.work"


def _names(folder):
    return {storage.basename(i.path) for i in storage.walk_files(folder)}


def _manifest(folder):
    return json.loads(storage.read_bytes(storage.join(folder, "manifest.json")))


def test_killed_write_is_not_reused_and_its_parts_are_removed(spark, work):
    from engine.stages import stage

    path = storage.join(work, "annotate-abc")
    reused: dict = {}
    stage(spark, path, lambda: spark.range(6).repartition(2).toDF("x"), reused, "annotate").count()
    listed = {f["file"] for f in _manifest(path)["files"]}
    assert _names(path) == listed | {"manifest.json", "_SUCCESS"}
    # a later run killed mid-write: `_SUCCESS` deleted first, some parts of its own written, then nothing
    storage.delete_file(storage.join(path, "_SUCCESS"))
    storage.write_bytes(storage.join(path, "part-00007-deadbeef.parquet"), b"PAR1 half")
    df = stage(spark, path, lambda: spark.range(4).toDF("x"), reused, "annotate")
    assert reused == {"annotate": False} and sorted(r.x for r in df.collect()) == [0, 1, 2, 3]
    listed = {f["file"] for f in _manifest(path)["files"]}
    assert _names(path) == listed | {"manifest.json", "_SUCCESS"}, "leftovers of the killed run remain"
    df = stage(spark, path, lambda: pytest.fail("a committed stage must be reused"), reused, "annotate")
    assert reused == {"annotate": True} and df.count() == 4


def test_reuse_verifies_the_listed_files(spark, work):
    from engine.stages import stage

    path = storage.join(work, "dedup-abc")
    reused: dict = {}
    stage(spark, path, lambda: spark.range(6).repartition(3).toDF("x"), reused, "dedup")
    files = _manifest(path)["files"]
    storage.delete_file(storage.join(path, files[0]["file"]))
    df = stage(spark, path, lambda: spark.range(5).toDF("x"), reused, "dedup")
    assert reused == {"dedup": False} and df.count() == 5
    files = _manifest(path)["files"]
    storage.write_bytes(storage.join(path, files[0]["file"]), b"PAR1 truncated")     # another size
    df = stage(spark, path, lambda: spark.range(3).toDF("x"), reused, "dedup")
    assert reused == {"dedup": False} and df.count() == 3


def test_stage_with_transient_read_errors_is_written_but_not_reused(spark, tmp_path):
    from engine.stages import StageLog, stage

    path = str(tmp_path / "annotate-abc")
    rows = [("a", None, '{"file": "a.jsonl"}'),
            ("b", "read:error:FileNotFoundError", '{"file": "b.jsonl", "transient": true}')]
    build = lambda: spark.createDataFrame(rows, "id string, reason string, meta string")   # noqa: E731
    first = StageLog()
    assert stage(spark, path, build, first, "annotate").count() == 2
    held = {"read:error:FileNotFoundError": {"docs": 1, "files": ["b.jsonl"]}}
    assert first.notes["annotate"] == {"reusable": False, "transient_read_errors": held}
    assert _manifest(path)["transient_read_errors"] == held
    second = StageLog()
    stage(spark, path, build, second, "annotate")
    assert second == {"annotate": False}
    assert "transient read errors: read:error:FileNotFoundError (1 docs)" in second.notes["annotate"]["recomputed"]


def test_failed_build_leaves_no_stage(spark, tmp_path):
    from engine.stages import stage

    path = tmp_path / "annotate-x"

    def boom():
        raise RuntimeError("executor lost")

    with pytest.raises(RuntimeError):
        stage(spark, str(path), boom, {}, "annotate")
    assert not path.exists()
