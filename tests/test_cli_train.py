"""`tamis train-quality` through CliRunner on real sentences: a real fastText model comes out and separates them."""
from __future__ import annotations

import json

from click.testing import CliRunner

from engine.cli import main
from tests.conftest import shared_data


def test_train_quality_cli(tmp_path):
    d = shared_data("langid", "sentences")
    for name, lang in (("pos", "en"), ("neg", "fr")):
        lines = d.joinpath(f"{lang}.txt").read_text().splitlines()[:500]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"body": l}) + "\n" for l in lines))
    model = tmp_path / "q.bin"
    r = CliRunner().invoke(main, ["train-quality", str(tmp_path / "pos.jsonl"), str(tmp_path / "neg.jsonl"),
                                  "-o", str(model), "--text-field", "body", "--epoch", "10"])
    assert r.exit_code == 0, r.output
    assert model.exists() and "450 positive and 450 negative documents; held-out (100)" in r.output
    precision = float(r.output.split("precision ")[1].split(",")[0])
    assert precision > 0.9


def test_train_quality_missing_input(tmp_path):
    r = CliRunner().invoke(main, ["train-quality", str(tmp_path / "x"), str(tmp_path / "y"), "-o", "m.bin"])
    assert r.exit_code == 2
