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
best-determined combination; a parameter is "weakly determined" when its standard error
exceeds ``max_rel_std`` (25 %) of its value, and its error is mentioned above 5 %, with its
strongest correlation. Each such direction is
named in physical terms (e.g. "lambda and C move together: only lambda/C is constrained").
The multi-start spread is compared: starts that end with fits as good as the best (loss
within 1 %) but differ in a parameter by more than 1 % confirm a valley in the loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .space import Space

__all__ = ["effective_size", "identifiability", "laplace", "laplace_gn", "optima", "plausible"]


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
    evals, evecs, inv, std, corr = _covariance(space, phys_best, H)
    cov_u = 2.0 * s2 / n_terms * inv
    # the scale of cov_u carries over to the standard errors, not to the correlations
    scale = np.sqrt(2.0 * s2 / n_terms)
    std = {k: (None if v is None else v * scale) for k, v in std.items()}
    return {"std": std, "correlation": corr.tolist(), "s2": float(s2),
            "eigenvalues": evals.tolist(), "eigenvectors": evecs.tolist(), "cov_u": cov_u.tolist()}


def _covariance(space: Space, phys_best: Mapping[str, float], M: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict, np.ndarray]:
    """From a precision M in u: its eigen-decomposition, the pseudo-inverse M^+ (directions
    with eigenvalues below 1e-14 of the largest dropped), the standard errors of M^+ in
    physical units (None for a parameter in a dropped direction) and the correlations."""
    evals, evecs = np.linalg.eigh(M)
    good = evals > 1e-14 * max(evals.max(), 1e-300)
    inv = (evecs[:, good] / evals[good]) @ evecs[:, good].T
    d = space.dphys_du({k: np.array([v]) for k, v in phys_best.items()})[0]
    cov = inv * np.outer(d, d)
    std_v = np.sqrt(np.clip(np.diag(cov), 0, None))
    singular = {space.free[k] for j in np.flatnonzero(~good)
                for k in np.flatnonzero(np.abs(evecs[:, j]) > 1e-3)}
    std = {name: (None if name in singular else float(std_v[k]))
           for k, name in enumerate(space.free)}
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(std_v, std_v)
    corr = np.where(np.isfinite(corr), corr, np.nan)
    np.fill_diagonal(corr, 1.0)
    return evals, evecs, inv, std, corr


def effective_size(residuals: Sequence[np.ndarray]) -> tuple[float, float, list[float]]:
    """Effective number of independent residuals under an AR(1) model of each series.

    For a series with lag-1 autocorrelation r (over consecutive valid levels) the N values are
    worth N (1 - r)/(1 + r) independent ones (r clipped to [0, 0.999]).

    Returns:
        (N_eff, N, lag-1 autocorrelation of each series).
    """
    n_eff = n = 0.0
    rs = []
    for res in residuals:
        x = np.asarray(res, dtype=float)
        ok = np.isfinite(x)
        m = int(ok.sum())
        n += m
        pair = ok[:-1] & ok[1:]
        if m < 3 or pair.sum() < 2:
            n_eff += m
            rs.append(float("nan"))
            continue
        xc = x - np.nanmean(x)
        den = np.nansum(xc[ok] ** 2)
        r = float(np.sum(xc[:-1][pair] * xc[1:][pair]) / den) if den > 0 else 0.0
        rs.append(r)
        r = min(max(r, 0.0), 0.999)
        n_eff += max(1.0, m * (1 - r) / (1 + r))
    return n_eff, n, rs


