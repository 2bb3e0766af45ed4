# cython: language_level=3, boundscheck=False, cdivision=True
"""The native extractor's walk, compiled: `pyextract.Page` method for method (and, in _fastprune.pxi,
`pyprune.Tree`), over the libxml2 nodes of the tree lxml parsed (lxml's public C API), without an element
proxy per node. Attribute decisions come from `rules`, shared with the Python implementation: keep the
files in step, tests/test_native_extract.py compares their output page by page."""
from libc.stdlib cimport calloc, free
from libc.string cimport strcmp
from cpython.unicode cimport PyUnicode_DecodeUTF8, Py_UNICODE_ISSPACE
from lxml.includes cimport tree
from lxml.includes.tree cimport xmlNode, xmlAttr
cimport lxml.includes.etreepublic as cetree

from . import rules as R

cetree.import_lxml__etree()

def _check_lxml():
    """Built against one lxml, run with another major version: the C API may differ, refuse to load (the
    package then uses the Python implementation)."""
    import lxml
    built = (<bytes>cetree.LXML_VERSION_STRING).decode()
    if built.split(".")[0] != lxml.__version__.split(".")[0]:
        raise ImportError(f"engine.native._fastextract was built against lxml {built}, not {lxml.__version__}")


_check_lxml()

# the rules' constants and functions, bound once (a module attribute lookup per node adds up)
cdef long C_DISCARD = R.C_DISCARD, C_HIDE = R.C_HIDE, C_COMMENTS = R.C_COMMENTS, C_TEASER = R.C_TEASER
cdef long C_CAPTION = R.C_CAPTION, C_STAGE1 = R.C_STAGE1, C_STAGE3 = R.C_STAGE3, C_STAGE4 = R.C_STAGE4
cdef long C_FIRST_HIDE = R.C_FIRST_HIDE, C_RAW_PRUNE = R.C_RAW_PRUNE
cdef object _dense = R.dense, _filtered = R.filtered, _paragraph = R.paragraph
cdef object _enough = R.enough, _table_row = R.table_row, _finish = R.finish, _span = R.span, _cell = R.cell
cdef dict _CLASS_CACHE = R._CLASS_CACHE, _ID_CACHE = R._ID_CACHE


cdef inline long _class_flags(str s) except -1:
    f = _CLASS_CACHE.get(s)
    return R.class_flags(s) if f is None else f


cdef inline long _id_flags(str s) except -1:
    f = _ID_CACHE.get(s)
    return R.id_flags(s) if f is None else f


cdef Py_ssize_t MIN_EXTRACTED_SIZE = R.MIN_EXTRACTED_SIZE, MIN_DUPLICATE_LENGTH = R.MIN_DUPLICATE_LENGTH
cdef Py_ssize_t DIV_MODE_P_CHARS = R.DIV_MODE_P_CHARS

include "_fastnodes.pxi"
include "_fastprune.pxi"


