"""The outputs the audit's tests read (no test here): a real `tamis run` of two sources, built once per session
(`build_real_output`, behind test_audit's `audit_run_output` fixture), and an output written with pyarrow that has
what that run cannot produce (`_synthetic`: dedup clusters, `duplicate:` rejects, requested tokens per leaf).
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import shared_data

# ------------------------------------------------------------------------------------------ the real output

LANGS = ("de", "fr", "ru", "es")


def _write_multi_source(path: Path):
    """Multilingual documents from the shared langid sentences (Italian ones to drop), a GSM8K test question pasted into prose,
    short and gibberish records (several failing rules at once) and one broken JSON line."""
    sentences = shared_data("langid", "sentences")
    gsm = shared_data("benchmarks", "gsm8k", "test.jsonl")
    recs = []
    for lang in LANGS:
        lines = [l.strip() for l in (sentences / f"{lang}.txt").read_text(errors="replace").splitlines() if l.strip()]
        for i in range(4):
            recs.append({"id": f"{lang}-{i}", "text": " ".join(lines[i * 8:(i + 1) * 8])})
    it = [l.strip() for l in (sentences / "it.txt").read_text(errors="replace").splitlines() if l.strip()]
    for i in range(2):   # a language the spec does not keep
        recs.append({"id": f"it-{i}", "text": " ".join(it[i * 8:(i + 1) * 8])})
    q = json.loads(gsm.read_text().splitlines()[0])["question"]
    recs.append({"id": "gsm-0", "text": "I found this exercise in a workbook my cousin left on the table last "
                 f"weekend and wanted to share it here. {q} Let me know what you think about it."})
    recs.append({"id": "short-0", "text": "Short note."})
    recs.append({"id": "short-1", "text": "Thanks, see you tomorrow at the station."})
    recs.append({"id": "junk-0", "text": "zxq vvk 8812 qqj %%% 0x1f"})
    recs.append({"id": "junk-1", "text": "### ||| 12 34 ~~ qq"})
    with gzip.open(path, "wt") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.write("{not json\n")


def build_real_output(base: Path) -> Path:
    """Run a two-source spec on the shared local Spark session (once per base folder)."""
    out = base / "out" / "audit"
    if (out / "_SUCCESS").exists():
        return out
    from engine.run import run
    from engine.spec import load_spec

    cc = shared_data("jsonl")
    gsm = shared_data("benchmarks", "gsm8k", "test.jsonl")
    base.mkdir(parents=True, exist_ok=True)
    multi = base / "multi.jsonl.gz"
    _write_multi_source(multi)
    spec = base / "audit.yaml"
    spec.write_text(f"""\
name: audit-test
seed: 11
output:
  path: out/audit
  keep_rejects: true
  shard_mb: 0.05
sources:
  - name: cc
    kind: jsonl
    paths: ["{cc}/multiple_files/*.jsonl.gz", "{cc}/provided/documents/*.json.gz"]
    doc_kind: web
    filters:
      - {{kind: language, keep: [en], min_score: 0.65}}
      - {{kind: gopher_quality}}
      - {{kind: gopher_repetition}}
      - {{kind: nsfw}}
      - {{kind: decontaminate, benchmarks: ["{gsm}"]}}
  - name: multi
    kind: jsonl
    paths: ["{multi}"]
    filters:
      - {{kind: language, keep: [en, de, fr, ru, es], min_score: 0.5}}
      - {{kind: length, min_words: 30}}
      - {{kind: decontaminate, benchmarks: ["{gsm}"]}}
