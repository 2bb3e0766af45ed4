"""A spec's YAML → `MixSpec`. Every error names the file, the YAML line and the field path:

    mixes/x.yaml:14: sources[1].wieght: unknown field

The YAML is loaded within bounds (`engine.spec.yaml_load`), validated by the models (`engine.spec.models`),
then its paths resolved and checked (`engine.spec.paths`); each step's problems come back with a field path,
mapped here to the line that holds it.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from pydantic import ValidationError

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


def _message(err: dict) -> str:
    t = err["type"]
    if t == "extra_forbidden":
        return "unknown field"
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
        problems.append(f"{filename}:{_line_of(lines, path)}: {_fmt_path(path)}: {_message(err)}")
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
