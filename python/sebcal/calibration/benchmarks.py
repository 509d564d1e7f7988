"""Empirical benchmarks: what a linear regression on the forcing predicts, beside the physics.

A calibrated model is worth handing to a host only where it predicts better than statistics
that know nothing of soil physics. Following the empirical benchmarks of PLUMBER (Best et al.
2015, J. Hydrometeorol. 16, 1425-1442; Abramowitz et al. 2024, PLUMBER2), each observed series
gets an ordinary-least-squares regression with an intercept, trained on the calibration window
and scored on the evaluation window with the same metrics as the model:

========================  =====================================================================
observed                  predictors (at the same time level)
========================  =====================================================================
Qh                        SWdown ("1lin" of PLUMBER)
Qle, Qh_plus_Qle          SWdown, Tair, Qair ("3lin")
Qg, AvgSurfT, LWup,       SWdown, LWdown, Tair
LWnet, SWnet, Rnet
SoilTemp                  the series the run's top boundary uses (Ttop for a prescribed top
                          temperature, Gtop for a prescribed flux, SWdown, LWdown and Tair for
                          a surface energy balance) and the bottom series when prescribed, each
                          at lags of 0, 1, 2, 3, 6, 12 and 24 h and as 24 h and 72 h trailing
                          means: heat reaches a sensor late and smoothed
========================  =====================================================================

A level enters the training when the observation and every predictor are present there; the
predictors' lags reach back only to the run's first level (earlier lags are missing, not
extrapolated). Soil temperatures the run prescribes (its top or bottom series) get no
benchmark: the model is given them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..observations import metrics

#: the lags [h] and trailing means [h] of the soil-temperature benchmarks
LAGS_H = (0.0, 1.0, 2.0, 3.0, 6.0, 12.0, 24.0)
MEANS_H = (24.0, 72.0)

_FLUX_PREDICTORS = {
    "Qh": ("SWdown",),
    "Qle": ("SWdown", "Tair", "Qair"),
    "Qh_plus_Qle": ("SWdown", "Tair", "Qair"),
}
_RADIATIVE = ("SWdown", "LWdown", "Tair")


def soil_predictors(options: Mapping[str, str]) -> tuple[str, ...]:
    """The boundary series a soil-temperature benchmark regresses on, by the run's options."""
    top = {"temperature": ("Ttop",), "flux": ("Gtop",)}.get(options.get("top", "seb"),
                                                            _RADIATIVE)
    bottom = ("Tbottom",) if options.get("bottom") == "series" else ()
    return top + bottom


def predictors_for(variable: str, options: Mapping[str, str]) -> tuple[str, ...]:
    """The forcing variables the benchmark of an observed ``variable`` regresses on."""
    if variable == "SoilTemp":
        return soil_predictors(options)
    return _FLUX_PREDICTORS.get(variable, _RADIATIVE)


def _lagged(x: np.ndarray, dt: float) -> list[np.ndarray]:
    """x at the lags of LAGS_H and as trailing means of MEANS_H (NaN before the first level).
    A lag or mean reaching back more than a third of the record is left out: it would leave
    too few complete levels to train on."""
    n = len(x)
    cols = []
    for h in LAGS_H:
        k = int(round(h * 3600.0 / dt))
        if k > n // 3:
            continue
        y = np.full(n, np.nan)
        y[k:] = x[:n - k]
        cols.append(y)
    for h in MEANS_H:
        k = max(1, int(round(h * 3600.0 / dt)))
        if k > n // 3:
            continue
        c = np.concatenate([[0.0], np.cumsum(x)])
        y = np.full(n, np.nan)
        y[k - 1:] = (c[k:] - c[:-k]) / k
        cols.append(y)
    return cols


def design(variable: str, forcing: Any, options: Mapping[str, str]
           ) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """The regression's design matrix (nt+1, p) without the intercept, and the predictors'
    names; None when the forcing lacks every predictor (or only has constant ones)."""
    names: list[str] = []
    cols: list[np.ndarray] = []
    for v in predictors_for(variable, options):
        if v not in forcing.data:
            continue
        x = np.asarray(forcing.data[v], dtype=np.float64)
        if not np.nanstd(x) > 0:                  # a constant is the intercept already
            continue
        names.append(v)
        cols += _lagged(x, forcing.dt) if variable == "SoilTemp" else [x]
    if not cols:
        return None
    return np.column_stack(cols), tuple(names)


