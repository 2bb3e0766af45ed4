"""The native extractor's rules in pure Python over an lxml tree: the fallback and the readable spec.

`_fastextract.pyx` (with `_fastprune.pxi` for `pyprune`) is the same walk over the same libxml2 nodes,
compiled; the two must produce identical text (tests/test_native_extract.py checks it on every shared page).
Change one, change the other.

The page, as trafilatura (fast mode, no comments) decides it:

1. Element types trafilatura deletes outright (`rules.CLEANED`), comment containers and a few raw-tree
   prunes are never looked at (`kind` & K_CLEAN).
2. Main container: the first element, in document order, matching body stage 1..5 (`rules.C_STAGE*`). Its
   blocks are extracted; when a stage yields at most one block, the next stage adds to them.
3. Inside a container, boilerplate (`K_DISCARD`: OVERALL_DISCARD_XPATH) is dropped unless that would drop
   more than 6/7 of the container's text (trafilatura's guard); teasers and captions always; divs, lists and
   paragraphs by link density (`link_dense`).
4. Blocks: paragraphs, headings (not at the end), list items ("- "), table rows ("| a | b | "), quotes,
   preformatted text; loose text between blocks only after a <br> or a paragraph-like block that gave
   text (trafilatura keeps those tails), or anywhere when the page has little <p> text ("div mode").
5. Too little text (< MIN_EXTRACTED_SIZE): wild paragraphs of the whole page are added, then the page's
   paragraph (or whole) text is the baseline if it is longer.
"""
from __future__ import annotations

from . import rules as R
from .pyprune import K_CLEAN, Tree, kind, stage_match

_RECOVER = frozenset(("p", "pre", "blockquote", "table", "code"))


