"""What a run will reuse and what it must compute, per stage and source, found before any Spark work: the
keys (engine/stage_keys.py) and one listing of each stage folder. `tamis plan` and `tamis run` print it
first; `tamis gc` keeps what it names. No pyspark here.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine import storage
from engine.stage_keys import dedup_key, score_key


@dataclass
class StageStatus:
    stage: str                 # score, dedup, decide
    source: str | None         # score: the source; else None
    folder: str | None         # the stage folder's name under the work dir (decide: None, never stored)
    files: int = 0             # score: input files (parts) in all
    done: int = 0              # score: files already done

    @property
    def state(self) -> str:
        if self.folder is None:
            return "compute"
        if self.done == self.files:
            return "reuse"
        return "resume" if self.done else "compute"

    def describe(self) -> str:
        if self.stage == "score":
            what = {"reuse": f"reuse {self.files} files", "compute": f"compute {self.files} files",
                    "resume": f"resume: {self.done} of {self.files} files done"}[self.state]
            return f"score {self.source}: {what}"
        return f"{self.stage}: {self.state}"


def stage_status(spec, inputs: dict, work: str) -> list[StageStatus]:
    """The status of every stage the run of `spec` uses, in run order. `inputs`: {source: ResolvedSource}."""
    from engine.score_parts import content_ids, done_parts, source_parts
    from engine.stages import committed, listing

    out, keys, contents = [], {}, {}
    for s in spec.sources:
        keys[s.name] = score_key(spec, s)
        ps = source_parts(inputs[s.name])
        folder = f"score-{s.name}-{keys[s.name]}"
        path = storage.join(work, folder)
        found = listing(path)
        done = done_parts(path, ps, found, committed(path, found)) if found else {}
        if len(done) == len(ps):
            contents[s.name] = content_ids(ps, done)
        out.append(StageStatus("score", s.name, folder, len(ps), len(done)))
    if spec.dedup:     # its key needs every part's content: unknown (so computed) until every file is scored
        known = len(contents) == len(spec.sources)
        folder = f"dedup-{dedup_key(spec, keys, contents)}" if known else None
        ready = known and committed(storage.join(work, folder)) is not None
        out.append(StageStatus("dedup", None, folder, 1, int(ready)))
    out.append(StageStatus("decide", None, None, 1, 0))
    return out


def status_line(statuses: list[StageStatus]) -> str:
    return "stages: " + "; ".join(s.describe() for s in statuses)
