"""WARC / ARC and WET readers (kinds `warc` and `wet`).

One pass over the file, streaming, with our own record parser on top of a gzip reader that keeps going:

- compression by magic bytes, not by extension: gzip (one member per record as Common Crawl writes it,
  or one stream for the whole file as ClueWeb ships it, gzip EXTRA fields, members that cut records in
  odd places), or none. A corrupt gzip member is skipped: the reader looks for the next member header
  and carries on (`read:bad_gzip`); a file cut short ends with `read:truncated` for the record it cut.
- records: WARC 0.18/1.0/1.1 and ARC v1/v2 (header line `URL IP date type [...] length`). A header that
  cannot be parsed becomes one `read:malformed_header` row, then the reader skips to the next line that
  starts a record. A record cut short (EOF or a broken gzip member inside it) is `read:truncated`. Lying
  Content-Length, a record that raises: warc_resync.py (`read:bad_content_length`, `read:error:*`).
- `warc`: HTTP `response` records (and ARC records) with a 2xx status whose payload is HTML — by the HTTP
  Content-Type (text/html, application/xhtml+xml), by Common Crawl's WARC-Identified-Payload-Type, or
  sniffed from the first bytes when the type is missing or generic — become `web` documents. Chunked
  transfer encoding and gzip/deflate/br content encoding are undone (tolerantly: a payload that is
  already decoded, as in many WARCs that keep the header, is used as is). The text comes from
  `engine.extract` (`extractor`, `extract_timeout`); a payload over `max_html_bytes` is
  `read:html_too_large` (and is skipped, not read into memory). Everything else (requests, metadata,
  revisits, non-HTML or non-2xx responses) is not a document and is not emitted.
- `wet`: `conversion` records, the text as it is (UTF-8; `read:invalid_utf8` otherwise).

Row ids: stable_id(source, WARC-Record-ID); ARC records (no id) and unreadable spans use
`<file relative key>@<offset in the uncompressed stream>`. Other reasons: `read:empty_file`,
`read:not_warc` (no record header at the start), `read:unsupported_compression` (zstd, bz2, xz),
`read:bad_chunking`, `read:bad_content_encoding`, `read:no_text` (extraction found no main text; for
WET, an empty conversion record), `read:extract_error`, `read:invalid_utf8` and `read:text_too_large`
(WET). A record cut short is counted even when it would not have been a document. A record shorter than
its declared length at the end of the file whose HTTP payload is nevertheless whole (Content-Length
matched: e.g. an ARC whose headers were rewritten CRLF -> LF) is kept, with a note in `meta.detail`.
A page that hit the extraction time limit is kept with resiliparse's text and `meta.extract_note`.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

import pyarrow as pa

from engine.readers import RowBatcher, _json, reader, relative_key
from engine.readers.warc_resync import guarded_doc as _guarded_doc, read_block
from engine.schema import stable_id

CHUNK = 1 << 20              # compressed bytes read at a time
OUT_MAX = 4 << 20            # decompressed bytes produced per step (bounds memory on gzip bombs)
MAX_LINE = 64 << 10          # a header line longer than this is not a header line
MAX_HEADER = 256 << 10       # a WARC header block larger than this is malformed
HEAD_PEEK = 64 << 10         # bytes read of an over-large response to tell whether it is HTML
MAX_WET_BYTES = 64 << 20     # a conversion record larger than this is read:text_too_large
EXCERPT = 2000

HTML_TYPES = {"text/html", "application/xhtml+xml", "application/xhtml", "text/xhtml"}
SNIFF_TYPES = {"", "application/octet-stream", "unknown", "unknown/unknown", "application/unknown",
               "binary/octet-stream", "*/*", "none", "text/unknown"}
_SNIFF = re.compile(rb"^\s*<(?:!doctype\s+html|html|head|body|title|script|iframe|h1|div|font|table|a|style|"
                    rb"b|br|p|!--)[\s>/]", re.I)
_ARC_DATE = re.compile(rb"^\d{12,18}$")


# ============================================================ decompressed byte stream with events


@dataclass
class _Event:
    kind: str           # "bad_gzip" | "truncated" | "empty_file" | "unsupported_compression"
    offset: int         # offset in the compressed file
    detail: str = ""


def _find_magic(f, start: int) -> int | None:
    """Offset of the next plausible gzip member header at or after `start`, or None."""
    f.seek(start)
    carry = b""
    base = start
    while True:
        block = f.read(CHUNK)
        if not block:
            return None
        data = carry + block
        i = data.find(b"\x1f\x8b\x08")
        while i != -1:
            if i + 10 <= len(data) and data[i + 3] & 0xE0 == 0:   # reserved FLG bits must be zero
                return base + i
            if i + 10 > len(data):
                break
            i = data.find(b"\x1f\x8b\x08", i + 1)
        carry = data[-12:]
        base += len(data) - len(carry)


def _file_chunks(path: str) -> Iterator[bytes | _Event]:
    """The file's decompressed bytes, as chunks, with _Event markers where something went wrong."""
    with open(path, "rb") as f:
        magic = f.read(6)
        if not magic:
            yield _Event("empty_file", 0)
            return
        if magic[:2] == b"\x1f\x8b":
            yield from _gzip_chunks(f)
            return
        if magic[:4] == b"\x28\xb5\x2f\xfd" or magic[:3] == b"BZh" or magic[:6] == b"\xfd7zXZ\x00":
            yield _Event("unsupported_compression", 0, {b"\x28\xb5": "zstd", b"BZ": "bz2"}.get(magic[:2], "xz"))
            return
        f.seek(0)
        while True:
            block = f.read(CHUNK)
            if not block:
                return
            yield block


