"""No filter touches the network: every registered filter runs in a fresh process whose sockets are blocked.

A fresh process, so models and lists are really loaded (not already cached by other tests) and caches
that filters keep on disk (the UT1 hash cache) start empty. Blocked calls raise *and* are recorded, so a
library that swallows the error (and falls back) is still caught.

A filter with required parameters needs an entry in PARAMS below; the test fails and says so otherwise.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# kind -> parameters for a run; "{tmp}" is replaced by the run's temporary folder (files made by SETUP)
PARAMS: dict[str, dict] = {
    "language": {"keep": ["en", "de"]},
    "nsfw": {"wordlists": {"de": "{tmp}/de_words.txt"}},
    "decontaminate": {"benchmarks": ["{tmp}/bench/*.jsonl"]},
    "quality_classifier": {"model": "{tmp}/quality.bin", "min_score": 0.5},
}

SCRIPT = r'''
import json, os, socket, sys
attempts = []

def _blocked(name):
    def f(*args, **kwargs):
        attempts.append(f"{name}{args[1:2] if name.startswith('socket.') else args[:1]}")
        raise OSError(f"network blocked in test: {name}")
    return f

socket.socket.connect = _blocked("socket.connect")
socket.socket.connect_ex = _blocked("socket.connect_ex")
socket.socket.sendto = _blocked("socket.sendto")
socket.create_connection = _blocked("create_connection")
socket.getaddrinfo = _blocked("getaddrinfo")
socket.gethostbyname = _blocked("gethostbyname")

tmp, params = sys.argv[1], json.loads(sys.argv[2])

# files some filters need: a benchmark, a word list, a tiny fastText classifier (trained offline)
os.makedirs(f"{tmp}/bench", exist_ok=True)
with open(f"{tmp}/bench/quiz.jsonl", "w") as f:
    f.write(json.dumps({"id": "q1", "question": "a farmer has seventeen sheep and all but nine run away how many sheep are left in the field"}) + "\n")
with open(f"{tmp}/de_words.txt", "w") as f:
    f.write("scheisse\narschloch\n")
import fasttext
with open(f"{tmp}/train.txt", "w") as f:
    for i in range(2000):  # fewer, this repetitive, makes fastText diverge (NaN)
        f.write(f"__label__hq the committee published a detailed report on regional water quality {i}\n")
        f.write(f"__label__lq click here buy now cheap cheap cheap {i}\n")
fasttext.train_supervised(input=f"{tmp}/train.txt", epoch=5, dim=8, bucket=10000, verbose=0, thread=1).save_model(f"{tmp}/quality.bin")

import pyarrow as pa
from engine.schema import read_batch
from filters.chain import apply_chain
from filters.registry import FILTER_CLASSES

docs = pa.Table.from_batches([read_batch([
    {"id": "1", "text": "The committee published a detailed report on regional water quality last week. " * 5,
     "url": "https://www.example.org/reports/water", "lang": "en"},
    {"id": "2", "text": "Der Ausschuss hat letzte Woche einen Bericht veröffentlicht. So eine Scheisse!", "url": "http://0-1avsex.com/x"},
    {"id": "3", "text": "Quiz: a farmer has seventeen sheep and all but nine run away. How many sheep are left in the field?",
     "url": "http://news.example.com/free-porn-videos"},
    {"id": "4", "text": "def f(x):\n    return x + 1\n", "url": None},
    {"id": "5", "text": "", "url": "not a url"},
    {"id": "6", "text": None, "reason": "read:bad_record"},
])])

report = {}
for cls in FILTER_CLASSES:
    kind = cls.model_fields["kind"].default
    p = {k: (json.loads(json.dumps(v).replace("{tmp}", tmp))) for k, v in params.get(kind, {}).items()}
    try:
        flt = cls(**p)
    except Exception as e:
        report[kind] = {"error": f"cannot instantiate with {p}: {type(e).__name__}: {e}"[:600] + " -- add its parameters to PARAMS in tests/test_no_network.py"}
        continue
    try:
        out = apply_chain([flt], docs)
        report[kind] = {"rows": out.num_rows, "reasons": out.column("reason").to_pylist()}
    except Exception as e:
        import traceback
        report[kind] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-1500:]}
print(json.dumps({"attempts": attempts, "filters": report}))
'''


def test_every_registered_filter_runs_without_network(tmp_path):
    env = dict(os.environ, TAMIS_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT),
               TLDEXTRACT_CACHE=str(tmp_path / "tld"), HF_HUB_OFFLINE="0")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path), json.dumps(PARAMS)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["attempts"] == [], result["attempts"]
    errors = {k: v for k, v in result["filters"].items() if "error" in v}
    assert not errors, errors

    from filters.registry import FILTER_CLASSES

    kinds = {cls.model_fields["kind"].default for cls in FILTER_CLASSES}
    assert set(result["filters"]) == kinds
    for kind in ("language", "nsfw", "decontaminate", "quality_classifier"):
        assert kind in kinds
    # the filters of this suite really did their work offline
    r = result["filters"]
    assert r["nsfw"]["reasons"][1] == "nsfw_url" and r["nsfw"]["reasons"][2] == "nsfw_url_words"
    assert r["decontaminate"]["reasons"][2] == "decontaminated:quiz"
    assert r["language"]["reasons"][0] is None and r["language"]["reasons"][5] == "read:bad_record"
    assert all(len(v["reasons"]) == 6 for v in r.values())
