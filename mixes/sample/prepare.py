"""Write the demo's prose input from what every Python install has: the reference manual's topics.

`pydoc_data.topics` holds the text of the Python language reference (PSF license), one entry per
topic. Each topic becomes one web-like document. Output: mixes/sample/data/python_docs.jsonl.gz.
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path


def main(out_dir: str) -> Path:
    from pydoc_data import topics

    out = Path(out_dir) / "python_docs.jsonl.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt", encoding="utf-8") as f:
        for name in sorted(topics.topics):
            text = topics.topics[name]
            f.write(json.dumps({"id": f"pydoc/{name}", "text": text,
                                "url": f"https://docs.python.org/3/reference/#{name}"}) + "\n")
    return out


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).parent / "data")))
