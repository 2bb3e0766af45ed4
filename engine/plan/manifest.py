"""The run's manifest (`manifest.json`), built in one place from what the run computed.

Pure: takes counts, the plan, realized tokens, shard lists and stage info (all already on the driver) and
returns a dict; nothing here reads files or touches Spark. The audit (engine/audit/queries.py) reads the
keys written here, so renaming one is a format change.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

TAMIS_VERSION = "0.1.0"
# the packages whose versions can change a run's output (readers, extractors, tokenizer, filters, Spark)
_VERSIONED = ("pyspark", "pyarrow", "datatrove", "datasketch", "bpe-openai", "fasttext-numpy2-wheel",
              "trafilatura", "resiliparse", "warcio", "duckdb", "pydantic", "py3langid", "wordfreq", "stopwordsiso",
              "zstandard")


def versions() -> dict:
    out = {"tamis": TAMIS_VERSION}
    for pkg in _VERSIONED:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def build_manifest(spec, *, files: dict[str, int], counts, skips: dict, plan, realized: list[dict],
                   shards: list[dict], reject_shards: list[dict], stages, work_dir: str, seconds: float,
                   master: str, renamed: dict | None = None, datasheet: dict | None = None,
                   diversity: dict | None = None) -> dict:
    """The manifest of a run.

    files: {source: input files read}; counts: rows (dicts or Spark Rows) of source, reason (None = kept),
    docs, tokens; skips: {source: {"<rule>_skipped:<value>": docs}}; plan: the MixPlan; realized: per leaf
    docs/tokens/synthetic_tokens/max_epoch of the mixed documents; shards/reject_shards: the files written
    (file, rows, tokens, bytes, sha256); stages: {stage: reused} (with `.notes` when it has them);
    renamed: {source: {"ids_renamed": n, "ids_renamed_examples": [...]}} (engine.spark.ids.renamed_ids);
    datasheet: what engine.datasheet.write_datasheet returns ({"datasheet": facts, "extra_files": [...]}),
    or None (`with_datasheet` adds it to a manifest built before);
    diversity: what engine.spark.diversity.diversity returns: `languages` (per source and language: docs,
    tokens, lang_doubt rate, estimated label precision, lang_score median/std and the FineWeb-2 threshold
    they give) and `synthetic_diversity` (per generator and per human source: compression ratio, distinct-n,
    near-duplicate rate, self-repetition, Vendi; see engine/diversity.py). Both keys are always written
    (empty when not computed).
    """
    per_source = {s.name: _source_entry(s, files.get(s.name, 0), counts, skips, realized,
                                        (renamed or {}).get(s.name)) for s in spec.sources}
    manifest = {
        "name": spec.name,
        "spec_sha256": spec.spec_sha256,
        "spec_path": spec.spec_path,
        "seed": spec.seed,
        "tokenizer": spec.tokenizer,
        "target_tokens": spec.target_tokens,
        "versions": versions(),
        "master": master,
        "seconds": round(seconds, 2),
        "stages": {name: {"reused": r, **getattr(stages, "notes", {}).get(name, {})} for name, r in stages.items()},
        "work_dir": work_dir,
        "sources": per_source,
        "leaves": leaves_entry(plan, realized),
        "mix": _mix_entry(plan, realized),
        "totals": {
            "docs_read": sum(v["docs_read"] for v in per_source.values()),
            "docs_written": sum(sh["rows"] for sh in shards),
            "tokens_written": sum(sh["tokens"] for sh in shards),
            "shards": len(shards),
            "rejects": sum(sh["rows"] for sh in reject_shards),
        },
        "shards": shards,
        "rejects": reject_shards,
        "languages": (diversity or {}).get("languages", []),
        "synthetic_diversity": (diversity or {}).get("synthetic_diversity")
        or {"generators": [], "human": None, "human_sources": []},
    }
    return with_datasheet(manifest, datasheet) if datasheet else manifest


def with_datasheet(manifest: dict, datasheet: dict) -> dict:
    """The manifest with the datasheet's facts (`datasheet`) and its committed file (`extra_files`: file,
    bytes, sha256; engine/manifest_check.py checks them like shards)."""
    return {**manifest, "datasheet": datasheet["datasheet"],
            "extra_files": [*manifest.get("extra_files", []), *datasheet["extra_files"]]}


def _source_entry(s, files: int, counts, skips: dict, realized: list[dict], renamed: dict | None) -> dict:
    rows = [r for r in counts if r["source"] == s.name]
    dropped = {r["reason"]: r["docs"] for r in rows if r["reason"] is not None}
    out_rows = [r for r in realized if r["source"] == s.name]
    return {
        "kind": s.kind,
        "files": files,
        "docs_read": sum(r["docs"] for r in rows),
        "chars_read": sum(_field(r, "text_bytes") or 0 for r in rows),   # F.length: characters
        "tokens_read": sum(r["tokens"] or 0 for r in rows),   # every readable document is tokenized
        "docs_unreadable": sum(v for k, v in dropped.items() if k.startswith("read:")),
        "docs_dropped": dict(sorted(dropped.items())),
        "rules_skipped": skips.get(s.name, {}),
        "docs_kept": sum(r["docs"] for r in rows if r["reason"] is None),
        "tokens_kept": sum(r["tokens"] or 0 for r in rows if r["reason"] is None),
        "docs_written": sum(r["docs"] for r in out_rows),
        "tokens_written": sum(r["tokens"] or 0 for r in out_rows),
        "epochs_used": (max((r["max_epoch"] or 0) for r in out_rows) + 1) if out_rows else 0,
        "filters": [f.versioned_name for f in s.filters],
        "ids_renamed": (renamed or {}).get("ids_renamed", 0),
        "ids_renamed_examples": (renamed or {}).get("ids_renamed_examples", []),
    }


def _field(row, key: str):
    """`row[key]` of a dict or a Spark Row, None when it has no such field (counts built by hand)."""
    try:
        return row[key]
    except (KeyError, ValueError, IndexError):
        return None


def leaves_entry(plan, realized: list[dict]) -> list[dict]:
    """Per leaf of the plan: what it had, what it was asked and what the sample gave."""
    out = []
    for l in plan.leaves:
        rows = [r for r in realized if r["source"] == l.source and r.get("group") == l.group]
        out.append({"source": l.source, "group": l.group, "group_by": l.group_by,
                    "available_tokens": l.available_tokens,
                    "available_docs": l.available_docs, "requested_tokens": l.requested_tokens,
                    "realized_tokens": sum(r["tokens"] or 0 for r in rows),
                    "realized_docs": sum(r["docs"] for r in rows), "epochs": round(l.epochs, 6),
                    "max_epochs": l.max_epochs, "share": None if l.share is None else round(l.share, 6),
                    "synthetic_requested_tokens": l.synthetic_requested_tokens,
                    "synthetic_realized_tokens": sum(r.get("synthetic_tokens") or 0 for r in rows)})
    return out


def _mix_entry(plan, realized: list[dict]) -> dict:
    return {"mode": plan.mode, "target_tokens": plan.target_tokens, "cut": plan.cut,
            "requested_tokens": plan.requested_tokens,
            "realized_tokens": sum(r["tokens"] or 0 for r in realized),
            "synthetic_max_share": plan.synthetic_max_share, "synthetic_capped": plan.synthetic_capped,
            "synthetic_share_requested": round(plan.synthetic_share, 6),
            "synthetic_share_realized": round(sum(r.get("synthetic_tokens") or 0 for r in realized)
                                              / (sum(r["tokens"] or 0 for r in realized) or 1), 6),
            "notes": plan.notes}
