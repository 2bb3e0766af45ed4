"""The datasheet of an output: what went into the mix, as `datasheet.md` and as `manifest.json["datasheet"]`.

Facts (`datasheet_facts`), from what the run already has on the driver plus a few reads: the spec (its YAML
text, re-read and checked against the sha256 the run loaded), the tamis version and a hash of its code, every
input file with its size and a checksum, the manifest's per-source counts, the Spark aggregates of
engine/spark/datasheet.py (licences, languages, generators, benchmark matches), the decontamination
benchmark files with their sha256, and the dedup parameters and removals. Rendering is
engine/datasheet_md.py: Markdown opening with a Hugging Face dataset-card header, so the output folder can
be published as a dataset as it is.

Input checksums: a local file's sha256, streamed (reading every input again, so the results are kept in the
work dir keyed by path, size and mtime, the same key stage reuse trusts: a rerun hashes only what changed);
a remote object's ETag from the store (one HEAD request per object; an ETag is the store's checksum of the
object, an MD5 for single-part uploads), else its size and mtime, and the datasheet says which one it has.
No pyspark here.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor

from engine import storage
from engine.datasheet_md import render_datasheet

FORMAT = 1
FILE = "datasheet.md"
CACHE = "inputs-sha256.json"
PACKAGE_CODE = ("engine/**/*.py", "filters/**/*.py", "filters/**/*.json")

__all__ = ["FILE", "datasheet_facts", "input_checksums", "render_datasheet", "write_datasheet"]


def write_datasheet(folder: str, spec, manifest: dict, inputs: dict, aggregates: dict | None) -> dict:
    """Write `<folder>/datasheet.md` and return what goes into the manifest: {"datasheet": facts,
    "extra_files": [{"file", "bytes", "sha256"}]} (engine/manifest_check.py verifies listed extra files, and
    a remote commit keeps them)."""
    from engine.stages import work_dir

    facts = datasheet_facts(spec, manifest, inputs, aggregates, cache=storage.join(work_dir(spec), CACHE))
    written = storage.write_bytes(storage.join(folder, FILE), render_datasheet(facts).encode())
    return {"datasheet": facts, "extra_files": [{"file": FILE, **written}]}


def datasheet_facts(spec, manifest: dict, inputs: dict, aggregates: dict | None = None,
                    cache: str | None = None) -> dict:
    """Every fact of the datasheet as a JSON-ready dict.

    manifest: the run's manifest (engine.plan.manifest.build_manifest); inputs: {source: ResolvedSource};
    aggregates: engine.spark.datasheet.datasheet_aggregates (None: no licence, language, generator or
    match counts); cache: a JSON file of earlier input sha256s (None: hash every local input)."""
    from engine.plan.manifest import TAMIS_VERSION
    from engine.stages import code_fingerprint

    agg = aggregates or {}
    written = agg.get("written") or []
    totals = manifest.get("totals", {})
    return {
        "format": FORMAT,
        "name": spec.name,
        "spec": spec_facts(spec),
        "tamis": {"version": TAMIS_VERSION, "code_hash": code_fingerprint(PACKAGE_CODE),
                  "versions": manifest.get("versions", {})},
        "tokenizer": spec.tokenizer,
        "seed": spec.seed,
        "totals": {k: totals.get(k, 0) for k in ("docs_written", "tokens_written", "shards")},
        "sources": [source_facts(s.name, manifest.get("sources", {}).get(s.name, {})) for s in spec.sources],
        "inputs": input_facts(inputs, cache),
        "licenses": _breakdown(written, "license"),
        "languages": _breakdown(written, "lang"),
        "kinds": _breakdown(written, "kind"),
        "synthetic": synthetic_facts(written, manifest),
        "decontamination": decontamination_facts(spec, manifest, written, agg.get("decontam") or []),
        "dedup": dedup_facts(spec, manifest),
        "counted": aggregates is not None,
    }


# ---------------------------------------------------------------- the spec and the sources


def spec_facts(spec) -> dict:
    """Path, sha256 and YAML text of the spec; the text only when the file still has the sha256 the run read."""
    from engine.spec.yaml_load import read_spec_text

    out = {"path": spec.spec_path, "sha256": spec.spec_sha256, "text": None, "note": None}
    try:
        text = read_spec_text(spec.spec_path) if spec.spec_path and os.path.isfile(spec.spec_path) else None
    except (OSError, ValueError):
        text = None
    if text is None:
        out["note"] = "the spec's text is not available (a spec built in code, or its file is gone)"
    elif hashlib.sha256(text.encode()).hexdigest() != spec.spec_sha256:
        out["note"] = "the spec file changed after the run read it: its text is not shown"
    else:
        out["text"] = text
    return out


def source_facts(name: str, m: dict) -> dict:
    """A source's counts from its manifest entry (tokens: of every readable document, dropped ones too)."""
    dropped = m.get("docs_dropped", {})
    return {"name": name, "kind": m.get("kind"), "files": m.get("files", 0),
            "docs_read": m.get("docs_read", 0), "chars_read": m.get("chars_read"),
            "tokens_read": m.get("tokens_read"),
            "docs_unreadable": m.get("docs_unreadable", 0),
            "docs_dropped": dict(sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))),
            "duplicates_removed": dropped.get("duplicate", 0),
            "docs_kept": m.get("docs_kept", 0), "tokens_kept": m.get("tokens_kept", 0),
            "docs_written": m.get("docs_written", 0), "tokens_written": m.get("tokens_written", 0),
            "epochs_used": m.get("epochs_used", 0)}


