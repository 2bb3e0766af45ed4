"""WARC / ARC and WET readers (kinds `warc` and `wet`).

One pass over the file, streaming, with our own record parser on top of a gzip reader that keeps going:

- compression by magic bytes, not by extension: gzip (one member per record as Common Crawl writes it,
  or one stream for the whole file as ClueWeb ships it, gzip EXTRA fields, members that cut records in
  odd places), or none. A corrupt gzip member is skipped: the reader looks for the next member header
  and carries on (`read:bad_gzip`); a file cut short ends with `read:truncated` for the record it cut.
- records: WARC 0.18/1.0/1.1 and ARC v1/v2 (header line `URL IP date type [...] length`). A header that
  cannot be parsed becomes one `read:malformed_header` row, then the reader skips to the next line that
  starts a record. A record cut short (EOF or a broken gzip member inside it) is `read:truncated`. Lying
  Content-Length, a record that raises: resync.py (`read:bad_content_length`, `read:error:*`).
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

Modules: stream.py (decompressed bytes past gzip damage) · records.py (WARC/ARC record parser) ·
resync.py (block reading, lying Content-Length, per-record quarantine) · http.py (HTTP head, chunking,
content encoding) · web.py (record -> row).
"""
from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from engine.readers.common import RowBatcher, relative_key
from engine.readers.warc.records import Bad, iter_records
from engine.readers.warc.resync import guarded_doc
from engine.readers.warc.stream import Stream, file_chunks
from engine.readers.warc.web import MAX_WET_BYTES, PageOptions, bad_row, warc_doc, wet_doc

HEAD_PEEK = 64 << 10         # bytes read of an over-large response to tell whether it is HTML


def read_warc(path: str, source) -> Iterator[pa.RecordBatch]:
    fkey = relative_key(path, source)
    opts = PageOptions(extractor=getattr(source, "extractor", "trafilatura"),
                       timeout=float(getattr(source, "extract_timeout", 2.0)),
                       max_html=int(getattr(source, "max_html_bytes", 5_000_000)))

    def want(fmt, headers, length):
        wtype = headers.get("warc-type", "").lower()
        if fmt == "arc":
            return 0 if wtype == "arcinfo" else opts.max_html + HEAD_PEEK
        if wtype != "response":
            return 0
        return opts.max_html + HEAD_PEEK

    rows = (bad_row(source, fkey, item, "web") if isinstance(item, Bad)
            else guarded_doc(lambda rec: warc_doc(rec, source, fkey, opts), item, source, fkey)
            for item in iter_records(Stream(file_chunks(path)), want))
    yield from RowBatcher().batches(rows)


def read_wet(path: str, source) -> Iterator[pa.RecordBatch]:
    fkey = relative_key(path, source)

    def want(fmt, headers, length):
        if fmt == "warc" and headers.get("warc-type", "").lower() == "conversion":
            return MAX_WET_BYTES
        return 0

    rows = (bad_row(source, fkey, item, "web") if isinstance(item, Bad)
            else guarded_doc(lambda rec: wet_doc(rec, source, fkey), item, source, fkey)
            for item in iter_records(Stream(file_chunks(path)), want))
    yield from RowBatcher().batches(rows)
