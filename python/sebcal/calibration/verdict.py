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
#: absolute misfit of one observation in one window, in units of its sigma: an RMSE above
#: MISFIT_RMSE sigma or a mean bias beyond MISFIT_BIAS sigma is a reason, when the
#: chi-square per effective independent value, mean((model - obs)^2 / sigma^2), also exceeds
#: what noise of that sigma gives by chance: 1 + 3 sqrt(2 / N_eff)
MISFIT_RMSE = 3.0
MISFIT_BIAS = 2.0
#: T_b against the site's own climate [K]: further than the first from the mean air
#: temperature of the forcing (or from the mean of an observed soil temperature at least
#: T_DEEP_MIN_DEPTH deep) is a caveat, further than the second not usable
TB_CAVEAT = 10.0
TB_NOT_USABLE = 20.0
T_DEEP_MIN_DEPTH = 0.3
#: roughness against the height of the measurements above the displacement height: MOST
#: holds above the roughness sublayer, about 10 z0m; below 2 z0m the log profile has no room
Z0M_SUBLAYER = 10.0
Z0M_NOT_USABLE = 2.0

#: land cover words (IGBP classes and free words) -> the cover group the causes are worded for
_COVER = {
    "urban": ("URB", "urban", "suburb", "suburban", "city", "built", "impervious"),
    "arid": ("OSH", "CSH", "BSV", "barren", "desert", "shrub", "shrubland", "arid", "bare"),
    "wet": ("WET", "WAT", "wetland", "marsh", "bog", "paddy", "rice", "water"),
    "vegetated": ("CRO", "GRA", "SAV", "WSA", "ENF", "EBF", "DNF", "DBF", "MF", "CVM", "crop",
                  "cropland", "grass", "grassland", "savanna", "forest", "pasture", "meadow"),
}


def cover_group(land_cover: str | None) -> str | None:
    """'urban', 'arid', 'wet', 'vegetated' or None for a [site] land_cover (IGBP class or
    word, case-insensitive)."""
    if not land_cover:
        return None
    w = land_cover.strip().lower()
    for group, words in _COVER.items():
        if any(w == x.lower() or x.lower() in w.split() for x in words):
            return group
    return None


#: what an implausibly high / low value of a parameter usually compensates for; a tuple of
#: (cover group or None for any site, cause)
_HINTS: dict[tuple[str, str], tuple[tuple[str | None, str], ...]] = {
    ("lambda", "high"): (
        ("urban", "heat storage and conduction of the urban fabric (buildings, paving) the soil "
                  "column does not represent"),
        ("vegetated", "a canopy or litter layer whose storage the column does not represent, "
                      "or sensors that see different surfaces"),
        ("arid", "sensors that see different surfaces, or sensor depths that are wrong"),
        ("wet", "standing water or saturated soil that mixes heat faster than conduction"),
        (None, "the model needs more heat in and out of the ground than a soil can conduct: "
               "storage the column does not represent, a missing latent heat flux, or sensors "
               "that see different surfaces"),
    ),
    ("lambda", "low"): (
        (None, "too little heat reaches the sensors: a top boundary that is too warm or cold, "
               "a mulch or litter layer, or a sensor depth that is wrong"),
    ),
    ("C", "high"): (
        ("urban", "heat stored in the urban fabric (buildings, paving) that the soil column "
                  "does not represent"),
        ("wet", "standing water or saturated soil"),
        ("vegetated", "a record too short for the sensor depths (the deep sensors still follow "
                      "the initial state), or storage in a canopy or litter layer"),
        ("arid", "a record too short for the sensor depths, or sensor depths that are wrong"),
        (None, "more heat is stored than a soil holds: a record too short for the sensor "
               "depths, wrong sensor depths, or storage the column does not represent (urban "
               "fabric, standing water) where the site has it"),
    ),
    ("C", "low"): (
        (None, "less heat is stored than any soil holds: check the sensor depths and the top "
               "boundary"),
    ),
    ("h_eff", "high"): ((None, "turbulent exchange takes energy that evaporation or storage "
                               "should take"),),
    ("h_eff", "low"): ((None, "the surface keeps energy that should leave it (missing "
                              "evaporation or ground heat flux)"),),
    ("alpha", "high"): ((None, "the surface absorbs less sunlight than observed albedos allow: "
                               "energy is missing elsewhere (evaporation, storage)"),),
    ("z0h_ratio", "low"): ((None, "sensible heat is suppressed to the limit: the surface seen by "
                                  "the tower is cooler or wetter than the soil column"),),
    ("r_s", "high"): ((None, "evaporation is switched off: the observed latent heat is not "
                             "explained by soil evaporation"),),
    ("tau_lw", "low"): ((None, "the soil's longwave exchange is cut off: the tower's LWup comes "
                               "from a canopy, whose own energy balance the soil column does "
                               "not represent"),),
    ("tau_sw", "low"): ((None, "almost no sunlight reaches the soil: the tower sees a canopy "
                               "the soil column does not represent"),),
    ("rs_b", "low"): ((None, "evaporation does not follow the top soil moisture as the "
                             "resistance model assumes (evaporation from deeper layers or "
                             "from plants)"),),
}


