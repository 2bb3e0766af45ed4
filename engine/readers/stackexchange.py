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
(8 MB) whatever the dump size; disk holds about the text of the site once.

Bad rows cost themselves only: after an XML error the rest of the file is parsed row by row (a line each, as
the dumps write them), so a row with broken XML is one `read:xml_error` (with its line) and the rows after it
are read; a question or answer without a usable `Id` is `read:bad_post_id`; a post whose conversion raises is
`read:error:<Exception>` (`read:too_deep` for recursion); the documents are built from every other post.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
from typing import Iterator

import pyarrow as pa

from engine import storage
from engine.readers.common import BATCH_ROWS, meta_json
from engine.readers.quarantine import error_row, guarded
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
    if storage.isdir(p):
        return storage.basename(p), p
    return storage.basename(storage.dirname(p)) or "unknown", storage.dirname(p)


_SQLITE_INT = (-(1 << 63), (1 << 63) - 1)


def _int(v):
    """An integer attribute, or None when it is not one (or is beyond SQLite's 64-bit integers)."""
    try:
        i = int(v)
    except (TypeError, ValueError):
        return None
    return i if _SQLITE_INT[0] <= i <= _SQLITE_INT[1] else None


def _iter_rows(path: str, errors: list):
    """(line, attribute dict) of the `<row>` elements of a dump XML file, streaming. A broken row is appended
    to `errors` as (file, line, message) and skipped: after the first XML error the rest of the file is read
    a line at a time (the dumps write one row per line), so a bad row costs that row only."""
    from lxml import etree

    last = 0
    try:
        with storage.open_input_stream(path) as f:   # streamed from any store
            ctx = etree.iterparse(f, events=("end",), tag="row", huge_tree=True, resolve_entities=False,
                                  no_network=True)
            for _, el in ctx:
                last = el.sourceline or last
                yield last, dict(el.attrib)
                el.clear()
                parent = el.getparent()
                while el.getprevious() is not None and parent is not None:
                    del parent[0]
        return
    except etree.XMLSyntaxError as e:
        first = (storage.basename(path), getattr(e, "lineno", None), str(e)[:300])
    except OSError as e:
        errors.append((storage.basename(path), None, str(e)[:300]))
        return
    before = len(errors)
    yield from _rows_by_line(path, last, errors)
    if len(errors) == before:   # the error was outside the rows (a cut closing tag, a stray tag): still said
        errors.append(first)


_ROW_START = re.compile(rb"<row[\s/>]")
MAX_ROW_LINES = 200   # a row not parseable after this many lines is given up (dump rows are one line)


