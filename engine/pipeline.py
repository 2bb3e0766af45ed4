"""Stage 1 on Spark: read every file of a source, score and decide with the filter chain, count tokens.

One Spark task per input file (readers stream it); each task turns a file into Arrow batches with
`mapInArrow`, so filters see whole batches and models load once per Python worker.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from engine.schema import READ_SCHEMA
from engine.spec import MixSpec, source_files
from filters.base import Filter
from filters.chain import apply_chain, chain_schema
from filters.registry import filter_kinds


def source_filters(source) -> list[Filter]:
    """The source's filters, with language ID added in tag mode when the spec has none.

    Every document of a non-code source carries `lang` (DESIGN.md: language code from language ID).
    """
    filters = list(source.filters)
    kinds = filter_kinds()
    if "language" in kinds and not any(f.kind == "language" for f in filters) and getattr(source, "kind", "") != "code":
        filters.insert(0, kinds["language"](kind="language", mode="tag"))
    return filters


def annotate_batch(batch: pa.RecordBatch, filters: list[Filter], schema: pa.Schema, tokenizer: str) -> pa.Table:
    """Filters, then tokens for the documents still kept (token counts of drops are not needed)."""
    from engine.tokenize import count_tokens

    table = apply_chain(filters, pa.Table.from_batches([batch]), schema)
    kept = pc.is_null(table.column("reason"))
    texts = pc.if_else(kept, table.column("text"), pa.scalar(None, pa.string()))
    i = table.schema.get_field_index("n_tokens")
    return table.set_column(i, "n_tokens", count_tokens(texts, tokenizer))


def read_and_annotate(path: str, source, filters: list[Filter], schema: pa.Schema, tokenizer: str):
    from engine.readers import read_file

    for batch in read_file(path, source):
        yield from annotate_batch(batch, filters, schema, tokenizer).to_batches()


def annotate_source(spark, spec: MixSpec, source):
    """DataFrame of every record of `source`: document columns, signals, `reason`, `reasons`."""
    from pyspark.sql.pandas.types import from_arrow_schema

    files = source_files(source)
    filters = source_filters(source)
    schema = chain_schema(filters, READ_SCHEMA)
    tokenizer = spec.tokenizer

    def run(batches):
        for b in batches:
            for path in b.column("path").to_pylist():
                yield from read_and_annotate(path, source, filters, schema, tokenizer)

    # one partition per file: parallelize slices a list evenly, so each file is its own task
    paths = spark.sparkContext.parallelize([(p,) for p in files], max(1, len(files))).toDF("path string")
    return paths.mapInArrow(run, from_arrow_schema(schema))
