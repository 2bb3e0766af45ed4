"""The mix spec: what a run reads, filters, mixes and writes. The public API:

- `load_spec(path)` / `parse_spec(text)` → `MixSpec`, or `SpecError` whose lines are `file:line: field: message`
  (engine.spec.load);
- the models (engine.spec.models): `MixSpec`, one model per source kind, `DedupSpec`, `MinHashSpec`, ...;
- path rules (engine.spec.paths): `source_files` (a source's inputs, globbed), `path_problems` (what a run may
  not write to or delete).
"""
from engine.spec.load import SpecError, load_spec, parse_spec
from engine.spec.models import (SOURCE_KINDS, SOURCE_TYPES, CodeSource, DedupSpec, JsonlSource, LimitsSpec,
                                MinHashSpec, MixSpec, OutputSpec, ParquetSource, Source, SourceBase,
                                StackExchangeSource, SyntheticSource, WarcSource, WetSource)
from engine.spec.paths import path_problems, source_files

__all__ = ["SpecError", "load_spec", "parse_spec",
           "MixSpec", "Source", "SourceBase", "SOURCE_TYPES", "SOURCE_KINDS", "JsonlSource", "ParquetSource",
           "SyntheticSource", "WarcSource", "WetSource", "StackExchangeSource", "CodeSource",
           "DedupSpec", "MinHashSpec", "LimitsSpec", "OutputSpec",
           "path_problems", "source_files"]
