"""A spec's YAML text with only some values changed: every comment, key order and quote stays as written.

The values are replaced in place, at the character span of their YAML nodes (PyYAML's composer gives each
node's start and end), so the result is the user's file with a few numbers edited; a top-level key the
file lacks (`target_tokens` for a sweep's variants) is added as one line before `sources:`.
"""
from __future__ import annotations

import yaml

from engine.sweep import SweepError


def _root(text: str):
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        raise SweepError("the spec is not a YAML mapping")
    return node


def _get(mapping, key: str):
    return next(((k, v) for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def number(x: float, decimals: int = 6) -> str:
    s = f"{x:.{decimals}f}".rstrip("0").rstrip(".")
    return s if s not in ("", "-0") else "0"


def _replace(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def set_weights(text: str, weights: dict[str, float], decimals: int = 6) -> str:
    """`text` with `sources[name=...].weight` set to `weights[name]` (every named source must have one)."""
    root = _root(text)
    found = _get(root, "sources")
    if found is None or not isinstance(found[1], yaml.SequenceNode):
        raise SweepError("the spec has no `sources:` list")
    edits, seen = [], set()
    for item in found[1].value:
        name = _get(item, "name") if isinstance(item, yaml.MappingNode) else None
        if name is None or name[1].value not in weights:
            continue
        w = _get(item, "weight")
        if w is None or not isinstance(w[1], yaml.ScalarNode):
            raise SweepError(f"source {name[1].value!r} has no weight to change in the spec's text")
        edits.append((w[1].start_mark.index, w[1].end_mark.index, number(weights[name[1].value], decimals)))
        seen.add(name[1].value)
    if missing := sorted(set(weights) - seen):
        raise SweepError(f"the spec's text has no source {missing[0]!r}")
    return _replace(text, edits)


def set_top(text: str, key: str, value: str) -> str:
    """`key: value` at the top level: the value replaced, or a line added before `sources:`."""
    root = _root(text)
    found = _get(root, key)
    if found is not None:
        return _replace(text, [(found[1].start_mark.index, found[1].end_mark.index, value)])
    anchor = _get(root, "sources")
    at = anchor[0].start_mark.index - anchor[0].start_mark.column if anchor else len(text)
    return text[:at] + f"{key}: {value}\n" + text[at:]


def with_comment(text: str, lines: list[str]) -> str:
    """`text` opening with a comment block (one `# ` line each)."""
    return "".join(f"# {l}".rstrip() + "\n" for l in lines) + text
