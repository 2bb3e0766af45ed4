"""Mix spec: YAML -> pydantic models. Every error names the file, the YAML line and the field path.

    mixes/x.yaml:14: sources[1].wieght: unknown field
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.plan.feasible import budget_problems
from engine.spec.paths import (canonicalize, missing_files, path_problems,  # noqa: F401  (source_files: re-exported)
                          resolve_spec_paths, source_files)
from engine.spec.yaml_load import SpecLimit, load_yaml, read_spec_text
from filters.registry import filter_kinds


class SpecError(Exception):
    """A spec that cannot run. `problems` are one line each: `file:line: field.path: message`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class Strict(BaseModel):
    # NaN compares false with every bound (a NaN weight would pass `le=1` checks in code): refuse nan/inf
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# ---------------------------------------------------------------- sources

DocKind = Literal["web", "code", "qa", "synthetic", "text"]


class SourceBase(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    paths: list[str]
    weight: float | None = Field(default=None, ge=0, le=1)   # share of target_tokens
    tokens: int | None = Field(default=None, ge=0)            # or an absolute token budget
    max_epochs: float = Field(default=1.0, ge=0)              # repetition cap; > 1 allows upsampling
    filters: list[Annotated[Any, "filter"]] = []              # replaced by the filter union below
    # mixing inside the source: split by a column (lang, kind, a signal) and share by temperature or weights
    group_by: str | None = None
    temperature: float | None = Field(default=None, gt=0, le=1)
    group_weights: dict[str, float] | None = None
    min_share: float | None = Field(default=None, ge=0, le=1)
    max_share: float | None = Field(default=None, ge=0, le=1)

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v):
        return [v] if isinstance(v, str) else v


class RecordFields(Strict):
    """For record files (jsonl, parquet, synthetic): which fields hold text, id and url."""
    max_doc_bytes: int | None = Field(default=None, gt=0)   # larger records: read:too_large (default 10 MB)
    text_field: str = "text"
    id_field: str = "id"          # a missing id falls back to file + line
    url_field: str = "url"
    license_field: str = "license"
    doc_kind: DocKind = "text"    # the `kind` column of these documents


class JsonlSource(SourceBase, RecordFields):
    kind: Literal["jsonl"]


class ParquetSource(SourceBase, RecordFields):
    kind: Literal["parquet"]


class SyntheticSource(SourceBase, RecordFields):
    kind: Literal["synthetic"]
    doc_kind: DocKind = "synthetic"
    generator_field: str = "generator"     # the model that wrote the text
    prompt_field: str = "prompt_id"        # prompt or template id
    seed_doc_field: str = "seed_doc_id"    # the document the generation was seeded from
    generator: str | None = None           # one generator for the whole source, where records lack the field


class WarcSource(SourceBase):
    kind: Literal["warc"]
    extractor: Literal["trafilatura", "resiliparse"] = "trafilatura"
    extract_timeout: float = Field(default=2.0, gt=0)      # seconds per page before it is given up
    max_html_bytes: int = Field(default=5_000_000, gt=0)   # larger responses are quarantined


class WetSource(SourceBase):
    kind: Literal["wet"]


class StackExchangeSource(SourceBase):
    kind: Literal["stackexchange"]
    min_answer_score: int | None = None    # answers below are left out; None keeps all
    include_comments: bool = False
    max_answers: int | None = Field(default=None, ge=0)


class CodeSource(SourceBase):
    kind: Literal["code"]
    content_field: str = "content"
    path_field: str = "max_stars_repo_path"
    repo_field: str = "max_stars_repo_name"
    license_field: str = "max_stars_repo_licenses"
    lang_field: str = "lang"
    max_file_bytes: int = Field(default=1_000_000, gt=0)


SOURCE_TYPES = (JsonlSource, ParquetSource, SyntheticSource, WarcSource, WetSource, StackExchangeSource, CodeSource)
Source = Annotated[Union[SOURCE_TYPES], Field(discriminator="kind")]
SOURCE_KINDS = tuple(t.model_fields["kind"].annotation.__args__[0] for t in SOURCE_TYPES)

# ---------------------------------------------------------------- dedup, limits, output


class MinHashSpec(Strict):
    threshold: float = Field(default=0.8, gt=0, lt=1)        # Jaccard
    num_perm: int = Field(default=128, ge=16, le=1024)
    ngram: int = Field(default=5, ge=1)                      # token n-grams (words, punctuation; also code);
                                                             #   code point n-grams for zh/ja/th/... (engine.dedup.minhash)
    bands: int | None = Field(default=None, ge=1)            # default: chosen from threshold like datasketch
    rows: int | None = Field(default=None, ge=1)
    verify: bool = True                                      # candidates from bands for threshold-0.2, kept if
                                                             #   their true shingle Jaccard >= threshold
    seed: int = 1

    @model_validator(mode="after")
    def _bands_fit(self):
        if self.bands and self.rows and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self


