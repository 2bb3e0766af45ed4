"""`tamis train-quality`: a fastText quality classifier from two document sets (DCLM-style)."""
from __future__ import annotations

import click

from engine.cli.common import exit_codes, out


@click.command("train-quality")
@click.argument("pos", nargs=1, type=click.Path(exists=True))
@click.argument("neg", nargs=1, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Model file to write (.bin).")
@click.option("--text-field", default="text", show_default=True, help="JSONL/Parquet field holding the text.")
@click.option("--epoch", default=5, show_default=True)
@click.option("--word-ngrams", default=2, show_default=True)
@click.option("--valid-fraction", default=0.1, show_default=True, help="Held out to report precision/recall.")
@click.option("--max-docs", default=None, type=int, help="Cap per class.")
@click.option("--seed", default=0, show_default=True)
def train_quality_cmd(pos, neg, output, text_field, epoch, word_ngrams, valid_fraction, max_docs, seed):
    """Train a classifier: POS documents are high quality (label hq), NEG are not (lq).

    POS and NEG are JSONL/Parquet/text files (or folders of them). Use the model in a spec with
    `{kind: quality_classifier, model: OUTPUT, top_percent: 10}` or `min_score: 0.5`.
    """
    from filters.quality_classifier import train_quality

    with exit_codes("train-quality"):
        r = train_quality([pos], [neg], output, text_field=text_field, epoch=epoch, word_ngrams=word_ngrams,
                          valid_fraction=valid_fraction, max_docs=max_docs, seed=seed)
    line = f"{r.model_path}: trained on {r.n_pos:,} positive and {r.n_neg:,} negative documents"
    if r.valid_n:
        line += f"; held-out ({r.valid_n:,}): precision {r.valid_precision:.3f}, recall {r.valid_recall:.3f}"
    out.print(line, soft_wrap=True)