def _breakdown(rows: list[dict], key: str) -> list[dict]:
    """Docs and tokens per value of `key` (null kept as None), with docs per source; largest first."""
    out: dict = {}
    for r in rows:
        e = out.setdefault(r.get(key), {key: r.get(key), "docs": 0, "tokens": 0, "by_source": {}})
        e["docs"] += r["docs"]
        e["tokens"] += r["tokens"] or 0
        e["by_source"][r["source"]] = e["by_source"].get(r["source"], 0) + r["docs"]
    return sorted(out.values(), key=lambda e: (-e["tokens"], -e["docs"], str(e[key])))


def synthetic_facts(written: list[dict], manifest: dict) -> dict:
    rows = [r for r in written if r.get("kind") == "synthetic"]
    total = sum(r["tokens"] or 0 for r in written) or 1
    gens = _breakdown([{**r, "generator": r.get("generator") or "unknown"} for r in rows], "generator")
    for g in gens:
        g["share"] = round(g["tokens"] / total, 6)
    mix = manifest.get("mix", {})
    return {"docs": sum(r["docs"] for r in rows), "tokens": sum(r["tokens"] or 0 for r in rows),
            "share": round(sum(r["tokens"] or 0 for r in rows) / total, 6),
            "max_share": mix.get("synthetic_max_share"), "generators": gens}


# ---------------------------------------------------------------- inputs


def input_facts(inputs: dict, cache: str | None = None) -> dict:
    """{source: [{"path", "bytes", "mtime", "checksum": "sha256"|"etag"|"size+mtime"|"missing", <value>}]}."""
    files = [f for r in inputs.values() for f in r.files]
    sums = input_checksums(files, cache)
    return {name: [{"path": f.path, "bytes": f.size, "mtime": f.mtime, **sums[f.path]} for f in r.files]
            for name, r in inputs.items()}


def input_checksums(files: list, cache: str | None = None) -> dict[str, dict]:
    """{path: {"checksum": kind, kind: value}} for FileInfo-like objects (path, size, mtime)."""
    known = _read_cache(cache)
    todo = [f for f in files if f.size is not None and not storage.is_remote(f.path)
            and known.get(f.path, [None])[:2] != [f.size, f.mtime]]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:   # hashlib releases the GIL
        for f, digest in zip(todo, pool.map(lambda f: _sha256_or_none(f.path), todo)):
            if digest:
                known[f.path] = [f.size, f.mtime, digest]
        remote = [f for f in files if f.size is not None and storage.is_remote(f.path)]
        etags = dict(zip([f.path for f in remote], pool.map(lambda f: etag(f.path), remote)))
    if todo and cache:
        _write_cache(cache, known)
    out = {}
    for f in files:
        if f.size is None:
            out[f.path] = {"checksum": "missing"}
        elif f.path in etags:
            out[f.path] = {"checksum": "etag", "etag": etags[f.path]} if etags[f.path] else {"checksum": "size+mtime"}
        elif known.get(f.path, [None])[:2] == [f.size, f.mtime]:
            out[f.path] = {"checksum": "sha256", "sha256": known[f.path][2]}
        else:
            out[f.path] = {"checksum": "size+mtime"}
    return out


