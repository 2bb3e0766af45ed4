"""Stack Exchange reader on the real dumps under shared/data/stackexchange, checked against an
independent parse of Posts.xml (xml.etree), plus synthetic dumps for the options and the defects."""
from __future__ import annotations

import collections
import json
import re
import xml.etree.ElementTree as ET

import pytest

from engine.readers import read_file
from engine.readers.stackexchange import html_to_text, parse_tags, read_stackexchange
from engine.schema import READ_SCHEMA, stable_id
from engine.spec import StackExchangeSource, parse_spec
from tests.conftest import shared_data

SITES = ["beer.stackexchange.com", "conlang.meta.stackexchange.com", "french.meta.stackexchange.com"]
_WS = re.compile(r"\s+")


def se_source(**kw) -> StackExchangeSource:
    return StackExchangeSource(name="se", kind="stackexchange", paths=["/data/se/*"], **kw)


def read(path, source) -> list[dict]:
    out = []
    for b in read_stackexchange(str(path), source):
        assert b.schema.equals(READ_SCHEMA)
        out.extend(b.to_pylist())
    return out


def independent(posts_xml):
    """Questions and answers by a plain parse (no code shared with the reader)."""
    questions, answers = {}, collections.defaultdict(list)
    for _, el in ET.iterparse(posts_xml):
        if el.tag != "row":
            continue
        a = dict(el.attrib)
        if a.get("PostTypeId") == "1":
            questions[int(a["Id"])] = a
        elif a.get("PostTypeId") == "2":
            answers[int(a["ParentId"])].append(a)
        el.clear()
    return questions, answers


def expected_order(q, answers):
    acc = int(q["AcceptedAnswerId"]) if q.get("AcceptedAnswerId") else None
    return [int(a["Id"]) for a in sorted(answers, key=lambda a: (int(a["Id"]) != acc, -int(a["Score"]), int(a["Id"])))]


def snippet(body_html: str) -> str | None:
    """A distinctive run of plain text from a post: the longest text node of its first paragraphs."""
    from lxml import html as lhtml

    root = lhtml.fragment_fromstring(body_html, create_parent="div")
    best = ""
    for p in root.iter("p"):
        for t in [p.text, *(c.tail for c in p)]:
            t = _WS.sub(" ", t or "").strip()
            if len(t) > len(best):
                best = t
    return best[:60] if len(best) >= 25 else None


