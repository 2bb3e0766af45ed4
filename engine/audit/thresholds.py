"""The spec's thresholds per signal, to draw on the report's histograms.

The spec comes from the output itself: the manifest's `spec` (a dict with `sources`) when it has one, else the
YAML text the datasheet keeps (`datasheet.spec.text`), else the spec file the manifest names, when it still
exists. Each filter of each source is rebuilt from the registry (filters/registry.py) so its defaults count
too; `RULES` maps a filter kind's threshold parameters to the signal each one is compared with (as the
filters' `decide` methods do). A threshold the run computed (`top_percent`, `min_score: auto`) is not in
the spec and is not drawn.
"""
from __future__ import annotations

import os

from engine.audit.views import manifest_json

# kind -> [(parameter, signal)]; `min_` parameters keep values at or above, `max_`/others drop above
RULES: dict[str, list[tuple[str, str]]] = {
    "length": [("min_words", "length_words"), ("max_words", "length_words"), ("min_chars", "length_chars")],
    "language": [("min_score", "lang_score")],
    "nsfw": [("max_word_ratio", "nsfw_word_ratio")],
    "decontaminate": [("min_matches", "decontam_ngrams")],
    "gopher_quality": [
        ("min_doc_words", "gopher_n_words"), ("max_doc_words", "gopher_n_words"),
        ("min_avg_word_length", "gopher_mean_word_len"), ("max_avg_word_length", "gopher_mean_word_len"),
        ("max_symbol_word_ratio", "gopher_hash_ratio"), ("max_symbol_word_ratio", "gopher_ellipsis_ratio"),
        ("max_bullet_lines_ratio", "gopher_bullet_lines_frac"),
        ("max_ellipsis_lines_ratio", "gopher_ellipsis_lines_frac"),
        ("min_alpha_words_ratio", "gopher_alpha_words_frac"), ("min_stop_words", "gopher_stop_words")],
    "gopher_repetition": [
        ("dup_line_frac", "gopher_dup_line_frac"), ("dup_para_frac", "gopher_dup_para_frac"),
        ("dup_line_char_frac", "gopher_dup_line_char_frac"), ("dup_para_char_frac", "gopher_dup_para_char_frac")],
    "c4_quality": [("min_num_sentences", "c4_n_sentences")],
    "fineweb_quality": [
        ("line_punct_thr", "fineweb_line_punct_ratio"), ("short_line_thr", "fineweb_short_line_ratio"),
        ("char_duplicates_ratio", "fineweb_char_dup_ratio"), ("new_line_ratio", "fineweb_list_ratio")],
    "code_quality": [
        ("encoded_max_match", "code_encoded_max_len"), ("encoded_max_fraction", "code_encoded_frac"),
        ("minified_max_long_line_frac", "code_long_line_frac"), ("max_data_line_frac", "code_data_line_frac"),
        ("data_min_chars", "code_n_chars"), ("data_max_chars", "code_n_chars"), ("max_lines", "code_n_lines"),
        ("max_line_length", "code_max_line_len"), ("long_line_max_line_length", "code_max_line_len"),
        ("max_avg_line_length", "code_avg_line_len"), ("min_alphanum_fraction", "code_alphanum_frac"),
        ("min_alpha_fraction", "code_alpha_frac"), ("data_min_alpha_fraction", "code_alpha_frac")],
}


def spec_dict(con) -> dict | None:
    """The run's spec as plain data (see the module docstring for where it is found), None if not found."""
    import yaml

    m = manifest_json(con)
    if isinstance(m.get("spec"), dict) and isinstance(m["spec"].get("sources"), list):
        return m["spec"]
    ds = m.get("datasheet") if isinstance(m.get("datasheet"), dict) else {}
    text = (ds.get("spec") or {}).get("text") if isinstance(ds.get("spec"), dict) else None
    if not text and isinstance(m.get("spec_path"), str) and os.path.isfile(m["spec_path"]):
        try:
            with open(m["spec_path"], encoding="utf-8") as f:
                text = f.read()
        except OSError:
            text = None
    try:
        data = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("sources"), list) else None


def _filter(raw: dict):
    """The registered filter `raw` describes, defaults filled in; None for an unknown kind. A filter that no
    longer validates here (a file gone, a renamed parameter) is built without validation."""
    from pydantic import ValidationError

    from filters.registry import REGISTRY

    info = REGISTRY.get(raw.get("kind"))
    if info is None:
        return None
    try:
        return info.cls.model_validate(raw)
    except (ValidationError, ValueError, TypeError):
        known = {k: v for k, v in raw.items() if k in info.cls.model_fields}
        return info.cls.model_construct(**known)


def _pairs(f) -> list[tuple[str, str, object]]:
    """(parameter label, signal, value) of every threshold of filter `f` that is on (not None)."""
    out = [(p, s, getattr(f, p, None)) for p, s in RULES.get(f.kind, [])]
    if f.kind == "gopher_repetition":
        out += [(f"top_n_grams[{n}]", f"gopher_top_{n}gram_char_frac", v) for n, v in getattr(f, "top_n_grams", ())]
        out += [(f"dup_n_grams[{n}]", f"gopher_dup_{n}gram_char_frac", v) for n, v in getattr(f, "dup_n_grams", ())]
    if f.kind == "language":
        out += [(f"min_score_per_lang[{k}]", "lang_score", v) for k, v in (getattr(f, "min_score_per_lang", {}) or {}).items()]
    if f.kind == "quality_classifier":
        out.append(("min_score", getattr(f, "signal", "quality_score"), getattr(f, "min_score", None)))
    return [(p, s, v) for p, s, v in out if isinstance(v, (int, float)) and not isinstance(v, bool)]


def spec_thresholds(con) -> dict[str, list[dict]]:
    """{signal: [{value, param, kind, sources: [...], mode}]}: every threshold of the spec, one entry per
    distinct (value, parameter) with the sources whose filters use it. {} when the spec is not found."""
    spec = spec_dict(con)
    if spec is None:
        return {}
    found: dict[tuple, dict] = {}
    for s in spec["sources"]:
        if not isinstance(s, dict):
            continue
        for raw in s.get("filters") or []:
            f = _filter(raw) if isinstance(raw, dict) else None
            if f is None:
                continue
            for p, sig, v in _pairs(f):
                e = found.setdefault((sig, float(v), p), {"value": float(v), "param": p, "kind": f.kind, "sources": [],
                                                          "mode": getattr(f, "mode", "drop")})
                e["sources"].append(str(s.get("name")))
    out: dict[str, list[dict]] = {}
    for (sig, _v, _p), e in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        out.setdefault(sig, []).append(e)
    return out
