"""The extractor's rules as data: tag sets, attribute patterns and the text helpers both implementations share.

Both implementations (`pyextract`, the readable one over lxml, and the compiled `_fastextract` over the same
libxml2 tree) walk the tree the same way and ask this module every attribute question, so their decisions
cannot drift apart. The patterns restate trafilatura's (2.3) XPath rules as flags on the `class` and `id`
strings: BODY_XPATH's five container stages, OVERALL_DISCARD_XPATH's boilerplate vocabulary, its hidden /
reply / comment-title rules, the comment-container prune, teasers and captions. Flags are memoised per
attribute string: a page repeats the same few class names on most of its elements.
"""
from __future__ import annotations

import re
import unicodedata

MIN_EXTRACTED_SIZE = 250     # below this, the wild-paragraph recovery and then the baseline run
DIV_MODE_P_CHARS = 750       # fewer <p> characters on the page than this: loose div text is content too
MIN_DUPLICATE_LENGTH = 50    # recovery skips a block contained in what was already taken, above this size

# element types trafilatura deletes with their subtree before anything else (settings.MANUALLY_CLEANED,
# plus what its parser drops), and those it strips keeping their text (transparent to the walk)
CLEANED = frozenset("""
    aside embed fencedframe footer form head iframe menu object script applet audio canvas figure map picture
    svg video area blink button datalist dialog frame frameset fieldset link input label legend marquee math
    menuitem nav noindex noscript optgroup option output param progress rp rt rtc select source style track
    textarea time use meta template title img
""".split())
HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
LISTS = frozenset(("ul", "ol", "dl"))
ITEMS = frozenset(("li", "dt", "dd"))
CODE = frozenset(("pre",))
# inline elements: at container level their text continues the current run; any other element (custom
# ones included: <paragraph>, <app>) is a container whose blocks are taken one by one
INLINE = frozenset("""
    a abbr acronym b bdi bdo big cite data del dfn em font i ins kbd mark nobr q rb ruby s samp small span strike
    strong sub sup tt u var wbr img
""".split())
# inline elements trafilatura strips (keeping their content) before it looks for blocks: a paragraph inside
# one is still a paragraph
TRANSPARENT = frozenset("span abbr acronym bdi bdo big cite data dfn font ins mark nobr ruby small".split())
# blocks whose tail text trafilatura keeps as a paragraph of its own
TAIL_BLOCKS = frozenset("p pre code blockquote ul ol dl table".split())
# elements that keep words apart inside a paragraph's text
BLOCKS = frozenset("""
    div section article main header body center details summary hgroup address ul ol dl li dt dd table tr td th
    thead tbody tfoot caption p pre blockquote h1 h2 h3 h4 h5 h6 figcaption dir
""".split())
# the containers the first, third and fourth body stages consider
CONTAINER_TAGS = frozenset(("article", "div", "main", "section"))
# the element types OVERALL_DISCARD_XPATH's vocabulary applies to (div, item, list, p, section, span)
DISCARDABLE = frozenset(("div", "li", "dt", "dd", "ul", "ol", "dl", "p", "section", "span"))
COMMENT_TAGS = frozenset(("div", "section", "details", "ol", "ul", "dl"))

# ------------------------------------------------------------------ flags of a class / id string

C_DISCARD = 1 << 0       # boilerplate vocabulary (nav, share, footer, related, ads, meta, ...)
C_HIDE = 1 << 1          # hidden / reply / comment-title classes: any element
C_COMMENTS = 1 << 2      # a comment container
C_TEASER = 1 << 3
C_CAPTION = 1 << 4
C_STAGE1 = 1 << 5        # body stage 1: article body / post content
C_STAGE3 = 1 << 6        # body stage 3: story / single post / text column
C_STAGE4 = 1 << 7        # body stage 4: content / main content
C_STAGE5 = 1 << 8        # body stage 5: starts with "main"
C_FIRST_HIDE = 1 << 9    # when first of id/class (cookie, reply-): boilerplate
C_RAW_PRUNE = 1 << 10    # infinite-scroll follow-up articles, share-button widgets

