"""Error bars (Laplace approximation) and the identifiability report.

With S(p) = N L(p) the weighted sum of squared residuals (objective.py) and its minimum S_min,
the residual variance is estimated as s^2 = S_min / (N - P), and the covariance of the
parameters in the optimisation space u is

    Cov_u = 2 s^2 H_S^{-1} = (2 s^2 / N) H_L^{-1},

H_L the Hessian of L at the optimum (central differences of exact autograd gradients). The
physical covariance is D Cov_u D with D = diag(dp/du). Standard errors and the correlation
matrix follow.

Identifiability. The eigenvectors of H_L in u (each parameter's prior range has width 1 there)
are the directions the data constrain well (large eigenvalue) or poorly (small eigenvalue). A
direction is reported as poorly constrained when its eigenvalue is below ``rel_tol`` (1e-4)
times the largest, i.e. it is known at least 100 times less well (in standard error) than the
best-determined combination; a parameter is reported when its standard error exceeds
``max_rel_std`` (5 %) of its value, with its strongest correlation. Each such direction is
named in physical terms (e.g. "lambda and C move together: only lambda/C is constrained").
The multi-start spread is compared: starts that end with fits as good as the best (loss
within 1 %) but differ in a parameter by more than 1 % confirm a valley in the loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .space import Space


def laplace(space: Space, phys_best: Mapping[str, float], H: np.ndarray, loss_min: float,
            n_terms: int) -> dict:
    """Standard errors and correlations in physical units.

    Returns:
        dict with ``std`` (name -> float or None when the Hessian is singular along it),
        ``correlation`` (P x P list), ``s2`` (residual variance), ``eigen`` (eigenvalues and
        eigenvectors of H in u), ``cov_u``.
    """
    P = space.size
    s2 = loss_min * n_terms / max(n_terms - P, 1)
    evals, evecs = np.linalg.eigh(H)
    good = evals > 1e-14 * max(evals.max(), 1e-300)
    inv = (evecs[:, good] / evals[good]) @ evecs[:, good].T
    cov_u = 2.0 * s2 / n_terms * inv
    d = space.dphys_du({k: np.array([v]) for k, v in phys_best.items()})[0]
    cov = cov_u * np.outer(d, d)
    std_v = np.sqrt(np.clip(np.diag(cov), 0, None))
    singular_params = set()
    for j in np.flatnonzero(~good):
        for k in np.flatnonzero(np.abs(evecs[:, j]) > 1e-3):
            singular_params.add(space.free[k])
    std = {name: (None if name in singular_params else float(std_v[k]))
           for k, name in enumerate(space.free)}
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(std_v, std_v)
    corr = np.where(np.isfinite(corr), corr, np.nan)
    np.fill_diagonal(corr, 1.0)
    return {"std": std, "correlation": corr.tolist(), "s2": float(s2),
            "eigenvalues": evals.tolist(), "eigenvectors": evecs.tolist(), "cov_u": cov_u.tolist()}


def _describe(space: Space, v: np.ndarray, phys: Mapping[str, float]) -> str:
    """A poorly constrained direction v (in u) in physical words."""
    # change of ln p (positive parameters) or of p (bounded ones) per unit step along v
    d = space.dphys_du({k: np.array([x]) for k, x in phys.items()})[0]
    rel = v * d / np.array([abs(phys[n]) for n in space.free])      # d ln p along v
    order = np.argsort(-np.abs(rel))
    names = [space.coords[k].name for k in order]
    top = abs(rel[order[0]])
    involved = [space.coords[k].name for k in order if abs(rel[k]) > 0.2 * top]
    if set(involved) == {"h", "beta"} or {"h", "beta"} <= set(involved):
        return ("h and beta: only h(1+1/beta) is constrained (they enter the temperatures only "
                "through h_eff)")
    if len(involved) == 1:
        return f"{involved[0]} is poorly constrained by these observations"
    a, b = names[0], names[1]
    ra, rb = rel[order[0]], rel[order[1]]
    expo = -ra / rb              # invariant along v: ln a - (ra/rb) ln b  ->  a * b^expo
    same = ra * rb > 0
    move = "move together" if same else "trade off (one up, the other down)"
    if {a, b} == {"lambda", "C"}:
        e = expo if a == "lambda" else 1 / expo
        if abs(e + 1) < 0.25:
            combo = "lambda/C, the thermal diffusivity"
        elif abs(e - 1) < 0.25:
            combo = "lambda*C, the thermal effusivity squared"
        else:
            combo = f"lambda * C^({e:+.2f})"
        return f"lambda and C {move}: only {combo} is constrained, not lambda and C separately"
    combo = f"{a} * {b}^({expo:+.2f})"
    extra = f" (also {', '.join(involved[2:])})" if len(involved) > 2 else ""
    return f"{a} and {b} {move}{extra}: only about {combo} is constrained"


def plausible(coord) -> tuple[float, float]:
    """The vocabulary's plausible range of a coordinate's parameter."""
    from ..vocabulary import H_SENSIBLE, PARAMETERS

    return (H_SENSIBLE if coord.name == "h" else PARAMETERS[coord.name]).plausible


def identifiability(space: Space, phys_best: Mapping[str, float], lap: dict,
                    starts_final: Sequence[Mapping[str, float]], starts_loss: Sequence[float],
                    *, rel_tol: float = 1e-4, max_rel_std: float = 0.05) -> dict:
    """The identifiability report: ok flag, findings (sentences), per-direction details.

    Findings, in order: weak Hessian directions (eigenvalue < rel_tol of the largest), named in
    physical terms; parameters whose standard error exceeds max_rel_std of their value, with
    their strongest correlation; the multi-start comparison; values outside typical ranges.
    """
    evals = np.array(lap["eigenvalues"])
    evecs = np.array(lap["eigenvectors"])
    findings: list[str] = []
    directions = []
    top = evals.max() if evals.size else 0.0
    weak_any = False
    for j in range(len(space.free)):
        v = evecs[:, j]
        ratio = float(evals[j] / top) if top > 0 else 0.0
        weak = ratio < rel_tol
        directions.append({"eigenvalue": float(evals[j]), "relative_to_largest": ratio,
                           "vector": {nm: float(v[k]) for k, nm in enumerate(space.free)},
                           "poorly_constrained": bool(weak)})
        if weak:
            weak_any = True
            findings.append(_describe(space, v, phys_best) +
                            f" (Hessian eigenvalue {ratio:.1e} of the largest)")
    if "h" in space.free and "beta" in space.free and not any("h(1+1/beta)" in f for f in findings):
        findings.append("h and beta: only h(1+1/beta) is constrained (they enter the "
                        "temperatures only through h_eff)")
        weak_any = True
    corr = np.array([[np.nan if x is None else x for x in row] for row in lap["correlation"]],
                    dtype=float)
    for k, name in enumerate(space.free):
        std = lap["std"][name]
        if std is None:
            continue
        rel = std / abs(phys_best[name])
        if rel > max_rel_std:
            weak_any = True
            others = [(abs(corr[k, j]), j) for j in range(len(space.free))
                      if j != k and np.isfinite(corr[k, j])]
            note = ""
            if others:
                r, j = max(others)
                if r > 0.9:
                    note = (f"; it is strongly correlated with {space.free[j]} "
                            f"(r = {corr[k, j]:+.2f})")
            findings.append(f"{name} is poorly constrained: standard error {rel * 100:.1f} % of "
                            f"its value{note}")
    # multi-start comparison
    losses = np.array(starts_loss, dtype=float)
    ok = np.isfinite(losses)
    spread_note = {}
    if ok.sum() >= 3:
        best = np.nanmin(losses)
        good = ok & (losses <= best * 1.01 + 1e-300)
        for nm in space.free:
            vals = np.array([s[nm] for s, g in zip(starts_final, good) if g])
            if vals.size >= 2:
                spread_note[nm] = float((vals.max() - vals.min()) / abs(np.median(vals)))
        wide = [nm for nm, sp in spread_note.items() if sp > 0.01]
        if wide:
            findings.append(
                f"multi-start: {int(good.sum())} starts fit as well as the best (loss within 1 %) "
                f"but differ by {', '.join(f'{spread_note[nm]*100:.1f} % in {nm}' for nm in wide)}"
                ": the loss has a valley along these parameters")
            weak_any = True
        else:
            findings.append(f"multi-start: the {int(good.sum())} of {int(ok.sum())} starts that "
                            "fit as well as the best agree within 1 % in every parameter")
    for c in space.coords:
        lo, hi = plausible(c)
        name = c.label
        if not lo <= phys_best[name] <= hi:
            findings.append(f"{name} = {phys_best[name]:.4g} is outside the range typical of soils "
                            f"and land surfaces ({lo:g} to {hi:g} {c.unit}): the fitted value may "
                            "compensate for a process or a mismatch the model does not represent "
                            "(e.g. sensors that see different surfaces)")
    if not weak_any:
        findings.insert(0, "all free parameters are identifiable from these observations: "
                        "every Hessian direction is well constrained and every standard error is "
                        f"below {max_rel_std * 100:g} % of its value")
    return {"ok": not weak_any, "findings": findings, "directions": directions,
            "multistart_spread": spread_note}
