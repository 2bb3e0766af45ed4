"""The WARC / ARC record parser: a `Stream` -> records and unreadable spans.

Records: WARC 0.18/1.0/1.1 and ARC v1/v2 (header line `URL IP date type [...] length`). A header that
cannot be parsed becomes one `malformed_header` span, then the parser skips to the next line that starts a
record. A record cut short (EOF or a broken gzip member inside it) is `truncated`. Reading the block, and
resynchronising when a WARC Content-Length lies, is resync.py's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

from engine.readers.warc.resync import read_block
from engine.readers.warc.stream import Stream

MAX_HEADER = 256 << 10       # a WARC header block larger than this is malformed
_ARC_DATE = re.compile(rb"^\d{12,18}$")


@dataclass
class Record:
    fmt: str                    # "warc" | "arc"
    offset: int
    headers: dict               # lower-case name -> value (first occurrence)
    length: int
    block: bytes | None = None  # None when skipped
    complete: bool = True       # False: the block ended before `length` bytes
    cut_by: str | None = None   # the event that cut it ("truncated", "bad_gzip")
    skipped_rest: int = 0


@dataclass
class Bad:
    reason: str
    offset: int
    detail: str = ""
    headers: dict = field(default_factory=dict)
    excerpt: bytes = b""
    comp_offset: int | None = None   # offset in the compressed file, for gzip events


def _is_arc_header(line: bytes):
    """(url, date, content_type, length) of an ARC header line, or None; length may be invalid (-1)."""
    parts = line.strip().split(b" ")
    if len(parts) < 5:
        return None
    # v1: URL IP date type length; v2: URL IP date type code checksum location offset filename length.
    # The URL may contain spaces: find the date field (12-18 digits) scanning from the left.
    for i in range(1, len(parts) - 2):
        if _ARC_DATE.match(parts[i + 1]) and (b"." in parts[i] or b":" in parts[i] or parts[i] == b"-"):
            url = b" ".join(parts[:i])
            if not (b":" in url.split(b"/")[0] or url.startswith(b"filedesc")):
                return None
            ctype = parts[i + 2]
            try:
                length = int(parts[-1])
            except ValueError:
                length = -1
            return url, parts[i + 1], ctype, length
    return None


def iter_records(stream: Stream, want) -> Iterator[Record | Bad]:
    """Records and unreadable spans of a WARC/ARC stream. `want(fmt, headers, length)` says how many
    block bytes to read into memory (the rest is skipped); 0 skips the block entirely."""
    carry: bytes | None = None     # a line read while resyncing that starts the next record
    first = True
    while True:
        if carry is not None:
            line, carry = carry, None
            start = stream.offset - len(line)
        else:
            start = stream.offset
            line = stream.readline()
        ev = stream.take_event()
        if ev is not None:
            if ev.kind in ("empty_file", "unsupported_compression"):
                yield Bad(ev.kind, 0, ev.detail)
                return
            yield Bad(ev.kind, start, ev.detail, comp_offset=ev.offset)
            first = False
            continue
        if not line:
            return
        if not line.strip():
            continue
        if line.startswith(b"WARC/"):
            rec = yield from _warc_record(stream, line, start, want)
        elif _is_arc_header(line):
            rec = yield from _arc_record(stream, line, start, want)
        else:
            rec = None
            yield Bad("not_warc" if first else "malformed_header", start, "no record header here",
                       excerpt=line[:200])
        first = False
        if rec is None:
            # resync: skip to the next line that starts a record
            while True:
                line = stream.readline()
                if stream.event is not None or not line:
                    break
                if line.startswith(b"WARC/") or _is_arc_header(line):
                    carry = line
                    break


def _warc_record(stream: Stream, first_line: bytes, start: int, want):
    """Generator helper: yields Bad/Record, returns True when a record was parsed (False to resync)."""
    headers: dict[str, str] = {}
    size = len(first_line)
    last = None
    while True:
        line = stream.readline()
        if stream.event is not None:
            ev = stream.take_event()
            yield Bad("truncated" if ev.kind == "truncated" else ev.kind, start, "in WARC header: " + ev.detail,
                       headers=headers, comp_offset=ev.offset)
            return True
        if not line:
            yield Bad("truncated", start, "EOF in WARC header", headers=headers)
            return True
        size += len(line)
        if size > MAX_HEADER:
            yield Bad("malformed_header", start, "WARC header too large", headers=headers)
            return None
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and last:
            headers[last] += " " + header_str(line.strip())
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue   # tolerated, as warcio does
        last = header_str(name.strip()).lower()
        if last not in headers:
            headers[last] = header_str(value.strip())
    try:
        length = int(headers.get("content-length", "").strip())
        if length < 0:
            raise ValueError
    except ValueError:
        yield Bad("malformed_header", start, f"bad Content-Length {headers.get('content-length')!r}",
                   headers=headers)
        return None
    rec = Record("warc", start, headers, length)
    yield from read_block(stream, rec, want, Bad)   # checks where the block ends; resyncs on a lying length
    return True


def _arc_record(stream: Stream, line: bytes, start: int, want):
    url, date, ctype, length = _is_arc_header(line)
    headers = {"warc-target-uri": header_str(url), "warc-date": header_str(date), "arc-content-type": header_str(ctype),
               "warc-type": "arcinfo" if url.startswith(b"filedesc:") else "response"}
    if length < 0:
        yield Bad("malformed_header", start, f"ARC header with bad length: {line.strip()[:200]!r}", headers=headers)
        return None
    rec = Record("arc", start, headers, length)
    yield from read_block(stream, rec, want, Bad)
    return True


def header_str(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")
