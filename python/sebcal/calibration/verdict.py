"""The trust verdict of a calibration: can a host model use these parameters?

Three outcomes (docs/calibration.md, "The verdict"):

* ``usable``: plausible values, identifiable, evaluation skill that holds;
* ``usable with caveats``: usable, with reservations a modeller must read (a parameter on a
  calibration bound, a weakly determined or non-identifiable combination, evaluation skill
  noticeably worse than calibration skill, observations that do not close the energy
  balance);
* ``not usable for a host``: a fitted value outside the range of real soils and land
  surfaces, or evaluation skill that collapses. `sebcal calibrate` then exits with status 3
  (the files are still written) and `sebcal export` refuses the parameters unless
  ``--allow-implausible`` is given.

Each reason is a sentence that names the parameter or observation and what it suggests;
``notes`` hold what a reader should know without changing the status (autocorrelated
residuals and the error-bar correction, parameters the prior rather than the data determined).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

USABLE = "usable"
CAVEATS = "usable with caveats"
NOT_USABLE = "not usable for a host"
#: exit status of `sebcal calibrate` when the verdict is NOT_USABLE
EXIT_NOT_USABLE = 3

#: evaluation RMSE over calibration RMSE above which skill "does not hold" / "collapses"
SKILL_WORSE = 2.0
SKILL_COLLAPSE = 4.0
#: energy-balance closure (H + LE)/(Rn - G) of the observations outside this range is flagged
CLOSURE_RANGE = (0.8, 1.2)
#: a MAP fit whose priors raise the data misfit by more than this (chi-square in effective
#: independent values, two standard deviations of one degree of freedom) is flagged
CONFLICT_CHI2 = 4.0

#: what an implausibly high / low value of a parameter usually compensates for
_HINTS = {
    ("lambda", "high"): "the model needs more heat in and out of the ground than a soil can "
                        "conduct: heat storage of an urban fabric or canopy the column does "
                        "not represent, a missing latent heat flux, or sensors that see "
                        "different surfaces",
    ("lambda", "low"): "too little heat reaches the sensors: a top boundary that is too warm "
                       "or cold, a mulch or litter layer, or a sensor depth that is wrong",
    ("C", "high"): "more heat is stored than a soil holds (urban fabric, standing water)",
    ("C", "low"): "less heat is stored than any soil holds: check the sensor depths and the "
                  "top boundary",
    ("h_eff", "high"): "turbulent exchange takes energy that evaporation or storage should "
                       "take",
    ("h_eff", "low"): "the surface keeps energy that should leave it (missing evaporation or "
                      "ground heat flux)",
    ("alpha", "high"): "the surface absorbs less sunlight than observed albedos allow: energy "
                       "is missing elsewhere (evaporation, storage)",
    ("z0h_ratio", "low"): "sensible heat is suppressed to the limit: the surface seen by the "
                          "tower is cooler or wetter than the soil column",
    ("r_s", "high"): "evaporation is switched off: the observed latent heat is not explained "
                     "by soil evaporation",
    ("tau_lw", "low"): "the soil's longwave exchange is cut off: the tower's LWup comes from a "
                       "canopy, whose own energy balance the soil column does not represent",
    ("tau_sw", "low"): "almost no sunlight reaches the soil: the tower sees a canopy the soil "
                       "column does not represent",
    ("rs_b", "low"): "evaporation does not follow the top soil moisture as the resistance "
                     "model assumes (evaporation from deeper layers or from plants)",
}


def _range_text(lo: float, hi: float, unit: str) -> str:
    return f"{lo:g}-{hi:g} {unit}".strip()


def assess(parameters: Mapping[str, Mapping[str, Any]], ident: Mapping[str, Any],
           metrics: Mapping[str, Mapping[str, Mapping[str, Any]]], lap: Mapping[str, Any],
           closure: Mapping[str, Any] | None = None,
           conflict: Mapping[str, Any] | None = None) -> dict:
    """The verdict from the calibration's results.

    Args:
        parameters: params.json "parameters" (value, fitted, plausible, at_bound, unit, ...).
        ident: the identifiability result (status per coordinate, findings).
        metrics: {"calibration": {obs: {rmse, n, unit, fitted}}, "evaluation": {...}}.
        lap: the Laplace result (data_share, inflation, n_eff).
        closure: the observations' energy-balance closure ({ratio, n}) or None.
        conflict: for a MAP fit, the data-only optimum ({data_only: label -> value}) and
            what the priors cost the data (delta_chi2, in effective independent values).

    Returns:
        {"status", "reasons", "notes", "exit_status"}.
    """
    reasons: list[tuple[str, str]] = []          # (severity, sentence)
    notes: list[str] = []
    for name, p in parameters.items():
        if not p.get("fitted"):
            continue
        lo, hi = p.get("plausible") or (-np.inf, np.inf)
        values = p["value"] if isinstance(p["value"], list) else [p["value"]]
        for k, v in enumerate(values):
            label = name if len(values) == 1 else f"{name} (layer {k + 1})"
            if v is None:
                continue
            if not lo <= v <= hi:
                side = "high" if v > hi else "low"
                hint = _HINTS.get((name, side))
                rng = _range_text(lo, hi, p["unit"])
                reasons.append((NOT_USABLE, f"{label} = {v:.4g} {p['unit']} is outside the range "
                                f"of real soils and land surfaces ({rng})"
                                + (f": {hint}" if hint else "; the fit compensates for a process "
                                   "the model does not represent")))
        ab = p.get("at_bound")
        bounds = ab if isinstance(ab, list) else [ab]
        for k, side in enumerate(bounds):
            if side:
                label = name if len(bounds) == 1 else f"{name} (layer {k + 1})"
                reasons.append((CAVEATS, f"{label} ended on its {side} calibration bound "
                                f"({p.get('bounds')}): the optimum lies beyond it"))
    status = ident.get("status", {})
    bad = [n for n, s in status.items() if s == "not identifiable"]
    weak = [n for n, s in status.items() if s == "weakly determined"]
    share = lap.get("data_share") or {}
    by_prior = [n for n in bad + weak if share.get(n, 1.0) < 0.5]
    if bad:
        combos = [f for f in ident.get("findings", []) if "constrained" in f or "valley" in f]
        reasons.append((CAVEATS, f"not identifiable from these observations: {', '.join(bad)}"
                        + (f" ({combos[0]})" if len(combos) == 1 else
                           " (the report's Identifiability section names the combinations the "
                           "data do constrain)")))
    if weak:
        reasons.append((CAVEATS, f"weakly determined (standard error above 25 %): "
                        f"{', '.join(weak)}"))
    if by_prior:
        notes.append(f"the prior rather than the data determines {', '.join(by_prior)} (less "
                     "than half of its precision comes from the data)")
    cal, ev = metrics.get("calibration", {}), metrics.get("evaluation", {})
    for obs, m in ev.items():
        c = cal.get(obs)
        if m.get("role"):
            continue
        if not c or not m.get("n") or not c.get("n") or not np.isfinite(m.get("rmse", np.nan)):
            continue
        ratio = m["rmse"] / max(c["rmse"], 1e-12)
        floor = m.get("sigma") or 0.0
        if ratio > SKILL_COLLAPSE and m["rmse"] > 2 * floor:
            reasons.append((NOT_USABLE, f"{obs}: evaluation RMSE {m['rmse']:.3g} {m['unit']} is "
                            f"{ratio:.1f} times the calibration RMSE ({c['rmse']:.3g}): the "
                            "parameters do not carry over to other periods"))
        elif ratio > SKILL_WORSE and m["rmse"] > floor:
            reasons.append((CAVEATS, f"{obs}: evaluation RMSE {m['rmse']:.3g} {m['unit']} is "
                            f"{ratio:.1f} times the calibration RMSE ({c['rmse']:.3g})"))
    if closure and closure.get("ratio") is not None and np.isfinite(closure["ratio"]):
        r = closure["ratio"]
        if not CLOSURE_RANGE[0] <= r <= CLOSURE_RANGE[1]:
            reasons.append((CAVEATS, f"the observations close the surface energy balance to "
                            f"{r * 100:.0f} % ((H + LE)/(Rn - G) over {closure['n']} daytime "
                            "values): no model can fit the turbulent fluxes, the net radiation "
                            "and the ground heat flux together"))
        else:
            notes.append(f"the observations close the energy balance to {r * 100:.0f} % "
                         "((H + LE)/(Rn - G), daytime)")
    if conflict:
        delta = conflict["delta_chi2"]
        moved = []
        for name, v in conflict["data_only"].items():
            if name not in conflict.get("with_prior", conflict["data_only"]):
                continue
            base = name.rsplit("_", 1)[0] if name not in parameters else name
            p = parameters.get(base, {})
            lo, hi = p.get("plausible") or (-np.inf, np.inf)
            if not lo <= v <= hi:
                moved.append(f"{name} = {v:.4g} {p.get('unit', '')}".strip())
        if delta > CONFLICT_CHI2:
            reasons.append((CAVEATS, f"the priors and the data disagree: the priors cost the fit "
                            f"{delta:.1f} (chi-square in independent values, > {CONFLICT_CHI2:g})"
                            + (f"; the data alone give {', '.join(moved)}, outside the plausible "
                               "range" if moved else "")))
        elif moved:
            notes.append(f"the data alone give {', '.join(moved)} (outside the plausible range); "
                         f"the priors move it at a cost the data accept (chi-square "
                         f"{delta:.1f} in independent values)")
    infl = lap.get("inflation")
    if infl and infl > 1.5:
        notes.append(f"the residuals are autocorrelated (model error, not noise): they are worth "
                     f"{lap.get('n_eff', 0):.0f} independent values, and the error bars are "
                     f"widened by a factor {infl:.1f} accordingly")
    if any(s == NOT_USABLE for s, _ in reasons):
        verdict = NOT_USABLE
    elif reasons:
        verdict = CAVEATS
    else:
        verdict = USABLE
    order = {NOT_USABLE: 0, CAVEATS: 1}
    return {"status": verdict,
            "reasons": [r for _, r in sorted(reasons, key=lambda x: order[x[0]])],
            "notes": notes,
            "exit_status": EXIT_NOT_USABLE if verdict == NOT_USABLE else 0}


#: freezing point of water [K] (Noah-MP ConstFreezePoint, as the scheme's freezing option)
T_FREEZE = 273.16


def frozen_soil_of(observations, mask: np.ndarray, options: Mapping[str, str]) -> dict | None:
    """The observed soil temperatures at or below the freezing point over the mask, when the
    model has no freeze-thaw (``[physics] freezing = "none"``): {"n", "of", "coldest" [K],
    "labels"}; None when the option is on or no soil temperature reaches 0 degC."""
    if options.get("freezing", "none") != "none":
        return None
    n = total = 0
    coldest = np.inf
    labels = []
    for o in observations:
        if o.variable != "SoilTemp":
            continue
        v = np.asarray(o.values)[mask]
        v = v[np.isfinite(v)]
        total += v.size
        cold = v <= T_FREEZE
        if cold.any():
            n += int(cold.sum())
            coldest = min(coldest, float(v.min()))
            labels.append(o.label)
    if not n:
        return None
    return {"n": n, "of": total, "coldest": coldest, "labels": labels}


def with_frozen_soil(verdict: Mapping[str, Any], frozen: Mapping[str, Any] | None) -> dict:
    """The verdict with the frozen-soil rule: observed soil at or below 0 degC without the
    freezing option is a caveat (the latent heat of the soil water acts as a large apparent
    heat capacity the model does not have, so the fitted C and lambda absorb it)."""
    out = dict(verdict)
    if not frozen:
        return out
    share = frozen["n"] / max(frozen["of"], 1)
    reason = (f"the observed soil reaches the freezing point ({frozen['n']} of {frozen['of']} "
              f"soil temperatures at or below 0 degC, coldest {frozen['coldest'] - 273.15:.1f} "
              f"degC, in {', '.join(frozen['labels'])}; {share * 100:.0f} %) but the model "
              "has no freeze-thaw: the latent heat of freezing acts as an apparent heat "
              "capacity the fit puts into C and lambda; set [physics] freezing = \"niu_yang\" "
              "or leave the frozen period out")
    out["reasons"] = [*out.get("reasons", []), reason]
    if out.get("status") == USABLE:
        out["status"] = CAVEATS
    return out


def closure_of(observations, mask: np.ndarray, forcing: Any = None) -> dict | None:
    """Energy-balance closure (H + LE)/(Rn - G) of the observations over daytime levels of
    the mask (Rn - G > 50 W m-2), when Rnet, Qh, Qle and Qg at the top are all observed."""
    by = {}
    for o in observations:
        key = o.variable if o.variable != "Qg" or not o.depth else None
        if key in ("Rnet", "Qh", "Qle", "Qg") and key not in by:
            by[key] = o.values
    if set(by) != {"Rnet", "Qh", "Qle", "Qg"}:
        return None
    avail = by["Rnet"] - by["Qg"]
    turb = by["Qh"] + by["Qle"]
    ok = mask & np.isfinite(avail) & np.isfinite(turb) & (avail > 50.0)
    if ok.sum() < 10:
        return None
    return {"ratio": float(turb[ok].sum() / avail[ok].sum()), "n": int(ok.sum())}


__all__ = ["CAVEATS", "EXIT_NOT_USABLE", "NOT_USABLE", "USABLE", "assess", "closure_of",
           "frozen_soil_of", "with_frozen_soil"]
