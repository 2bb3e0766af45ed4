"""`datasheet.md`: the datasheet's facts (engine/datasheet.py) as Markdown with a Hugging Face dataset-card
header (YAML front matter: license, language, task_categories, size_categories, pretty_name, tags, configs),
so an output folder can be published on the Hub as it is. Pure: a dict in, a string out.

Header conventions (Hub docs, "Licenses" and dataset cards): `license` takes the Hub's identifiers; a licence
value of the data that maps to none of them is `other` (with `license_name`), and documents without a licence
add `unknown`. `language` lists the ISO 639 codes of the written documents (`code` for source code).
"""
from __future__ import annotations

import re
import time

import yaml

# the Hub's licence identifiers (huggingface.co/docs/hub/repositories-licenses), lowercase
HF_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0
cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0
cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl
gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by odbl osl-3.0 postgresql ofl-1.1 ncsa
unlicense zlib pddl lgpl-lr
""".split())
SIZE_BUCKETS = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (10**9, "100M<n<1B"),
                (10**10, "1B<n<10B"), (10**11, "10B<n<100B"), (10**12, "100B<n<1T"))
_LANG = re.compile(r"^([a-z]{2,3})(?:[_-][A-Za-z]{4})?$")   # `en`, `eng`, GlotLID's `eng_Latn`
_MAX_FILES_OPEN = 20         # longer file lists go in a collapsed <details> block


def hf_license(value: str) -> str:
    """One licence value of the data (SPDX `Apache-2.0`, Stack Exchange `CC BY-SA 4.0`) as a Hub identifier,
    or the normalized value when the Hub has none (the header then says `other`)."""
    v = re.sub(r"-(only|or-later)$", "", re.sub(r"[\s_]+", "-", value.strip().lower())).removesuffix("+")
    return re.sub(r"[^a-z0-9.]+", "-", v).strip("-")     # the Hub's names: lowercase, digits, `-`, `.`


def size_category(n: int) -> str:
    return next((name for limit, name in SIZE_BUCKETS if n < limit), "n>1T")


def front_matter(facts: dict) -> dict:
    ids, other, unknown = set(), set(), False
    for e in facts["licenses"]:
        if not e["license"]:
            unknown = True
            continue
        for part in e["license"].split(","):    # a repository's several licences are comma-joined
            v = hf_license(part)
            if v:
                (ids if v in HF_LICENSES else other).add(v)
    licenses = sorted(ids) + (["other"] if other else []) + (["unknown"] if unknown or not facts["licenses"] else [])
    langs = sorted({m.group(1) for e in facts["languages"] if e["lang"] for m in [_LANG.match(e["lang"])] if m})
    kinds = [e["kind"] for e in facts["kinds"] if e["kind"]]
    head = {"license": licenses[0] if len(licenses) == 1 else licenses}
    if other:   # the Hub asks a name for `other`: the one licence, or that there are several
        head["license_name"] = sorted(other)[0] if len(other) == 1 else "several-see-licences-section"
    head.update({"language": langs + (["code"] if "code" in kinds else []),
                 "task_categories": ["text-generation"],
                 "size_categories": [size_category(facts["totals"]["docs_written"])],
                 "pretty_name": facts["name"],
                 "tags": ["tamis", "pretraining"] + sorted(set(kinds)),
                 "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "*.parquet"}]}]})
    return head


def render_datasheet(facts: dict) -> str:
    head = yaml.safe_dump(front_matter(facts), sort_keys=False, allow_unicode=True, width=1000)
    parts = [f"---\n{head}---\n", _overview(facts), _sources(facts), _breakdown_section(facts, "licenses"),
             _breakdown_section(facts, "languages"), _synthetic(facts), _decontamination(facts), _dedup(facts),
             _inputs(facts), _spec(facts)]
    return "\n".join(p for p in parts if p)


# ---------------------------------------------------------------- sections


def _n(v) -> str:
    return "—" if v is None else f"{v:,}" if isinstance(v, int) else str(v)


def _cell(v) -> str:
    """A table cell: data values (licences, paths) may hold `|`, backticks or newlines."""
    s = "(none)" if v is None else str(v)
    s = s.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'").replace("\r", " ").replace("\n", " ")
    return s if len(s) <= 300 else s[:299] + "…"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_n(c) if isinstance(c, int) else _cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _time(t: int | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _share(part: int, total: int) -> str:
    return f"{100 * part / total:.2f}%" if total else "—"


def _overview(f: dict) -> str:
    t, tm, spec = f["totals"], f["tamis"], f["spec"]
    return (f"# {f['name']}\n\nA pretraining mix built by tamis {tm['version']} (code hash `{tm['code_hash']}`): "
            f"{_n(t['docs_written'])} documents, {_n(t['tokens_written'])} tokens ({f['tokenizer']}) in "
            f"{_n(t['shards'])} Parquet shards, sampled with seed {f['seed']}.\n\n"
            f"- spec: `{_cell(spec['path'])}`, sha256 `{spec['sha256']}`\n"
            + "".join(f"- {k} {v}\n" for k, v in sorted(tm["versions"].items()) if k != "tamis")
            + ("" if f["counted"] else "\nLicence, language, generator and match counts were not computed.\n"))


def _sources(f: dict) -> str:
    rows = [[s["name"], s["kind"], s["files"], s["docs_read"], s["chars_read"], s.get("tokens_read"),
             s["docs_read"] - s["docs_kept"] - s["duplicates_removed"], s["duplicates_removed"], s["docs_kept"],
             s["tokens_kept"], s["docs_written"], s["tokens_written"], s["epochs_used"]] for s in f["sources"]]
    out = ["## Sources\n", "Tokens read count every readable document, dropped ones included.\n",
           _table(["source", "kind", "files", "docs read", "chars read", "tokens read", "dropped", "duplicates",
                   "kept docs", "kept tokens", "written docs", "written tokens", "epochs"], rows)]
    for s in f["sources"]:
        if s["docs_dropped"]:
            out += [f"### Dropped from `{_cell(s['name'])}`, by reason\n",
                    _table(["reason", "docs"], [[k, v] for k, v in s["docs_dropped"].items()])]
    return "\n".join(out)


def _breakdown_section(f: dict, key: str) -> str:
    col, title = {"licenses": ("license", "Licences"), "languages": ("lang", "Languages")}[key]
    total = f["totals"]["tokens_written"]
    rows = [[e[col], e["docs"], e["tokens"], _share(e["tokens"], total),
             ", ".join(f"{s}: {n:,}" for s, n in sorted(e["by_source"].items()))] for e in f[key]]
    what = "the `license` value of each written document" if key == "licenses" else \
        "the `lang` of each written document (language ID; none for source code)"
    return f"## {title}\n\nPer {what}; upsampled copies count each time.\n\n" + \
        _table([col, "docs", "tokens", "share of tokens", "docs per source"], rows)


def _synthetic(f: dict) -> str:
    s = f["synthetic"]
    cap = f", capped at {100 * s['max_share']:.2f}%" if s["max_share"] is not None else ""
    text = (f"## Synthetic data\n\n{_n(s['docs'])} model-generated documents, {_n(s['tokens'])} tokens: "
            f"{100 * s['share']:.2f}% of the tokens{cap}.\n")
    if s["generators"]:
        text += "\n" + _table(["generator", "docs", "tokens", "share of tokens"],
                              [[g["generator"], g["docs"], g["tokens"], f"{100 * g['share']:.2f}%"]
                               for g in s["generators"]])
    return text


def _decontamination(f: dict) -> str:
    d = f["decontamination"]
    if not d["filters"]:
        return "## Decontamination\n\nNo source was decontaminated against benchmarks.\n"
    out = ["## Decontamination\n", "Documents sharing a word n-gram with a benchmark item; items matched "
           "counts distinct items among the first match of each document.\n",
           _table(["benchmark", "file", "bytes", "sha256"], [[b["benchmark"], b["file"], b["bytes"], b["sha256"]]
                                                              for b in d["benchmarks"]]),
           _table(["source", "mode", "ngram", "min matches", "benchmarks"],
                  [[x["source"], x["mode"], x["ngram"], x["min_matches"], ", ".join(x["benchmarks"])]
                   for x in d["filters"]]),
           _table(["source", "benchmark", "docs dropped", "matching docs kept", "matching docs written",
                   "items matched"], [[m["source"], m["benchmark"], m["docs_dropped"], m["docs_matched_kept"],
                                       m["docs_written"], m["items_matched"]] for m in d["matches"]])]
    return "\n".join(out)


def _dedup(f: dict) -> str:
    d = f["dedup"]
    params = "none (no `dedup:` in the spec)" if d["params"] is None else \
        yaml.safe_dump(d["params"], default_flow_style=True, width=10_000).strip()[1:-1]
    return (f"## Deduplication\n\nParameters: {_cell(params)}.\n\n"
            "Removed as duplicates (of another document, or the same record read twice):\n\n"
            + _table(["source", "docs removed"], [[k, v] for k, v in d["removed"].items()]
                     + [["total", d["removed_total"]]]))


def _inputs(f: dict) -> str:
    out = ["## Input files\n", "Checksum: sha256 of a local file, the store's ETag of a remote object, else its "
           "size and mtime only.\n"]
    for name, files in f["inputs"].items():
        rows = [[x["path"], x["bytes"], _time(x["mtime"]), x["checksum"], x.get("sha256") or x.get("etag") or ""]
                for x in files]
        table = _table(["file", "bytes", "mtime", "checksum", "value"], rows)
        if len(rows) > _MAX_FILES_OPEN:
            table = f"<details><summary>{len(rows):,} files</summary>\n\n{table}\n</details>\n"
        out += [f"### `{_cell(name)}` ({len(rows):,} file{'' if len(rows) == 1 else 's'})\n", table]
    return "\n".join(out)


def _spec(f: dict) -> str:
    s = f["spec"]
    if s["text"] is None:
        return f"## Spec\n\n{s['note']}.\n"
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", s["text"])), default=0))
    return f"## Spec\n\n{fence}yaml\n{s['text'].rstrip()}\n{fence}\n"
