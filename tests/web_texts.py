"""Real web text for the filter parity tests: resiliparse main-content text of WARC responses, and the distinct
`text` fields of gzipped JSONL documents. (bench/bench_quality_filters.py imports these, so both read the same corpus;
tests never import bench/.)"""
from __future__ import annotations

import gzip
import json
from pathlib import Path


def warc_texts(path: Path) -> list[str]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    out = []
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
            body = rec.reader.read()
            out.append(extract_plain_text(bytes_to_str(body, detect_encoding(body)), main_content=True))
    return out


def jsonl_texts(folder: Path) -> list[str]:
    out, seen = [], set()
    for p in sorted(folder.rglob("*.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for line in f:
                t = json.loads(line).get("text")
                if isinstance(t, str) and t not in seen:
                    seen.add(t)
                    out.append(t)
    return out