@dataclass(frozen=True)
class Regression:
    """One trained benchmark: y = c0 + sum_i c_i x_i / s_i over the design's columns.

    Attributes:
        variable: the observed variable it predicts.
        predictors: the forcing variables of its design.
        coef: intercept and coefficients (of the scaled columns).
        scale: the columns' scales (1 for the intercept).
        n: levels it was trained on.
    """

    variable: str
    predictors: tuple[str, ...]
    coef: np.ndarray
    scale: np.ndarray
    n: int

    def predict(self, forcing: Any, options: Mapping[str, str]) -> np.ndarray | None:
        """Predictions at every level of ``forcing`` (NaN where a predictor is missing); None
        when the forcing lacks a predictor the regression was trained on."""
        d = design(self.variable, forcing, options)
        if d is None or d[1] != self.predictors or d[0].shape[1] + 1 != len(self.coef):
            return None
        A = np.column_stack([np.ones(len(d[0])), d[0]])
        pred = (A / self.scale) @ self.coef
        pred[~np.all(np.isfinite(A), axis=1)] = np.nan
        return pred


def train(y: np.ndarray, variable: str, forcing: Any, options: Mapping[str, str],
          levels: np.ndarray) -> Regression | None:
    """OLS with an intercept fitted on ``levels`` where y and every predictor are present;
    None when the forcing has no usable predictor or too few levels train it."""
    d = design(variable, forcing, options)
    if d is None:
        return None
    X, names = d
    A = np.column_stack([np.ones(len(X)), X])
    ok = levels & np.isfinite(y) & np.all(np.isfinite(A), axis=1)
    if ok.sum() < A.shape[1] + 2:
        return None
    # scale the columns so that the least-squares problem is well conditioned (K vs W m-2)
    s = np.std(A[ok], axis=0)
    s[s == 0] = 1.0
    coef, *_ = np.linalg.lstsq(A[ok] / s, y[ok], rcond=None)
    return Regression(variable, names, coef, s, int(ok.sum()))


def fit_all(observations: Sequence[Any], forcing: Any, options: Mapping[str, str],
            levels: np.ndarray, skip: Sequence[str] = ()) -> dict[str, Regression]:
    """label -> the trained benchmark of each observed series (those in ``skip``, the series
    the run prescribes, get none)."""
    out = {}
    for o in observations:
        if o.label in skip:
            continue
        r = train(np.asarray(o.values, dtype=np.float64), o.variable, forcing, options, levels)
        if r is not None:
            out[o.label] = r
    return out


def score(regressions: Mapping[str, Regression], observations: Sequence[Any], forcing: Any,
          options: Mapping[str, str], masks: Mapping[str, np.ndarray]
          ) -> dict[str, dict[str, dict]]:
    """window -> "label (description)" -> the regression's RMSE, bias, r and n in that window,
    with its predictors, for every observation with a trained regression of its label."""
    out: dict[str, dict[str, dict]] = {w: {} for w in masks}
    for o in observations:
        r = regressions.get(o.label)
        if r is None or r.variable != o.variable:
            continue
        pred = r.predict(forcing, options)
        if pred is None:
            continue
        for w, mask in masks.items():
            out[w][f"{o.label} ({o.describe()})"] = {**metrics(pred, o.values, mask),
                                                   "predictors": list(r.predictors)}
    return out


def benchmarks(observations: Sequence[Any], forcing: Any, options: Mapping[str, str],
               masks: Mapping[str, np.ndarray], levels: np.ndarray,
               skip: Sequence[str] = ()) -> dict[str, dict[str, dict]]:
    """Train on ``levels`` (the calibration window) and score in each of ``masks``:
    window -> "label (description)" -> RMSE, bias, r, n and the predictors."""
    regs = fit_all(observations, forcing, options, levels, skip)
    return score(regs, observations, forcing, options, masks)


def not_beaten(model: Mapping[str, Mapping[str, dict]], bench: Mapping[str, Mapping[str, dict]],
               window: str) -> list[tuple[str, float, float]]:
    """(series, model RMSE, regression RMSE) of every series where the regression's RMSE in
    ``window`` is below the model's: the series the physics does not beat."""
    out = []
    for key, b in bench.get(window, {}).items():
        m = model.get(window, {}).get(key)
        if m is None or m.get("role"):
            continue
        if np.isfinite(b["rmse"]) and np.isfinite(m["rmse"]) and b["rmse"] < m["rmse"]:
            out.append((key, float(m["rmse"]), float(b["rmse"])))
    return out


__all__ = ["LAGS_H", "MEANS_H", "Regression", "benchmarks", "design", "fit_all", "not_beaten",
           "predictors_for", "score", "train"]
