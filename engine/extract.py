"""HTML -> main text, for the WARC reader (and anyone else who has HTML).

    extract(html, extractor="trafilatura", timeout=2.0) -> str | None

Extractors (the `extractor:` key of a `warc` source):

- ``trafilatura`` (default): trafilatura's fast mode (no readability/justext fallback, comments off) on a
  tree we parse with trafilatura's own loader and *pre-clean* in C first: every element type trafilatura
  deletes anyway (script, style, svg, nav, aside, footer, iframe, form controls, ...; see `_PRECLEAN_TAGS`)
  is dropped with one `lxml.etree.strip_elements` call before trafilatura's XPath passes walk the tree,
  and the `Extractor` options are built once. JSON-LD scripts stay: trafilatura reads them to detect forum
  pages. Same text as plain trafilatura on 104 of the 110 evaluation pages, about 1.2-1.5x faster;
  bench/bench_extract.py has the figures.
- ``resiliparse``: resiliparse's main-content heuristics (C++; ~5x faster, much more boilerplate left).
- ``trafilatura_fast`` / ``trafilatura_fallback``: stock trafilatura calls (fast mode / with fallbacks),
  kept for the benchmark and for comparison.

Time budget: each call gets `timeout` seconds. In the main thread (where PySpark's Python worker runs
`mapInArrow` and RDD functions: pyspark/worker.py calls them from `main()`), a SIGALRM interval timer
interrupts a page that runs over; the page is then extracted again with resiliparse (linear time, C++),
and `Extraction.note` says so. Outside the main thread (or when another SIGALRM timer is already armed,
e.g. pytest-timeout) a signal cannot be used: pages larger than `NO_TIMER_MAX_CHARS` then go straight to
resiliparse, so one huge page still cannot stall a task, and smaller ones run unbounded.
"""
from __future__ import annotations

import codecs
import logging
import re
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

EXTRACTORS = ("trafilatura", "resiliparse", "trafilatura_fast", "trafilatura_fallback")
DEFAULT_EXTRACTOR = "trafilatura"
NO_TIMER_MAX_CHARS = 1_000_000     # without a usable timer, bigger pages go to resiliparse

logging.getLogger("trafilatura").setLevel(logging.CRITICAL)   # it logs every discarded page
logging.getLogger("htmldate").setLevel(logging.CRITICAL)


class ExtractTimeout(Exception):
    """The page ran over its time budget."""


@dataclass
class Extraction:
    text: str | None
    extractor: str            # the extractor that produced `text`
    note: str | None = None   # "timeout->resiliparse", "large->resiliparse", "error:<Type>"
    seconds: float = 0.0


# ------------------------------------------------------------------ time budget


def _timer_usable() -> bool:
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return False
    try:
        if signal.getitimer(signal.ITIMER_REAL)[0] > 0:   # someone else's alarm is armed: leave it alone
            return False
        return signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None, _on_alarm)
    except (ValueError, OSError):
        return False


def _on_alarm(signum, frame):
    raise ExtractTimeout()


@contextmanager
def time_limit(seconds: float):
    """Raise ExtractTimeout in the block after `seconds` (main thread only). Yields whether it is armed."""
    if seconds is None or seconds <= 0 or not _timer_usable():
        yield False
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------ extractors

_TRAF = {}


def _traf_state():
    """Imports, options and the pre-clean tag list, built once per process."""
    if not _TRAF:
        import trafilatura
        from lxml import etree
        from trafilatura.settings import MANUALLY_CLEANED, Extractor
        from trafilatura.utils import load_html

        # trafilatura deletes these in tree_cleaning anyway; `form` (kept when it holds most of the
        # text: ASP.NET pages), `figure` (kept when it holds a table), `math` (formulas are salvaged),
        # `head` (JSON-LD lives there) and `script` (JSON-LD) are handled by trafilatura itself.
        keep = {"form", "figure", "math", "head", "script"}
        tags = [t for t in MANUALLY_CLEANED if t not in keep] + ["meta", "template"]
        _TRAF.update(
            trafilatura=trafilatura, etree=etree, load_html=load_html, tags=sorted(set(tags)),
            default=Extractor(output_format="txt", fast=True, comments=False),
        )
    return _TRAF


def _preclean(tree, st) -> None:
    st["etree"].strip_elements(tree, *st["tags"], with_tail=False)
    drop = [s for s in tree.iter("script") if "ld+json" not in (s.get("type") or "")]
    for s in drop:
        parent = s.getparent()
        if parent is None:
            continue
        if s.tail:   # keep the text that follows the script
            prev = s.getprevious()
            if prev is not None:
                prev.tail = (prev.tail or "") + s.tail
            else:
                parent.text = (parent.text or "") + s.tail
        parent.remove(s)


