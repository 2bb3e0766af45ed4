"""HTML -> main text, for the WARC reader (and anyone else who has HTML).

    extract(html, extractor="native", timeout=2.0) -> str | None

Extractors (the `extractor:` key of a `warc` source):

- ``native`` (default): trafilatura's decisions (the call below) evaluated in one compiled walk over the same
  lxml tree (engine/native: Cython over lxml's C API, built by `pip install`; a pure-Python build of the same
  rules, with the same output, where no compiler was available), about 6x faster than the call below at its
  keep and boilerplate figures (bench/bench_native_extract.py). The walk is one C call per page: the timer
  below interrupts it only when it returns, so its budget holds for pages whose walk is bounded (it is linear
  in the tree).
- ``trafilatura``: trafilatura's fast mode (no readability/justext fallback) with comments off
  (as FineWeb/datatrove run it), on a tree we parse and *pre-clean* first: the page is parsed from UTF-8
  bytes with trafilatura's parser settings (faster than its str path) and a C-level element
  class lookup (see `_parser`), then every element type
  trafilatura's own tree_cleaning deletes anyway (style, svg, nav, aside, footer, iframe, form controls,
  ...: `MANUALLY_CLEANED` minus the few it treats specially) plus non-JSON-LD scripts is dropped in C
  with one `lxml.etree.strip_elements` call, so trafilatura's XPath passes walk about half the elements;
  trafilatura's `Extractor` options are built once per process (`_Trafilatura`). JSON-LD scripts stay:
  trafilatura reads them to detect forum pages. The text is identical to `trafilatura.extract(html, fast=True, include_comments=False)` on 109
  of the 110 evaluation pages (on the last one both miss the article; the pre-cleaned run leaves out a
  navigation menu the stock run emits), and faster (bench/README.md has the figures, from
  bench/bench_extract.py). It is not identical everywhere: on real Common Crawl pages the pre-cleaning
  sometimes drops a few navigation lines the stock call keeps (bench/bench_pipeline.py's comparison).
- ``resiliparse``: resiliparse's main-content heuristics (C++, several times faster, with more
  boilerplate: bench/README.md), with line structure kept and image alt texts dropped.
- ``trafilatura_fast`` / ``trafilatura_fallback`` / ``trafilatura_nocomments``: stock trafilatura calls
  (fast mode / with fallbacks / fast mode without comments), kept for the benchmark and for comparison.

Time budget: each call gets `timeout` seconds. In the main thread (where PySpark's Python worker runs
`mapInArrow` and RDD functions: pyspark/worker.py calls them from `main()`; only Arrow-optimised Python
UDFs with `arrow_concurrency_level` > 0 use a thread pool), a SIGALRM timer interrupts a page that
runs over (an outer timer such as pytest-timeout's is suspended and re-armed); the page is then extracted
again with resiliparse (linear time, C++) and `Extraction.note` says so. The timer repeats until the
exception escapes (`PageTimer.on_alarm`), and the exception is a BaseException, so trafilatura's
`except Exception` blocks cannot swallow it. Where no signal
can be used (not the main thread, a SIGALRM handler installed from C, an outer alarm due sooner), pages
larger than `NO_TIMER_MAX_CHARS` go straight to resiliparse, so one huge page still cannot stall a task,
and smaller ones run unbounded.

State: an `Extractor` holds the page timer's flags and the trafilatura set-up; `EXTRACTOR` is the
process's one, used by `extract_detailed` / `extract`.
"""
from __future__ import annotations

import codecs
import logging
import re
import signal
import threading
import time
from dataclasses import dataclass

EXTRACTORS = ("trafilatura", "resiliparse", "trafilatura_fast", "trafilatura_fallback", "trafilatura_nocomments",
              "native")
DEFAULT_EXTRACTOR = "native"
NO_TIMER_MAX_CHARS = 1_000_000     # without a usable timer, bigger pages go to resiliparse

logging.getLogger("trafilatura").setLevel(logging.CRITICAL)   # it logs every discarded page
logging.getLogger("htmldate").setLevel(logging.CRITICAL)


class ExtractTimeout(BaseException):
    """The page ran over its time budget. A BaseException (like KeyboardInterrupt) so that the
    `except Exception` blocks inside trafilatura do not swallow it."""


@dataclass
class Extraction:
    text: str | None
    extractor: str            # the extractor that produced `text`
    note: str | None = None   # "timeout->resiliparse", "large->resiliparse", "error:<Type>"
    seconds: float = 0.0


# ------------------------------------------------------------------ time budget

REPEAT_SECONDS = 0.05


