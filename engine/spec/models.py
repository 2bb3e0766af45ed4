"""The mix spec as pydantic models: sources, dedup, limits, output and the mix that holds them.

Models are strict (unknown fields and NaN/inf refused); `MixSpec` also refuses incoherent budgets (duplicate
names, weight and tokens together, weights not summing to 1, what `engine.plan.feasible` says no input can
satisfy) as a `SemanticError` whose problems carry field paths, which `engine.spec.load` maps to YAML lines.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.plan.feasible import budget_problems
from filters.registry import filter_kinds


class Strict(BaseModel):
    # NaN compares false with every bound (a NaN weight would pass `le=1` checks in code): refuse nan/inf
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# ---------------------------------------------------------------- sources

DocKind = Literal["web", "code", "qa", "synthetic", "text"]


# A source field that only steers the mix: changing it reuses the annotate and dedup stages
# (engine.stages.stage_keys leaves these fields out of their keys).
MIX_ONLY = {"mix_only": True}


class SourceBase(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    paths: list[str]
    weight: float | None = Field(default=None, ge=0, le=1, json_schema_extra=MIX_ONLY)   # share of target_tokens
    tokens: int | None = Field(default=None, ge=0, json_schema_extra=MIX_ONLY)   # or an absolute token budget
    max_epochs: float = Field(default=1.0, ge=0, json_schema_extra=MIX_ONLY)   # repetition cap; > 1: upsampling
    filters: list[Annotated[Any, "filter"]] = []              # replaced by the filter union below
    # mixing inside the source: split by a column (lang, kind, a signal) and share by temperature or weights
    group_by: str | None = Field(default=None, json_schema_extra=MIX_ONLY)
    temperature: float | None = Field(default=None, gt=0, le=1, json_schema_extra=MIX_ONLY)
    group_weights: dict[str, float] | None = Field(default=None, json_schema_extra=MIX_ONLY)
    min_share: float | None = Field(default=None, ge=0, le=1, json_schema_extra=MIX_ONLY)
    max_share: float | None = Field(default=None, ge=0, le=1, json_schema_extra=MIX_ONLY)

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


class CrawlSource(SourceBase):
    """A web crawl's files, by `paths` (patterns) or by `paths_file`: a crawl's path list as Common Crawl
    publishes it (`warc.paths.gz`, `wet.paths.gz`, or plain text; one key per line), each key joined to
    `prefix` (e.g. `s3://commoncrawl/`). `sample_files: N` keeps N of the listed files, the same N whatever
    the list's order: those with the smallest sha256 of their key (engine.spec.paths.sample_keys)."""
    paths: list[str] = []
    paths_file: str | None = None
    prefix: str | None = None
    sample_files: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_listing(self):
        if bool(self.paths) == bool(self.paths_file):
            raise ValueError("give exactly one of `paths` (file patterns) and `paths_file` (a crawl's path "
                             "list, e.g. warc.paths.gz)")
        if not self.paths_file and (self.prefix is not None or self.sample_files is not None):
            raise ValueError("`prefix` and `sample_files` go with `paths_file`")
        return self


class WarcSource(CrawlSource):
    kind: Literal["warc"]
    extractor: Literal["native", "trafilatura", "resiliparse"] = "native"
    extract_timeout: float = Field(default=2.0, gt=0)      # seconds per page before it is given up
    max_html_bytes: int = Field(default=5_000_000, gt=0)   # larger responses are quarantined


class WetSource(CrawlSource):
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
                                                             #   code point n-grams for zh/ja/th/... (engine.dedup.shingles)
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
    # per generator of synthetic data, on a sample (engine/diversity.py): a generator past one is refused
    synthetic_min_distinct_4: float | None = Field(default=None, ge=0, le=1)   # distinct word 4-grams / 4-grams
    synthetic_max_compression: float | None = Field(default=None, ge=1)       # raw / zstd-compressed bytes


class OutputSpec(Strict):
    path: str
    keep_rejects: bool = True
    shard_mb: float = Field(default=256, gt=0)    # target shard size, MB of text before compression
    work_dir: str | None = None                   # stage checkpoints; default <path>.work


class StorageSpec(Strict):
    """Non-secret options of remote storage (engine/storage). Credentials never go here: they come from each
    store's standard environment (AWS_ACCESS_KEY_ID, ~/.aws, instance roles, ...)."""
    endpoint: str | None = None      # an S3-compatible server, e.g. http://127.0.0.1:8333 (else AWS_ENDPOINT_URL)
    region: str | None = None        # else AWS_REGION
    # public buckets such as s3://commoncrawl/: send no credentials. true: to every bucket; a list of bucket
    # names: to those only (read Common Crawl anonymously, write the output to your own bucket)
    anonymous: bool | list[str] = False

    def options(self):
        from engine.storage import StorageOptions

        anonymous = self.anonymous if isinstance(self.anonymous, bool) else tuple(self.anonymous)
        return StorageOptions(endpoint=self.endpoint, region=self.region, anonymous=anonymous)


# ---------------------------------------------------------------- the mix


class SemanticError(ValueError):
    """Rules across fields, as (field path, message) pairs: pydantic only knows the model's own location."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))


class MixSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9_-]+$")
    seed: int = 0
    tokenizer: Literal["cl100k_base", "o200k_base"] = "cl100k_base"
    target_tokens: int | None = Field(default=None, gt=0)
    output: OutputSpec
    sources: list[Source] = Field(min_length=1)
    dedup: DedupSpec | None = None
    limits: LimitsSpec = LimitsSpec()
    # where a leaf's sample stops (engine/plan/cuts.py): nearest balances the rounding over leaves so the
    # total lands within about half a document of target_tokens; over = each leaf meets its budget (before 21)
    cut: Literal["nearest", "under", "over"] = "nearest"
    spark: dict[str, str] = {}          # extra Spark conf, e.g. spark.executor.memory
    storage: StorageSpec = StorageSpec()   # endpoint, region, anonymous access for s3:// gs:// paths

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


def _filter_union():
    kinds = filter_kinds()
    return Annotated[Union[tuple(kinds.values())], Field(discriminator="kind")]


# Swap the placeholder for the real discriminated union of registered filters.
for _t in SOURCE_TYPES:
    _t.model_fields["filters"].annotation = list[_filter_union()]
    _t.model_rebuild(force=True)
MixSpec.model_rebuild(force=True)
