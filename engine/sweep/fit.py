"""Regressions from mix weights to a proxy metric, compared by cross-validated rank correlation.

- `gbt`: gradient-boosted trees (scikit-learn), as RegMix (Liu et al. 2024) fits LightGBM: no assumed shape,
  but piecewise constant, so its optimum is a region, not a point.
- `linear`: y = b0 + sum b_i w_i (a ranking baseline; its optimum is always a vertex of the feasible region).
- `quadratic`: Scheffe's quadratic mixture model, y = sum b_i w_i + sum_{i<j} b_ij w_i w_j, the classic model
  of mixture experiments (linear in its coefficients; smooth optimum inside the region when there is one).
- `loglinear`: y = b0 + sum b_i log(w_i + 1e-4), diminishing returns per source.

The linear models are least squares with a tiny ridge (the weights sum to 1, so their columns are collinear).
Every model is scored by the Spearman correlation of its out-of-fold predictions (k-fold, k = min(5, n),
shuffled with a fixed seed): how well it ranks mixes it has not seen, which is what choosing a mix needs.
`fit` keeps the best-ranked model (ties: the earlier in MODELS) refitted on every row.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from engine.sweep import MODELS

LOG_EPS = 1e-4
RIDGE = 1e-6


def _pairs(X):
    X = np.asarray(X, dtype=float)
    i, j = np.triu_indices(X.shape[1], k=1)
    return np.hstack([X, X[:, i] * X[:, j]])


def _logs(X):
    return np.log(np.asarray(X, dtype=float) + LOG_EPS)


def make_model(name: str):
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    if name == "gbt":
        return GradientBoostingRegressor(n_estimators=300, learning_rate=0.05, max_depth=3, min_samples_leaf=2,
                                         subsample=0.8, random_state=0)
    if name == "linear":
        return Ridge(alpha=RIDGE)
    if name == "quadratic":
        return make_pipeline(FunctionTransformer(_pairs), Ridge(alpha=RIDGE))
    if name == "loglinear":
        return make_pipeline(FunctionTransformer(_logs), Ridge(alpha=RIDGE))
    raise ValueError(f"unknown model {name!r}")


def cv_spearman(name: str, X: np.ndarray, y: np.ndarray, folds: int = 5) -> float:
    """Spearman correlation of out-of-fold predictions with the truth (nan when the predictions are flat)."""
    from scipy.stats import spearmanr
    from sklearn.model_selection import KFold, cross_val_predict

    k = max(2, min(folds, len(y)))
    pred = cross_val_predict(make_model(name), X, y, cv=KFold(k, shuffle=True, random_state=0))
    if np.ptp(pred) == 0 or np.ptp(y) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(pred, y).statistic)


@dataclass
class Fit:
    name: str                    # the chosen model
    model: object                # fitted on every row
    cv: dict = field(default_factory=dict)    # model -> held-out Spearman (nan: flat predictions)

    def predict(self, X) -> np.ndarray:
        return self.model.predict(np.atleast_2d(np.asarray(X, dtype=float)))

    @property
    def spearman(self) -> float:
        return self.cv[self.name]


def fit(X, y, model: str = "auto") -> Fit:
    """Score every model (or only `model`), keep the best ranked, refit it on all rows."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    names = MODELS if model == "auto" else (model,)
    cv = {m: cv_spearman(m, X, y) for m in names}
    best = max(names, key=lambda m: -math.inf if math.isnan(cv[m]) else cv[m])   # first of equals wins
    return Fit(best, make_model(best).fit(X, y), cv)


def describe(f: Fit) -> str:
    """`quadratic 0.95 (gbt 0.81, loglinear 0.90, linear 0.42)`: held-out Spearman of each model."""
    def s(v):
        return "n/a" if math.isnan(v) else f"{v:.3f}"
    others = ", ".join(f"{m} {s(v)}" for m, v in f.cv.items() if m != f.name)
    return f"{f.name} {s(f.spearman)}" + (f" ({others})" if others else "")