def _usable_timer(seconds: float):
    """(handler to restore, outer timer's remaining seconds, its interval) when a SIGALRM timer of
    `seconds` can be used here; None otherwise (not the main thread, no setitimer, a handler installed
    outside Python, or an outer alarm that fires first anyway)."""
    if not seconds or seconds <= 0 or threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "setitimer"):
        return None
    try:
        handler = signal.getsignal(signal.SIGALRM)
        remaining, interval = signal.getitimer(signal.ITIMER_REAL)
    except (ValueError, OSError):
        return None
    if handler is None or 0 < remaining <= seconds:
        return None
    return handler, remaining, interval


class PageTimer:
    """The SIGALRM time limit of the page being extracted. Its two flags are what the signal handler and
    the caller share: `armed` (a page runs under our timer: the handler may raise) and `fired` (the alarm
    went off: the page is over budget even if the extractor swallowed the exception)."""

    def __init__(self):
        self.armed = False
        self.fired = False

    def on_alarm(self, signum, frame):
        # The timer repeats every REPEAT_SECONDS until the exception escapes: one raised inside a Python
        # callback that lxml calls from C is discarded there, and a one-shot timer would then leave the page
        # unbounded.
        if self.armed:
            self.fired = True
            raise ExtractTimeout()

    def call(self, fn, arg, seconds: float):
        """fn(arg), raising ExtractTimeout after `seconds` when a SIGALRM timer can be used here (else
        unbounded). An outer interval timer (pytest-timeout, a job's own watchdog) is suspended meanwhile and
        re-armed afterwards with what was left of it."""
        state = _usable_timer(seconds)
        if state is None:
            return fn(arg)
        previous, outer_left, outer_interval = state
        t0 = time.monotonic()
        signal.signal(signal.SIGALRM, self.on_alarm)
        self.armed, self.fired = True, False
        signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_SECONDS)
        try:
            result = fn(arg)
        except Exception as e:
            # an extractor (or a library it imports) that catches our interrupt and raises something else
            # instead is still over budget: the page is a timeout, not a parser error
            if self.fired:
                raise ExtractTimeout() from e
            raise
        else:
            if self.fired:
                raise ExtractTimeout()
            return result
        finally:
            self.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if outer_left > 0:
                signal.setitimer(signal.ITIMER_REAL, max(outer_left - (time.monotonic() - t0), 1e-3), outer_interval)


# ------------------------------------------------------------------ the default extractor


class _Trafilatura:
    """trafilatura's modules, options, parser and pre-clean tag list: built on the first page, then shared
    by every page of the process."""

    def __init__(self):
        import trafilatura
        from lxml import etree
        from lxml import html as lhtml
        from trafilatura.settings import MANUALLY_CLEANED, Extractor
        from trafilatura.utils import load_html

        # trafilatura deletes these in tree_cleaning anyway; `form` (kept when it holds most of the
        # text: ASP.NET pages), `figure` (kept when it holds a table), `math` (formulas are salvaged),
        # `head` (JSON-LD lives there) and `script` (JSON-LD) are handled by trafilatura itself.
        keep = {"form", "figure", "math", "head", "script"}
        tags = [t for t in MANUALLY_CLEANED if t not in keep] + ["meta", "template"]
        self.trafilatura, self.etree, self.load_html = trafilatura, etree, load_html
        self.tags = sorted(set(tags))
        self.options = Extractor(output_format="txt", fast=True, comments=False)
        # trafilatura's own parser settings, fed UTF-8 bytes: libxml2 then needs neither the str
        # round trip nor trafilatura's regex pass that strips XML-invalid characters from str input
        self.parser = _parser(etree, lhtml)
        self.extract(WARM_UP_PAGE)   # trafilatura's lazy imports, outside any page's timer (see _warm_up)

    def extract(self, html: str) -> str | None:
        tree = self._parse(html)
        if tree is None:
            return None
        self._preclean(tree)
        return self.trafilatura.extract(tree, options=self.options)

    def _parse(self, html: str):
        try:
            tree = self.etree.fromstring(html.encode("utf-8", "surrogatepass"), parser=self.parser)
        except (ValueError, self.etree.XMLSyntaxError):
            tree = None
        if tree is None or len(tree) == 0:
            tree = self.load_html(html)   # trafilatura's loader, with its repairs and sanity checks
        return tree

    def _preclean(self, tree) -> None:
        self.etree.strip_elements(tree, *self.tags, with_tail=False)
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


def _parser(etree, lhtml):
    """trafilatura's HTML parser settings, but with lxml's C-level default class lookup instead of
    lxml.html's Python one, which is called for every element proxy. Every element is an HtmlElement;
    the Form/Input/Label subclasses it loses are form controls, which are stripped."""
    parser = etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, collect_ids=False,
                              default_doctype=False)
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(
        element=lhtml.HtmlElement, comment=lhtml.HtmlComment, pi=lhtml.HtmlProcessingInstruction,
        entity=lhtml.HtmlEntity))
    return parser


# ------------------------------------------------------------------ stock extractors (no state)


def _trafilatura_fast(html: str) -> str | None:
    import trafilatura
    return trafilatura.extract(html, fast=True)


