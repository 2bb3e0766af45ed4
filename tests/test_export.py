"""`tamis export`: round trips, the published layouts byte by byte, the trainers' own readers, refusals.

Most tests export a small committed output written here with pyarrow (real multilingual sentences and code
files from the shared data, plus edge cases) in this process (`engine.export.job.in_process`): no JVM. One
test runs the CLI on Spark over the session's real `tamis run` output (tests/test_audit.py).
Readers: megatron-core's `IndexedDataset` and datatrove's `DatatroveFolderDataset` (nanotron's loader), both
with the CPU build of torch (the `trainers` extra); OLMo-core's own package is not installed (its
dependencies pin older versions of tamis' own), so its document index is read as its `iter_document_indices`
does, in a few lines.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from engine.export import ExportError
from engine.export.base import token_dtype
from engine.export.job import export, in_process
from engine.export.shard import export_shard
from engine.tokenize import count_tokens, encode, rust_tokenizer
from tests.conftest import shared_data
from tests.test_audit import audit_run_output  # noqa: F401 - the session's real output, a fixture

# megatron-core and torch announce their optional GPU pieces on import: not this project's warnings
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning:megatron"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:megatron"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:torch")]

CL100K_EOS = 100257
EDGE_TEXTS = ["", "a literal <|endoftext|> is ordinary text", "emoji 😀 and tabs\tand\nnew lines\r\n", " "]


def _texts() -> list[str]:
    folder = shared_data("langid", "sentences")
    texts = []
    for lang in ("de", "ru", "ar", "ja", "zh", "hi", "el"):
        lines = [l for l in (folder / f"{lang}.txt").read_text(errors="replace").splitlines() if l.strip()]
        texts += [" ".join(lines[i:i + 5]) for i in range(0, 15, 5)]
    code = pq.read_table(shared_data("code", "stack_style_code_sample.parquet"), columns=["content"])
    texts += code.column(0).to_pylist()[:12]
    return texts + EDGE_TEXTS


def small_output(folder: Path, tokenizer: str = "cl100k_base", shards: int = 3) -> Path:
    """A committed output as `tamis run` writes one (shards, manifest with sha256, `_SUCCESS`)."""
    texts = _texts()
    folder.mkdir(parents=True)
    entries = []
    for s in range(shards):
        part = texts[s::shards]
        ids = [f"doc-{s}-{i}" for i in range(len(part))]
        ids[0] = f"odd,id\nwith a line break {s}"   # the OLMo index must keep it on one line
        table = pa.table({"id": ids, "text": part, "source": ["t"] * len(part),
                          "n_tokens": count_tokens(pa.array(part), tokenizer)})
        path = folder / f"shard-{s:05d}.parquet"
        pq.write_table(table, path, row_group_size=7)   # several row groups and batches per shard
        data = path.read_bytes()
        entries.append({"file": path.name, "rows": len(part), "tokens": sum(table["n_tokens"].to_pylist()),
                        "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    (folder / "manifest.json").write_text(json.dumps({"name": "small", "seed": 1, "tokenizer": tokenizer,
                                                      "shards": entries, "rejects": []}))
    (folder / "_SUCCESS").write_text("")
    return folder


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return small_output(tmp_path_factory.mktemp("export") / "out")


@pytest.fixture(scope="module")
def exported(small, tmp_path_factory) -> dict:
    """Each format exported once, in process: {format: (folder, manifest)}."""
    base = tmp_path_factory.mktemp("exported")
    return {fmt: (base / fmt, export(str(small), fmt, str(base / fmt))) for fmt in ("megatron", "nanotron", "olmo")}


def shard_docs(output: Path) -> list[list[tuple[str, str, int]]]:
    """(id, text, n_tokens) of every document, per shard, in the output manifest's order."""
    manifest = json.loads((output / "manifest.json").read_text())
    out = []
    for e in manifest["shards"]:
        t = pq.read_table(output / e["file"], columns=["id", "text", "n_tokens"])
        out.append(list(zip(*(t.column(c).to_pylist() for c in ("id", "text", "n_tokens")))))
    return out


