"""Stage 1 on Spark: every source's signals, stored per source and per input file (engine/score_parts.py).

One Spark job computes the parts still missing, of every source at once (so a small source does not leave
cores idle): tasks of input paths packed by size (engine.spark.annotate.file_tasks), each path read,
scored by the source's whole filter chain in tag mode (signals only: decisions are engine/spark/decide.py's)
and token-counted, then written as its own Parquet part and sidecar. The driver only sees one small
record per part. Each source's stage is then committed and read back, parts in the source's path order.
"""
from __future__ import annotations

import contextlib
import functools
import json

import pyarrow as pa

from engine import storage
from engine import annotate as worker
from engine.schema import READ_SCHEMA
from engine.score_parts import Part, content_ids, data_files, done_parts, source_parts, stage_manifest
from engine.spark.annotate import MIN_TASK_BYTES, file_tasks, task_max_bytes
from engine.spark.session import ARROW_MAX_BYTES
from engine.stage_keys import score_key
from filters.chain import chain_schema

META = pa.schema([("key", pa.string()), ("meta", pa.string())])


def scoring_filters(source):
    """The source's chain as the score stage runs it: every filter in tag mode (signals, no decision)."""
    return [f.model_copy(update={"mode": "tag"}) for f in worker.source_filters(source)]


def _write_part(part: Part, plan: dict, tokenizer: str, attempt: int) -> dict:
    """Read, score and write one input path as its part, then its sidecar; returns the sidecar's record."""
    import pyarrow.parquet as pq

    from engine.spark.stage_io import nullable
    from engine.spark.transient import batch_errors, merge

    source, filters, schema, folder = plan["source"], plan["filters"], plan["schema"], plan["folder"]
    name, target = part.file(attempt), nullable(plan["schema"])
    rows, errors, sink = 0, {}, None
    with contextlib.ExitStack() as stack:
        writer = None
        for b in worker.read_and_annotate(part.path, source, filters, schema, tokenizer, ARROW_MAX_BYTES):
            if b.num_rows == 0:
                continue
            if writer is None:       # opened at the first row: a path with no record writes no file
                sink = stack.enter_context(storage.open_output(storage.join(folder, name)))
                writer = pq.ParquetWriter(sink, target, compression="zstd")
            writer.write_batch(b.cast(target))
            rows += b.num_rows
            errors = merge([errors, batch_errors(b)])
        if writer is not None:
            writer.close()
    meta = {"key": part.key, "path": part.path, "file": name if rows else None, "rows": rows,
            "bytes": sink.bytes if rows else 0, "sha256": sink.sha256 if rows else None,
            "transient": errors or None}
    storage.write_bytes(storage.join(folder, part.sidecar), json.dumps(meta, sort_keys=True).encode())
    return meta


def _score_task(batches, parts: dict, plans: dict, tokenizer: str, options):
    """mapInArrow body over a column `key` (`<source>/<part key>`: two sources may read one file); each part
    of the task written; yields one record per part."""
    from pyspark import TaskContext

    storage.configure(options)
    attempt = TaskContext.get().attemptNumber()
    for b in batches:
        for key in b.column("key").to_pylist():
            part = parts[key]
            meta = _write_part(part, plans[part.source], tokenizer, attempt)
            yield pa.RecordBatch.from_pylist([{"key": key, "meta": json.dumps(meta)}], schema=META)
    worker.settle_worker()


def _job_key(p: Part) -> str:
    return f"{p.source}/{p.key}"