@pytest.mark.parametrize("site", SITES)
def test_site_documents(site):
    folder = shared_data("stackexchange", site)
    questions, answers = independent(folder / "Posts.xml")
    rows = read(folder, se_source())
    assert len(rows) == len(questions)                      # one document per question
    assert all(r["reason"] is None and r["kind"] == "qa" for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    by_qid = {json.loads(r["meta"])["question_id"]: r for r in rows}
    assert set(by_qid) == set(questions)

    has_license = any("ContentLicense" in q for q in questions.values())
    checked = 0
    for qid, q in questions.items():
        row = by_qid[qid]
        meta = json.loads(row["meta"])
        assert row["id"] == stable_id("se", f"{site}/{qid}")
        assert row["url"] == f"https://{site}/questions/{qid}"
        assert row["text"].startswith(_WS.sub(" ", q["Title"]).strip())
        assert meta["site"] == site and meta["score"] == int(q["Score"])
        assert meta["tags"] == re.findall(r"<([^>]+)>", q.get("Tags", ""))
        assert meta["answer_count"] == (int(q["AnswerCount"]) if q.get("AnswerCount") else None)
        assert meta["accepted_answer_id"] == (int(q["AcceptedAnswerId"]) if q.get("AcceptedAnswerId") else None)
        assert meta["creation_date"] == q["CreationDate"]
        # answers: all of them, attached to the right question, accepted first then score desc then id
        assert meta["answers"] == expected_order(q, answers[qid])
        # license from ContentLicense where the dump has it; null in older dumps (beer, 2017)
        if has_license:
            lic = {q["ContentLicense"], *(a["ContentLicense"] for a in answers[qid])}
            assert row["license"] == ", ".join(sorted(lic))
        else:
            assert row["license"] is None
        # the text holds the question and each answer's text, in that order
        if len(answers[qid]) >= 2 and checked < 40:
            text = _WS.sub(" ", row["text"])
            pos = -1
            by_id = {int(a["Id"]): a for a in answers[qid]}
            for post in [q] + [by_id[i] for i in meta["answers"]]:
                s = snippet(post["Body"])
                if s is None:
                    continue
                i = text.find(s, pos + 1)
                assert i > pos, (qid, post["Id"], s)
                pos = i
            checked += 1
    assert checked > 0


def test_schema_drift_and_read_file():
    # the same reader on a 2017 dump (no ContentLicense) and a 2020 one (with it), through read_file
    spec = parse_spec(f"""
name: t
output: {{path: out}}
sources:
  - {{name: se, kind: stackexchange, paths: ["{shared_data('stackexchange')}/*"]}}
""", check_paths=False)
    src = spec.sources[0]
    beer = [r for b in read_file(str(shared_data("stackexchange", "beer.stackexchange.com")), src) for r in b.to_pylist()]
    conlang = [r for b in read_file(str(shared_data("stackexchange", "conlang.meta.stackexchange.com")), src)
               for r in b.to_pylist()]
    assert {r["license"] for r in beer} == {None}
    assert {r["license"] for r in conlang} <= {"CC BY-SA 3.0", "CC BY-SA 4.0", "CC BY-SA 3.0, CC BY-SA 4.0"}
    assert all(r["license"] for r in conlang)
    # a Posts.xml path works as well as the folder
    again = read(shared_data("stackexchange", "conlang.meta.stackexchange.com", "Posts.xml"), se_source())
    assert [r["id"] for r in again] == [r["id"] for r in conlang]


def test_duplicates_from_postlinks():
    folder = shared_data("stackexchange", "french.meta.stackexchange.com")
    dups = collections.defaultdict(list)
    for _, el in ET.iterparse(folder / "PostLinks.xml"):
        if el.tag == "row" and el.get("LinkTypeId") == "3":
            dups[int(el.get("PostId"))].append(int(el.get("RelatedPostId")))
    rows = read(folder, se_source())
    got = {json.loads(r["meta"])["question_id"]: json.loads(r["meta"]).get("duplicate_of") for r in rows}
    for qid, rel in dups.items():
        if qid in got:
            assert got[qid] == sorted(rel)


def test_comments_option():
    folder = shared_data("stackexchange", "conlang.meta.stackexchange.com")
    comments = collections.defaultdict(list)
    for _, el in ET.iterparse(folder / "Comments.xml"):
        if el.tag == "row":
            comments[int(el.get("PostId"))].append(_WS.sub(" ", el.get("Text")).strip())
    rows = read(folder, se_source(include_comments=True))
    plain = {r["id"]: r for r in read(folder, se_source())}
    n = 0
    for r in rows:
        qid = json.loads(r["meta"])["question_id"]
        for c in comments.get(qid, []):
            assert "> " + c in r["text"]
            n += 1
        assert len(r["text"]) >= len(plain[r["id"]]["text"])
    assert n > 0


# ---------------------------------------------------------------- synthetic dumps


def _row(**a) -> str:
    from xml.sax.saxutils import quoteattr
    return "  <row " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in a.items()) + " />\n"


def _posts(rows: list[str]) -> str:
    return '\ufeff<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "".join(rows) + "</posts>\n"


