# Included by _fastextract.pyx: pyprune.Tree over libxml2 nodes (element kinds memoised per node, body
# stages, pruning, link density, the boilerplate guard). Keep in step with pyprune.py.


cdef class Tree:
    cdef xmlNode* body
    cdef public bint discard, teaser, density
    cdef Slot* slots     # node address -> code, kind, for this page
    cdef size_t mask, used
    cdef dict codes      # name address (the document's name dictionary) -> tag code, for this page

    def __cinit__(self):
        self.slots = <Slot*>calloc(1024, sizeof(Slot))
        if self.slots is NULL:
            raise MemoryError()
        self.mask, self.used = 1023, 0
        self.codes = {}
        self.discard = self.teaser = self.density = True

    def __dealloc__(self):
        free(self.slots)

    # ---------------------------------------------------------------- nodes

    cdef Slot* lookup(self, size_t key) noexcept:
        cdef size_t h = ((key >> 4) * <size_t>11400714819323198485ULL) & self.mask
        while self.slots[h].key != 0 and self.slots[h].key != key:
            h = (h + 1) & self.mask
        return &self.slots[h]

    cdef int grow(self) except -1:
        cdef Slot* old = self.slots
        cdef size_t i, n = self.mask + 1
        self.slots = <Slot*>calloc(2 * n, sizeof(Slot))
        if self.slots is NULL:
            self.slots = old
            raise MemoryError()
        self.mask = 2 * n - 1
        for i in range(n):
            if old[i].key != 0:
                self.lookup(old[i].key)[0] = old[i]
        free(old)
        return 0

    cdef Slot* slot(self, xmlNode* n) except NULL:
        cdef size_t key = <size_t>n
        cdef Slot* s = self.lookup(key)
        if s.key == 0:
            if 2 * (self.used + 1) > self.mask:
                self.grow()
                s = self.lookup(key)
            self.used += 1
            c = self.codes.get(<size_t>n.name)
            if c is None:
                c = self.codes[<size_t>n.name] = _tag_code_of(_s(<const char*>n.name))
            s.key, s.code, s.kind = key, c, -1
        return s

    cdef inline int code(self, xmlNode* n) except -1:
        return self.slot(n).code

    cdef int kind(self, xmlNode* n) except -1:
        cdef Slot* s = self.slot(n)
        if s.kind < 0:
            s.kind = self._kind(n)
        return s.kind

    cdef int _kind(self, xmlNode* n) except -1:
        cdef int code = self.code(n)
        cdef int tid = code >> 16
        if code & T_CLEANED:
            if tid == X_FIGURE and _has_table(n):
                return 0
            return K_CLEAN
        cls, ident = _get(n, "class"), _get(n, "id")
        cdef long cf = _class_flags(cls) if cls is not None else 0
        cdef long idf = _id_flags(ident) if ident is not None else 0
        cdef long both = cf | idf
        cdef int k = 0
        if code & T_COMMENT and both & C_COMMENTS:
            return K_CLEAN
        if both & C_RAW_PRUNE and (tid == X_DIV or tid == X_SECTION):
            return K_CLEAN
        cdef long first = idf if ident is not None else cf
        style = _get(n, "style")
        if both & C_HIDE or _get(n, "aria-hidden") == "true" or (style is not None and (
                "display:none" in style or "display: none" in style or (ident is None and "hidden" in style))):
            k |= K_DISCARD
        if code & T_DISCARDABLE:
            role = _get(n, "role")
            if both & C_DISCARD or first & C_FIRST_HIDE or (role is not None and "nav" in role.replace("N", "n")) \
                    or _prop(n, "data-lp-replacement-content") is not NULL:
                k |= K_DISCARD
            if both & C_TEASER:
                k |= K_TEASER
            if both & C_CAPTION:
                k |= K_CAPTION
        return k

    cdef bint stage_match(self, xmlNode* n, int stage) except -1:
        cdef int code = self.code(n)
        cdef int tid = code >> 16
        if stage == 2:
            return tid == X_ARTICLE
        if stage == 5:
            if tid == X_MAIN:
                return True
            if not (tid == X_ARTICLE or tid == X_DIV or tid == X_SECTION):
                return False
            for name in (b"class", b"id", b"role"):
                v = _get(n, name)
                if v is not None and v.startswith("main"):
                    return True
            return False
        if not code & T_CONTAINER:
            return False
        cls, ident = _get(n, "class"), _get(n, "id")
        cdef long both = (_class_flags(cls) if cls is not None else 0) | (_id_flags(ident) if ident is not None else 0)
        if stage == 1:
            return both & C_STAGE1 or _get(n, "itemprop") == "articleBody"
        if stage == 3:
            return both & C_STAGE3 or _get(n, "role") == "article"
        return both & C_STAGE4 != 0

    # ---------------------------------------------------------------- pruning

    cdef bint skip(self, xmlNode* n) except -1:
        cdef int k = self.kind(n)
        return k & (K_CLEAN | K_CAPTION) or (self.discard and k & K_DISCARD) or (self.teaser and k & K_TEASER)

    cdef bint has_next(self, xmlNode* el) except -1:
        cdef xmlNode* n = el.next
        while n is not NULL:
            if _is_el(n) and not self.skip(n):
                return True
            n = n.next
        return False

    cdef int n_children(self, xmlNode* el) except -1:
        cdef int k = 0
        cdef xmlNode* c = el.children
        while c is not NULL:
            if _is_el(c) and not self.skip(c):
                k += 1
            c = c.next
        return k

    cdef int measure(self, xmlNode* el, Run* outer, Run* link, list links) except -1:
        """`gather` without the strings: collapsed lengths of the subtree's text (into `outer`, and `link`
        when inside a link) and of each link's text (appended to `links`)."""
        cdef xmlNode* c = el.children
        cdef Run sub
        while c is not NULL:
            if _is_text(c):
                _feed(outer, <const unsigned char*>c.content)
                if link is not NULL:
                    _feed(link, <const unsigned char*>c.content)
            elif _is_el(c) and not self.skip(c):
                if (self.code(c) >> 16) == X_A and links is not None:
                    sub.n, sub.word, sub.seen = 0, False, False
                    self.measure(c, outer, &sub, None)
                    links.append(sub.n)
                else:
                    self.measure(c, outer, link, links)
            c = c.next
        return 0

    cdef bint link_dense(self, xmlNode* el) except -1:
        if not self.density:
            return False
        cdef list links = []
        cdef Run run
        run.n, run.word, run.seen = 0, False, False
        self.measure(el, &run, NULL, links)
        if not links:
            return False
        cdef int tid = self.code(el) >> 16
        return _dense(tid == X_P, tid == X_DIV, run.n, links, self.has_next(el), self.n_children(el))

    cdef bint guard(self, xmlNode* el) except -1:
        self.discard = False
        total = self.text_len(el)
        self.discard = True
        return total - self.discarded_len(el) > total / 7

    cdef Py_ssize_t text_len(self, xmlNode* el) except -1:
        """len() of the subtree's text (pruned elements' tails kept), as `gather` would give it."""
        cdef Py_ssize_t n = 0
        cdef xmlNode* c = el.children
        while c is not NULL:
            if _is_text(c):
                n += _cplen(<const unsigned char*>c.content)
            elif _is_el(c) and not self.skip(c):
                n += self.text_len(c)
            c = c.next
        return n

    cdef Py_ssize_t discarded_len(self, xmlNode* el) except -1:
        cdef Py_ssize_t n = 0
        cdef int k
        cdef xmlNode* c = el.children
        while c is not NULL:
            if _is_el(c):
                k = self.kind(c)
                if not k & K_CLEAN:
                    if k & K_DISCARD:
                        self.discard = False
                        n += self.text_len(c)
                        self.discard = True
                    else:
                        n += self.discarded_len(c)
            c = c.next
        return n

    cdef Py_ssize_t p_chars(self, xmlNode* el) except -1:
        cdef Py_ssize_t n = 0
        cdef xmlNode* c = el.children
        while c is not NULL:
            if _is_el(c) and not self.kind(c) & K_CLEAN:
                n += self.text_len(c) if (self.code(c) >> 16) == X_P else self.p_chars(c)
            c = c.next
        return n