def _sha256_or_none(path: str) -> str | None:
    try:
        return storage.sha256(path)
    except OSError:          # gone or unreadable since the run listed it: size and mtime are all there is
        return None


def etag(path: str) -> str | None:
    """The object's ETag (a HEAD request: pyarrow's S3 input file metadata), or None where the store has
    none or does not say."""
    try:
        with storage.open_input_file(path) as f:
            meta = f.metadata() if hasattr(f, "metadata") else {}
    except (OSError, NotImplementedError):
        return None
    value = meta.get("ETag") or meta.get(b"ETag")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.strip('"') if value else None


def _read_cache(path: str | None) -> dict:
    if not path:
        return {}
    try:
        data = json.loads(storage.read_bytes(path))
    except (OSError, ValueError):
        return {}          # none yet, or unreadable: hash again
    return {k: v for k, v in data.items() if isinstance(v, list) and len(v) == 3} if isinstance(data, dict) else {}


def _write_cache(path: str, known: dict):
    try:
        storage.makedirs(storage.dirname(path))
        storage.write_bytes(path, json.dumps(known, sort_keys=True).encode())
    except OSError:
        pass               # a cache: the next run hashes again


# ---------------------------------------------------------------- decontamination and dedup


def decontamination_facts(spec, manifest: dict, written: list[dict], decontam: list[dict]) -> dict:
    """The benchmark files (sha256), each source's decontaminate filters, and per source and benchmark: the
    documents dropped for a match, matching documents kept (tag mode) and written, and items matched."""
    from filters.decontaminate import benchmark_name, expand_benchmarks

    files, filters = {}, []
    for s in spec.sources:
        for f in (f for f in s.filters if f.kind == "decontaminate"):
            paths = expand_benchmarks(tuple(f.benchmarks))
            for p in paths:
                if p not in files:
                    files[p] = {"benchmark": benchmark_name(p), "file": p, "bytes": storage.info(p).size,
                                "sha256": storage.sha256(p)}
            filters.append({"source": s.name, "mode": f.mode, "ngram": f.ngram, "min_matches": f.min_matches,
                            "min_item_words": f.min_item_words, "fields": f.fields,
                            "benchmarks": sorted({benchmark_name(p) for p in paths})})
    matches = {}
    for fl in filters:
        for b in fl["benchmarks"]:
            matches[(fl["source"], b)] = {"source": fl["source"], "benchmark": b, "docs_dropped": 0,
                                          "docs_matched_kept": 0, "docs_written": 0, "items_matched": 0}
    for (src, b), e in matches.items():
        e["docs_dropped"] = manifest.get("sources", {}).get(src, {}).get("docs_dropped", {}) \
            .get(f"decontaminated:{b}", 0)
        found = [r for r in decontam if (r["source"], r["benchmark"]) == (src, b)]
        e["docs_matched_kept"] = sum(r["kept"] for r in found)
        e["items_matched"] = sum(r["items"] for r in found)
        e["docs_written"] = sum(r["docs"] for r in written if (r["source"], r.get("benchmark")) == (src, b))
    return {"benchmarks": list(files.values()), "filters": filters, "matches": list(matches.values())}


def dedup_facts(spec, manifest: dict) -> dict:
    """The dedup parameters and, per source, the documents removed as duplicates (of another document, or
    the same record read twice, which is removed with or without dedup)."""
    removed = {name: m.get("docs_dropped", {}).get("duplicate", 0) for name, m in manifest.get("sources", {}).items()}
    return {"params": spec.dedup.model_dump(mode="json") if spec.dedup else None,
            "removed": removed, "removed_total": sum(removed.values())}
