"""A spec's YAML → `MixSpec`. Every error names the file, the YAML line and the field path:

    mixes/x.yaml:14: sources[1].wieght: unknown field

The YAML is loaded within bounds (`engine.spec.yaml_load`), validated by the models (`engine.spec.models`),
then its paths resolved and checked (`engine.spec.paths`); each step's problems come back with a field path,
mapped here to the line that holds it.
"""
from __future__ import annotations

import difflib
import hashlib
import types
from pathlib import Path
from typing import Annotated, Union, get_args, get_origin

import yaml
from pydantic import AliasChoices, BaseModel, ValidationError

from engine.spec.models import MixSpec, SemanticError
from engine.spec.paths import canonicalize, missing_files, path_problems, resolve_spec_paths
from engine.spec.yaml_load import SpecLimit, load_yaml, read_spec_text


class SpecError(Exception):
    """A spec that cannot run. `problems` are one line each: `file:line: field.path: message`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


# ---------------------------------------------------------------- field paths and YAML lines


def _line_index(node, path=()) -> dict[tuple, int]:
    """Map each field path (keys and list indices) to its 1-based YAML line."""
    out = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out[path + (k.value,)] = k.start_mark.line + 1
            for p, line in _line_index(v, path + (k.value,)).items():
                out.setdefault(p, line) if p == path + (k.value,) else out.__setitem__(p, line)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.update(_line_index(v, path + (i,)))
    return out


def _line_of(lines: dict[tuple, int], path: tuple) -> int:
    """The line of `path`, else of its nearest parent that has one (a missing field: the mapping it belongs in)."""
    for k in range(len(path), -1, -1):
        if path[:k] in lines:
            return lines[path[:k]]
    return 1


def _data_path(loc: tuple, data) -> tuple:
    """pydantic's loc, minus the union tags it inserts (e.g. ('sources', 0, 'warc', 'x') -> ('sources', 0, 'x'))."""
    out, cur = [], data
    for part in loc:
        if isinstance(cur, dict):
            if part in cur:
                out.append(part)
                cur = cur[part]
            elif isinstance(part, str) and part == cur.get("kind"):
                continue
            elif isinstance(part, str) and not part.startswith(("function-", "union[", "tagged-union[")):
                out.append(part)
                cur = None
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            out.append(part)
            cur = cur[part]
        elif not (isinstance(part, str) and ("[" in part or part.startswith("function-"))):
            out.append(part)
            cur = None
    return tuple(out)


def _fmt_path(path: tuple) -> str:
    s = ""
    for p in path:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s or "(top level)"


def choices_hint(word, options) -> str:
    """`valid: a, b, c (did you mean b?)`: the choices, sorted, and the closest to `word` if one is close."""
    close = difflib.get_close_matches(str(word), options, n=1)
    return f"valid: {', '.join(sorted(options))}" + (f" (did you mean {close[0]}?)" if close else "")


