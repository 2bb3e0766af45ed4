"""Stack Exchange data dumps (kind `stackexchange`): one `qa` document per question.

A path is a site folder of the official dump (`Posts.xml`, optionally `Comments.xml`, `PostLinks.xml`;
`Users.xml` is not needed), or that folder's `Posts.xml` itself. The site name is the folder name
(`beer.stackexchange.com`).

Document text: the title, the question, then its answers — accepted first, then by score (desc), then
by id — each post's HTML turned into text (paragraphs, lists, quotes as `> `, code blocks fenced with
```` ``` ```` and kept verbatim, inline code in backticks); posts are separated by a `---` line. Options
(`StackExchangeSource`): `min_answer_score` leaves out lower-scored answers, `max_answers` caps how many
follow the question, `include_comments` appends each post's comments (oldest first) as `> ` lines.
Questions without answers are documents too. `license`: the posts' `ContentLicense` (the distinct values,
sorted, comma-joined) where the dump has the attribute (dumps before 2020 do not:
null). `meta`: site, question_id, score, tags (both the `<a><b>` and the newer `|a|b|` formats),
answer_count (the dump's count), answers (ids attached, in order), accepted_answer_id, creation_date,
view_count, closed_date, duplicate_of (PostLinks type 3), posts_file.

Memory: answers may come before or after their question in Posts.xml, so nothing is emitted until the
file is read. One streaming pass (`lxml.etree.iterparse`, elements cleared as they go) writes each
post's converted text to a temporary SQLite file on local disk (TMPDIR), indexed by parent id; the
documents are then read back question by question. Memory stays at one post plus SQLite's page cache
(8 MB) whatever the dump size; disk holds about the text of the site once. An XML error stops the
parse of that file: `read:xml_error` (with the line), and the documents are built from what was read.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
from typing import Iterator

import pyarrow as pa

from engine.readers import BATCH_ROWS, _json, reader
from engine.schema import read_batch, stable_id

_WS = re.compile(r"\s+")
_NL_SPACES = re.compile(r"[ \t]*\n[ \t]*")
_MANY_NL = re.compile(r"\n{3,}")
_TWO_NL = re.compile(r"\n{2,}")
_BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "dl", "dt", "dd", "hr",
          "section", "article", "details", "summary", "figure", "figcaption", "center"}
_PRE = "\x00PRE%d\x00"
SEPARATOR = "\n\n---\n\n"


# ------------------------------------------------------------------ HTML -> text


def html_to_text(html: str | None) -> str:
    """A post body (HTML) as plain text that keeps code blocks verbatim."""
    if not html or not html.strip():
        return ""
    from lxml import etree
    from lxml import html as lhtml

    try:
        root = lhtml.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return _WS.sub(" ", re.sub(r"<[^>]+>", " ", html)).strip()
    pres: list[str] = []
    text = _render(root, 0, pres)
    text = _NL_SPACES.sub("\n", text)
    text = _MANY_NL.sub("\n\n", text).strip()
    for i, code in enumerate(pres):
        text = text.replace(_PRE % i, "```\n" + code.strip("\n") + "\n```", 1)
    return text


def _inline(s: str | None) -> str:
    if not s:
        return ""
    if "  " not in s and "\n" not in s and "\t" not in s and "\r" not in s:
        return s
    return _WS.sub(" ", s)


def _render(el, depth: int, pres: list[str]) -> str:
    parts = [_inline(el.text)]
    for child in el:
        tag = child.tag.lower() if isinstance(child.tag, str) else None
        if tag is None:
            pass                                    # comments, processing instructions
        elif tag == "pre":
            pres.append(child.text_content().replace("\r\n", "\n"))
            parts.append("\n\n" + _PRE % (len(pres) - 1) + "\n\n")
        elif tag == "code":
            parts.append("`" + _inline(child.text_content()).strip() + "`")
        elif tag == "br":
            parts.append("\n")
        elif tag in ("ul", "ol"):
            items = [li for li in child if isinstance(li.tag, str) and li.tag.lower() == "li"]
            lines = []
            for i, li in enumerate(items):
                bullet = f"{i + 1}. " if tag == "ol" else "- "
                body = _TWO_NL.sub("\n", _render(li, depth + 1, pres).strip())
                lines.append("  " * depth + bullet + body.replace("\n", "\n" + "  " * (depth + 1)))
            parts.append("\n\n" + "\n".join(lines) + "\n\n")
        elif tag == "blockquote":
            inner = _NL_SPACES.sub("\n", _render(child, depth, pres)).strip()
            inner = _MANY_NL.sub("\n\n", inner)
            parts.append("\n\n" + "\n".join("> " + line if line else ">" for line in inner.split("\n")) + "\n\n")
        elif tag in ("td", "th"):
            parts.append(_render(child, depth, pres).strip() + " | ")
        elif tag in ("img", "script", "style"):
            pass
        elif tag in _BLOCK or tag == "li":
            parts.append("\n\n" + _render(child, depth, pres) + "\n\n")
        else:
            parts.append(_render(child, depth, pres))
        parts.append(_inline(child.tail))
    return "".join(parts)


def parse_tags(raw: str | None) -> list[str]:
    """`<a><b>` (dumps until 2023) or `|a|b|` (later dumps) -> ["a", "b"]."""
    if not raw:
        return []
    if "<" in raw:
        return re.findall(r"<([^<>]+)>", raw)
    return [t for t in raw.split("|") if t]


# ------------------------------------------------------------------ the reader


def _site_files(path: str) -> tuple[str, str | None]:
    """(site name, site folder) for a folder or a Posts.xml path."""
    p = path.rstrip("/")
    if os.path.isdir(p):
        return os.path.basename(p), p
    return os.path.basename(os.path.dirname(p)) or "unknown", os.path.dirname(p)


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _iter_rows(path: str, errors: list):
    """Attribute dicts of the `<row>` elements of a dump XML file, streaming; an XML error is appended
    to `errors` and ends the iteration."""
    from lxml import etree

    try:
        ctx = etree.iterparse(path, events=("end",), tag="row", huge_tree=True, resolve_entities=False,
                              no_network=True)
        for _, el in ctx:
            yield dict(el.attrib)
            el.clear()
            parent = el.getparent()
            while el.getprevious() is not None and parent is not None:
                del parent[0]
    except etree.XMLSyntaxError as e:
        errors.append((os.path.basename(path), getattr(e, "lineno", None), str(e)[:300]))
    except OSError as e:
        errors.append((os.path.basename(path), None, str(e)[:300]))


@reader("stackexchange")
def read_stackexchange(path: str, source) -> Iterator[pa.RecordBatch]:
    site, folder = _site_files(path)
    posts = os.path.join(folder, "Posts.xml") if os.path.isdir(path.rstrip("/")) else path
    if not os.path.exists(posts):
        yield read_batch([{"id": stable_id(source.name, f"{site}:missing_posts"), "source": source.name,
                           "kind": "qa", "meta": _json({"site": site, "path": path}),
                           "reason": "read:missing_posts"}])
        return
    tmpdir = tempfile.mkdtemp(prefix="tamis-se-")
    db_path = os.path.join(tmpdir, "posts.sqlite")
    db = sqlite3.connect(db_path)
    try:
        yield from _read_site(db, site, folder, posts, source)
    finally:
        db.close()
        for f in os.listdir(tmpdir):
            os.unlink(os.path.join(tmpdir, f))
        os.rmdir(tmpdir)


def _read_site(db, site, folder, posts_path, source) -> Iterator[pa.RecordBatch]:
    db.executescript("""
        PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8000; PRAGMA temp_store=FILE;
        CREATE TABLE q (id INTEGER PRIMARY KEY, title TEXT, text TEXT, meta TEXT, license TEXT);
        CREATE TABLE a (id INTEGER PRIMARY KEY, parent INTEGER, score INTEGER, text TEXT, license TEXT);
        CREATE TABLE c (id INTEGER PRIMARY KEY, post INTEGER, text TEXT);
        CREATE TABLE dup (post INTEGER, related INTEGER);
    """)
    errors: list = []
    qrows, arows = [], []

    def flush():
        if qrows:
            db.executemany("INSERT OR REPLACE INTO q VALUES (?,?,?,?,?)", qrows)
            qrows.clear()
        if arows:
            db.executemany("INSERT OR REPLACE INTO a VALUES (?,?,?,?,?)", arows)
            arows.clear()

    posts_file = os.path.basename(posts_path)
    for r in _iter_rows(posts_path, errors):
        pid, ptype = _int(r.get("Id")), r.get("PostTypeId")
        if pid is None:
            continue
        if ptype == "1":
            meta = {"site": site, "question_id": pid, "score": _int(r.get("Score")),
                    "tags": parse_tags(r.get("Tags")), "answer_count": _int(r.get("AnswerCount")),
                    "accepted_answer_id": _int(r.get("AcceptedAnswerId")),
                    "creation_date": r.get("CreationDate"), "view_count": _int(r.get("ViewCount")),
                    "closed_date": r.get("ClosedDate"), "posts_file": posts_file}
            qrows.append((pid, _WS.sub(" ", r.get("Title") or "").strip(), html_to_text(r.get("Body")),
                          json.dumps(meta, ensure_ascii=False), r.get("ContentLicense")))
        elif ptype == "2":
            score = _int(r.get("Score"))
            arows.append((pid, _int(r.get("ParentId")), score if score is not None else 0,
                          html_to_text(r.get("Body")), r.get("ContentLicense")))
        if len(qrows) + len(arows) >= 2000:
            flush()
    flush()

    if getattr(source, "include_comments", False):
        cpath = os.path.join(folder, "Comments.xml")
        if os.path.exists(cpath):
            rows = []
            for r in _iter_rows(cpath, errors):
                cid, post = _int(r.get("Id")), _int(r.get("PostId"))
                if cid is not None and post is not None and r.get("Text"):
                    rows.append((cid, post, _WS.sub(" ", r["Text"]).strip()))
                if len(rows) >= 5000:
                    db.executemany("INSERT OR REPLACE INTO c VALUES (?,?,?)", rows)
                    rows.clear()
            db.executemany("INSERT OR REPLACE INTO c VALUES (?,?,?)", rows)
    lpath = os.path.join(folder, "PostLinks.xml")
    if os.path.exists(lpath):
        rows = [(_int(r.get("PostId")), _int(r.get("RelatedPostId"))) for r in _iter_rows(lpath, errors)
                if r.get("LinkTypeId") == "3"]
        db.executemany("INSERT INTO dup VALUES (?,?)", rows)
    db.execute("CREATE INDEX a_parent ON a(parent)")
    db.execute("CREATE INDEX c_post ON c(post)")
    db.execute("CREATE INDEX dup_post ON dup(post)")
    db.commit()

    rows = []
    for fname, line, msg in errors:
        rows.append({"id": stable_id(source.name, f"{site}/{fname}:xml_error"), "source": source.name,
                     "kind": "qa", "text": None, "reason": "read:xml_error",
                     "meta": _json({"site": site, "file": fname, "line": line, "error": msg})})

    min_score = getattr(source, "min_answer_score", None)
    max_answers = getattr(source, "max_answers", None)
    with_comments = getattr(source, "include_comments", False)
    cur = db.cursor()
    for qid, title, qtext, meta_s, qlic in db.execute("SELECT id, title, text, meta, license FROM q ORDER BY id"):
        meta = json.loads(meta_s)
        accepted = meta.get("accepted_answer_id") or -1
        sql = "SELECT id, text, license FROM a WHERE parent = ?"
        args: list = [qid]
        if min_score is not None:
            sql += " AND score >= ?"
            args.append(min_score)
        sql += " ORDER BY (id = ?) DESC, score DESC, id ASC"
        args.append(accepted)
        if max_answers is not None:
            sql += " LIMIT ?"
            args.append(max_answers)
        answers = cur.execute(sql, args).fetchall()
        parts = [f"{title}\n\n{qtext}".strip()]
        if with_comments:
            parts[0] += _comments(cur, qid)
        licenses = [qlic]
        for aid, atext, alic in answers:
            parts.append(atext + (_comments(cur, aid) if with_comments else ""))
            licenses.append(alic)
        meta["answers"] = [a[0] for a in answers]
        dups = [r[0] for r in cur.execute("SELECT related FROM dup WHERE post = ? ORDER BY related", (qid,))]
        if dups:
            meta["duplicate_of"] = dups
        lic = sorted({x for x in licenses if x})
        rows.append({"id": stable_id(source.name, f"{site}/{qid}"), "source": source.name, "kind": "qa",
                     "text": SEPARATOR.join(p for p in parts if p), "url": f"https://{site}/questions/{qid}",
                     "license": ", ".join(lic) if lic else None, "meta": _json(meta)})
        if len(rows) >= BATCH_ROWS:
            yield read_batch(rows)
            rows = []
    if rows:
        yield read_batch(rows)


def _comments(cur, post_id: int) -> str:
    texts = [t for (t,) in cur.execute("SELECT text FROM c WHERE post = ? ORDER BY id", (post_id,))]
    return ("\n\n" + "\n".join("> " + t for t in texts)) if texts else ""
