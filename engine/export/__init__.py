"""`tamis export`: a committed output's shards as the tokenized files trainers read. Pure Python and Arrow.

One file set per shard, in the output manifest's shard order and each shard's row order, every document
followed by the tokenizer's end-of-text id:
- `megatron` (engine/export/megatron.py): `<name>.bin` + `<name>.idx`, Megatron-LM / NeMo indexed dataset;
- `nanotron` (engine/export/nanotron.py): datatrove's `<name>.ds` + `.ds.index` + `.ds.metadata`;
- `olmo` (engine/export/olmo.py): OLMo-core's raw `<name>.npy` token array + `<name>.csv.gz` document index.

`shard.export_shard` is one shard's work (a Spark task: engine/spark/export.py); `source` checks the output
and the tokenizer before any work; `commit` writes the export's manifest and `_SUCCESS`.
"""
from __future__ import annotations

FORMATS = ("megatron", "nanotron", "olmo")   # the modules load on use: `tamis --help` imports no numpy


def file_set_class(fmt: str):
    """The FileSet subclass writing format `fmt`."""
    if fmt == "megatron":
        from engine.export.megatron import MegatronFiles as cls
    elif fmt == "nanotron":
        from engine.export.nanotron import NanotronFiles as cls
    elif fmt == "olmo":
        from engine.export.olmo import OlmoFiles as cls
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    return cls


class ExportError(Exception):
    """An export the user can fix (exit 2, one line): not a committed output, a tokenizer that is not the one
    the output was counted with, a destination that exists."""
