"""What an export starts from: a committed output, its tokenizer, and one task per shard.

Checked on the driver before Spark starts, each refusal one line (ExportError, exit 2):
- the output is committed: `_SUCCESS`, a readable manifest.json, and every listed Parquet file present with
  its size (engine.manifest_check; the sha256 of each shard is checked by its task, which reads it anyway);
- the tokenizer is the output's: an explicit `--tokenizer` must equal the manifest's `tokenizer`, and the
  first documents of the first non-empty shard, re-tokenized, must give their `n_tokens` (every task checks
  every document again while it exports).
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from engine import storage
from engine.export import ExportError
from engine.export.base import token_dtype
from engine.export.shard import first_batch_problem


def committed_manifest(output: str) -> dict:
    """The manifest of the committed output at `output` (a folder or a URI)."""
    from engine.manifest_check import ManifestMismatch, NotCommitted, committed_manifest as checked

    try:
        if not storage.isdir(output):
            raise ExportError(f"not a tamis output (no such folder): {output}")
        manifest = checked(output, checksums=False)
    except NotCommitted as e:
        raise ExportError(str(e)) from None
    except ManifestMismatch as e:
        raise ExportError(f"refusing to export: {e}") from None
    except OSError as e:
        raise ExportError(f"cannot read the output: {storage.describe(e, output)}") from None
    if not manifest.get("shards"):
        raise ExportError(f"{output}: manifest.json lists no shards")
    return manifest


def tokenizer_facts(name: str) -> dict:
    """name, package, version, vocab_size (largest id + 1) and eos_id (`<|endoftext|>`) of tokenizer `name`."""
    from engine.tokenize import encoding

    try:
        enc = encoding(name)
    except Exception:  # noqa: BLE001 - bpe-openai's errors for an unknown name vary by release
        raise ExportError(f"unknown tokenizer {name!r} (bpe-openai knows cl100k_base, o200k_base, ...)") from None
    try:
        pkg_version = version("bpe-openai")
    except PackageNotFoundError:
        pkg_version = None
    return {"name": name, "package": "bpe-openai", "version": pkg_version, "vocab_size": int(enc.n_vocab),
            "eos_id": int(enc.eot_token)}


def resolve_tokenizer(manifest: dict, requested: str | None) -> str:
    """The tokenizer to export with: the output's own; a different `requested` one is refused."""
    recorded = manifest.get("tokenizer")
    if requested and recorded and requested != recorded:
        raise ExportError(f"--tokenizer {requested} is not the tokenizer this output was counted with "
                          f"({recorded}): its n_tokens would not match; export with {recorded}")
    if not (requested or recorded):
        raise ExportError("manifest.json names no tokenizer: give --tokenizer")
    return requested or recorded


def check_first_shard(output: str, manifest: dict, tokenizer: str):
    """Re-tokenize the first documents of the first shard that has any: a wrong tokenizer stops here."""
    for e in manifest["shards"]:
        if e.get("rows", 1):
            problem = first_batch_problem(storage.join(output, e["file"]), e["file"], tokenizer)
            if problem:
                raise ExportError(f"refusing to export: {problem} (manifest.json says {manifest.get('tokenizer')})")
            return


def shard_tasks(output: str, manifest: dict, dest: str, fmt: str, tok: dict) -> list[dict]:
    """One task per shard, in the manifest's order (engine.export.shard.export_shard)."""
    dtype = token_dtype(fmt, tok["vocab_size"])
    options = storage.current()   # executors are other processes: they get the driver's store options
    return [{"index": i, "shard": e["file"], "path": storage.join(output, e["file"]), "bytes": e["bytes"],
             "sha256": e["sha256"], "dest": dest, "format": fmt, "tokenizer": tok["name"], "eos": tok["eos_id"],
             "dtype": dtype.str, "options": options, "verify": True}
            for i, e in enumerate(manifest["shards"])]