def _trafilatura_nocomments(html: str) -> str | None:
    import trafilatura
    return trafilatura.extract(html, fast=True, include_comments=False)


def _trafilatura_fallback(html: str) -> str | None:
    import trafilatura
    return trafilatura.extract(html)


def _native(html: str) -> str | None:
    from engine.native import extract
    return extract(html)


def resiliparse_text(html: str) -> str | None:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    # comments and post metadata off: they are boilerplate to a pretraining corpus (trafilatura's call drops
    # comments too), and the timeout/large-page fallback goes through here as well
    return extract_plain_text(HTMLTree.parse(html), main_content=True, preserve_formatting=True,
                              list_bullets=False, alt_texts=False, comments=False, post_meta=False)


WARM_UP_PAGE = ("<html><head><title>t</title></head><body><article><h1>Title</h1><p>"
                + "A sentence of warm-up text, long enough to be kept. " * 8 + "</p></article></body></html>")
_WARM: set = set()


def _warm_up(fn) -> None:
    """Run `fn` once on a small page, untimed, so that the modules it imports lazily on a first page
    (trafilatura's date, language and URL helpers) are loaded outside any page's time budget."""
    if fn not in _WARM:
        fn(WARM_UP_PAGE)
        _WARM.add(fn)


_STATELESS = {
    "resiliparse": resiliparse_text,
    "trafilatura_fast": _trafilatura_fast,
    "trafilatura_fallback": _trafilatura_fallback,
    "trafilatura_nocomments": _trafilatura_nocomments,
    "native": _native,
}


# ------------------------------------------------------------------ extraction with a time budget


def _clean(text: str | None) -> str | None:
    if not text:
        return None
    text = text.strip()
    return text or None


class Extractor:
    """HTML -> main text. Holds what extraction keeps between pages: the page `timer` (SIGALRM flags) and
    the default trafilatura set-up (built at its first page). One per process is enough and is what
    `extract_detailed` uses (`EXTRACTOR`): SIGALRM and its timer are process-wide, and the set-up is the
    same for every page."""

    def __init__(self):
        self.timer = PageTimer()
        self._trafilatura: _Trafilatura | None = None

    def function(self, extractor: str):
        """The `html -> text | None` function of the named extractor, with no time budget. Its modules are
        imported here, never under a page's timer: an alarm inside an import would leave a half-initialised
        module behind for the rest of the worker's life."""
        if extractor == "trafilatura":
            if self._trafilatura is None:
                self._trafilatura = _Trafilatura()
            return self._trafilatura.extract
        fn = _STATELESS.get(extractor)
        if fn is None:
            raise ValueError(f"unknown extractor {extractor!r} (known: {', '.join(EXTRACTORS)})")
        _warm_up(fn)
        return fn

    def extract_detailed(self, html: str, extractor: str = DEFAULT_EXTRACTOR, timeout: float = 2.0) -> Extraction:
        """Main text of `html` with the named extractor, within `timeout` seconds (see module docstring)."""
        fn = self.function(extractor)
        t0 = time.perf_counter()
        if extractor != "resiliparse" and len(html) > NO_TIMER_MAX_CHARS and _usable_timer(timeout) is None:
            return Extraction(_clean(resiliparse_text(html)), "resiliparse", "large->resiliparse",
                              time.perf_counter() - t0)
        try:
            text = self.timer.call(fn, html, timeout)
            return Extraction(_clean(text), extractor, None, time.perf_counter() - t0)
        except ExtractTimeout:
            if extractor == "resiliparse":
                return Extraction(None, extractor, "timeout", time.perf_counter() - t0)
            try:
                text = resiliparse_text(html)
            except Exception as e:   # noqa: BLE001
                return Extraction(None, extractor, f"timeout;error:{type(e).__name__}", time.perf_counter() - t0)
            return Extraction(_clean(text), "resiliparse", "timeout->resiliparse", time.perf_counter() - t0)
        except Exception as e:   # noqa: BLE001  (a parser bug on one page must not end the file)
            return Extraction(None, extractor, f"error:{type(e).__name__}", time.perf_counter() - t0)


EXTRACTOR = Extractor()   # this process's


def extract_detailed(html: str, extractor: str = DEFAULT_EXTRACTOR, timeout: float = 2.0) -> Extraction:
    """Main text of `html` with the named extractor, within `timeout` seconds (see module docstring)."""
    return EXTRACTOR.extract_detailed(html, extractor, timeout)


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
    from resiliparse.parse.encoding import map_encoding_to_html5

    mapped = map_encoding_to_html5(label)   # WHATWG labels; unknown ones come back as utf-8
    try:
        codecs.lookup(label)
    except LookupError:
        if mapped in (None, "utf-8") and label.replace("-", "").replace("_", "") != "utf8":
            return None
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
    if b"\x00" not in payload[:4096]:   # NULs: UTF-16/32 without a BOM, not UTF-8 text
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