class DedupSpec(Strict):
    exact: bool = True
    exact_url: bool = False
    minhash: MinHashSpec | None = None
    scope: Literal["global", "source"] = "global"
    keep: Literal["first", "quality", "source", "oldest", "newest"] = "first"
    keep_signal: str | None = None            # keep: quality -> the signal whose highest value survives
    keep_sources: list[str] | None = None     # keep: source -> priority list, first wins


class LimitsSpec(Strict):
    synthetic_max_share: float | None = Field(default=None, ge=0, le=1)


class OutputSpec(Strict):
    path: str
    keep_rejects: bool = True
    shard_mb: float = Field(default=256, gt=0)    # target shard size, MB of text before compression
    work_dir: str | None = None                   # stage checkpoints; default <path>.work


# ---------------------------------------------------------------- the mix


class MixSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9_-]+$")
    seed: int = 0
    tokenizer: Literal["cl100k_base", "o200k_base"] = "cl100k_base"
    target_tokens: int | None = Field(default=None, gt=0)
    output: OutputSpec
    sources: list[Source] = Field(min_length=1)
    dedup: DedupSpec | None = None
    limits: LimitsSpec = LimitsSpec()
    spark: dict[str, str] = {}          # extra Spark conf, e.g. spark.executor.memory

    # set by load_spec, not by the YAML
    spec_path: str | None = Field(default=None, exclude=True)
    spec_sha256: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _coherent(self):
        problems = []
        seen = set()
        for i, s in enumerate(self.sources):
            if s.name in seen:
                problems.append((("sources", i, "name"), f"duplicate source name {s.name!r}"))
            seen.add(s.name)
            if s.weight is not None and s.tokens is not None:
                problems.append((("sources", i, "weight"), "give weight or tokens, not both"))
        weights = [s.weight for s in self.sources if s.weight is not None]
        if weights and abs(sum(weights) - 1.0) > 1e-6 and not any(s.tokens is not None for s in self.sources):
            problems.append((("sources",), f"weights sum to {sum(weights):g}, not 1"))
        problems = problems or budget_problems(self)   # what the planner would refuse after reading everything
        if problems:
            raise SemanticError(problems)
        return self

    @property
    def output_path(self) -> str:
        return self.output.path

    def source(self, name: str):
        return next(s for s in self.sources if s.name == name)


class SemanticError(ValueError):
    def __init__(self, problems):
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))


def _filter_union():
    kinds = filter_kinds()
    return Annotated[Union[tuple(kinds.values())], Field(discriminator="kind")]


# Swap the placeholder for the real discriminated union of registered filters.
for _t in SOURCE_TYPES:
    _t.model_fields["filters"].annotation = list[_filter_union()]
    _t.model_rebuild(force=True)
MixSpec.model_rebuild(force=True)

# ---------------------------------------------------------------- loading with line numbers


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
        what = "filter" if "filter" in str(ctx.get("expected_tags", "")) or True else "kind"
        return f"unknown kind {ctx.get('tag')!r} (known: {ctx.get('expected_tags')})"
    if t == "union_tag_not_found":
        return "missing `kind`"
    if t == "finite_number":
        return "must be a finite number"
    return err["msg"].replace("Value error, ", "")


def parse_spec(text: str, filename: str = "<spec>", base_dir: str | None = None, check_paths: bool = True) -> MixSpec:
    try:
        node, data = load_yaml(text)   # safe loader, bounded size, nodes and aliases (engine.spec.yaml_load)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise SpecError([f"{filename}:{line}: (yaml): {getattr(e, 'problem', None) or e}"]) from None
    if not isinstance(data, dict):
        raise SpecError([f"{filename}:1: (top level): a mix spec is a mapping of keys"])
    lines = _line_index(node) if node is not None else {}

    def where(path):
        for k in range(len(path), -1, -1):
            if path[:k] in lines:
                return lines[path[:k]]
        return 1

    try:
        spec = MixSpec.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            ctx_err = err.get("ctx", {}).get("error")
            if isinstance(ctx_err, SemanticError):
                for path, msg in ctx_err.problems:
                    problems.append(f"{filename}:{where(path)}: {_fmt_path(path)}: {msg}")
                continue
            path = _data_path(tuple(err["loc"]), data)
            problems.append(f"{filename}:{where(path)}: {_fmt_path(path)}: {_message(err)}")
        raise SpecError(sorted(set(problems), key=lambda p: (int(p.split(":")[1]) if p.split(":")[1].isdigit() else 0, p))) from None

    base = str(Path(base_dir) if base_dir else Path.cwd())
    problems = resolve_spec_paths(spec, base)   # in place; reports ${VAR}s that are not set
    if check_paths and not problems:
        problems = missing_files(spec)
        problems += path_problems(spec, base, check_inputs=not problems)
    canonicalize(spec)   # the output and work dir as the real folders the checks saw
    if check_paths and problems:
        raise SpecError([f"{filename}:{where(path)}: {_fmt_path(path)}: {msg}" for path, msg in problems])
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