def _run_parts(spark, todo: list[Part], plans: dict, tokenizer: str) -> dict[str, dict]:
    """Compute `todo` in one Spark job; {`<source>/<part key>`: record}."""
    if not todo:
        return {}
    parts = {_job_key(p): p for p in todo}
    max_bytes = task_max_bytes()
    tasks = file_tasks(list(parts), spark.sparkContext.defaultParallelism, max_bytes,
                       min(MIN_TASK_BYTES, max_bytes), sizes={_job_key(p): p.size for p in todo})
    keys = spark.sparkContext.parallelize(tasks, len(tasks)).flatMap(lambda group: [(k,) for k in group])
    run = functools.partial(_score_task, parts=parts, plans=plans, tokenizer=tokenizer,
                            options=storage.current())
    rows = keys.toDF("key string").mapInArrow(run, "key string, meta string").collect()
    return {r["key"]: json.loads(r["meta"]) for r in rows}


def _plan(spark, spec, resolved, work: str) -> dict:
    """What scoring one source needs: its filters, schemas, folder, parts and the parts already done."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from engine.stages import committed, listing

    source = resolved.source
    filters = scoring_filters(source)
    schema = chain_schema(filters, READ_SCHEMA)
    key = score_key(spec, source)
    folder = storage.join(work, f"score-{source.name}-{key}")
    parts = source_parts(resolved)
    found = listing(folder)
    manifest = committed(folder, found)
    return {"source": source, "filters": filters, "schema": schema, "folder": folder, "key": key,
            "parts": parts, "spark_schema": from_arrow_schema(schema).json(),
            "done": done_parts(folder, parts, found, manifest), "committed": manifest is not None}


def score_sources(spark, spec, inputs: dict, work: str, log):
    """(DataFrame of every source's scored records, the same records' `id` column alone, {source: score key},
    {source: its parts' content ids}).

    `inputs`: {source name: ResolvedSource}; `log`: the run's engine.stages.StageLog, told per source how
    many files were reused and computed."""
    from engine.spark.stage_io import read_stage
    from engine.stages import begin, commit_manifest, listing, note
    from engine.spark.transient import merge

    plans = {s.name: _plan(spark, spec, inputs[s.name], work) for s in spec.sources}
    todo = [p for plan in plans.values() for p in plan["parts"] if p.key not in plan["done"]]
    for plan in plans.values():
        if any(p.key not in plan["done"] for p in plan["parts"]) or not plan["committed"]:
            begin(plan["folder"])                        # uncommitted until every part is there
    task_plans = {name: {k: plan[k] for k in ("source", "filters", "schema", "folder")} for name, plan in plans.items()}
    computed = _run_parts(spark, todo, task_plans, spec.tokenizer)
    frames, id_frames, per_source, contents = [], [], {}, {}
    for name, plan in plans.items():
        mine = {p.key: computed[_job_key(p)] for p in plan["parts"] if _job_key(p) in computed}
        metas = {**plan["done"], **mine}
        contents[name] = content_ids(plan["parts"], metas)
        errors = merge(m.get("transient") or {} for m in metas.values())
        if not plan["committed"] or mine:
            found = listing(plan["folder"])
            commit_manifest(plan["folder"], stage_manifest(plan["folder"], plan["parts"], metas, found,
                                                           plan["spark_schema"], errors, *_format()))
        n_new = len(mine)
        per_source[name] = {"stage": storage.basename(plan["folder"]), "files_reused": len(plan["parts"]) - n_new,
                            "files_computed": n_new, **({"transient_read_errors": errors} if errors else {})}
        files = data_files(plan["parts"], metas)
        frames.append(read_stage(spark, plan["folder"], files, plan["spark_schema"], pack=True))
        id_frames.append(read_stage(spark, plan["folder"], files, plan["spark_schema"], pack=True, columns=["id"]))
    log["score"] = not todo
    note(log, "score", sources=per_source)
    return _union(frames), _union(id_frames), {n: p["key"] for n, p in plans.items()}, contents


def _union(frames):
    df = frames[0]
    for f in frames[1:]:
        df = df.unionByName(f, allowMissingColumns=True)
    return df


def _format():
    from engine.plan.manifest import TAMIS_VERSION
    from engine.stages import FORMAT

    return FORMAT, TAMIS_VERSION