def hint(name: str, side: str, group: str | None = None,
         freezing: list | None = None) -> str | None:
    """The likely cause of an implausibly high or low value, worded for the site's cover
    group; near-0 degC soil names freeze/thaw first for the soil's heat capacity and
    conductivity."""
    rows = _HINTS.get((name, side), ())
    text = next((t for g, t in rows if g == group), None) or \
        next((t for g, t in rows if g is None), None)
    if freezing and name in ("C", "lambda") and side == "high":
        lab, depth, share = max(freezing, key=lambda f: f[2])
        fz = (f"freezing and thawing: {share * 100:.0f} % of the soil temperatures at {depth:g} m "
              f"({lab}) lie within 2 K of 0 degC or below, and the latent heat of fusion, which "
              "the scheme does not model, looks like extra heat capacity")
        return fz + ("; or " + text if text else "")
    return text


def _range_text(lo: float, hi: float, unit: str) -> str:
    return f"{lo:g}-{hi:g}{_unit(unit)}"


def _unit(unit: str | None) -> str:
    """' unit', or nothing for a dimensionless one."""
    return "" if unit in (None, "", "1") else f" {unit}"


def _values(p: Mapping[str, Any]) -> list:
    v = p.get("value")
    return v if isinstance(v, list) else [v]


def assess(parameters: Mapping[str, Mapping[str, Any]], ident: Mapping[str, Any],
           metrics: Mapping[str, Mapping[str, Mapping[str, Any]]], lap: Mapping[str, Any],
           closure: Mapping[str, Any] | None = None,
           conflict: Mapping[str, Any] | None = None,
           context: Mapping[str, Any] | None = None) -> dict:
    """The verdict from the calibration's results.

    Args:
        parameters: params.json "parameters" (value, fitted, plausible, at_bound, unit, ...).
        ident: the identifiability result (status per coordinate, findings).
        metrics: {"calibration": {obs: {rmse, bias, n, unit, fitted, sigma, n_eff, chi2,
            suspect}}, "evaluation": {...}}.
        lap: the Laplace result (data_share, inflation, n_eff).
        closure: the observations' energy-balance closure ({ratio, n, terms, ...}) or None.
        conflict: for a MAP fit, the data-only optimum ({data_only: label -> value}), the
            MAP values (map: label -> value) and what the priors cost the data (delta_chi2, in
            effective independent values).
        context: what the site says (all keys optional): land_cover, t_air_mean [K],
            t_deep {label, depth [m], mean [K]}, z_ref [m], d0 [m], diffusivity [m2 s-1],
            window_hours, soil_sensors [(label, depth, fitted)], column_depth [m],
            flags {label: [sentences]} (observation checks), freezing [(label, depth,
            share)], bottom (the bottom boundary option). flags: label -> {problems
            (sentences), whole (the series is suspect), kept (keep = true), left_out (values
            left out)}.

    Returns:
        {"status", "reasons", "notes", "exit_status"}.
    """
    ctx = dict(context or {})
    group = cover_group(ctx.get("land_cover"))
    freezing = ctx.get("freezing") or []
    flags = ctx.get("flags") or {}
    reasons: list[tuple[str, str]] = []          # (severity, sentence)
    notes: list[str] = []
    for name, p in parameters.items():
        if not p.get("fitted"):
            continue
        lo, hi = p.get("plausible") or (-np.inf, np.inf)
        values = _values(p)
        for k, v in enumerate(values):
            label = name if len(values) == 1 else f"{name} (layer {k + 1})"
            if v is None:
                continue
            if not lo <= v <= hi:
                side = "high" if v > hi else "low"
                h = hint(name, side, group, freezing)
                rng = _range_text(lo, hi, p["unit"])
                reasons.append((NOT_USABLE, f"{label} = {v:.4g}{_unit(p['unit'])} is outside the "
                                "range "
                                f"of real soils and land surfaces ({rng})"
                                + (f": {h}" if h else "; the fit compensates for a process "
                                   "the model does not represent")))
        ab = p.get("at_bound")
        bounds = ab if isinstance(ab, list) else [ab]
        for k, side in enumerate(bounds):
            if side:
                label = name if len(bounds) == 1 else f"{name} (layer {k + 1})"
                b = p.get("bounds")
                v = values[k] if k < len(values) else values[0]
                u = _unit(p["unit"])
                rng = f" ({b[0]:g}-{b[1]:g}{u})" if b else ""
                val = f" = {v:.4g}{u}" if v is not None else ""
                reasons.append((CAVEATS, f"{label}{val} ended on its {side} calibration bound"
                                f"{rng}: the data push it beyond, so its value is the bound's, "
                                "not the data's"))
    _site_rules(parameters, ctx, reasons, notes)
    status = ident.get("status", {})
    bad = [n for n, s in status.items() if s == "not identifiable"]
    weak = [n for n, s in status.items() if s == "weakly determined"]
    share = lap.get("data_share") or {}
    by_prior = [n for n in bad + weak if share.get(n, 1.0) < 0.5]
    if bad:
        combos = [f for f in ident.get("findings", [])
                  if ("constrained" in f or "valley" in f) and any(n in f for n in bad)]
        reasons.append((CAVEATS, f"not identifiable from these observations: {', '.join(bad)}"
                        + (f" ({'; '.join(combos)})" if combos else "")))
    if weak:
        std = {n: s for n, s in (ident.get("relative_std") or {}).items() if n in weak}
        reasons.append((CAVEATS, "weakly determined (standard error above 25 % of the value): "
                        + ", ".join(f"{n}" + (f" ({std[n] * 100:.0f} %)" if n in std else "")
                                    for n in weak)))
    if by_prior:
        notes.append("the prior rather than the data determines "
                     + ", ".join(f"{n} ({share[n] * 100:.0f} % of its precision from the data)"
                                 for n in by_prior)
                     + ": less than half")
    cal, ev = metrics.get("calibration", {}), metrics.get("evaluation", {})
    for lab, f in flags.items():
        why = "; ".join(f.get("problems") or []) or "it fails the plausibility checks"
        if f.get("kept"):
            notes.append(f"the observed series {lab} fails a plausibility check but is kept "
                         f"whole (keep = true): {why}")
        elif f.get("whole"):
            reasons.append((CAVEATS, f"the observed series {lab} looks implausible: {why}; it "
                            "is left out of the closure and the skill and misfit rules, and "
                            f"its {f.get('left_out', 0)} flagged values out of the fit and the "
                            "skill (keep = true in its [observations] table keeps it)"))
        else:
            k = f.get("left_out", 0)
            notes.append(f"the observed series {lab} has {k} implausible "
                         f"value{'' if k == 1 else 's'}, left out of the fit and the skill: "
                         f"{why}")
    for obs, m in ev.items():
        c = cal.get(obs)
        if m.get("role") or m.get("suspect"):
            continue
        if not c or not m.get("n") or not c.get("n") or not np.isfinite(m.get("rmse", np.nan)):
            continue
        ratio = m["rmse"] / max(c["rmse"], 1e-12)
        floor = m.get("sigma") or 0.0
        if ratio > SKILL_COLLAPSE and m["rmse"] > 2 * floor:
            reasons.append((NOT_USABLE, f"{obs}: evaluation RMSE {m['rmse']:.3g} {m['unit']} is "
                            f"{ratio:.3g} times the calibration RMSE ({c['rmse']:.3g}): the "
                            "parameters do not carry over to other periods"))
        elif ratio > SKILL_WORSE and m["rmse"] > floor:
            reasons.append((CAVEATS, f"{obs}: evaluation RMSE {m['rmse']:.3g} {m['unit']} is "
                            f"{ratio:.3g} times the calibration RMSE ({c['rmse']:.3g})"))
    reasons += [(CAVEATS, r) for r in misfits(metrics)]
    if closure and closure.get("ratio") is not None and np.isfinite(closure["ratio"]):
        r = closure["ratio"]
        how = closure_text(closure)
        if not CLOSURE_RANGE[0] <= r <= CLOSURE_RANGE[1]:
            reasons.append((CAVEATS, f"the observations close the surface energy balance to "
                            f"{r * 100:.0f} % ({how}; outside {CLOSURE_RANGE[0] * 100:.0f}-"
                            f"{CLOSURE_RANGE[1] * 100:.0f} %): no model can fit the turbulent "
                            "fluxes, the net radiation and the ground heat flux together"))
        else:
            notes.append(f"the observations close the energy balance to {r * 100:.0f} % ({how})")
    if conflict:
        _conflict(parameters, conflict, reasons, notes)
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


