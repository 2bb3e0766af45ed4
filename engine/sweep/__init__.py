"""Mix search: `tamis sweep` draws feasible variants of a spec's weights and writes each one's mix from the
stages the spec already stored; `tamis fit` regresses proxy-model results on those weights and proposes a mix
(RegMix, Liu et al. 2024; Data Mixing Laws, Ye et al. 2024).

Pure Python here (draws, sweep.csv, the fits, the simplex search, the spec text); the variants' Spark work is
engine/spark/sweep.py, the orchestration engine/sweep/run.py.
"""

MODELS = ("quadratic", "gbt", "loglinear", "linear")   # the regressions of `tamis fit` (engine/sweep/fit.py)


class SweepError(Exception):
    """A sweep or fit input the user can fix (exit 2, one line)."""
