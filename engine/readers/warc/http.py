"""HTTP payloads inside WARC records: the response head, chunked transfer encoding, content encoding,
and whether the payload is HTML."""
from __future__ import annotations

import re
import zlib

from engine.readers.warc.records import header_str

HTML_TYPES = {"text/html", "application/xhtml+xml", "application/xhtml", "text/xhtml"}
SNIFF_TYPES = {"", "application/octet-stream", "unknown", "unknown/unknown", "application/unknown",
               "binary/octet-stream", "*/*", "none", "text/unknown"}
_SNIFF = re.compile(rb"^\s*<(?:!doctype\s+html|html|head|body|title|script|iframe|h1|div|font|table|a|style|"
                    rb"b|br|p|!--)[\s>/]", re.I)


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
            headers.setdefault(header_str(name.strip()).lower(), header_str(value.strip()))
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



def mime_type(ctype: str | None) -> tuple[str, str | None]:
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


def is_html(mime: str, warc_headers: dict, payload: bytes) -> bool:
    """HTML by the HTTP Content-Type, by Common Crawl's WARC-Identified-Payload-Type, or sniffed from the
    first bytes when the type is missing or generic."""
    identified = mime_type(warc_headers.get("warc-identified-payload-type"))[0]
    if mime in HTML_TYPES or identified in HTML_TYPES:
        return True
    return mime in SNIFF_TYPES and _SNIFF.match(payload[:1024]) is not None