""")
    run(load_spec(str(spec)))
    return out


# ------------------------------------------------------------------------------------------ the synthetic output


def _synthetic(path: Path, name: str = "synth", cc_tokens: int = 100, scale: int = 1) -> Path:
    """An output directory written with pyarrow: every signal family, dedup clusters, `duplicate:` rejects."""
    docs, rejects = [], []
    langs = ["en", "en", "en", "de", "fr", "ar"]
    for i in range(24 * scale):
        src = "web" if i % 3 else "code"
        lang = langs[i % len(langs)]
        docs.append({"id": f"d{i:03d}", "text": f"document {i} in {lang} " + "word " * (i % 7 + 3),
                     "source": src, "kind": "web" if src == "web" else "code", "lang": lang,
                     "lang_score": 0.5 + (i % 10) / 20, "n_tokens": cc_tokens + i, "epoch": 0,
                     "script": "Arab" if lang == "ar" else "Latn",
                     "lang_script_mismatch": i % 12 == 5,
                     "gopher_mean_word_len": 3.0 + (i % 5) * 0.5, "gopher_n_words": 10 + i,
                     "nsfw_word_ratio": (i % 4) / 100, "nsfw_url_category": "adult" if i == 5 else None,
                     "code_alphanum_frac": 0.5 + (i % 3) / 10 if src == "code" else None,
                     "quality_score": (i % 9) / 9,
                     "dup_cluster": f"c{i % 4}" if i < 8 else None,
                     "dup_cluster_size": (3 if i % 4 in (0, 1) else 2) if i < 8 else None,
                     "decontam_match": "gsm8k_test:17" if i == 7 else None})
    docs.append({**docs[1], "epoch": 1})   # an upsampled copy: counts for tokens, not for per-doc stats
    reasons = [["gopher_quality:too_few_words", "nsfw:words"], ["gopher_quality:too_few_words"],
               ["language:low_score", "gopher_quality:too_few_words", "nsfw:words"], ["decontaminated:gsm8k_test"]]
    for i in range(12 * scale):
        rs = reasons[i % len(reasons)]
        rejects.append({"id": f"r{i:03d}", "text": f"rejected {i}", "source": "web" if i % 2 else "code",
                        "kind": "web", "lang": "en", "lang_score": 0.3 + i / 40, "n_tokens": None,
                        "reason": rs[0], "reasons": rs, "gopher_mean_word_len": 2.0 + i / 10,
                        "nsfw_word_ratio": 0.2, "dup_cluster": None, "dup_cluster_size": None,
                        "decontam_match": "gsm8k_test:17" if rs[0].startswith("decontam") else None})
    # dedup drops: clusters c0 (d000, d004, x1) and c1 (d001, d005, x2) have 3 members, c2 and c3 two
    rejects.append({"id": "x1", "text": "copy of d000", "source": "web", "kind": "web", "lang": "en",
                    "reason": "duplicate:d000", "reasons": None, "dup_cluster": "c0", "dup_cluster_size": 3})
    rejects.append({"id": "x2", "text": "copy of d001", "source": "code", "kind": "code", "lang": "en",
                    "reason": "duplicate:d001", "reasons": None, "dup_cluster": "c1", "dup_cluster_size": 3})
    rejects.append({"id": "x3", "text": "", "source": "web", "kind": "web", "reason": "read:bad_json"})
    path.mkdir(parents=True)
    (path / "rejects").mkdir()
    dt = pa.Table.from_pylist(docs)
    pq.write_table(dt.slice(0, 10), path / "shard-00000.parquet")
    pq.write_table(dt.slice(10), path / "shard-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rejects), path / "rejects" / "rejects-00000.parquet")
    sources = {}
    for s in ("web", "code"):
        kept = [d for d in docs if d["source"] == s and d["epoch"] == 0]
        dropped = {}
        for r in rejects:
            if r["source"] == s:
                k = "duplicate" if r["reason"].startswith("duplicate:") else r["reason"]
                dropped[k] = dropped.get(k, 0) + 1
        sources[s] = {"kind": "jsonl", "docs_read": len(kept) + sum(dropped.values()), "docs_unreadable": 0,
                      "docs_dropped": dict(sorted(dropped.items())), "docs_kept": len(kept),
                      "tokens_kept": sum(d["n_tokens"] for d in kept),
                      "docs_written": sum(1 for d in docs if d["source"] == s),
                      "tokens_written": sum(d["n_tokens"] for d in docs if d["source"] == s), "epochs_used": 1}
    leaves = [{"source": s, "group": None, "available_tokens": v["tokens_kept"], "requested_tokens": req,
               "realized_tokens": v["tokens_written"], "realized_docs": v["docs_written"], "epochs": 1.0}
              for (s, v), req in zip(sources.items(), (1500 * scale, 900 * scale))]
    (path / "manifest.json").write_text(json.dumps({
        "name": name, "seed": 3, "tokenizer": "cl100k_base", "spec_sha256": "0" * 64, "target_tokens": 2400,
        "sources": sources, "leaves": leaves, "shards": _listing(path, "shard-*.parquet"),
        "rejects": _listing(path / "rejects", "*.parquet"), "totals": {"docs_written": len(docs)}}))
    (path / "_SUCCESS").write_text("")
    return path


def _listing(folder: Path, pattern: str) -> list[dict]:
    """Manifest entries as `tamis run` writes them: the audit refuses files its manifest does not describe."""
    import hashlib

    return [{"file": f.name, "bytes": f.stat().st_size, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
            for f in sorted(folder.glob(pattern))]