def decoded_documents(fmt: str, folder: Path, manifest: dict) -> list[list[np.ndarray]]:
    """Every exported document's token ids, per file set, read from the files by the format's layout."""
    dtype = np.dtype(manifest["dtype"])
    sets = []
    for s in manifest["sets"]:
        name = folder / s["name"]
        if fmt == "megatron":
            from megatron.core.datasets.indexed_dataset import IndexedDataset

            ds = IndexedDataset(str(name))
            sets.append([np.array(ds[i]) for i in range(len(ds))])   # copies: the reader unmaps its files when collected
        elif fmt == "nanotron":
            flat = np.fromfile(f"{name}.ds", dtype)
            ends = np.fromfile(f"{name}.ds.index", "<u8")
            sets.append(np.split(flat, ends[:-1].astype(np.int64)))
        else:
            flat = np.fromfile(f"{name}.npy", dtype)
            with gzip.open(f"{name}.csv.gz", "rt") as f:     # as OLMo-core's iter_document_indices reads it
                spans = [tuple(int(x) for x in line.split(",")[:2]) for line in f]
            sets.append([flat[a:b] for a, b in spans])
    return sets


def assert_round_trip(fmt: str, folder: Path, manifest: dict, output: Path, eos: int = CL100K_EOS):
    """Decoding every exported document gives the shard's text; ids per document = n_tokens + 1 (EOS);
    documents and file sets in the shards' order."""
    tok = rust_tokenizer(manifest["tokenizer"]["name"])
    docs = shard_docs(output)
    got = decoded_documents(fmt, folder, manifest)
    assert [s["shard"] for s in manifest["sets"]] == [e["file"] for e in json.loads((output / "manifest.json").read_text())["shards"]]
    assert [len(g) for g in got] == [len(d) for d in docs]
    for shard, exported_docs in zip(docs, got):
        for (_id, text, n_tokens), ids in zip(shard, exported_docs):
            assert len(ids) == n_tokens + 1 and int(ids[-1]) == eos
            assert eos not in ids[:-1].tolist()
            assert tok.decode([int(x) for x in ids[:-1]]) == text
    assert manifest["documents"] == sum(len(d) for d in docs)
    assert manifest["tokens"] == sum(n + 1 for d in docs for _, _, n in d)
    for f in manifest["files"]:
        data = (folder / f["file"]).read_bytes()
        assert len(data) == f["bytes"] and hashlib.sha256(data).hexdigest() == f["sha256"]
    assert (folder / "_SUCCESS").exists()


# ------------------------------------------------------------------------------------------ pure parts


def test_token_dtype_from_vocabulary():
    assert token_dtype("megatron", 100277) == np.dtype("<i4")        # Megatron's index has no uint32 code
    assert token_dtype("megatron", 50257) == np.dtype("<u2")
    assert token_dtype("megatron", 65500) == np.dtype("<i4")         # megatron-core's optimal_dtype bound
    for fmt in ("nanotron", "olmo"):
        assert token_dtype(fmt, 200019) == np.dtype("<u4")
        assert token_dtype(fmt, 1 << 16) == np.dtype("<u2")          # every id of 65,536 fits 16 bits
        assert token_dtype(fmt, (1 << 16) + 1) == np.dtype("<u4")
    with pytest.raises(ValueError, match="does not fit"):
        token_dtype("olmo", (1 << 32) + 1)


def test_encode_gives_the_counted_ids():
    from engine.tokenize import encoding

    texts = _texts()
    ids, lengths = encode(pa.array(texts + [None]), "o200k_base", append=7)
    counts = count_tokens(pa.array(texts), "o200k_base").to_pylist()
    assert lengths.tolist() == [c + 1 for c in counts] + [1] and ids.dtype == np.uint32
    ends = np.cumsum(lengths)
    assert (ids[ends - 1] == 7).all() and len(ids) == ends[-1]
    ref = encoding("o200k_base").encode_ordinary(texts[3])
    assert ids[ends[2]:ends[3] - 1].tolist() == ref


# ------------------------------------------------------------------------------------------ layouts and readers


def test_megatron_layout_and_megatron_core_reader(exported, small):
    folder, m = exported["megatron"]
    assert m["dtype"] == "int32" and m["eos_id"] == CL100K_EOS and m["vocab_size"] == 100277
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["_SUCCESS", "manifest.json"] + [f"shard-{i:05d}.{x}" for i in range(3) for x in ("bin", "idx")])
    for s in m["sets"]:
        idx = (folder / f"{s['name']}.idx").read_bytes()
        n = s["documents"]
        # the published header: magic, version u64 = 1, dtype code u8 (4 = int32), sequences u64, documents u64
        assert idx[:9] == b"MMIDIDX\x00\x00"
        assert struct.unpack_from("<QBQQ", idx, 9) == (1, 4, n, n + 1)
        sizes = np.frombuffer(idx, "<i4", n, 34)
        pointers = np.frombuffer(idx, "<i8", n, 34 + 4 * n)
        doc_idx = np.frombuffer(idx, "<i8", n + 1, 34 + 12 * n)
        assert len(idx) == 34 + 12 * n + 8 * (n + 1)
        assert pointers.tolist() == (np.concatenate([[0], np.cumsum(sizes)[:-1]]) * 4).tolist()
        assert doc_idx.tolist() == list(range(n + 1)) and int(sizes.sum()) == s["tokens"]
        assert (folder / f"{s['name']}.bin").stat().st_size == 4 * s["tokens"]
    assert m["data_path"] == " ".join(f"{s['tokens']} {s['name']}" for s in m["sets"])
    assert_round_trip("megatron", folder, m, small)     # through megatron-core's IndexedDataset