def laplace_gn(space: Space, phys_best: Mapping[str, float], A_data: np.ndarray,
               A_prior: np.ndarray, s2: float, n_eff: float, n_terms: int) -> dict:
    """Standard errors and correlations from the Gauss-Newton precision in u.

    The posterior precision is w A_data + A_prior, A_data = J^T J of the data residuals (in
    units of sigma), A_prior = J_p^T J_p of the prior rows, w = (N_eff/N)/s^2: the data count
    for N_eff independent values with the residual variance s^2 (in sigma^2) that the fit
    shows. Without priors this is s^2 (N/N_eff) (J^T J)^(-1), the classical least-squares
    covariance inflated for autocorrelated residuals.

    Returns:
        the dict of :func:`laplace`, plus ``data_share`` (label -> the share of its prior's
        variance that the data remove, 1 - posterior/prior variance; 1 without a prior) and
        ``inflation`` (sqrt(N/N_eff)).
    """
    w = (n_eff / max(n_terms, 1)) / max(s2, 1e-300)
    A = w * np.asarray(A_data) + np.asarray(A_prior)
    # the eigen-directions of the posterior precision: what data and priors together
    # determine (without priors, what the data determine)
    evals, evecs, inv, std, corr = _covariance(space, phys_best, A)
    # share of a prior's variance the data remove: 1 - posterior/prior variance (1 without a
    # prior); below 1/2 the prior, not the data, determines the value
    dp = np.diag(np.asarray(A_prior))
    post = np.diag(inv)
    share = {name: float(np.clip(1.0 - post[k] * dp[k], 0.0, 1.0)) if dp[k] > 0 else 1.0
             for k, name in enumerate(space.free)}
    return {"std": std, "correlation": corr.tolist(), "s2": float(s2),
            "eigenvalues": evals.tolist(), "eigenvectors": evecs.tolist(),
            "cov_u": inv.tolist(), "data_share": share, "n_eff": float(n_eff),
            "inflation": float(np.sqrt(max(n_terms, 1) / max(n_eff, 1e-300)))}


def _describe(space: Space, v: np.ndarray, phys: Mapping[str, float]) -> str:
    """A poorly constrained direction v (in u) in physical words."""
    # change of ln p (positive parameters) or of p (bounded ones) per unit step along v
    d = space.dphys_du({k: np.array([x]) for k, x in phys.items()})[0]
    rel = v * d / np.array([abs(phys[n]) for n in space.free])      # d ln p along v
    # who moves is judged in u, where each parameter's start range has width 1 (as the
    # status of each coordinate is); d ln p would hide a parameter fitted on a linear scale
    order = np.argsort(-np.abs(v))
    names = [space.coords[k].name for k in order]
    top = abs(v[order[0]])
    involved = [space.coords[k].name for k in order if abs(v[k]) > 0.2 * top]
    if set(involved) == {"h", "beta"} or {"h", "beta"} <= set(involved):
        return ("h and beta: only h(1+1/beta) is constrained (they enter the temperatures only "
                "through h_eff)")
    if len(involved) == 1:
        return f"{involved[0]} is poorly constrained by these observations"
    a, b = names[0], names[1]
    ra, rb = rel[order[0]], rel[order[1]]
    same = v[order[0]] * v[order[1]] > 0
    move = "move together" if same else "trade off (one up, the other down)"
    extra = f" (also {', '.join(involved[2:])})" if len(involved) > 2 else ""
    if not (space.coords[order[0]].log and space.coords[order[1]].log) or rb == 0 or \
            not np.isfinite(ra / rb):
        return (f"{a} and {b} {move}{extra}: the data constrain a combination of them, not "
                "each")
    expo = -ra / rb              # invariant along v: ln a - (ra/rb) ln b  ->  a * b^expo
    if {a, b} == {"lambda", "C"}:
        e = expo if a == "lambda" else 1 / expo
        if abs(e + 1) < 0.25:
            combo = "lambda/C, the thermal diffusivity"
        elif abs(e - 1) < 0.25:
            combo = "lambda*C, the thermal effusivity squared"
        else:
            combo = f"lambda * C^({e:+.2f})"
        return (f"lambda and C {move}{extra}: only {combo} is constrained, not lambda and C "
                "separately")
    combo = f"{a} * {b}^({expo:+.2f})"
    return f"{a} and {b} {move}{extra}: only about {combo} is constrained"


def plausible(coord) -> tuple[float, float]:
    """The vocabulary's plausible range of a coordinate's parameter."""
    from ..vocabulary import H_SENSIBLE, PARAMETERS

    return (H_SENSIBLE if coord.name == "h" else PARAMETERS[coord.name]).plausible


