"""The native extractor's pruning rules over an lxml tree (pure Python): what the static attribute rules say
about an element (`kind`), which element a body stage picks (`stage_match`), and the context-dependent
tests a walk asks (`Tree`: pruned or not, link density, the boilerplate guard). `_fastprune.pxi` is the
same, compiled; see pyextract for the whole walk."""
from __future__ import annotations

from . import rules as R

K_CLEAN, K_DISCARD, K_TEASER, K_CAPTION = 1, 2, 4, 8


def kind(el) -> int:
    """What the static rules say about an element (K_* bits): attributes only, no context."""
    tag = el.tag
    if not isinstance(tag, str) or tag in R.CLEANED:
        if tag == "figure" and el.find(".//table") is not None:
            return 0   # a figure holding a table is a div (trafilatura #301)
        return K_CLEAN
    a = el.attrib
    cls, ident = a.get("class"), a.get("id")
    cf = R.class_flags(cls) if cls is not None else 0
    idf = R.id_flags(ident) if ident is not None else 0
    both = cf | idf
    k = 0
    if tag in R.COMMENT_TAGS and (both & R.C_COMMENTS):
        return K_CLEAN
    if both & R.C_RAW_PRUNE and tag in ("div", "section"):
        return K_CLEAN
    first = idf if ident is not None else cf
    style = a.get("style")
    if both & R.C_HIDE or a.get("aria-hidden") == "true" or (style is not None and (
            "display:none" in style or "display: none" in style or (ident is None and "hidden" in style))):
        k |= K_DISCARD
    if tag in R.DISCARDABLE:
        role = a.get("role")
        if both & R.C_DISCARD or first & R.C_FIRST_HIDE or (role is not None and "nav" in role.replace("N", "n")) \
                or "data-lp-replacement-content" in a:
            k |= K_DISCARD
        if both & R.C_TEASER:
            k |= K_TEASER
        if both & R.C_CAPTION:
            k |= K_CAPTION
    return k


def stage_match(el, stage: int) -> bool:
    """Body stage `stage` (1-5) picks this element as the main container."""
    tag = el.tag
    if stage == 2:
        return tag == "article"
    if stage == 5:
        if tag == "main":
            return True
        if tag not in ("article", "div", "section"):
            return False
        a = el.attrib
        return any((a.get(n) or "").startswith("main") for n in ("class", "id", "role"))
    if tag not in R.CONTAINER_TAGS:
        return False
    a = el.attrib
    cls, ident = a.get("class"), a.get("id")
    both = (R.class_flags(cls) if cls is not None else 0) | (R.id_flags(ident) if ident is not None else 0)
    if stage == 1:
        return bool(both & R.C_STAGE1) or a.get("itemprop") == "articleBody"
    if stage == 3:
        return bool(both & R.C_STAGE3) or a.get("role") == "article"
    return bool(both & R.C_STAGE4)


class Tree:
    """The pruning switches of the pass being run, over one page's <body>."""

    def __init__(self, body):
        self.body = body
        self.discard = self.teaser = True   # boilerplate / teaser pruning on
        self.density = True                 # link-density pruning on (off for the baseline)

    def skip(self, el) -> bool:
        k = kind(el)
        return bool(k & (K_CLEAN | K_CAPTION) or (self.discard and k & K_DISCARD) or (self.teaser and k & K_TEASER))

    def gather(self, el, pieces: list, links: list | None) -> None:
        """Text of `el`'s subtree (pruned elements' tails kept) into `pieces`, link text lengths into `links`."""
        if el.text:
            pieces.append(el.text)
        for c in el:
            if isinstance(c.tag, str) and not self.skip(c):
                if c.tag == "a" and links is not None:
                    sub: list[str] = []
                    self.gather(c, sub, None)
                    t = "".join(sub)
                    pieces.append(t)
                    links.append(len(R.collapse(t)))
                else:
                    self.gather(c, pieces, links)
            if c.tail:
                pieces.append(c.tail)

    def has_next(self, el) -> bool:
        n = el.getnext()
        while n is not None:
            if isinstance(n.tag, str) and not self.skip(n):
                return True
            n = n.getnext()
        return False

    def link_dense(self, el) -> bool:
        """trafilatura's link-density test (divs with backtracking, lists, paragraphs)."""
        if not self.density:
            return False
        pieces: list[str] = []
        links: list[int] = []
        self.gather(el, pieces, links)
        if not links:
            return False
        n = len(R.collapse("".join(pieces)))
        return R.dense(el.tag == "p", el.tag == "div", n, links, self.has_next(el), self.n_children(el))

    def n_children(self, el) -> int:
        return sum(1 for c in el if isinstance(c.tag, str) and not self.skip(c))

    def guard(self, el) -> bool:
        """Whether boilerplate pruning may run in `el`: it must leave more than 1/7 of the text."""
        self.discard = False
        total = self._text_len(el)
        self.discard = True
        return total - self._discarded_len(el) > total / 7

    def _text_len(self, el) -> int:
        pieces: list[str] = []
        self.gather(el, pieces, None)
        return len("".join(pieces))

    def _discarded_len(self, el) -> int:
        n = 0
        for c in el:
            if not isinstance(c.tag, str):
                continue
            k = kind(c)
            if k & K_CLEAN:
                continue
            if k & K_DISCARD:
                self.discard = False
                n += self._text_len(c)
                self.discard = True
            else:
                n += self._discarded_len(c)
        return n

    def p_chars(self, el) -> int:
        n = 0
        for c in el:
            if not isinstance(c.tag, str) or kind(c) & K_CLEAN:
                continue
            if c.tag == "p":
                pieces: list[str] = []
                self.gather(c, pieces, None)
                n += len("".join(pieces))
            else:
                n += self.p_chars(c)
        return n