def _gzip_chunks(f) -> Iterator[bytes | _Event]:
    f.seek(0)
    pos = 0                  # file offset of pending[0]
    member_start = 0
    fed = False              # bytes of the current member were fed to the decompressor
    d = zlib.decompressobj(31)
    pending = b""
    while True:
        if not pending:
            pending = f.read(CHUNK)
            if not pending:
                if fed:
                    yield _Event("truncated", member_start, "gzip member ends before its end")
                return
        if not fed and pending[:1] != b"\x1f":
            # between members: trailing NUL padding is harmless, anything else is garbage
            rest = pending + f.read()
            if rest.strip(b"\x00") == b"":
                return
            nxt = _find_magic(f, pos)
            yield _Event("bad_gzip", pos, "garbage between gzip members")
            if nxt is None:
                return
            f.seek(nxt)
            pos = member_start = nxt
            pending = b""
            continue
        try:
            out = d.decompress(pending, OUT_MAX)
        except zlib.error as e:
            yield _Event("bad_gzip", member_start, str(e)[:200])
            nxt = _find_magic(f, member_start + 1)
            if nxt is None:
                return
            f.seek(nxt)
            pos = member_start = nxt
            pending, fed, d = b"", False, zlib.decompressobj(31)
            continue
        fed = True
        if out:
            yield out
        if d.eof:
            rest = d.unused_data
            pos += len(pending) - len(rest)
            pending, member_start, fed, d = rest, pos, False, zlib.decompressobj(31)
        else:
            tail = d.unconsumed_tail
            pos += len(pending) - len(tail)
            pending = tail


class _Stream:
    """A read/readline interface over _file_chunks. An _Event stops the data; it waits in `event`
    until the parser takes it, after which reading goes on (after a bad gzip member, from the next one)."""

    def __init__(self, chunks: Iterator[bytes | _Event]):
        self._it = chunks
        self._buf = bytearray()
        self._pos = 0
        self.offset = 0            # uncompressed bytes consumed so far
        self.event: _Event | None = None
        self._held: _Event | None = None   # an event behind bytes put back with `unread`
        self._done = False

    def _fill(self) -> bool:
        if self._held is not None:         # the bytes put back are read: now the event shows
            self.event, self._held = self._held, None
            return False
        if self.event is not None or self._done:
            return False
        try:
            item = next(self._it)
        except StopIteration:
            self._done = True
            return False
        if isinstance(item, _Event):
            self.event = item
            return False
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += item
        return True

    def take_event(self) -> _Event | None:
        ev, self.event = self.event, None
        return ev

    def readline(self, limit: int = MAX_LINE) -> bytes:
        while True:
            i = self._buf.find(b"\n", self._pos, self._pos + limit)
            if i != -1:
                return self._take(i + 1 - self._pos)
            if len(self._buf) - self._pos >= limit or not self._fill():
                return self._take(min(limit, len(self._buf) - self._pos))

    def read(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n and self._fill():
            pass
        return self._take(min(n, len(self._buf) - self._pos))

    def skip(self, n: int) -> int:
        skipped = 0
        while skipped < n:
            avail = len(self._buf) - self._pos
            if not avail and not self._fill():
                break
            k = min(n - skipped, len(self._buf) - self._pos)
            self._pos += k
            self.offset += k
            skipped += k
        return skipped

    def unread(self, data: bytes) -> None:
        """Put `data` back in front of what is left to read (a peek, or a resync on a record header)."""
        if len(data) <= self._pos:   # over bytes already consumed: no copy of the (up to 4 MB) buffer
            self._buf[self._pos - len(data):self._pos] = data
            self._pos -= len(data)
        else:
            self._buf, self._pos = bytearray(data) + self._buf[self._pos:], 0
        self.offset -= len(data)
        if self.event is not None:   # the parser sees an event only once the bytes before it are read
            self._held, self.event = self.event, None

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[self._pos:self._pos + n])
        self._pos += n
        self.offset += n
        return out