def identifiability(space: Space, phys_best: Mapping[str, float], lap: dict,
                    starts_final: Sequence[Mapping[str, float]], starts_loss: Sequence[float],
                    *, rel_tol: float = 1e-4, max_rel_std: float = 0.25,
                    note_rel_std: float = 0.05) -> dict:
    """What the data determine: per coordinate "on its bound", "identifiable", "weakly
    determined" or "not identifiable", with one finding per parameter or combination.

    * on its bound: the coordinate ended on a calibration bound. There dp/du vanishes, so its
      row of the precision is zero and the null direction is that coordinate alone; it is
      reported as pinned (the data push it beyond the bound) and left out of the eigen
      analysis of the others, which would otherwise name a different parameter;
    * not identifiable: among the other coordinates, it moves along a direction of the
      precision whose eigenvalue is below rel_tol of the largest (named as the combination
      that is constrained), its standard error is undefined, or starts that fit as well as the
      best (loss within 1 %) disagree by more than 1 % in it (a valley);
    * weakly determined: its standard error exceeds max_rel_std (25 %) of its value;
    * identifiable otherwise (a standard error above note_rel_std, 5 %, is mentioned).

    Plausibility is not judged here (it is part of the verdict).
    """
    evals = np.array(lap["eigenvalues"])
    evecs = np.array(lap["eigenvectors"])
    P = len(space.free)
    status = {name: "identifiable" for name in space.free}
    findings: list[str] = []
    pinned = {}
    for c in space.coords:
        side = c.at_bound(phys_best[c.label])
        if side:
            pinned[c.label] = side
            status[c.label] = "on its bound"
            b = c.bounds[0] if side == "lower" else c.bounds[1]
            u = "" if c.unit in ("1", "") else f" {c.unit}"
            findings.append(f"{c.label} is on its {side} calibration bound ({b:g}{u}): the "
                            f"data push it beyond, so they say only that {c.label} lies "
                            f"{'below' if side == 'lower' else 'above'} {b:g}{u}; its "
                            "error bar is undefined (the null direction of the Hessian is "
                            f"{c.label} alone)")
    # the precision rebuilt from its eigen-decomposition, without the pinned coordinates
    keep = np.array([k for k, nm in enumerate(space.free) if nm not in pinned], dtype=int)
    directions = []
    top_all = evals.max() if evals.size else 0.0
    for j in range(evals.size):
        v = evecs[:, j]
        directions.append({"eigenvalue": float(evals[j]),
                           "relative_to_largest": float(evals[j] / top_all) if top_all > 0
                           else 0.0,
                           "vector": {nm: float(v[k]) for k, nm in enumerate(space.free)},
                           "poorly_constrained": bool(top_all <= 0 or evals[j] / top_all
                                                      < rel_tol),
                           "pinned": [space.free[k] for k in np.flatnonzero(np.abs(v) > 0.2)
                                      if space.free[k] in pinned]})
    if keep.size:
        A = (evecs * evals) @ evecs.T if evals.size else np.zeros((P, P))
        sub_e, sub_v = np.linalg.eigh(A[np.ix_(keep, keep)])
        top = sub_e.max() if sub_e.size else 0.0
        for j in range(sub_e.size):
            ratio = float(sub_e[j] / top) if top > 0 else 0.0
            if ratio >= rel_tol:
                continue
            v = np.zeros(P)
            v[keep] = sub_v[:, j]
            findings.append(_describe(space, v, phys_best)
                            + f" (Hessian eigenvalue {ratio:.1e} of the largest)")
            for k in np.flatnonzero(np.abs(v) > 0.2 * np.abs(v).max()):
                status[space.free[k]] = "not identifiable"
    if "h" in space.free and "beta" in space.free and not {"h", "beta"} & set(pinned):
        if not any("h(1+1/beta)" in f for f in findings):
            findings.append("h and beta: only h(1+1/beta) is constrained (they enter the "
                            "temperatures only through h_eff)")
        status["h"] = status["beta"] = "not identifiable"
    corr = np.array([[np.nan if x is None else x for x in row] for row in lap["correlation"]],
                    dtype=float)
    for k, name in enumerate(space.free):
        if name in pinned:
            continue
        std = lap["std"][name]
        if std is None:
            if status[name] == "identifiable":
                status[name] = "not identifiable"
                findings.append(f"{name} has no finite error bar: the data do not constrain it")
            continue
        rel = std / abs(phys_best[name]) if phys_best[name] else float("inf")
        if rel > note_rel_std and status[name] == "identifiable":
            if rel > max_rel_std:
                status[name] = "weakly determined"
            others = [(abs(corr[k, j]), j) for j in range(P)
                      if j != k and np.isfinite(corr[k, j]) and space.free[j] not in pinned]
            note = ""
            if others:
                r, j = max(others)
                if r > 0.9:
                    note = f"; strongly correlated with {space.free[j]} (r = {corr[k, j]:+.2f})"
            what = "is weakly determined" if rel > max_rel_std else "is determined to"
            findings.append(f"{name} {what}: standard error {rel * 100:.1f} % of its value"
                            f"{note}")
    losses = np.array(starts_loss, dtype=float)
    ok = np.isfinite(losses)
    spread_note = {}
    clusters = None
    if ok.sum() >= 3:
        best = np.nanmin(losses)
        good = ok & (losses <= best * 1.01 + 1e-300)
        for nm in space.free:
            if nm in pinned:
                continue
            vals = np.array([s[nm] for s, g in zip(starts_final, good) if g])
            if vals.size >= 2:
                spread_note[nm] = float((vals.max() - vals.min()) / abs(np.median(vals)))
        clusters = optima(space, [s for s, g in zip(starts_final, ok) if g], losses[ok])
        rest_ok = ok & ~good
        others = optima(space, [s for s, g in zip(starts_final, rest_ok) if g],
                        losses[rest_ok])
        rest = ""
        if others:
            worst = max(c["loss"] for c in others) / max(best, 1e-300)
            n_other = int(rest_ok.sum())
            rest = (f"; the other {n_other} end in {len(others)} other "
                    f"optim{'um' if len(others) == 1 else 'a'} with a loss up to "
                    f"{worst:.3g} times the best")
        wide = [nm for nm, sp in spread_note.items() if sp > 0.01]
        if wide:
            findings.append(
                f"multi-start: {int(good.sum())} of {int(ok.sum())} starts fit as well as the "
                "best (loss within 1 %) but differ by "
                f"{', '.join(f'{spread_note[nm]*100:.1f} % in {nm}' for nm in wide)}"
                f": the loss has a valley along {_join(wide)}" + rest)
            for nm in wide:
                status[nm] = "not identifiable"
        else:
            findings.append(f"multi-start: {int(good.sum())} of {int(ok.sum())} starts reach the "
                            "best optimum (loss within 1 %, every parameter within 1 %)"
                            + rest)
    n_pin = len(pinned)
    n_bad = sum(v == "not identifiable" for v in status.values())
    n_weak = sum(v == "weakly determined" for v in status.values())
    parts = []
    if n_pin:
        names = _join(list(pinned))
        one = n_pin == 1
        parts.append(f"{names} {'is' if one else 'are'} on {'its' if one else 'their'} "
                     f"calibration bound{'' if one else 's'} (the data push "
                     f"{'it' if one else 'them'} beyond)")
    if n_bad:
        bad = [n for n, s in status.items() if s == "not identifiable"]
        parts.append(f"{_count(n_bad, len(status))} not identifiable from these observations "
                     f"({_join(bad)}; see the combinations below)")
    if n_weak:
        weak = [n for n, s in status.items() if s == "weakly determined"]
        parts.append(f"{_join(weak)} {'is' if n_weak == 1 else 'are'} determined only to more "
                     f"than {max_rel_std * 100:g} % (one standard error)")
    if parts:
        summary = "; ".join(parts)
    else:
        worst = max((lap["std"][n] / abs(phys_best[n]) for n in space.free
                     if lap["std"][n] is not None and phys_best[n]), default=0.0)
        summary = ("every free parameter is identifiable, the least well to "
                   f"{worst * 100:.2g} % (one standard error)")
    rel_std = {n: float(lap["std"][n] / abs(phys_best[n])) for n in space.free
               if lap["std"][n] is not None and phys_best[n] and n not in pinned}
    return {"ok": n_bad == 0 and n_pin == 0, "summary": summary, "status": status,
            "relative_std": rel_std,
            "findings": findings, "directions": directions, "multistart_spread": spread_note,
            "pinned": pinned, "optima": clusters}


def _join(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _count(n: int, total: int) -> str:
    return f"{n} of {total} free parameters {'is' if n == 1 else 'are'}"


def optima(space: Space, finals: Sequence[Mapping[str, float]], losses: Sequence[float],
           rel: float = 0.01) -> list[dict]:
    """The distinct optima the starts ended in, best first: finals are grouped when their
    losses agree within ``rel`` (1 %) and every coordinate within ``rel`` of the group's
    first member in g (log for log-scaled parameters). Each: {"loss", "n", "values"}."""
    order = np.argsort(np.asarray(losses, dtype=float))
    groups: list[dict] = []
    for b in order:
        f, L = finals[b], float(losses[b])
        for g in groups:
            same = abs(L - g["loss"]) <= rel * max(abs(g["loss"]), 1e-300)
            for c in space.coords:
                a, x = g["values"][c.label], f[c.label]
                scale = max(abs(a), abs(x), 1e-300)
                if abs(a - x) > rel * scale:
                    same = False
                    break
            if same:
                g["n"] += 1
                break
        else:
            groups.append({"loss": L, "n": 1, "values": {k: float(v) for k, v in f.items()}})
    return groups