def _pick(tp, datum):
    """The model (or container type) `tp` stands for at `datum`: Annotated and Optional unwrapped, a
    discriminated union resolved by the datum's `kind`."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            models = [a for a in get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
            kind = datum.get("kind") if isinstance(datum, dict) else None
            same = [m for m in models if "kind" in m.model_fields
                    and kind in get_args(m.model_fields["kind"].annotation)]
            others = [a for a in get_args(tp) if a is not type(None)]
            tp = (same or models or others or [None])[0]
        else:
            return tp


def _model_at(path: tuple, data):
    """The pydantic model holding the last key of the data path `path`, else None."""
    tp, cur = MixSpec, data
    for part in path[:-1]:
        tp = _pick(tp, cur)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            tp = tp.model_fields[part].annotation if part in tp.model_fields else None
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return None
        cur = cur[part] if isinstance(cur, (dict, list)) and _has(cur, part) else None
    tp = _pick(tp, cur)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _has(cur, part) -> bool:
    return part in cur if isinstance(cur, dict) else isinstance(part, int) and 0 <= part < len(cur)


def valid_keys(model: type[BaseModel]) -> list[str]:
    """The keys a spec may give `model`: its fields and their aliases (not `kind`, already there, nor fields
    the loader sets)."""
    keys = set()
    for name, f in model.model_fields.items():
        if name == "kind" or f.exclude:
            continue
        keys.add(name)
        if isinstance(f.validation_alias, AliasChoices):
            keys.update(c for c in f.validation_alias.choices if isinstance(c, str))
    return sorted(keys)


def _unknown_key(path: tuple, data) -> str:
    model = _model_at(path, data) if path else None
    if model is None:
        return "unknown field"
    return f"unknown field; {choices_hint(path[-1], valid_keys(model))}"


def _message(err: dict, path: tuple = (), data=None) -> str:
    t = err["type"]
    if t == "extra_forbidden":
        return _unknown_key(path, data)
    if t == "missing":
        return "required field is missing"
    if t == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return f"unknown kind {ctx.get('tag')!r} (known: {ctx.get('expected_tags')})"
    if t == "union_tag_not_found":
        return "missing `kind`"
    if t == "finite_number":
        return "must be a finite number"
    return err["msg"].replace("Value error, ", "")


# ---------------------------------------------------------------- parsing


def _load(text: str, filename: str):
    """(YAML node tree, plain data) of a spec that is a mapping, else SpecError."""
    try:
        node, data = load_yaml(text)   # safe loader, bounded size, nodes and aliases (engine.spec.yaml_load)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise SpecError([f"{filename}:{line}: (yaml): {getattr(e, 'problem', None) or e}"]) from None
    if not isinstance(data, dict):
        raise SpecError([f"{filename}:1: (top level): a mix spec is a mapping of keys"])
    return node, data


def _validation_problems(e: ValidationError, data, lines: dict, filename: str) -> list[str]:
    """One `file:line: field: message` per pydantic error, sorted by line, duplicates dropped."""
    problems = []
    for err in e.errors():
        ctx_err = err.get("ctx", {}).get("error")
        if isinstance(ctx_err, SemanticError):
            problems += [f"{filename}:{_line_of(lines, path)}: {_fmt_path(path)}: {msg}"
                         for path, msg in ctx_err.problems]
            continue
        path = _data_path(tuple(err["loc"]), data)
        problems.append(f"{filename}:{_line_of(lines, path)}: {_fmt_path(path)}: {_message(err, path, data)}")
    return sorted(set(problems), key=lambda p: (int(p.split(":")[1]) if p.split(":")[1].isdigit() else 0, p))


def _path_problems(spec: MixSpec, base: str, check_paths: bool) -> list[tuple]:
    """Resolve the spec's paths in place; (field path, message) for what makes them unusable."""
    problems = resolve_spec_paths(spec, base)   # in place; reports ${VAR}s that are not set
    if check_paths and not problems:
        problems = missing_files(spec)
        problems += path_problems(spec, base, check_inputs=not problems)
    canonicalize(spec)   # the output and work dir as the real folders the checks saw
    return problems


def parse_spec(text: str, filename: str = "<spec>", base_dir: str | None = None, check_paths: bool = True) -> MixSpec:
    node, data = _load(text, filename)
    lines = _line_index(node) if node is not None else {}
    try:
        spec = MixSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(_validation_problems(e, data, lines, filename)) from None
    from engine import storage

    storage.configure(spec.storage.options())   # path lists and remote checks use the spec's storage options
    problems = _path_problems(spec, str(Path(base_dir) if base_dir else Path.cwd()), check_paths)
    if check_paths and problems:
        raise SpecError([f"{filename}:{_line_of(lines, path)}: {_fmt_path(path)}: {msg}" for path, msg in problems])
    spec.spec_sha256 = hashlib.sha256(text.encode()).hexdigest()
    spec.spec_path = filename
    return spec


def load_spec(path: str, check_paths: bool = True) -> MixSpec:
    try:
        text = read_spec_text(path)
    except OSError as e:
        raise SpecError([f"{path}:0: (file): cannot read spec: {e.strerror}"]) from None
    except UnicodeDecodeError as e:
        raise SpecError([f"{path}:0: (file): the spec is not UTF-8 text (byte {e.start})"]) from None
    except SpecLimit as e:
        raise SpecError([f"{path}:0: (file): {e.problem}"]) from None
    return parse_spec(text, filename=path, base_dir=str(Path(path).resolve().parent), check_paths=check_paths)
