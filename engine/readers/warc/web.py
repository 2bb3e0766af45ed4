"""WARC / WET records -> `web` document rows (or rejects with their `read:*` reason).

- `warc`: HTTP `response` records (and ARC records) with a 2xx status whose payload is HTML (http.py's
  `is_html`) become documents. Chunked transfer encoding and gzip/deflate/br content encoding are undone
  (tolerantly: a payload that is already decoded, as in many WARCs that keep the header, is used as is).
  The text comes from `engine.extract`; a payload over `max_html_bytes` is `read:html_too_large`.
  Anything else is not a document: `None`, not emitted.
- `wet`: `conversion` records, the text as it is (UTF-8; `read:invalid_utf8` otherwise).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from engine import extract
from engine.readers.common import meta_json
from engine.readers.warc.http import dechunk, decode_content, is_html, mime_type, parse_http
from engine.readers.warc.records import Bad, Record
from engine.schema import stable_id

MAX_WET_BYTES = 64 << 20     # a conversion record larger than this is read:text_too_large
EXCERPT = 2000


@dataclass(frozen=True)
class PageOptions:
    """A `warc` source's extraction settings."""
    extractor: str
    timeout: float           # seconds per page (engine.extract's time budget)
    max_html: int            # payload bytes over this are read:html_too_large


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


def bad_row(source, fkey: str, bad: Bad, kind: str) -> dict:
    """The reject row of an unreadable span or a damaged record."""
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
            "url": clean_url(bad.headers.get("warc-target-uri")), "text": text, "meta": meta_json(meta),
            "reason": f"read:{bad.reason}"}



# ============================================================ kind: warc


def warc_doc(rec: Record, source, fkey: str, opts: PageOptions) -> dict | None:
    """The row of one WARC/ARC record: a page, a reject, or None when the record is not a page."""
    row = _warc_doc_or_none(rec, source, fkey, opts)
    if row is None and not rec.complete:   # cut too early to tell what it was: the file is damaged here
        return bad_row(source, fkey, Bad(rec.cut_by or "truncated", rec.offset,
                                         f"record block ends at {len(rec.block or b'')} of {rec.length} bytes",
                                         headers=rec.headers), "web")
    return row


def _warc_doc_or_none(rec: Record, source, fkey: str, opts: PageOptions) -> dict | None:
    page = _html_response(rec)
    if page is None:
        return None
    status, hh, payload, charset = page
    h = rec.headers
    meta = _page_meta(rec, fkey, status, hh)
    row = {"id": stable_id(source.name, h.get("warc-record-id") or f"{fkey}@{rec.offset}"), "source": source.name,
           "kind": "web", "url": clean_url(h.get("warc-target-uri"))}
    if rec.skipped_rest or len(payload) > opts.max_html:
        return _reject(row, meta, "html_too_large", f"record of {rec.length} bytes > max_html_bytes={opts.max_html}")
    payload, problem = _decoded_payload(rec, hh, payload, meta, opts.max_html)
    if len(payload) > opts.max_html:
        return _reject(row, meta, "html_too_large", f"decoded payload > max_html_bytes={opts.max_html}")
    html, cs, cs_how = extract.decode_html(payload, charset)
    meta.update(charset=cs, charset_source=cs_how)
    res = extract.extract_detailed(html, opts.extractor, opts.timeout)
    meta.update(extractor=res.extractor)
    if res.note:
        meta["extract_note"] = res.note
    if problem is not None:
        return _reject(row, meta, problem[0], problem[1], (res.text or "")[:EXCERPT] or None)
    if res.text is None:
        if res.note and res.note.startswith("error"):
            return _reject(row, meta, "extract_error", res.note)
        return _reject(row, meta, "no_text", "the extractor found no main text")
    row.update(text=res.text, meta=meta_json(meta))
    return row


def _html_response(rec: Record):
    """(status, HTTP headers, payload, charset) of a 2xx HTML response record, or None."""
    if rec.block is None:
        return None
    http = parse_http(rec.block)
    if http is None:
        return None   # not an HTTP response (dns:, resource-like ARC records, ...)
    status, hh, payload = http
    if status is None or not 200 <= status < 300:
        return None
    mime, charset = mime_type(hh.get("content-type"))
    if not is_html(mime, rec.headers, payload):
        return None
    return status, hh, payload, charset


def _page_meta(rec: Record, fkey: str, status: int, hh: dict) -> dict:
    h = rec.headers
    meta = {"record_id": h.get("warc-record-id"), "warc_file": fkey, "warc_date": h.get("warc-date"),
            "crawl_date": iso_date(h.get("warc-date")), "content_type": hh.get("content-type"),
            "http_status": status, "format": rec.fmt}
    if rec.fmt == "arc":
        meta["offset"] = rec.offset
    if h.get("warc-truncated"):
        meta["warc_truncated"] = h["warc-truncated"]
    return meta


def _decoded_payload(rec: Record, hh: dict, payload: bytes, meta: dict, max_html: int):
    """(payload with chunking and content encoding undone, the first problem met: (reason, detail) or None)."""
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
    if enc_problem and problem is None:
        problem = (enc_problem, f"content-encoding {hh.get('content-encoding')!r} could not be undone")
    return payload, problem


def _reject(row: dict, meta: dict, reason: str, detail: str, text: str | None = None) -> dict:
    meta["detail"] = detail
    row.update(text=text, meta=meta_json(meta), reason=f"read:{reason}")
    return row


# ============================================================ kind: wet


def wet_doc(rec: Record, source, fkey: str) -> dict | None:
    """The row of one WET record: a `conversion` record's text, or a reject; None when it was not read."""
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
    row.update(text=text.strip() if text and reason is None else text, meta=meta_json(meta),
               reason=f"read:{reason}" if reason else None)
    return row