_BOTH = r"^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author"
_DISCARD_ID = re.compile(_BOTH + r"|^(?:jp-|dpsp-content)|bmdh|footer|Footer|share|Share|nav|Nav|menu|related"
                         r"|message-container|premium|^ad-")
_DISCARD_CLASS = re.compile(
    _BOTH + r"|^(?:nav|post-nav|ZendeskForm)|subnav|avigation|navbar|navbox|menu|bar"
    r"| ad |-ad-|(?:^| )ad-|dfp[Aa]d|outbrain|taboola|criteo|paid-?content|widget|footer|Footer|byline|Byline"
    r"|share-|sociable|embedded|embed|tag-list|consent|modal-content|permission|elated|next-|-stories"
    r"|most-popular|more-on|meta|rating|attachment|timestamp|user-info|user-profile|-icon|article-infos"
    r"|message-container|slide|viewport|overlay|options|expand|obfuscated|blurred|mol-factbox|yin|zlylin"
    r"|nfoline")
_HIDE_ID = re.compile(r"reader-comments|akismet")
_HIDE_CLASS = re.compile(r"^hide-|comments-title|nocomments|-reply-|message|akismet|suggest-links|-hide-"
                         r"|hide-print| hidden| hide|noprint|notloaded")
_COMMENTS_ID = re.compile(r"^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)")
_COMMENTS_CLASS = re.compile(r"^[Cc]omment(?!ary)|(?:article|post)-comments")
_FIRST_HIDE = re.compile(r"cookie|^reply-")
_RAW_PRUNE = re.compile(r"mvp-post-add-(?:box|wrap)|elementor-share-buttons")
_STAGE1_ID = re.compile(r"(?:entry|article|art)-content|article__content|article(?:-|__)?body|articleBody"
                        r"|body-text")
_STAGE1_CLASS = re.compile(
    r"post[-_]text|post-body|post-?entry|post[-_]?content|postContent|post_inner_wrapper|article-?text"
    r"|articleText|(?:entry|page|text|article|art)-content|article__content|article(?:-|__)?body|articleBody"
    r"|ArticleContent|body-text|article__container")
_STAGE3_ID = re.compile(r"^primary|story-body")
_STAGE3_CLASS = re.compile(r"(?i:fulltext)|^article |post-bodycopy|story-?content"
                           r"|(?:theme|blog|section|single)-content|single-post|main-column|wpb_text_column"
                           r"|story-body|field-body")
_STAGE4_ID = re.compile(r"content-main|content-body|contentBody")
_STAGE4_CLASS = re.compile(r"content[-_]main|content(?:-|__)body")

_ID_CACHE: dict[str, int] = {}
_CLASS_CACHE: dict[str, int] = {}
_CACHE_MAX = 200_000   # distinct strings kept; a long-lived worker clears and starts over


def _lower_cm(s: str) -> str:
    return s.replace("C", "c").replace("M", "m")


def _shared_flags(s: str) -> int:
    """The rules an id and a class value share."""
    f = 0
    if "teaser" in s.replace("T", "t"):
        f |= C_TEASER
    if "caption" in s:
        f |= C_CAPTION
    if s.startswith("main"):
        f |= C_STAGE5
    if _FIRST_HIDE.search(s):
        f |= C_FIRST_HIDE
    if _RAW_PRUNE.search(s):
        f |= C_RAW_PRUNE
    return f


def _id_flags(s: str) -> int:
    f = 0
    if _DISCARD_ID.search(s):
        f |= C_DISCARD
    if _HIDE_ID.search(s) or "hidden" in s:
        f |= C_HIDE
    if _COMMENTS_ID.search(s):
        f |= C_COMMENTS
    if s == "articleContent" or _STAGE1_ID.search(s):
        f |= C_STAGE1
    if s in ("article", "story") or _STAGE3_ID.search(s):
        f |= C_STAGE3
    if s == "content" or _STAGE4_ID.search(s) or "main-content" in _lower_cm(s):
        f |= C_STAGE4
    return f | _shared_flags(s)