cdef class Page(Tree):
    cdef public bint open, div_mode
    cdef public list blocks, heads, buf
    cdef set done        # addresses of blocks taken by an earlier stage

    cdef int init(self, xmlNode* body) except -1:
        self.body = body
        self.blocks, self.heads, self.buf = [], [], []
        self.open = False
        self.done = set()
        self.div_mode = self.p_chars(body) < DIV_MODE_P_CHARS
        return 0

    # ---------------------------------------------------------------- blocks

    cdef int emit(self, str text, bint head) except -1:
        if text.strip() and not _filtered(text):
            self.blocks.append(text)
            self.heads.append(head)
        return 0

    cdef int flush(self) except -1:
        if self.buf:
            text = _paragraph("".join(self.buf))
            self.buf = []
            if self.open:
                self.emit(text, False)
        return 0

    cdef int inline(self, xmlNode* el, list pieces, bint nested) except -1:
        cdef xmlNode* c = el.children
        cdef int code, tid
        while c is not NULL:
            if _is_text(c):
                pieces.append(_s(<const char*>c.content))
            elif _is_el(c) and not self.skip(c):
                code = self.code(c)
                tid = code >> 16
                if tid == X_BR:
                    pieces.append("\n")
                elif not nested and (code & T_LIST or tid == X_TABLE):
                    pass
                elif code & T_BLOCK:
                    if not ((tid == X_DIV or code & T_LIST) and self.link_dense(c)):
                        pieces.append(" ")
                        self.inline(c, pieces, nested)
                        pieces.append(" ")
                else:
                    self.inline(c, pieces, nested)
            c = c.next
        return 0

    cdef str inline_text(self, xmlNode* el, bint nested=True):
        cdef list pieces = []
        self.inline(el, pieces, nested)
        return _paragraph("".join(pieces))

    cdef str raw_text(self, xmlNode* el):
        cdef list pieces = []
        self.inline(el, pieces, True)
        return "".join(pieces).strip("\n\r ")

    cdef int walk(self, xmlNode* el, int open_) except -1:
        """pyextract.Page.walk; `open_` -1 keeps the current run's state."""
        cdef xmlNode* c = el.children
        cdef int code
        cdef Py_ssize_t before
        if open_ >= 0:
            self.open = open_
        while c is not NULL:
            if _is_text(c):
                self.buf.append(_s(<const char*>c.content))
            elif _is_el(c) and not self.skip(c):
                code = self.code(c)
                if (code >> 16) == X_BR:
                    self.flush()
                    self.open = True
                elif code & T_TRANSPARENT or (code & T_INLINE and self.holds_blocks(c)):
                    self.walk(c, -1)
                elif code & T_INLINE:
                    self.inline(c, self.buf, True)
                else:
                    self.flush()
                    before = len(self.blocks)
                    self.block(c)
                    self.flush()
                    self.open = self.div_mode or (code & T_TAIL and len(self.blocks) > before)
            c = c.next
        return 0

    cdef bint holds_blocks(self, xmlNode* el) except -1:
        cdef xmlNode* c = el.children
        while c is not NULL:
            if _is_el(c) and not self.skip(c):
                if self.code(c) & (T_TAIL | T_HEADING) or self.holds_blocks(c):
                    return True
            c = c.next
        return False

    cdef int block(self, xmlNode* el) except -1:
        if <size_t>el in self.done:
            return 0
        cdef int code = self.code(el)
        cdef int tid = code >> 16
        if tid == X_DIV or tid == X_P or code & T_LIST:
            if self.link_dense(el):
                return 0
        if tid == X_P or tid == X_BLOCKQUOTE:
            self.emit(self.inline_text(el), False)
        elif code & T_HEADING:
            self.emit(self.inline_text(el), True)
        elif tid == X_PRE or tid == X_CODE:
            self.emit(self.raw_text(el), False)
        elif code & T_LIST:
            self.list_items(el, 0)
        elif tid == X_TABLE:
            self.table(el)
        else:
            self.walk(el, self.div_mode)
        self.done.add(<size_t>el)
        return 0

    cdef int list_items(self, xmlNode* el, int depth) except -1:
        cdef xmlNode* c = el.children
        cdef int code
        while c is not NULL:
            if _is_el(c) and not self.skip(c):
                code = self.code(c)
                if code & T_ITEM:
                    text = self.inline_text(c, False)
                    if text:
                        self.emit("  " * depth + "- " + text, False)
                    self.sublists(c, depth + 1)
                elif code & T_LIST:
                    self.list_items(c, depth + 1)
            c = c.next
        return 0

    cdef int sublists(self, xmlNode* el, int depth) except -1:
        cdef xmlNode* c = el.children
        while c is not NULL:
            if _is_el(c) and not self.skip(c):
                if self.code(c) & T_LIST:
                    if not self.link_dense(c):
                        self.list_items(c, depth)
                else:
                    self.sublists(c, depth)
            c = c.next
        return 0

    cdef int rows(self, xmlNode* el, list out) except -1:
        cdef xmlNode* c = el.children
        cdef int tid
        while c is not NULL:
            if _is_el(c) and not self.skip(c):
                tid = self.code(c) >> 16
                if tid == X_TR:
                    out.append(<size_t>c)
                elif tid == X_TSECTION:
                    self.rows(c, out)
            c = c.next
        return 0

    cdef int table(self, xmlNode* el) except -1:
        cdef list links = [], rows = [], table = [], filled = [], row, inner = []
        cdef xmlNode* tr
        cdef xmlNode* c
        cdef int tid
        cdef bint full
        cdef Run run
        run.n, run.word, run.seen = 0, False, False
        self.measure(el, &run, NULL, links)
        n = run.n
        if links and n >= 200 and sum(links) > (0.8 if n < 1000 else 0.5) * n:
            return 0
        self.rows(el, rows)
        for addr in rows:
            tr = <xmlNode*><size_t>addr
            row, full = [], False
            c = tr.children
            while c is not NULL:
                if _is_el(c):
                    tid = self.code(c) >> 16
                    if (tid == X_TD or tid == X_TH) and not self.skip(c):
                        row.append((self.inline_text(c, False), tid == X_TH, _span(_get(c, "colspan"))))
                        full = full or self.n_children(c) > 0
                c = c.next
            table.append(row)
            filled.append(full)
        self.table_rows(table, filled)
        self.tables_in(el, inner)
        for addr in inner:
            self.block(<xmlNode*><size_t>addr)
        return 0

    cdef int table_rows(self, list table, list filled) except -1:
        width = min(max((sum(span for _, _, span in row) for row in table), default=0), 100)
        header_done = False
        for row, full in zip(table, filled):
            cells, header = [], False
            for text, th, span in row:
                header = header or (th and not header_done)
                cells.append(_cell(text))
                cells.extend([""] * (span - 1))
            cells.extend([""] * (width - len(cells)))
            if full or any(cells):
                self.emit(_table_row(cells, header), False)
            header_done = header_done or header
        return 0

    cdef int tables_in(self, xmlNode* el, list out) except -1:
        cdef xmlNode* c = el.children
        while c is not NULL:
            if _is_el(c) and not self.skip(c):
                if (self.code(c) >> 16) == X_TABLE:
                    out.append(<size_t>c)
                else:
                    self.tables_in(c, out)
            c = c.next
        return 0

    # ---------------------------------------------------------------- passes

    cdef int main_pass(self) except -1:
        cdef xmlNode* frame
        for stage in range(1, 6):
            frame = self.find(self.body, stage)
            if frame is NULL:
                continue
            self.discard, self.teaser = True, True
            self.discard = self.guard(frame)
            self.walk(frame, self.div_mode)
            self.flush()
            while self.heads and self.heads[-1]:
                self.blocks.pop()
                self.heads.pop()
            if _enough(self.blocks):
                return 0
        return 0

    cdef xmlNode* find(self, xmlNode* el, int stage) except? NULL:
        cdef xmlNode* c = el.children
        cdef xmlNode* f
        while c is not NULL:
            if _is_el(c) and not self.kind(c) & K_CLEAN:
                if self.stage_match(c, stage):
                    return c
                f = self.find(c, stage)
                if f is not NULL:
                    return f
            c = c.next
        return NULL

    cdef int recover(self) except -1:
        cdef list found = []
        cdef xmlNode* el
        self.teaser = False
        self.discard = True
        self.discard = self.guard(self.body)
        self.wild(self.body, found)
        seen = set(self.blocks)
        joined = "\n".join(self.blocks)
        for addr in found:
            el = <xmlNode*><size_t>addr
            before = len(self.blocks)
            if (self.code(el) >> 16) != X_CODE:
                self.block(el)
            else:
                self.emit(self.raw_text(el), False)
            new = self.blocks[before:]
            del self.blocks[before:], self.heads[before:]
            for text in new:
                if text in seen or (len(text) > MIN_DUPLICATE_LENGTH and text in joined):
                    continue
                self.emit(text, False)
                seen.add(text)
                joined += "\n" + text
        return 0

    cdef int wild(self, xmlNode* el, list found) except -1:
        cdef xmlNode* c = el.children
        cdef int code
        while c is not NULL:
            if _is_el(c) and not self.skip(c):
                code = self.code(c)
                if code & T_RECOVER:
                    found.append(<size_t>c)
                elif not ((code >> 16) == X_DIV or code & T_LIST) or not self.link_dense(c):
                    self.wild(c, found)
            c = c.next
        return 0

    cdef str baseline(self):
        cdef list found = []
        self.discard = self.teaser = self.density = False
        self.wild(self.body, found)
        paras = [t for t in (self.inline_text(<xmlNode*><size_t>a) for a in found) if t]
        text = "\n".join(dict.fromkeys(paras))
        if len(text) >= MIN_EXTRACTED_SIZE:
            return text
        cdef list pieces = []
        self.texts(self.body, pieces)
        return "\n".join(line for line in map(R.collapse, pieces) if line)

    cdef int texts(self, xmlNode* el, list out) except -1:
        """The text runs of a subtree (adjacent text nodes joined, as lxml's .text/.tail), pruned elements'
        tails kept: pyprune.Tree.gather without links."""
        cdef xmlNode* c = el.children
        cdef list run = []
        while c is not NULL:
            if _is_text(c):
                run.append(_s(<const char*>c.content))
            elif _is_el(c):
                if run:
                    out.append("".join(run))
                    run = []
                if not self.skip(c):
                    self.texts(c, out)
            c = c.next
        if run:
            out.append("".join(run))
        return 0


cdef xmlNode* _body_of(xmlNode* root) noexcept:
    cdef xmlNode* c = root.children
    while c is not NULL:
        if _is_el(c) and strcmp(<const char*>c.name, "body") == 0:
            return c
        c = c.next
    return root


def extract_tree(cetree._Element root):
    """Main text of the page whose lxml root element is `root` (see pyextract.extract_tree)."""
    cdef Page page = Page()
    page.init(_body_of(root._c_node))
    page.main_pass()
    text = "\n".join(page.blocks)
    if len(text) < MIN_EXTRACTED_SIZE:
        page.recover()
        text = "\n".join(page.blocks)
    if len(text) < MIN_EXTRACTED_SIZE:
        base = page.baseline()
        if len(base) > len(text):
            text = base
    return _finish(text)