class Page(Tree):
    """One page's walk: the blocks taken so far and the state of the current text run."""

    def __init__(self, body):
        super().__init__(body)
        self.blocks: list[str] = []
        self.heads: list[bool] = []        # blocks[i] is a heading
        self.buf: list[str] = []           # loose text of the current run
        self.open = False                  # the current run is kept (see walk)
        self.done: set = set()             # blocks taken by an earlier stage (the proxies stay alive in it)
        self.div_mode = self.p_chars(body) < R.DIV_MODE_P_CHARS

    # -------------------------------------------------------------- blocks

    def emit(self, text: str, head: bool = False) -> None:
        if text.strip() and not R.filtered(text):
            self.blocks.append(text)
            self.heads.append(head)

    def flush(self) -> None:
        if self.buf:
            text = R.paragraph("".join(self.buf))
            self.buf = []
            if self.open:
                self.emit(text)

    def inline(self, el, pieces: list, nested: bool = True) -> None:
        """Text of `el` as one paragraph: every descendant inline, <br> a line break; lists and tables left
        out unless `nested` (an item's sublists and a cell's tables are blocks of their own, a cell's lists
        are noise)."""
        if el.text:
            pieces.append(el.text)
        for c in el:
            if isinstance(c.tag, str) and not self.skip(c):
                tag = c.tag
                if tag == "br":
                    pieces.append("\n")
                elif not nested and (tag in R.LISTS or tag == "table"):
                    pass
                elif tag in R.BLOCKS:
                    # nested blocks: words stay apart; link-dense divs and lists go (trafilatura prunes
                    # them before rendering the paragraph or item that holds them)
                    if not ((tag == "div" or tag in R.LISTS) and self.link_dense(c)):
                        pieces.append(" ")
                        self.inline(c, pieces, nested)
                        pieces.append(" ")
                else:
                    self.inline(c, pieces, nested)
            if c.tail:
                pieces.append(c.tail)

    def inline_text(self, el, nested: bool = True) -> str:
        pieces: list[str] = []
        self.inline(el, pieces, nested)
        return R.paragraph("".join(pieces))

    def raw_text(self, el) -> str:
        pieces: list[str] = []
        self.inline(el, pieces)
        return "".join(pieces).strip("\n\r ")

    def walk(self, el, open_: bool | None = None) -> None:
        """Blocks of a container's children; loose text in between goes to the current run, kept in div mode
        or when it follows a <br> or a paragraph-like block (trafilatura keeps those tails); `open_`
        decides for the container's own leading text."""
        if open_ is not None:
            self.open = open_
        if el.text:
            self.buf.append(el.text)
        for c in el:
            tag = c.tag
            if isinstance(tag, str) and not self.skip(c):
                if tag == "br":
                    self.flush()
                    self.open = True
                elif tag in R.TRANSPARENT or (tag in R.INLINE and self.holds_blocks(c)):
                    self.walk(c)   # trafilatura takes a paragraph wherever it is, inside a link too
                elif tag in R.INLINE:
                    self.inline(c, self.buf)
                else:
                    self.flush()
                    before = len(self.blocks)
                    self.block(c, tag)
                    self.flush()
                    # a block that came out empty leaves its tail behind, as in trafilatura
                    self.open = self.div_mode or (tag in R.TAIL_BLOCKS and len(self.blocks) > before)
            if c.tail:
                self.buf.append(c.tail)

    def holds_blocks(self, el) -> bool:
        for c in el:
            if isinstance(c.tag, str) and not self.skip(c):
                if c.tag in R.TAIL_BLOCKS or c.tag in R.HEADINGS or self.holds_blocks(c):
                    return True
        return False

    def block(self, el, tag: str) -> None:
        if el in self.done:
            return
        if tag in ("div", "p") or tag in R.LISTS:
            if self.link_dense(el):
                return
        if tag == "p" or tag == "blockquote":   # a quote is one block, nested blocks and all
            self.emit(self.inline_text(el))
        elif tag in R.HEADINGS:
            self.emit(self.inline_text(el), head=True)
        elif tag == "pre" or tag == "code":
            self.emit(self.raw_text(el))
        elif tag in R.LISTS:
            self.list_items(el)
        elif tag == "table":
            self.table(el)
        else:
            self.walk(el, self.div_mode)
        self.done.add(el)   # a later stage's wider frame does not take it again

    def list_items(self, el, depth: int = 0) -> None:
        """One "- " line per item (indented by nesting depth), its sublists' items after it."""
        for c in el:
            if not isinstance(c.tag, str) or self.skip(c):
                continue
            if c.tag in R.ITEMS:
                text = self.inline_text(c, nested=False)
                if text:
                    self.emit("  " * depth + "- " + text)
                self.sublists(c, depth + 1)
            elif c.tag in R.LISTS:
                self.list_items(c, depth + 1)

    def sublists(self, el, depth: int) -> None:
        for c in el:
            if not isinstance(c.tag, str) or self.skip(c):
                continue
            if c.tag in R.LISTS:
                if not self.link_dense(c):
                    self.list_items(c, depth)
            else:
                self.sublists(c, depth)

    def rows(self, el, out: list) -> None:
        for c in el:
            if not isinstance(c.tag, str) or self.skip(c):
                continue
            if c.tag == "tr":
                out.append(c)
            elif c.tag in ("thead", "tbody", "tfoot"):
                self.rows(c, out)

    def table(self, el) -> None:
        pieces: list[str] = []
        links: list[int] = []
        self.gather(el, pieces, links)
        n = len(R.collapse("".join(pieces)))
        if links and n >= 200 and sum(links) > (0.8 if n < 1000 else 0.5) * n:
            return
        rows: list = []
        self.rows(el, rows)
        table, filled = [], []   # per row: (text, header cell, colspan) of its cells; whether any holds elements
        for tr in rows:
            cells = [c for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th") and not self.skip(c)]
            table.append([(self.inline_text(c, nested=False), c.tag == "th", R.span(c.get("colspan"))) for c in cells])
            filled.append(any(self.n_children(c) for c in cells))
        self.table_rows(table, filled)
        inner: list = []   # nested tables come after, each as a table of its own
        self.tables_in(el, inner)
        for t in inner:
            self.block(t, "table")

    def tables_in(self, el, out: list) -> None:
        for c in el:
            if isinstance(c.tag, str) and not self.skip(c):
                if c.tag == "table":
                    out.append(c)
                else:
                    self.tables_in(c, out)

    def table_rows(self, table: list, filled: list) -> None:
        """trafilatura's rows: colspans padded, every row as wide as the widest, th only in the first row
        that has one (the header, underlined), rows without text or elements left out."""
        width = min(max((sum(span for _, _, span in row) for row in table), default=0), 100)
        header_done = False
        for row, full in zip(table, filled):
            cells, header = [], False
            for text, th, span in row:
                header = header or (th and not header_done)
                cells.append(R.cell(text))
                cells.extend([""] * (span - 1))
            cells.extend([""] * (width - len(cells)))
            if full or any(cells):
                self.emit(R.table_row(cells, header))
            header_done = header_done or header

    # -------------------------------------------------------------- passes

    def main_pass(self) -> None:
        for stage in range(1, 6):
            frame = self.find(self.body, stage)
            if frame is None:
                continue
            self.discard, self.teaser = True, True
            self.discard = self.guard(frame)
            self.walk(frame, self.div_mode)
            self.flush()
            while self.heads and self.heads[-1]:
                self.blocks.pop()
                self.heads.pop()
            if R.enough(self.blocks):
                return

    def find(self, el, stage: int):
        for c in el:
            if not isinstance(c.tag, str) or kind(c) & K_CLEAN:
                continue
            if stage_match(c, stage):
                return c
            f = self.find(c, stage)
            if f is not None:
                return f
        return None

    def recover(self) -> None:
        """Wild paragraphs anywhere on the page, those not taken already."""
        self.teaser = False
        self.discard = True
        self.discard = self.guard(self.body)
        found: list = []
        self.wild(self.body, found)
        seen = set(self.blocks)
        joined = "\n".join(self.blocks)
        for el in found:
            before = len(self.blocks)
            self.block(el, el.tag) if el.tag != "code" else self.emit(self.raw_text(el))
            new = self.blocks[before:]
            del self.blocks[before:], self.heads[before:]
            for text in new:
                if text in seen or (len(text) > R.MIN_DUPLICATE_LENGTH and text in joined):
                    continue
                self.emit(text)
                seen.add(text)
                joined += "\n" + text

    def wild(self, el, found: list) -> None:
        for c in el:
            if not isinstance(c.tag, str) or self.skip(c):
                continue
            if c.tag in _RECOVER:
                found.append(c)
            elif not (c.tag == "div" or c.tag in R.LISTS) or not self.link_dense(c):
                self.wild(c, found)

    def baseline(self) -> str:
        """The page's paragraphs, else its whole text (deleted element types aside)."""
        self.discard = self.teaser = self.density = False
        found: list = []
        self.wild(self.body, found)
        paras = [t for t in (self.inline_text(el) for el in found) if t]
        text = "\n".join(dict.fromkeys(paras))
        if len(text) >= R.MIN_EXTRACTED_SIZE:
            return text
        pieces: list[str] = []   # one line per text run of the page, as trafilatura's last resort
        self.gather(self.body, pieces, None)
        return "\n".join(line for line in map(R.collapse, pieces) if line)


def body_of(root):
    for c in root:
        if c.tag == "body":
            return c
    return root


def extract_tree(root) -> str | None:
    page = Page(body_of(root))
    page.main_pass()
    text = "\n".join(page.blocks)
    if len(text) < R.MIN_EXTRACTED_SIZE:
        page.recover()
        text = "\n".join(page.blocks)
    if len(text) < R.MIN_EXTRACTED_SIZE:
        base = page.baseline()
        if len(base) > len(text):
            text = base
    return R.finish(text)