def _class_flags(s: str) -> int:
    f = 0
    if _DISCARD_CLASS.search(s):
        f |= C_DISCARD
    if s == "comments-title" or _HIDE_CLASS.search(s):
        f |= C_HIDE
    if _COMMENTS_CLASS.search(s):
        f |= C_COMMENTS
    if s in ("post", "entry") or _STAGE1_CLASS.search(s):
        f |= C_STAGE1
    if s in ("postarea", "art-postcontent", "text", "cell", "story") or _STAGE3_CLASS.search(s):
        f |= C_STAGE3
    if s == "content" or _STAGE4_CLASS.search(s) or "main-content" in _lower_cm(s) \
            or "page-content" in s.replace("C", "c").replace("P", "p"):
        f |= C_STAGE4
    return f | _shared_flags(s)


def id_flags(s: str) -> int:
    f = _ID_CACHE.get(s)
    if f is None:
        if len(_ID_CACHE) > _CACHE_MAX:
            _ID_CACHE.clear()
        f = _ID_CACHE[s] = _id_flags(s)
    return f


def class_flags(s: str) -> int:
    f = _CLASS_CACHE.get(s)
    if f is None:
        if len(_CLASS_CACHE) > _CACHE_MAX:
            _CLASS_CACHE.clear()
        f = _CLASS_CACHE[s] = _class_flags(s)
    return f


# ------------------------------------------------------------------ text

_FILTER = re.compile(r"\W*(Drucken|E-?Mail|Facebook|Flipboard|Google|Instagram|Linkedin|Mail|PDF|Pinterest|Pocket"
                     r"|Print|QQ|Reddit|Twitter|WeChat|WeiBo|Whatsapp|Xing|Mehr zum Thema:?|More on this.{,8}$)$")


def has_text(s: str | None) -> bool:
    return bool(s) and not s.isspace()


def collapse(s: str) -> str:
    """Whitespace runs to one space, ends trimmed (trafilatura's `trim`)."""
    return " ".join(s.replace("\xad", "").split())


def paragraph(s: str) -> str:
    """A paragraph's text: each line (from <br>) collapsed, empty lines dropped, soft hyphens removed."""
    s = s.replace("\xad", "")
    if "\n" not in s:
        return " ".join(s.split())
    return "\n".join(line for line in (" ".join(p.split()) for p in s.split("\n")) if line)


def filtered(s: str) -> bool:
    """A block that is only a share / print / social-network label (trafilatura's textfilter)."""
    return any(_FILTER.match(line) for line in s.splitlines())


def enough(blocks: list[str]) -> bool:
    """A body stage found the content: more than one block (lines of a <br>-split paragraph count)."""
    return len(blocks) > 1 or (len(blocks) == 1 and "\n" in blocks[0])


def finish(text: str) -> str | None:
    """The page's text as trafilatura returns it: NFC-normalised, stripped, None when empty."""
    text = text.strip()
    return unicodedata.normalize("NFC", text) if text else None


def span(value: str | None) -> int:
    """A cell's colspan: 1 unless a decimal number, at most 100."""
    return min(int(value), 100) if value is not None and value.isdecimal() else 1


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_row(cells: list[str], header: bool) -> str:
    row = "| " + "".join(c + " | " for c in cells)
    if header:
        row += "\n|" + "---|" * len(cells)
    return row


def dense(is_p: bool, is_div: bool, n: int, links: list[int], has_next: bool, n_children: int) -> bool:
    """The link-density decision from the element's trimmed text length `n` and its links' text lengths."""
    if len(links) == 1 and links[0] > 100 and links[0] > n * 0.9:
        return True
    if is_p:
        limit = 30 if has_next else 60
    else:
        limit = 100 if has_next else 300
    if n < limit:
        texts = [x for x in links if x]
        if not texts:
            return True
        if sum(texts) > n * 0.8 or (len(texts) > 1 and sum(1 for x in texts if x < 10) / len(texts) > 0.8):
            return True
        # backtracking (divs): a short block of several elements that holds links
        return is_div and n_children >= 3 and n < 100
    if len(links) > 4:
        texts = [x for x in links if x]
        total = sum(texts)
        return total > n * 0.9 and total < 100 * len(texts)
    return False