def _trafilatura_default(html: str) -> str | None:
    st = _traf_state()
    tree = st["load_html"](html)
    if tree is None:
        return None
    _preclean(tree, st)
    return st["trafilatura"].extract(tree, options=st["default"])


def _trafilatura_fast(html: str) -> str | None:
    import trafilatura
    return trafilatura.extract(html, fast=True)


def _trafilatura_fallback(html: str) -> str | None:
    import trafilatura
    return trafilatura.extract(html)


def _resiliparse(html: str) -> str | None:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    return extract_plain_text(HTMLTree.parse(html), main_content=True, preserve_formatting=True,
                              list_bullets=False, alt_texts=False)


_FUNCS = {
    "trafilatura": _trafilatura_default,
    "resiliparse": _resiliparse,
    "trafilatura_fast": _trafilatura_fast,
    "trafilatura_fallback": _trafilatura_fallback,
}


def _clean(text: str | None) -> str | None:
    if not text:
        return None
    text = text.strip()
    return text or None


def extract_detailed(html: str, extractor: str = DEFAULT_EXTRACTOR, timeout: float = 2.0) -> Extraction:
    """Main text of `html` with the named extractor, within `timeout` seconds (see module docstring)."""
    fn = _FUNCS.get(extractor)
    if fn is None:
        raise ValueError(f"unknown extractor {extractor!r} (known: {', '.join(EXTRACTORS)})")
    t0 = time.perf_counter()
    if extractor != "resiliparse" and len(html) > NO_TIMER_MAX_CHARS and not _timer_usable():
        return Extraction(_clean(_resiliparse(html)), "resiliparse", "large->resiliparse", time.perf_counter() - t0)
    try:
        with time_limit(timeout):
            text = fn(html)
        return Extraction(_clean(text), extractor, None, time.perf_counter() - t0)
    except ExtractTimeout:
        if extractor == "resiliparse":
            return Extraction(None, extractor, "timeout", time.perf_counter() - t0)
        try:
            text = _resiliparse(html)
        except Exception as e:   # noqa: BLE001
            return Extraction(None, extractor, f"timeout;error:{type(e).__name__}", time.perf_counter() - t0)
        return Extraction(_clean(text), "resiliparse", "timeout->resiliparse", time.perf_counter() - t0)
    except Exception as e:   # noqa: BLE001  (a parser bug on one page must not end the file)
        return Extraction(None, extractor, f"error:{type(e).__name__}", time.perf_counter() - t0)


def extract(html: str, extractor: str = DEFAULT_EXTRACTOR, timeout: float = 2.0) -> str | None:
    """Main text of `html`, or None when the page has none (or extraction failed)."""
    return extract_detailed(html, extractor, timeout).text


# ------------------------------------------------------------------ bytes -> str

_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]+)""", re.I)


def normalize_charset(label: str | None) -> str | None:
    """A Python codec name for a declared charset (WHATWG mapping: latin-1 -> cp1252, ...), or None."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    try:
        codecs.lookup(label)
    except LookupError:
        return None
    from resiliparse.parse.encoding import map_encoding_to_html5

    mapped = map_encoding_to_html5(label)
    try:
        return codecs.lookup(mapped).name if mapped else codecs.lookup(label).name
    except LookupError:
        return None


def decode_html(payload: bytes, http_charset: str | None = None) -> tuple[str, str, str]:
    """HTML bytes -> (text, charset, how): valid UTF-8 first (a declared single-byte charset is often
    wrong, valid multi-byte UTF-8 by chance is rare), then the HTTP charset, then `<meta>`, then
    uchardet detection (resiliparse) with lenient decoding."""
    if payload.startswith(codecs.BOM_UTF8):
        return payload[3:].decode("utf-8", "replace"), "utf-8", "bom"
    if payload[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return payload.decode("utf-16", "replace"), "utf-16", "bom"
    try:
        return payload.decode("utf-8"), "utf-8", "utf8-valid"
    except UnicodeDecodeError:
        pass
    for how, label in (("http", http_charset), ("meta", _meta_charset(payload))):
        enc = normalize_charset(label)
        if enc and enc not in ("utf-8", "utf_8"):
            try:
                return payload.decode(enc), enc, how
            except (UnicodeDecodeError, LookupError):
                pass
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    enc = detect_encoding(payload) or "utf-8"
    return bytes_to_str(payload, enc, errors="replace"), enc, "detected"


def _meta_charset(payload: bytes) -> str | None:
    m = _META_CHARSET.search(payload[:4096])
    return m.group(1).decode("ascii", "ignore") if m else None
