"""tamis' native main-text extractor: trafilatura's decisions (fast mode, no comments), evaluated in one walk
over the libxml2 tree lxml parses, without trafilatura's XPath passes, tree copies and rebuilt elements.

    extract(html: str) -> str | None

Two implementations with identical output: `_fastextract` (Cython over lxml's C API, built by
`pip install -e .`) and `pyextract` (pure Python over lxml, the fallback where no compiler was available
and the readable statement of the rules). `IMPLEMENTATION` says which one this process uses; imported from
tamis' code zip (a cluster's executors), the compiled one still loads (engine/native/zipped.py).
"""
from __future__ import annotations

from . import pyextract
from .zipped import load_zipped_extension

try:
    from . import _fastextract
except ImportError:
    # a cluster's executors import tamis from the zip the driver ships (engine/code_zip.py), where Python
    # cannot load an extension module: the zipped one is copied out and loaded; None when there is none
    # (no compiler where the package was installed: same output, slower)
    _fastextract = load_zipped_extension(__name__, "_fastextract")

IMPLEMENTATION = "compiled" if _fastextract is not None else "python"
_PARSER = None


def _parser():
    global _PARSER
    if _PARSER is None:
        from lxml import etree
        # trafilatura's parser settings (comments and processing instructions dropped), fed UTF-8 bytes
        _PARSER = etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, collect_ids=False,
                                   default_doctype=False)
    return _PARSER


def parse(html: str):
    """The page's lxml root, or None when it has no element tree."""
    from lxml import etree
    try:
        root = etree.fromstring(html.encode("utf-8", "surrogatepass"), parser=_parser())
    except (ValueError, etree.XMLSyntaxError):
        root = None
    if root is None or len(root) == 0:
        from trafilatura.utils import load_html   # its repairs and sanity checks, for odd inputs
        root = load_html(html)
    return root


def extract_python(html: str) -> str | None:
    root = parse(html)
    return pyextract.extract_tree(root) if root is not None else None


def extract_compiled(html: str) -> str | None:
    if _fastextract is None:
        raise ImportError("engine.native._fastextract is not built")
    root = parse(html)
    return _fastextract.extract_tree(root) if root is not None else None


extract = extract_compiled if _fastextract is not None else extract_python