@pytest.fixture
def site(tmp_path):
    d = tmp_path / "toy.stackexchange.com"
    d.mkdir()
    rows = [
        # answers before their question, the newer `|a|b|` tag format, no ContentLicense
        _row(Id=11, PostTypeId=2, ParentId=10, Score=1, Body="<p>Low answer.</p>", CreationDate="2024-01-02"),
        _row(Id=12, PostTypeId=2, ParentId=10, Score=9, Body="<p>Top answer.</p>", CreationDate="2024-01-02"),
        _row(Id=13, PostTypeId=2, ParentId=10, Score=-2, Body="<p>Bad answer.</p>", CreationDate="2024-01-02"),
        _row(Id=14, PostTypeId=2, ParentId=10, Score=1, Body="<p>Accepted answer.</p>", CreationDate="2024-01-02"),
        _row(Id=10, PostTypeId=1, AcceptedAnswerId=14, Score=5, Title="How  do I cook?", Tags="|food|cooking|",
             Body="<p>Question <code>x = 1</code> body.</p><pre><code>def f():\n    return 1\n</code></pre>",
             CreationDate="2024-01-01T00:00:00.000", AnswerCount=4),
        _row(Id=20, PostTypeId=1, Score=0, Title="No answers", Tags="<a><b-c>", Body="<p>Alone.</p>",
             CreationDate="2024-01-03"),
        _row(Id=21, PostTypeId=2, ParentId=20, Score=0, Body="", CreationDate="2024-01-03"),
        _row(Id=30, PostTypeId=4, Body="<p>tag wiki excerpt</p>"),
        _row(Id=31, PostTypeId=2, ParentId=999, Score=3, Body="<p>orphan</p>"),   # question not in the dump
    ]
    (d / "Posts.xml").write_text(_posts(rows), encoding="utf-8")
    (d / "Comments.xml").write_text('<?xml version="1.0" encoding="utf-8"?>\n<comments>\n'
                                    + _row(Id=1, PostId=12, Score=0, Text="Nice  one.")
                                    + _row(Id=2, PostId=10, Score=0, Text="What stove?") + "</comments>\n")
    return d


def test_synthetic_site(site):
    rows = read(site, se_source())
    assert [json.loads(r["meta"])["question_id"] for r in rows] == [10, 20]
    q = rows[0]
    meta = json.loads(q["meta"])
    assert meta["tags"] == ["food", "cooking"] and meta["answers"] == [14, 12, 11, 13]
    assert q["license"] is None
    assert q["text"] == ("How do I cook?\n\nQuestion `x = 1` body.\n\n```\ndef f():\n    return 1\n```"
                         "\n\n---\n\nAccepted answer.\n\n---\n\nTop answer.\n\n---\n\nLow answer.\n\n---\n\nBad answer.")
    assert json.loads(rows[1]["meta"])["tags"] == ["a", "b-c"] and rows[1]["text"] == "No answers\n\nAlone."

    opt = read(site, se_source(min_answer_score=1, max_answers=2, include_comments=True))
    assert json.loads(opt[0]["meta"])["answers"] == [14, 12]
    assert "> What stove?" in opt[0]["text"] and "Top answer.\n\n> Nice one." in opt[0]["text"]
    assert "Low answer" not in opt[0]["text"]


def test_xml_error_keeps_what_was_read(site):
    text = (site / "Posts.xml").read_text(encoding="utf-8")
    cut = text[: text.index('<row Id="20"')] + '<row Id="20" PostTypeId="1" Title="broken'
    (site / "Posts.xml").write_text(cut, encoding="utf-8")
    rows = read(site, se_source())
    reasons = collections.Counter(r["reason"] for r in rows)
    assert reasons == {None: 1, "read:xml_error": 1}
    err = next(r for r in rows if r["reason"])
    assert json.loads(err["meta"])["file"] == "Posts.xml" and json.loads(err["meta"])["line"]
    assert json.loads(next(r for r in rows if not r["reason"])["meta"])["answers"] == [14, 12, 11, 13]


def test_missing_posts(tmp_path):
    (tmp_path / "empty.stackexchange.com").mkdir()
    rows = read(tmp_path / "empty.stackexchange.com", se_source())
    assert [r["reason"] for r in rows] == ["read:missing_posts"]


def test_html_to_text_and_tags():
    html = ("<p>Intro with <a href='x'>a link</a> and <strong>bold</strong>.</p>\n<ul><li>one</li><li>two "
            "<code>y</code></li></ul><blockquote><p>quoted\ntext</p></blockquote>"
            "<pre><code>  indented\n\n    more\n</code></pre><ol><li>first</li></ol><p>a<br>b</p>")
    assert html_to_text(html) == ("Intro with a link and bold.\n\n- one\n- two `y`\n\n> quoted text\n\n"
                                  "```\n  indented\n\n    more\n```\n\n1. first\n\na\nb")
    assert html_to_text("") == "" and html_to_text(None) == ""
    assert parse_tags("<python><pandas-2>") == ["python", "pandas-2"]
    assert parse_tags("|python|pandas-2|") == ["python", "pandas-2"]
    assert parse_tags(None) == [] and parse_tags("") == []