def test_nanotron_layout_and_datatrove_reader(exported, small):
    from datatrove.utils.dataset import DatatroveFolderDataset

    folder, m = exported["nanotron"]
    assert m["dtype"] == "uint32" and m["bytes_per_token"] == 4
    for s in m["sets"]:
        ends = np.fromfile(folder / f"{s['name']}.ds.index", "<u8")   # uint64 document ends, no header
        assert len(ends) == s["documents"] and int(ends[-1]) == s["tokens"]
        assert (folder / f"{s['name']}.ds").stat().st_size == 4 * s["tokens"]
        meta = (folder / f"{s['name']}.ds.metadata").read_text().splitlines()
        assert meta[:2] == ["cl100k_base|4", str(s["tokens"])]
    assert_round_trip("nanotron", folder, m, small)
    seq = 63
    ds = DatatroveFolderDataset(str(folder), seq_len=seq, token_size=4, return_positions=True)
    flat = np.concatenate([np.fromfile(folder / f"{s['name']}.ds", "<u4") for s in m["sets"]])
    assert len(ds) == sum(s["tokens"] // (seq + 1) for s in m["sets"])
    first = ds[0]
    assert first["input_ids"].tolist() == flat[:seq + 1].tolist()
    ends = np.fromfile(folder / "shard-00000.ds.index", "<u8")
    # positions restart after each document end the index gives
    pos = first["positions"].tolist()
    assert [i for i in range(1, seq + 1) if pos[i] == 0] == [int(e) for e in ends if 0 < e <= seq]


def test_olmo_layout_and_document_index(exported, small):
    folder, m = exported["olmo"]
    assert m["dtype"] == "uint32"
    for s in m["sets"]:
        flat = np.fromfile(folder / f"{s['name']}.npy", "<u4")          # no NumPy header
        assert len(flat) == s["tokens"]
        with gzip.open(folder / f"{s['name']}.csv.gz", "rt") as f:
            lines = f.read().splitlines()
        spans = [tuple(int(x) for x in line.split(",")[:2]) for line in lines]
        assert len(lines) == s["documents"] and spans[0][0] == 0 and spans[-1][1] == len(flat)
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        # OLMo-core on a local array finds documents by EOS position instead: the same documents
        assert ((flat == CL100K_EOS).nonzero()[0] + 1).tolist() == [b for _, b in spans]
        assert "odd,id" in lines[0] and "\\n" in lines[0]                # quoted, the line break escaped
    assert_round_trip("olmo", folder, m, small)


# ------------------------------------------------------------------------------------------ commit and refusals


def test_export_is_deterministic_and_replaces_itself(exported, small, tmp_path):
    folder, m = exported["olmo"]
    again = export(str(small), "olmo", str(tmp_path / "o"))
    assert [f["sha256"] for f in again["files"]] == [f["sha256"] for f in m["files"]]
    with pytest.raises(ExportError, match=r"export exists: .* \(use --overwrite"):
        export(str(small), "olmo", str(tmp_path / "o"))
    export(str(small), "olmo", str(tmp_path / "o"), overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]           # no build folder left behind
    m2 = export(str(small), "megatron")                                   # default: OUTPUT/export-<format>
    assert (small / "export-megatron" / "_SUCCESS").exists() and m2["output"]["name"] == "small"


def test_refusals_are_one_line(small, tmp_path):
    def refused(output, match, **kw):
        with pytest.raises(ExportError, match=match) as e:
            export(str(output), "megatron", str(tmp_path / "dest"), **kw)
        assert "\n" not in str(e.value)
        assert not (tmp_path / "dest").exists()

    refused(small, r"--tokenizer o200k_base is not the tokenizer this output was counted with \(cl100k_base\)",
            tokenizer="o200k_base")
    # counted with one tokenizer, manifest naming another: the first documents re-tokenized do not match
    other = small_output(tmp_path / "other", tokenizer="cl100k_base", shards=1)
    m = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**m, "tokenizer": "o200k_base"}))
    refused(other, r"refusing to export: shard-00000.parquet: document .* has n_tokens \d+ but o200k_base gives "
                   r"\d+ .* counted with another tokenizer")
    (other / "_SUCCESS").unlink()
    refused(other, "not a committed output: no _SUCCESS in")
    (other / "_SUCCESS").write_text("")
    with open(other / "shard-00000.parquet", "ab") as f:
        f.write(b"x")
    refused(other, "refusing to export: .*shard-00000.parquet has .* bytes, manifest.json says")
    with pytest.raises(ExportError, match="is the output or holds it"):
        export(str(small), "olmo", str(small.parent))
    from engine.cli import main   # the CLI: exit 2, one line, before any JVM starts

    r = CliRunner().invoke(main, ["export", str(small), "--format", "olmo", "--tokenizer", "o200k_base"])
    lines = [l for l in r.output.splitlines() if l.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: --tokenizer o200k_base is not"), r.output


def test_shard_task_refuses_without_writing(small, tmp_path):
    m = json.loads((small / "manifest.json").read_text())
    e = m["shards"][0]
    task = {"index": 0, "shard": e["file"], "path": str(small / e["file"]), "bytes": e["bytes"], "sha256": e["sha256"],
            "dest": str(tmp_path), "format": "megatron", "tokenizer": "o200k_base", "eos": 199999,
            "dtype": "<i4", "options": None, "verify": True}
    r = export_shard(task)     # every document is checked in the task, not only the first batch
    assert "counted with another tokenizer" in r["error"] and list(tmp_path.iterdir()) == []
    r = export_shard({**task, "tokenizer": "cl100k_base", "sha256": "0" * 64})
    assert r["error"].startswith(f"{e['file']} has sha256 ") and list(tmp_path.iterdir()) == []
    ok = export_shard({**task, "tokenizer": "cl100k_base", "eos": CL100K_EOS, "batch_rows": 3})
    assert ok["documents"] == e["rows"] and ok["tokens"] == e["tokens"] + e["rows"]


def test_export_to_s3(small, s3_server, s3_env):
    import uuid

    from engine import storage

    src = s3_server.bucket(f"exp-{uuid.uuid4().hex[:8]}") + "/out"
    for f in sorted(small.glob("*")):
        if f.is_file():
            storage.write_bytes(f"{src}/{f.name}", f.read_bytes())
    dest = f"{src}/export-nanotron"
    storage.write_bytes(f"{dest}/stale.ds", b"left by an older export")
    with pytest.raises(ExportError, match="export exists"):
        export(src, "nanotron", dest, run_tasks=in_process)
    m = export(src, "nanotron", dest, overwrite=True, run_tasks=in_process)
    names = {i.path.rsplit("/", 1)[1] for i in storage.walk_files(dest)}
    assert names == {f["file"] for f in m["files"]} | {"manifest.json", "_SUCCESS"}   # the stale file went
    local = export(str(small), "nanotron", str(small.parent / "nanotron-local"))
    assert [f["sha256"] for f in m["files"]] == [f["sha256"] for f in local["files"]]


# ------------------------------------------------------------------------------------------ on Spark, the CLI


@pytest.mark.spark
def test_cli_exports_the_real_output_on_spark(audit_run_output, tmp_path):  # noqa: F811 - the fixture
    from engine.cli import main

    out = Path(audit_run_output)
    for fmt in ("megatron", "nanotron", "olmo"):
        r = CliRunner().invoke(main, ["export", str(out), "--format", fmt, "--to", str(tmp_path / fmt)])
        assert r.exit_code == 0, r.output
        assert f"tamis export: {fmt} → {tmp_path / fmt}" in r.output and "✓ export" in r.output
        m = json.loads((tmp_path / fmt / "manifest.json").read_text())
        assert_round_trip(fmt, tmp_path / fmt, m, out)
        if fmt == "megatron":
            assert f"Megatron --data-path (from {tmp_path / fmt}): {m['data_path']}" in r.output
    r = CliRunner().invoke(main, ["export", str(out), "--format", "olmo", "--to", str(tmp_path / "olmo")])
    lines = [l for l in r.output.splitlines() if l.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "export exists" in lines[0], r.output
