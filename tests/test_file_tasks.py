"""Input files -> Spark tasks: big files alone, small ones packed, largest first, nothing lost (no JVM)."""
from __future__ import annotations

from engine.spark import annotate as pipeline


def make(tmp_path, sizes: dict[str, int]) -> list[str]:
    out = []
    for name, n in sizes.items():
        p = tmp_path / name
        p.write_bytes(b"x" * n)
        out.append(str(p))
    return out


def test_small_files_are_packed_big_ones_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "MIN_TASK_BYTES", 1000)
    monkeypatch.setattr(pipeline, "MAX_TASK_BYTES", 10_000)
    files = make(tmp_path, {**{f"small{i:02d}": 100 for i in range(30)}, "big1": 20_000, "big2": 15_000,
                            "mid": 2_500})
    tasks = pipeline.file_tasks(files, parallelism=1)     # target = 40,500 bytes / 16 = 2,531
    assert sorted(p for t in tasks for p in t) == sorted(files)              # every file once
    assert tasks[0] == [str(tmp_path / "big1")] and tasks[1] == [str(tmp_path / "big2")]   # largest first, alone
    assert [len(t) for t in tasks] == [1, 1, 1, 25, 5]   # mid alone (2,500), then 25 + 5 small files
    assert pipeline.file_tasks(list(reversed(files)), parallelism=1) == tasks        # deterministic


def test_parallelism_sets_the_task_size(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "MIN_TASK_BYTES", 100)
    files = make(tmp_path, {f"f{i:02d}": 1000 for i in range(32)})
    assert len(pipeline.file_tasks(files, parallelism=1)) == 16
    assert len(pipeline.file_tasks(files, parallelism=4)) == 32
    assert pipeline.file_tasks([], parallelism=2) == []


def test_explicit_bounds(tmp_path):
    files = make(tmp_path, {f"f{i:02d}": 1000 for i in range(10)})
    assert len(pipeline.file_tasks(files, 1, max_bytes=1, min_bytes=1)) == 10      # one task per file
    assert len(pipeline.file_tasks(files, 1, max_bytes=5000, min_bytes=5000)) == 2


def test_sizes_resolved_with_the_inputs_give_the_same_tasks(tmp_path):
    from engine.spec.paths import FileInfo, ResolvedSource

    files = make(tmp_path, {f"f{i:02d}": 100 * (i + 1) for i in range(20)})
    r = ResolvedSource(None, tuple(files), tuple(FileInfo(f, 100 * (i + 1), 0) for i, f in enumerate(files)))
    assert pipeline.file_tasks(files, 1, 1000, 100, sizes=r.sizes) == pipeline.file_tasks(files, 1, 1000, 100)
    # a folder (no size of its own) counts as min_bytes, as when stat'ed
    folder = tmp_path / "site"
    folder.mkdir()
    assert (pipeline.file_tasks([str(folder)], 1, 1000, 100, sizes={})
            == pipeline.file_tasks([str(folder)], 1, 1000, 100) == [[str(folder)]])
