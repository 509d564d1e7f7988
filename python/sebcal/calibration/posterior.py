"""Posterior sampling of a calibration: the shape of what the data allow, where the Laplace
approximation (a Gaussian at the best fit) may be the wrong shape, e.g. along a ridge of
parameters that trade off.

The density is that of the fit itself, in the optimiser's coordinates u (docs/calibration.md,
"Bounds"), so bounds are never crossed:

    ln p(u) = -1/2 w sum_k,n ((m_k,n(p) - o_k,n)/sigma_k)^2  -  1/2 sum_j r_j(p)^2
              + sum_i ln |dg_i/du_i|

with w = (N_eff/N)/s^2 the data weight of the error bars (the residual variance s^2 of the best
fit and the autocorrelation correction N_eff/N, so that the posterior and the Laplace intervals
answer the same question), r_j the prior residuals of a MAP fit (Gaussian in g(p) = p or ln p),
and the last term a flat density in g(p) between the calibration bounds, carried into u.

Two samplers:

* ``emcee``: the affine-invariant ensemble sampler (Foreman-Mackey et al. 2013, PASP 125, 306)
  on the Fortran scheme, all walkers in one batched call per step (no gradients);
* ``nuts``: the No-U-Turn sampler (Hoffman & Gelman 2014, JMLR 15, 1593) of pyro-ppl, with the
  exact gradients of the PyTorch mirror.

Effective sample sizes: emcee's integrated autocorrelation time over the walkers (Goodman &
Weare 2010), pyro's for NUTS; both per coordinate, the smallest reported.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from .space import Space

#: the samplers of [calibration] posterior; "auto" is the one with more effective samples per
#: second on the bundled cases (docs/calibration.md, "Posterior sampling")
SAMPLERS = ("emcee", "nuts")
AUTO = "emcee"
QUANTILES = (0.025, 0.16, 0.5, 0.84, 0.975)


@dataclass
class Posterior:
    """Samples of the free parameters and their summary.

    Attributes:
        method: "emcee" or "nuts".
        samples: label -> draws (physical units), after warm-up.
        u: the draws in the optimiser's coordinates (draws, P).
        ess: label -> effective sample size.
        seconds: wall time of the sampling.
        acceptance: mean acceptance rate.
        steps: emcee: steps per walker (walkers in ``walkers``); nuts: draws after warm-up.
        walkers: emcee's walkers (1 for nuts).
    """

    method: str
    samples: dict[str, np.ndarray]
    u: np.ndarray
    ess: dict[str, float]
    seconds: float
    acceptance: float
    steps: int
    walkers: int
    warmup: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ess_min(self) -> float:
        return float(min(self.ess.values()))

    @property
    def ess_per_second(self) -> float:
        return self.ess_min / max(self.seconds, 1e-9)

    def interval(self, label: str, level: float = 0.95) -> tuple[float, float]:
        """The central ``level`` interval of a parameter [its unit]."""
        a = 0.5 * (1 - level)
        lo, hi = np.quantile(self.samples[label], [a, 1 - a])
        return float(lo), float(hi)

    def summary(self) -> dict[str, Any]:
        """What params.json keeps: per parameter the quantiles, mean, sd and ESS; the sampler's
        settings and cost."""
        pars = {}
        for k, v in self.samples.items():
            q = np.quantile(v, QUANTILES)
            pars[k] = {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)),
                       "quantiles": {f"{p:g}": float(x) for p, x in zip(QUANTILES, q)},
                       "ess": float(self.ess[k])}
        return {"method": self.method, "draws": int(len(self.u)), "walkers": self.walkers,
                "steps": self.steps, "warmup": self.warmup, "seconds": self.seconds,
                "acceptance": self.acceptance, "ess_min": self.ess_min,
                "ess_per_second": self.ess_per_second, "parameters": pars,
                "notes": list(self.notes)}


def _log_jacobian_np(space: Space, u: np.ndarray) -> np.ndarray:
    """sum_i ln |dg_i/du_i| up to a constant: ln q + ln(1 - q) per coordinate."""
    out = np.zeros(len(u))
    for k, c in enumerate(space.coords):
        xc, w = c.affine
        x = xc + w * u[:, k]
        out -= np.logaddexp(0.0, -x) + np.logaddexp(0.0, x)
    return out


def log_density(problem: Any, u: np.ndarray) -> np.ndarray:
    """ln p(u) (B,) on the Fortran scheme for a Problem whose data weight is w and whose
    priors are on; -inf where the scheme fails or a value is not finite."""
    u = np.atleast_2d(np.asarray(u, dtype=np.float64))
    ev = problem.evaluate(u, jac=False)
    lp = -0.5 * np.sum(ev.r ** 2, axis=1) + _log_jacobian_np(problem.space, u)
    bad = ev.failed | ~np.isfinite(lp)
    lp[bad] = -np.inf
    return lp


def _start_cloud(u_best: np.ndarray, cov_u: np.ndarray, n: int, rng) -> np.ndarray:
    """n points around the best fit with the Laplace covariance (its null directions get a
    small spread, so that the walkers span every direction)."""
    P = len(u_best)
    C = 0.5 * (cov_u + cov_u.T)
    evals, evecs = np.linalg.eigh(C)
    evals = np.clip(evals, 1e-8, 1.0)
    L = evecs * np.sqrt(evals)
    return u_best + (rng.standard_normal((n, P)) @ L.T)


def sample_emcee(problem: Any, u_best: np.ndarray, cov_u: np.ndarray, *, steps: int = 2000,
                 walkers: int | None = None, seed: int = 0, progress: bool = False
                 ) -> Posterior:
    """The ensemble sampler on the batched Fortran scheme (one call per step for every walker).

    Args:
        problem: the calibration's Problem with its data weight set to w and priors on.
        u_best: the best fit (P,); cov_u: the Laplace covariance in u (P, P).
        steps: steps per walker (the first quarter is discarded as warm-up).
        walkers: default max(4 P, 16), even.
    """
    import emcee

    P = len(u_best)
    W = int(walkers or max(4 * P, 16))
    W += W % 2
    rng = np.random.default_rng(seed)
    p0 = _start_cloud(np.asarray(u_best, float), np.asarray(cov_u, float), W, rng)
    lp0 = log_density(problem, p0)
    for _ in range(20):                      # walkers that start where the scheme fails
        bad = ~np.isfinite(lp0)
        if not bad.any():
            break
        p0[bad] = u_best + 0.5 * (p0[bad] - u_best)
        lp0[bad] = log_density(problem, p0[bad])
    if not np.isfinite(lp0).all():
        raise ConfigError("posterior sampling: the scheme fails around the best fit; sample "
                          "from a fit that converged")
    sampler = emcee.EnsembleSampler(W, P, lambda u: log_density(problem, u), vectorize=True)
    # emcee draws its moves from a legacy RandomState: seeded, a run is reproducible
    sampler.random_state = np.random.RandomState(seed).get_state()
    t0 = time.perf_counter()
    sampler.run_mcmc(p0, int(steps), progress=progress)
    seconds = time.perf_counter() - t0
    burn = int(steps) // 4
    chain = sampler.get_chain(discard=burn)              # (steps - burn, W, P)
    tau = np.asarray(sampler.get_autocorr_time(discard=burn, tol=0), dtype=float)
    n = chain.shape[0] * chain.shape[1]
    ess_u = n / np.maximum(tau, 1.0)
    notes = []
    if chain.shape[0] < 50 * float(np.max(tau)):
        notes.append(f"emcee: the chain is {chain.shape[0]} steps long after warm-up, less "
                     f"than 50 autocorrelation times ({float(np.max(tau)):.0f} steps): the "
                     "tails of the intervals are rough; raise posterior_steps")
    flat = chain.reshape(-1, P)
    return _posterior("emcee", problem.space, flat, ess_u, seconds,
                      float(np.mean(sampler.acceptance_fraction)), int(steps), W, burn, notes)


def _posterior(method, space, flat, ess_u, seconds, acc, steps, walkers, warmup, notes
               ) -> Posterior:
    phys = space.to_phys_np(flat)
    labels = [c.label for c in space.coords]
    return Posterior(method, {k: np.asarray(phys[k]) for k in labels}, flat,
                     {k: float(e) for k, e in zip(labels, ess_u)}, seconds, acc, steps,
                     walkers, warmup, notes)


def sample_nuts(config: Any, forcing: Any, observations: Any, mask: np.ndarray, space: Space,
                priors: Mapping[str, Any], data_weight: float, u_best: np.ndarray,
                cov_u: np.ndarray, *, steps: int = 500, warmup: int | None = None,
                seed: int = 0, progress: bool = False) -> Posterior:
    """NUTS (pyro-ppl) on the PyTorch mirror's exact gradients, from the best fit.

    The sampler works in whitened coordinates v, u = u_best + L v with L L^T the Laplace
    covariance: where the Laplace approximation holds the density of v is close to a unit
    Gaussian, so a unit mass matrix and a step of order one serve, and the trees stay shallow
    (each leaf is a run of the mirror and its adjoint).

    Args:
        steps: draws after warm-up; warmup: warm-up steps (default: as many as draws).
    """
    import pyro
    import torch
    from pyro.infer import MCMC, NUTS
    from pyro.ops.stats import effective_sample_size

    from .objective import Objective

    obj = Objective(config.spec, forcing, observations, mask, space)
    pri = [(k, priors.get(c.label) or priors.get(c.name)) for k, c in enumerate(space.coords)]
    pri = [(k, p) for k, p in pri if p is not None]
    aff = torch.tensor([c.affine for c in space.coords], dtype=torch.float64)
    w = float(data_weight)

    C = 0.5 * (np.asarray(cov_u, float) + np.asarray(cov_u, float).T)
    ev, evec = np.linalg.eigh(C)
    L = torch.tensor(evec * np.sqrt(np.clip(ev, 1e-8, 1.0)))
    u0 = torch.tensor(np.asarray(u_best, float))

    def potential(params: dict) -> torch.Tensor:
        u = (u0 + L @ params["v"]).reshape(1, -1)
        phys = space.to_phys(u)
        r = obj.residuals_phys(space.model_params(phys, 1))
        U = 0.5 * w * (r ** 2).sum()
        for k, p in pri:
            v = phys[space.coords[k].label][0]
            g = v.log() if p.kind == "lognormal" else v
            U = U + 0.5 * ((g - p.center) / p.spread) ** 2
        x = aff[:, 0] + aff[:, 1] * u[0]
        U = U - (torch.nn.functional.logsigmoid(x) + torch.nn.functional.logsigmoid(-x)).sum()
        return U

    pyro.set_rng_seed(seed)
    kernel = NUTS(potential_fn=potential, adapt_step_size=True, adapt_mass_matrix=False,
                  max_tree_depth=6)
    warm = int(warmup if warmup is not None else steps)
    mcmc = MCMC(kernel, num_samples=int(steps), warmup_steps=warm,
                initial_params={"v": torch.zeros(len(u0), dtype=torch.float64)},
                disable_progbar=not progress)
    t0 = time.perf_counter()
    mcmc.run()
    seconds = time.perf_counter() - t0
    draws = u0 + mcmc.get_samples()["v"] @ L.T                            # (S, P)
    ess = effective_sample_size(draws.unsqueeze(0), chain_dim=0, sample_dim=1)
    diag = mcmc.diagnostics()
    acc = float(np.mean([float(v) for k, v in diag.get("acceptance rate", {}).items()])) \
        if isinstance(diag.get("acceptance rate"), dict) else math.nan
    notes = []
    div = diag.get("divergences", {})
    ndiv = sum(len(v) for v in div.values()) if isinstance(div, dict) else 0
    if ndiv:
        notes.append(f"nuts: {ndiv} divergent transitions: the posterior has regions of high "
                     "curvature the step size does not resolve")
    return _posterior("nuts", space, draws.detach().numpy(), ess.detach().numpy(), seconds,
                      acc, int(steps), 1, warm, notes)


# ------------------------------------------------------------------------------ report


def report_lines(result: Mapping[str, Any]) -> list[str]:
    """The report's section: posterior intervals beside the Laplace ones, and the sampler's
    cost (effective samples per second)."""
    post = result.get("posterior")
    if not post:
        return []
    lines = ["## Posterior", "",
             f"{post['method']}: {post['draws']} draws"
             + (f" ({post['walkers']} walkers × {post['steps']} steps, the first "
                f"{post['warmup']} discarded)" if post["method"] == "emcee" else
                f" after {post['warmup']} warm-up steps")
             + f" in {post['seconds']:.1f} s; {post['ess_min']:.0f} effective samples "
             f"(the least of any parameter), {post['ess_per_second']:.3g} per second; "
             f"acceptance {post['acceptance']:.2f}. The density is the fit's own (data "
             "weighted for autocorrelated residuals as the error bars are, priors of a MAP "
             "fit, flat between the calibration bounds), so the two intervals answer the same "
             "question; where they differ the Gaussian of the Laplace approximation is the "
             "wrong shape.", "",
             "| parameter | best fit | Laplace 95 % | posterior median | posterior 95 % | "
             "width ratio (posterior / Laplace) | ESS | unit |",
             "|---|---|---|---|---|---|---|---|"]
    for name, q in post["parameters"].items():
        e = result["parameters"].get(name) or {}
        v, sd = e.get("value"), e.get("std")
        lo, hi = q["quantiles"]["0.025"], q["quantiles"]["0.975"]
        if isinstance(v, (int, float)) and isinstance(sd, (int, float)):
            lap = f"{v - 1.959964 * sd:.4g} – {v + 1.959964 * sd:.4g}"
            ratio = f"{(hi - lo) / (2 * 1.959964 * sd):.2f}" if sd > 0 else "–"
        else:
            lap, ratio = "– (not identifiable)", "–"
        best = f"{v:.4g}" if isinstance(v, (int, float)) else "–"
        lines.append(f"| {name} | {best} | {lap} | {q['quantiles']['0.5']:.4g} | {lo:.4g} – "
                     f"{hi:.4g} | {ratio} | {q['ess']:.0f} | {e.get('unit', '')} |")
    lines += [""] + [f"* {n}" for n in post.get("notes", [])]
    return lines


def pair_figure(post: Posterior, best: Mapping[str, float], units: Mapping[str, str],
                max_points: int = 1500):
    """Pair plot of the draws (lower triangle) with the best fit marked, each diagonal panel
    the histogram of one parameter: a matplotlib Figure, None for a single parameter."""
    from ..plots import _new_figure

    labels = list(post.samples)
    n = len(labels)
    if n < 2:
        return None
    draws = post.u.shape[0]
    pick = np.linspace(0, draws - 1, min(draws, max_points)).astype(int)
    fig = _new_figure(1.9 * n + 1.0, 1.9 * n + 0.6)
    axes = fig.subplots(n, n, squeeze=False)
    fig.suptitle(f"Posterior draws ({post.method}), best fit in red")
    for i in range(n):
        for j in range(n):
            ax = axes[i][j]
            if j > i:
                ax.set_axis_off()
                continue
            x = post.samples[labels[j]]
            if i == j:
                ax.hist(x, bins=30, color="#4477aa", histtype="stepfilled", alpha=0.6)
                ax.axvline(best[labels[j]], color="#cc3311", lw=1.2)
                ax.set_yticks([])
            else:
                y = post.samples[labels[i]]
                ax.plot(x[pick], y[pick], ".", ms=1.5, color="#8c8c8c", rasterized=False)
                ax.plot([best[labels[j]]], [best[labels[i]]], "o", ms=5, color="#cc3311")
            if i == n - 1:
                ax.set_xlabel(f"{labels[j]} [{units.get(labels[j], '')}]")
            if j == 0 and i > 0:
                ax.set_ylabel(f"{labels[i]} [{units.get(labels[i], '')}]")
    return fig

__all__ = ["AUTO", "Posterior", "QUANTILES", "SAMPLERS", "log_density", "pair_figure",
           "report_lines", "sample_emcee", "sample_nuts"]