def misfits(metrics: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[str]:
    """The absolute misfit rule: per observation (boundaries and flagged series left out), the
    windows whose RMSE exceeds MISFIT_RMSE sigma or whose bias lies beyond MISFIT_BIAS sigma,
    with a chi-square per effective independent value above 1 + 3 sqrt(2/N_eff) (what noise
    of that sigma gives by chance). One sentence per observation, naming every such window."""
    found: dict[str, list[str]] = {}
    role: dict[str, str] = {}
    for window in ("calibration", "evaluation"):
        for obs, m in (metrics.get(window) or {}).items():
            if m.get("role") or m.get("suspect") or not m.get("n") or not m.get("sigma"):
                continue
            rmse, bias, sig = m.get("rmse"), m.get("bias"), m["sigma"]
            if rmse is None or bias is None or not np.isfinite(rmse):
                continue
            n_eff = float(m.get("n_eff") or m["n"])
            chi2 = float(m.get("chi2", (rmse / sig) ** 2))
            chance = 1.0 + 3.0 * np.sqrt(2.0 / max(n_eff, 1.0))
            zr, zb = rmse / sig, bias / sig
            if (zr > MISFIT_RMSE or abs(zb) > MISFIT_BIAS) and chi2 > chance:
                role[obs] = "fitted" if m.get("fitted") else "evaluated only"
                u = m["unit"]
                found.setdefault(obs, []).append(
                    f"{zr:.1f} sigma in the {window} window (RMSE {rmse:.3g} {u}, bias "
                    f"{bias:+.3g} {u}, chi-square per effective independent value {chi2:.1f} "
                    f"over {n_eff:.0f} of {m['n']} values, where noise alone gives up to "
                    f"{chance:.2f})")
    out = []
    for obs, parts in found.items():
        sig = next(m["sigma"] for w in metrics.values() for k, m in w.items() if k == obs)
        out.append(f"{obs} ({role[obs]}, sigma {sig:g}) is missed by {' and by '.join(parts)}: "
                   "the model does not represent this series to its stated accuracy")
    return out


def closure_text(closure: Mapping[str, Any]) -> str:
    terms = closure.get("terms")
    t = (f"({terms['Qh']} + {terms['Qle']})/({terms['Rnet']} - {terms['Qg']})" if terms
         else "(H + LE)/(Rn - G)")
    extra = ""
    if closure.get("turbulent") is not None and closure.get("available") is not None:
        extra = (f": mean H + LE {closure['turbulent']:.0f} W m-2 against Rn - G "
                 f"{closure['available']:.0f} W m-2")
    return f"{t} over {closure['n']} daytime values with Rn - G above 50 W m-2{extra}"


def _site_rules(parameters: Mapping[str, Mapping[str, Any]], ctx: Mapping[str, Any],
                reasons: list, notes: list) -> None:
    """T_b against the site's climate, z0m against the measurement height, the record length
    against the sensor depths, and near-0 degC soil."""
    tb = parameters.get("T_b")
    if tb and tb.get("fitted") and ctx.get("bottom", "dirichlet") == "dirichlet":
        v = _values(tb)[0]
        refs = []
        deep = ctx.get("t_deep")
        if deep and deep.get("depth", 0.0) >= T_DEEP_MIN_DEPTH:
            refs.append((f"the mean observed soil temperature at {deep['depth']:g} m "
                         f"({deep['label']})", deep["mean"]))
        if ctx.get("t_air_mean") is not None:
            refs.append(("the mean air temperature of the forcing", ctx["t_air_mean"]))
        worst = max(refs, key=lambda r: abs(v - r[1]), default=None)
        if worst is not None:
            d = v - worst[1]
            if abs(d) > TB_CAVEAT:
                sev = NOT_USABLE if abs(d) > TB_NOT_USABLE else CAVEATS
                limit = TB_NOT_USABLE if sev == NOT_USABLE else TB_CAVEAT
                reasons.append((sev, f"T_b = {v:.1f} K is {abs(d):.1f} K "
                                f"{'colder' if d < 0 else 'warmer'} than {worst[0]}, "
                                f"{worst[1]:.1f} K (more than {limit:g} K): "
                                "the deep soil of this site is not that "
                                f"{'cold' if d < 0 else 'warm'}; the fit uses T_b to compensate "
                                "(a record too short for the column, a missing process): fix "
                                "T_b from an observed deep temperature, or use a longer record"))
    z0 = parameters.get("z0m")
    zr, d0 = ctx.get("z_ref"), ctx.get("d0") or 0.0
    if z0 and zr is not None:
        v = _values(z0)[0]
        room = zr - d0
        if room <= Z0M_NOT_USABLE * v:
            reasons.append((NOT_USABLE, f"z0m = {v:.3g} m leaves no room for a log wind profile: "
                            f"the measurements are {room:.3g} m above the displacement height "
                            f"(z_ref {zr:g} m - d0 {d0:g} m), less than {Z0M_NOT_USABLE:g} z0m; "
                            "check measurement_height, displacement_height and z0m"))
        elif room < Z0M_SUBLAYER * v:
            reasons.append((CAVEATS, f"z0m = {v:.3g} m: the measurements are {room:.3g} m above "
                            f"the displacement height, {room / v:.1f} z0m, inside the roughness "
                            f"sublayer (below about {Z0M_SUBLAYER:g} z0m) where the "
                            "Monin-Obukhov profiles do not hold; measure higher or fix z0m and "
                            "d0 from the site"))
    kappa, hours = ctx.get("diffusivity"), ctx.get("window_hours")
    if kappa and hours:
        reach = 2.0 * np.sqrt(kappa * hours * 3600.0)
        deep = [(lab, z) for lab, z, fitted in ctx.get("soil_sensors") or [] if fitted
                and z > reach]
        if deep:
            lab, z = max(deep, key=lambda x: x[1])
            reasons.append((CAVEATS, f"the fitted sensor {lab} at {z:g} m lies below the depth "
                            f"heat from the surface reaches in the {hours:g} h calibration "
                            f"window (2 sqrt(kappa t) = {reach:.2f} m at the fitted diffusivity "
                            f"{kappa:.2g} m2 s-1): it follows the initial state and the bottom "
                            "more than the surface; use a longer record or a shallower sensor"))
        col = ctx.get("column_depth")
        sensors = [z for _, z, fitted in ctx.get("soil_sensors") or [] if fitted]
        if tb and tb.get("fitted") and col and sensors and \
                ctx.get("bottom", "dirichlet") == "dirichlet" and col - max(sensors) > reach:
            notes.append(f"the bottom at {col:g} m lies {col - max(sensors):.2f} m below the "
                         f"deepest fitted sensor, beyond the {reach:.2f} m heat diffuses in the "
                         f"{hours:g} h window: T_b reaches the sensors through the initial "
                         "profile rather than as a boundary")
    for lab, depth, share in ctx.get("freezing") or []:
        reasons.append((CAVEATS, f"{share * 100:.0f} % of the soil temperatures at {depth:g} m "
                        f"({lab}) lie within 2 K of 0 degC or below: freezing and thawing "
                        "release and take latent heat this run does not model, which biases "
                        "lambda and C; set [physics] freezing = \"niu_yang\" or calibrate over "
                        "a frost-free period"))


def _conflict(parameters, conflict, reasons, notes) -> None:
    delta = conflict["delta_chi2"]
    with_prior = conflict.get("with_prior", list(conflict["data_only"]))
    mapv = conflict.get("map") or {}
    moved, stayed, by_data = [], [], []
    for name, v in conflict["data_only"].items():
        if name not in with_prior:
            continue
        base = name.rsplit("_", 1)[0] if name not in parameters else name
        p = parameters.get(base, {})
        lo, hi = p.get("plausible") or (-np.inf, np.inf)
        if lo <= v <= hi:
            continue
        unit = _unit(p.get("unit"))
        m = mapv.get(name)
        if m is not None and abs(m - v) <= 0.01 * max(abs(v), 1e-300):
            stayed.append(f"{name} = {v:.4g}{unit}")
        else:
            moved.append(f"{name} = {v:.4g}{unit}"
                         + (f" (with the priors {m:.4g})" if m is not None else ""))
            cb = p.get("constrained_by")
            if cb == "data" or (isinstance(cb, list) and "data" in cb):
                by_data.append(name)
    if delta > CONFLICT_CHI2:
        reasons.append((CAVEATS, f"the priors and the data disagree: the priors cost the fit "
                        f"{delta:.1f} (chi-square in independent values, > {CONFLICT_CHI2:g})"
                        + (f"; the data alone give {', '.join(moved + stayed)}, outside the "
                           "plausible range" if moved or stayed else "")))
    elif moved:
        them = "it" if len(moved) == 1 else "them"
        where = (f"; there the data, not the priors, determine {', '.join(by_data)} (the "
                 "priors chose between optima of the data)" if by_data else "")
        notes.append(f"the data alone give {', '.join(moved)}, outside the plausible range; "
                     f"the priors move {them} inside at a cost the data accept (chi-square "
                     f"{delta:.1f} in independent values){where}")
    if stayed:
        notes.append(f"the data alone give {', '.join(stayed)}, outside the plausible range, "
                     "and the priors do not move it")


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


def closure_of(observations, mask: np.ndarray, forcing: Any = None,
               exclude: Any = ()) -> dict | None:
    """Energy-balance closure (H + LE)/(Rn - G) of the observations over daytime levels of
    the mask (Rn - G > 50 W m-2), when Rnet, Qh, Qle and Qg at the top are all observed and
    none of them is in ``exclude`` (labels of series the plausibility checks flagged)."""
    by, labels = {}, {}
    for o in observations:
        key = o.variable if o.variable != "Qg" or not o.depth else None
        if key in ("Rnet", "Qh", "Qle", "Qg") and key not in by:
            by[key] = o.values
            labels[key] = o.label
    if set(by) != {"Rnet", "Qh", "Qle", "Qg"}:
        return None
    if set(labels.values()) & set(exclude):
        return None
    avail = by["Rnet"] - by["Qg"]
    turb = by["Qh"] + by["Qle"]
    ok = mask & np.isfinite(avail) & np.isfinite(turb) & (avail > 50.0)
    if ok.sum() < 10:
        return None
    return {"ratio": float(turb[ok].sum() / avail[ok].sum()), "n": int(ok.sum()),
            "turbulent": float(turb[ok].mean()), "available": float(avail[ok].mean()),
            "terms": labels}


__all__ = ["CAVEATS", "EXIT_NOT_USABLE", "NOT_USABLE", "USABLE", "assess", "closure_of",
           "cover_group", "frozen_soil_of", "hint", "misfits", "with_frozen_soil"]
