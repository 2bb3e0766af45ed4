# Included by _fastextract.pyx: node helpers over libxml2 (tag codes, attributes, text lengths without
# building strings) and the memo table of per-element decisions.

cdef int K_CLEAN = 1, K_DISCARD = 2, K_TEASER = 4, K_CAPTION = 8
# tag properties (bits) and ids (above bit 16)
cdef int T_CLEANED = 1, T_BLOCK = 2, T_LIST = 4, T_ITEM = 8, T_HEADING = 16, T_DISCARDABLE = 32
cdef int T_COMMENT = 64, T_CONTAINER = 128, T_RECOVER = 256, T_INLINE = 512, T_TRANSPARENT = 1024, T_TAIL = 2048
cdef enum:
    X_OTHER, X_A, X_BR, X_P, X_DIV, X_PRE, X_TABLE, X_TR, X_TD, X_TH, X_TSECTION, X_FIGURE, X_ARTICLE, X_MAIN,
    X_SECTION, X_CODE, X_BODY, X_BLOCKQUOTE
_IDS = {"a": X_A, "br": X_BR, "p": X_P, "div": X_DIV, "pre": X_PRE, "table": X_TABLE, "tr": X_TR, "td": X_TD,
        "th": X_TH, "thead": X_TSECTION, "tbody": X_TSECTION, "tfoot": X_TSECTION, "figure": X_FIGURE,
        "article": X_ARTICLE, "main": X_MAIN, "section": X_SECTION, "code": X_CODE, "body": X_BODY,
        "blockquote": X_BLOCKQUOTE}
_RECOVER = frozenset(("p", "pre", "blockquote", "table", "code"))

cdef int _tag_code_of(str name):
    cdef int code = 0
    if name in R.CLEANED: code |= T_CLEANED
    if name in R.BLOCKS: code |= T_BLOCK
    if name in R.INLINE: code |= T_INLINE
    if name in R.TRANSPARENT: code |= T_TRANSPARENT
    if name in R.TAIL_BLOCKS: code |= T_TAIL
    if name in R.LISTS: code |= T_LIST
    if name in R.ITEMS: code |= T_ITEM
    if name in R.HEADINGS: code |= T_HEADING
    if name in R.DISCARDABLE: code |= T_DISCARDABLE
    if name in R.COMMENT_TAGS: code |= T_COMMENT
    if name in R.CONTAINER_TAGS: code |= T_CONTAINER
    if name in _RECOVER: code |= T_RECOVER
    return code | (<int>_IDS.get(name, X_OTHER) << 16)


cdef inline bint _is_el(xmlNode* n) noexcept:
    return n.type == tree.XML_ELEMENT_NODE


cdef inline bint _is_text(xmlNode* n) noexcept:
    return n.type == tree.XML_TEXT_NODE or n.type == tree.XML_CDATA_SECTION_NODE


cdef inline str _s(const char* c):
    return PyUnicode_DecodeUTF8(c, len(c), NULL)


cdef xmlAttr* _prop(xmlNode* n, const char* name) noexcept:
    cdef xmlAttr* a = n.properties
    while a is not NULL:
        if a.ns is NULL and strcmp(<const char*>a.name, name) == 0:
            return a
        a = a.next
    return NULL


cdef str _val(xmlAttr* a):
    """An attribute's value, as lxml's get() reads it ('' when it has none)."""
    cdef xmlNode* c = a.children
    if c is NULL:
        return ""
    if c.next is NULL and _is_text(c):
        return _s(<const char*>c.content)
    parts = []
    while c is not NULL:
        if _is_text(c) and c.content is not NULL:
            parts.append(_s(<const char*>c.content))
        c = c.next
    return "".join(parts)


cdef inline str _get(xmlNode* n, const char* name):
    cdef xmlAttr* a = _prop(n, name)
    return None if a is NULL else _val(a)


cdef bint _has_table(xmlNode* n):
    cdef xmlNode* c = n.children
    while c is not NULL:
        if _is_el(c) and (strcmp(<const char*>c.name, "table") == 0 or _has_table(c)):
            return True
        c = c.next
    return False


cdef struct Run:
    # len(" ".join(text.replace("\xad", "").split())) of the text fed so far, without building the text
    Py_ssize_t n
    bint word       # inside a word
    bint seen       # a word was seen: the next one is preceded by a space


cdef void _feed(Run* r, const unsigned char* s) noexcept:
    cdef Py_UCS4 cp
    cdef unsigned char b
    while s[0]:
        b = s[0]
        if b < 0x80:
            cp = b
            s += 1
        elif b < 0xE0:
            if not s[1]:
                break
            cp = ((b & 0x1F) << 6) | (s[1] & 0x3F)
            s += 2
        elif b < 0xF0:
            if not s[1] or not s[2]:
                break
            cp = ((b & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F)
            s += 3
        else:
            if not s[1] or not s[2] or not s[3]:
                break
            cp = ((b & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F)
            s += 4
        if cp == 0xAD:
            continue
        if Py_UNICODE_ISSPACE(cp):
            r.word = False
        else:
            if not r.word:
                if r.seen:
                    r.n += 1
                r.word = r.seen = True
            r.n += 1


cdef Py_ssize_t _cplen(const unsigned char* s) noexcept:
    """Code points in UTF-8 text (what len() of the decoded str gives)."""
    cdef Py_ssize_t n = 0
    while s[0]:
        if (s[0] & 0xC0) != 0x80:
            n += 1
        s += 1
    return n


cdef struct Slot:
    # an element's memoised tag code and kind (-1: not yet computed), in an open-addressing table
    size_t key
    int code
    int kind