def _rows_by_line(path: str, after: int, errors: list):
    """(line, attributes) of each row after line `after`, each parsed alone: a `<row` line, continued over the
    next lines until it parses (never past the next `<row`); one that never parses is an error."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    fname = storage.basename(path)
    pending, start, lines, why = None, 0, 0, ""
    with storage.open_input_stream(path) as f:   # read again from the start: a recovery path, rare
        for n, raw in enumerate(f, 1):
            if n <= after:
                continue
            line = raw.strip()
            if _ROW_START.match(line):
                if pending is not None:
                    errors.append((fname, start, why))
                pending, start, lines = line, n, 1
            elif pending is None:
                continue
            elif lines >= MAX_ROW_LINES:
                errors.append((fname, start, why))
                pending = None
                continue
            else:
                pending, lines = pending + b"\n" + line, lines + 1
            try:
                el = etree.fromstring(pending, parser)
            except etree.XMLSyntaxError as e:
                why = str(e)[:300]
                continue
            pending = None
            yield start, dict(el.attrib)
    if pending is not None:
        errors.append((fname, start, why))


def read_stackexchange(path: str, source) -> Iterator[pa.RecordBatch]:
    if not storage.exists(path):   # listed by the driver, gone here: the caller's InputUnreadable
        raise FileNotFoundError(2, "No such file or directory", path)
    site, folder = _site_files(path)
    posts = storage.join(folder, "Posts.xml") if storage.isdir(path.rstrip("/")) else path
    if not storage.exists(posts):
        yield read_batch([{"id": stable_id(source.name, f"{site}:missing_posts"), "source": source.name,
                           "kind": "qa", "meta": meta_json({"site": site, "path": path}),
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
    bad_posts = _load_posts(db, site, posts_path, source, errors)
    _load_links(db, folder, source, errors)
    rows = bad_posts
    for fname, line, msg in errors:
        rows.append({"id": stable_id(source.name, f"{site}/{fname}:{line}:xml_error"), "source": source.name,
                     "kind": "qa", "text": None, "reason": "read:xml_error",
                     "meta": meta_json({"site": site, "file": fname, "line": line, "error": msg})})
    cur = db.cursor()
    for qid, title, qtext, meta_s, qlic in db.execute("SELECT id, title, text, meta, license FROM q ORDER BY id"):
        rows.append(guarded(lambda: _question_doc(cur, source, site, qid, title, qtext, meta_s, qlic), source,
                            f"{site}/{qid}", kind="qa", site=site, question_id=qid))
        if len(rows) >= BATCH_ROWS:
            yield read_batch(rows)
            rows = []
    if rows:
        yield read_batch(rows)


def _load_posts(db, site, posts_path, source, errors) -> list[dict]:
    """Posts.xml into the q/a tables; returns the quarantine rows of posts that could not be taken."""
    posts_file = storage.basename(posts_path)
    bad: list[dict] = []
    pending = {"q": [], "a": []}
    for line, r in _iter_rows(posts_path, errors):
        ptype = r.get("PostTypeId")
        if ptype not in ("1", "2"):
            continue   # tag wikis, moderator nominations, ...: not part of any document
        key = f"{site}/{posts_file}:{line}"
        info = {"site": site, "file": posts_file, "line": line, "post_id": r.get("Id")}
        if _int(r.get("Id")) is None:
            bad.append({"id": stable_id(source.name, key), "source": source.name, "kind": "qa", "text": None,
                        "meta": meta_json(info), "reason": "read:bad_post_id"})
            continue
        try:
            table, values = _post_values(r, site, posts_file)
        except Exception as e:  # noqa: BLE001  (a body the HTML conversion chokes on: this post only)
            bad.append(error_row(source, key, e, kind="qa", **info))
            continue
        pending[table].append((values, key, info))
        if len(pending["q"]) + len(pending["a"]) >= 2000:
            _insert(db, pending, source, bad)
    _insert(db, pending, source, bad)
    return bad


def _post_values(r: dict, site: str, posts_file: str) -> tuple[str, tuple]:
    pid = _int(r.get("Id"))
    if r.get("PostTypeId") == "1":
        meta = {"site": site, "question_id": pid, "score": _int(r.get("Score")),
                "tags": parse_tags(r.get("Tags")), "answer_count": _int(r.get("AnswerCount")),
                "accepted_answer_id": _int(r.get("AcceptedAnswerId")),
                "creation_date": r.get("CreationDate"), "view_count": _int(r.get("ViewCount")),
                "closed_date": r.get("ClosedDate"), "posts_file": posts_file}
        return "q", (pid, _WS.sub(" ", r.get("Title") or "").strip(), html_to_text(r.get("Body")),
                     json.dumps(meta, ensure_ascii=False), r.get("ContentLicense"))
    score = _int(r.get("Score"))
    return "a", (pid, _int(r.get("ParentId")), score if score is not None else 0, html_to_text(r.get("Body")),
                 r.get("ContentLicense"))


_INSERT = {"q": "INSERT OR REPLACE INTO q VALUES (?,?,?,?,?)", "a": "INSERT OR REPLACE INTO a VALUES (?,?,?,?,?)"}


def _insert(db, pending: dict, source, bad: list) -> None:
    """Insert the pending posts; when a batch fails, post by post, so only the post SQLite refuses is lost."""
    for table, items in pending.items():
        try:
            db.executemany(_INSERT[table], [v for v, _, _ in items])
        except (sqlite3.Error, OverflowError, ValueError):
            for values, key, info in items:
                try:
                    db.execute(_INSERT[table], values)
                except (sqlite3.Error, OverflowError, ValueError) as e:
                    bad.append(error_row(source, key, e, kind="qa", **info))
        items.clear()


def _load_links(db, folder, source, errors) -> None:
    """Comments (with `include_comments`) and duplicate links (PostLinks type 3), then the indexes."""
    if getattr(source, "include_comments", False):
        cpath = storage.join(folder, "Comments.xml")
        if storage.exists(cpath):
            rows = []
            for _, r in _iter_rows(cpath, errors):
                cid, post = _int(r.get("Id")), _int(r.get("PostId"))
                if cid is not None and post is not None and r.get("Text"):
                    rows.append((cid, post, _WS.sub(" ", r["Text"]).strip()))
                if len(rows) >= 5000:
                    db.executemany("INSERT OR REPLACE INTO c VALUES (?,?,?)", rows)
                    rows.clear()
            db.executemany("INSERT OR REPLACE INTO c VALUES (?,?,?)", rows)
    lpath = storage.join(folder, "PostLinks.xml")
    if storage.exists(lpath):
        rows = [(_int(r.get("PostId")), _int(r.get("RelatedPostId"))) for _, r in _iter_rows(lpath, errors)
                if r.get("LinkTypeId") == "3"]
        db.executemany("INSERT INTO dup VALUES (?,?)", rows)
    db.execute("CREATE INDEX a_parent ON a(parent)")
    db.execute("CREATE INDEX c_post ON c(post)")
    db.execute("CREATE INDEX dup_post ON dup(post)")
    db.commit()


def _question_doc(cur, source, site, qid, title, qtext, meta_s, qlic) -> dict:
    """The document of one question: title, body, then its answers (accepted first, then by score)."""
    meta = json.loads(meta_s)
    accepted = meta.get("accepted_answer_id") or -1
    sql = "SELECT id, text, license FROM a WHERE parent = ?"
    args: list = [qid]
    min_score, max_answers = getattr(source, "min_answer_score", None), getattr(source, "max_answers", None)
    with_comments = getattr(source, "include_comments", False)
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
    return {"id": stable_id(source.name, f"{site}/{qid}"), "source": source.name, "kind": "qa",
            "text": SEPARATOR.join(p for p in parts if p), "url": f"https://{site}/questions/{qid}",
            "license": ", ".join(lic) if lic else None, "meta": meta_json(meta)}


def _comments(cur, post_id: int) -> str:
    texts = [t for (t,) in cur.execute("SELECT text FROM c WHERE post = ? ORDER BY id", (post_id,))]
    return ("\n\n" + "\n".join("> " + t for t in texts)) if texts else ""