# ============================================================ record parser


@dataclass
class _Record:
    fmt: str                    # "warc" | "arc"
    offset: int
    headers: dict               # lower-case name -> value (first occurrence)
    length: int
    block: bytes | None = None  # None when skipped
    complete: bool = True       # False: the block ended before `length` bytes
    cut_by: str | None = None   # the event that cut it ("truncated", "bad_gzip")
    skipped_rest: int = 0


@dataclass
class _Bad:
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


def iter_records(stream: _Stream, want) -> Iterator[_Record | _Bad]:
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
                yield _Bad(ev.kind, 0, ev.detail)
                return
            yield _Bad(ev.kind, start, ev.detail, comp_offset=ev.offset)
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
            yield _Bad("not_warc" if first else "malformed_header", start, "no record header here",
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


def _warc_record(stream: _Stream, first_line: bytes, start: int, want):
    """Generator helper: yields _Bad/_Record, returns True when a record was parsed (False to resync)."""
    headers: dict[str, str] = {}
    size = len(first_line)
    last = None
    while True:
        line = stream.readline()
        if stream.event is not None:
            ev = stream.take_event()
            yield _Bad("truncated" if ev.kind == "truncated" else ev.kind, start, "in WARC header: " + ev.detail,
                       headers=headers, comp_offset=ev.offset)
            return True
        if not line:
            yield _Bad("truncated", start, "EOF in WARC header", headers=headers)
            return True
        size += len(line)
        if size > MAX_HEADER:
            yield _Bad("malformed_header", start, "WARC header too large", headers=headers)
            return None
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and last:
            headers[last] += " " + _hdr_str(line.strip())
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue   # tolerated, as warcio does
        last = _hdr_str(name.strip()).lower()
        if last not in headers:
            headers[last] = _hdr_str(value.strip())
    try:
        length = int(headers.get("content-length", "").strip())
        if length < 0:
            raise ValueError
    except ValueError:
        yield _Bad("malformed_header", start, f"bad Content-Length {headers.get('content-length')!r}",
                   headers=headers)
        return None
    rec = _Record("warc", start, headers, length)
    yield from read_block(stream, rec, want, _Bad)   # checks where the block ends; resyncs on a lying length
    return True


def _arc_record(stream: _Stream, line: bytes, start: int, want):
    url, date, ctype, length = _is_arc_header(line)
    headers = {"warc-target-uri": _hdr_str(url), "warc-date": _hdr_str(date), "arc-content-type": _hdr_str(ctype),
               "warc-type": "arcinfo" if url.startswith(b"filedesc:") else "response"}
    if length < 0:
        yield _Bad("malformed_header", start, f"ARC header with bad length: {line.strip()[:200]!r}", headers=headers)
        return None
    rec = _Record("arc", start, headers, length)
    yield from read_block(stream, rec, want, _Bad)
    return True


def _hdr_str(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


# ============================================================ HTTP payloads


def parse_http(block: bytes):
    """(status, headers, payload) of an HTTP response block, or None when it is not one."""
    if not block.startswith(b"HTTP/"):
        return None
    i, j = block.find(b"\r\n\r\n"), block.find(b"\n\n")
    if i == -1 and j == -1:
        head, payload = block, b""
    elif j != -1 and (i == -1 or j < i):
        head, payload = block[:j], block[j + 2:]
    else:
        head, payload = block[:i], block[i + 4:]
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    parts = lines[0].split(None, 2)
    try:
        status = int(parts[1]) if len(parts) > 1 else None
    except ValueError:
        status = None
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        name, sep, value = raw.partition(b":")
        if sep:
            headers.setdefault(_hdr_str(name.strip()).lower(), _hdr_str(value.strip()))
    return status, headers, payload


def dechunk(payload: bytes) -> tuple[bytes, bool]:
    """Undo chunked transfer encoding: (data, ok). A payload that does not start with a chunk size is
    returned as it is (already dechunked by the WARC writer)."""
    first = payload[:payload.find(b"\n") + 1] if b"\n" in payload[:32] else b""
    if not re.match(rb"^[0-9a-fA-F]+[ \t]*(;[^\r\n]*)?\r?\n$", first):
        return payload, True
    out, pos, n = [], 0, len(payload)
    while pos < n:
        eol = payload.find(b"\n", pos)
        if eol == -1:
            return b"".join(out), False
        size_s = payload[pos:eol].split(b";")[0].strip()
        try:
            size = int(size_s, 16)
        except ValueError:
            return b"".join(out), False
        if size == 0:
            return b"".join(out), True
        start = eol + 1
        if start + size > n:
            out.append(payload[start:])
            return b"".join(out), False
        out.append(payload[start:start + size])
        pos = start + size
        if payload[pos:pos + 2] == b"\r\n":
            pos += 2
        elif payload[pos:pos + 1] == b"\n":
            pos += 1
    return b"".join(out), False


def decode_content(payload: bytes, encoding: str, limit: int) -> tuple[bytes, str | None]:
    """Undo Content-Encoding (gzip, deflate, br), at most `limit`+1 bytes out: (data, problem)."""
    enc = (encoding or "").strip().lower()
    if enc in ("", "identity", "none", "utf-8", "text/html"):
        return payload, None
    try:
        if enc in ("gzip", "x-gzip"):
            if payload[:2] != b"\x1f\x8b":
                return payload, None          # stored decoded, header kept
            d = zlib.decompressobj(31)
        elif enc == "deflate":
            if payload[:1] == b"<" or payload[:5].lstrip()[:1] == b"<":
                return payload, None
            d = zlib.decompressobj(15 if payload[:1] == b"\x78" else -15)
        elif enc == "br":
            if payload.lstrip()[:1] == b"<":
                return payload, None
            import brotli
            try:
                out = brotli.decompress(payload)
            except brotli.error:
                return b"", "bad_content_encoding"
            return out[:limit + 1], None
        else:
            return payload, None
        out = d.decompress(payload, limit + 1)
        if not d.eof and len(out) <= limit:
            return out, "truncated"
        return out, None
    except (zlib.error, ImportError):
        return payload if payload.lstrip()[:1] == b"<" else b"", (
            None if payload.lstrip()[:1] == b"<" else "bad_content_encoding")


# ============================================================ helpers


def clean_url(raw: str | None) -> str | None:
    """WARC-Target-URI as a usable URL: no surrounding `<...>` (WARC 1.0 grammar, wget), no outer
    whitespace, inner spaces percent-encoded."""
    if raw is None:
        return None
    u = raw.strip()
    if u.startswith("<") and u.endswith(">"):
        u = u[1:-1].strip()
    u = re.sub(r"\s", lambda m: "%20" if m.group(0) == " " else "", u)
    return u or None


_DATE_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z",
                 "%Y-%m-%dT%H:%MZ", "%Y-%m-%d")


def iso_date(raw: str | None) -> str | None:
    """WARC-Date (or an ARC 14-digit date) as `YYYY-MM-DDTHH:MM:SSZ`, or None when it is not a date."""
    if not raw:
        return None
    s = raw.strip()
    if s.isdigit() and len(s) >= 8:
        s14 = (s + "000000")[:14]
        try:
            dt = datetime.strptime(s14, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        except ValueError:
            return None
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    for fmt in _DATE_FORMATS:
        try:
            dt = datetime.strptime(s, fmt)
        except ValueError:
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def _mime(ctype: str | None) -> tuple[str, str | None]:
    """(mime type lower-case, charset or None) of a Content-Type value."""
    if not ctype:
        return "", None
    parts = ctype.split(";")
    mime = parts[0].strip().lower()
    charset = None
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k.strip().lower() == "charset":
            charset = v.strip().strip("\"'") or None
    return mime, charset


def _bad_row(source, fkey: str, bad: _Bad, kind: str) -> dict:
    rid = bad.headers.get("warc-record-id")
    key = rid or f"{fkey}@{bad.offset}" + (f"/{bad.comp_offset}" if bad.comp_offset is not None else "")
    meta = {"warc_file": fkey, "offset": bad.offset, "detail": bad.detail or None}
    if bad.comp_offset is not None:
        meta["compressed_offset"] = bad.comp_offset
    if rid:
        meta["record_id"] = rid
    if bad.headers.get("warc-type"):
        meta["warc_type"] = bad.headers["warc-type"]
    text = bad.excerpt.decode("utf-8", "replace")[:EXCERPT] if bad.excerpt else None
    return {"id": stable_id(source.name, f"{key}:{bad.reason}"), "source": source.name, "kind": kind,
            "url": clean_url(bad.headers.get("warc-target-uri")), "text": text, "meta": _json(meta),
            "reason": f"read:{bad.reason}"}


# ============================================================ kind: warc


@reader("warc")
def read_warc(path: str, source) -> Iterator[pa.RecordBatch]:
    from engine.extract import decode_html, extract_detailed

    fkey = relative_key(path, source)
    extractor = getattr(source, "extractor", "trafilatura")
    timeout = float(getattr(source, "extract_timeout", 2.0))
    max_html = int(getattr(source, "max_html_bytes", 5_000_000))

    def want(fmt, headers, length):
        wtype = headers.get("warc-type", "").lower()
        if fmt == "arc":
            return 0 if wtype == "arcinfo" else max_html + HEAD_PEEK
        if wtype != "response":
            return 0
        return max_html + HEAD_PEEK

    def doc(rec: _Record):
        return _warc_doc(rec, source, fkey, extractor, timeout, max_html, decode_html, extract_detailed)

    rows = (_bad_row(source, fkey, item, "web") if isinstance(item, _Bad) else _guarded_doc(doc, item, source, fkey)
            for item in iter_records(_Stream(_file_chunks(path)), want))
    yield from RowBatcher().batches(rows)


def _warc_doc(rec: _Record, source, fkey, extractor, timeout, max_html, decode_html, extract_detailed):
    row = _warc_doc_or_none(rec, source, fkey, extractor, timeout, max_html, decode_html, extract_detailed)
    if row is None and not rec.complete:   # cut too early to tell what it was: the file is damaged here
        return _bad_row(source, fkey, _Bad(rec.cut_by or "truncated", rec.offset,
                                           f"record block ends at {len(rec.block or b'')} of {rec.length} bytes",
                                           headers=rec.headers), "web")
    return row


def _warc_doc_or_none(rec: _Record, source, fkey, extractor, timeout, max_html, decode_html, extract_detailed):
    h = rec.headers
    if rec.block is None:
        return None
    http = parse_http(rec.block)
    if http is None:
        return None   # not an HTTP response (dns:, resource-like ARC records, ...)
    status, hh, payload = http
    if status is None or not 200 <= status < 300:
        return None
    mime, charset = _mime(hh.get("content-type"))
    identified = _mime(h.get("warc-identified-payload-type"))[0]
    if mime in HTML_TYPES or identified in HTML_TYPES:
        pass
    elif mime in SNIFF_TYPES and _SNIFF.match(payload[:1024]):
        pass
    else:
        return None
    rid = h.get("warc-record-id") or f"{fkey}@{rec.offset}"
    url = clean_url(h.get("warc-target-uri"))
    meta = {"record_id": h.get("warc-record-id"), "warc_file": fkey, "warc_date": h.get("warc-date"),
            "crawl_date": iso_date(h.get("warc-date")), "content_type": hh.get("content-type"),
            "http_status": status, "format": rec.fmt}
    if rec.fmt == "arc":
        meta["offset"] = rec.offset
    if h.get("warc-truncated"):
        meta["warc_truncated"] = h["warc-truncated"]
    row = {"id": stable_id(source.name, rid), "source": source.name, "kind": "web", "url": url}

    def bad(reason, detail, text=None):
        meta["detail"] = detail
        row.update(text=text, meta=_json(meta), reason=f"read:{reason}")
        return row

    if rec.skipped_rest or len(payload) > max_html:
        return bad("html_too_large", f"record of {rec.length} bytes > max_html_bytes={max_html}")
    problem = None
    if not rec.complete:
        declared = hh.get("content-length", "")
        if (rec.cut_by == "truncated" and declared.isdigit() and len(payload) >= int(declared)
                and not hh.get("transfer-encoding") and not hh.get("content-encoding")):
            # the file ends early, but the HTTP payload is whole (e.g. CRLF -> LF rewritten headers)
            meta["detail"] = f"record shorter than declared ({len(rec.block)} of {rec.length} bytes); payload whole"
        else:
            problem = ("truncated" if rec.cut_by in (None, "truncated") else rec.cut_by,
                       f"record block ends at {len(rec.block)} of {rec.length} bytes")
    if "chunked" in hh.get("transfer-encoding", "").lower():
        payload, ok = dechunk(payload)
        if not ok and problem is None:
            problem = ("bad_chunking", "chunked transfer encoding is broken or cut")
    payload, enc_problem = decode_content(payload, hh.get("content-encoding", ""), max_html)
    if len(payload) > max_html:
        return bad("html_too_large", f"decoded payload > max_html_bytes={max_html}")
    if enc_problem and problem is None:
        problem = (enc_problem, f"content-encoding {hh.get('content-encoding')!r} could not be undone")
    html, cs, cs_how = decode_html(payload, charset)
    meta.update(charset=cs, charset_source=cs_how)
    res = extract_detailed(html, extractor, timeout)
    meta.update(extractor=res.extractor)
    if res.note:
        meta["extract_note"] = res.note
    if problem is not None:
        return bad(problem[0], problem[1], (res.text or "")[:EXCERPT] or None)
    if res.text is None:
        if res.note and res.note.startswith("error"):
            return bad("extract_error", res.note)
        return bad("no_text", "the extractor found no main text")
    row.update(text=res.text, meta=_json(meta))
    return row


# ============================================================ kind: wet


@reader("wet")
def read_wet(path: str, source) -> Iterator[pa.RecordBatch]:
    fkey = relative_key(path, source)

    def want(fmt, headers, length):
        if fmt == "warc" and headers.get("warc-type", "").lower() == "conversion":
            return MAX_WET_BYTES
        return 0

    rows = (_bad_row(source, fkey, item, "web") if isinstance(item, _Bad)
            else _guarded_doc(lambda rec: _wet_doc(rec, source, fkey), item, source, fkey)
            for item in iter_records(_Stream(_file_chunks(path)), want))
    yield from RowBatcher().batches(rows)


def _wet_doc(rec: _Record, source, fkey) -> dict | None:
    if rec.block is None:
        return None
    h = rec.headers
    rid = h.get("warc-record-id") or f"{fkey}@{rec.offset}"
    meta = {"record_id": h.get("warc-record-id"), "warc_file": fkey, "warc_date": h.get("warc-date"),
            "crawl_date": iso_date(h.get("warc-date")), "refers_to": h.get("warc-refers-to"),
            "content_type": h.get("content-type"), "cc_lang": h.get("warc-identified-content-language")}
    row = {"id": stable_id(source.name, rid), "source": source.name, "kind": "web",
           "url": clean_url(h.get("warc-target-uri"))}
    reason = None
    if rec.skipped_rest:
        reason, text = "text_too_large", None
        meta["detail"] = f"conversion record of {rec.length} bytes > {MAX_WET_BYTES}"
    else:
        try:
            text = rec.block.decode("utf-8")
        except UnicodeDecodeError:
            reason, text = "invalid_utf8", rec.block[:EXCERPT * 2].decode("utf-8", "replace")[:EXCERPT]
        if not rec.complete:
            reason = "truncated" if rec.cut_by in (None, "truncated") else rec.cut_by
            meta["detail"] = f"record block ends at {len(rec.block)} of {rec.length} bytes"
            text = (text or "")[:EXCERPT]
        elif reason is None and not text.strip():
            reason = "no_text"
    row.update(text=text.strip() if text and reason is None else text, meta=_json(meta),
               reason=f"read:{reason}" if reason else None)
    return row
