"""sebcal's calibration problem for the field's own calibration frameworks (docs/api.md,
"Other calibration frameworks").

* :class:`ForwardProblem`: a configuration's calibration problem as a function of the free
  parameters in physical units: the model's equivalents of the fitted observations at the
  observed levels of the calibration window, the observed values and their sigmas. The same
  observation operator and Fortran scheme as `sebcal calibrate` (a test checks the two agree).
* :class:`SpotpySetup`: a SPOTPY setup class over it (``spotpy.algorithms.sceua(setup)``).
* :func:`write_pest`: PEST++ files (control file, template, instruction file) around
  ``sebcal run CONFIG --parameters parameters.toml --equivalents equivalents.txt``
  (`sebcal pest CONFIG --out DIR`).

Only one stage: a staged calibration ([[calibration.stages]]) is refused; give each stage's
configuration on its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..observations import load_observations, model_equivalents, node_lambda, prepare
from ..observations import windows as make_windows
from ..runner import forcing_for
from .run import calibration_settings
from .space import Space


def _single_stage(config: Any) -> dict:
    settings = calibration_settings(config)
    if not config.observations:
        raise ConfigError(f"{config.path or 'config'}: no [observations.*]: nothing to "
                          "calibrate against")
    if settings.get("stages"):
        raise ConfigError(f"{config.path or 'config'}: [[calibration.stages]] is not supported "
                          "here; write one configuration per stage (its free parameters and "
                          "observations)")
    if not settings.get("free"):
        raise ConfigError(f"{config.path or 'config'}: [calibration] free is empty")
    return settings


class ForwardProblem:
    """A configuration's calibration problem, one start at a time or in batches.

    Attributes:
        names: the free parameters (labels, "lambda_2" for a layer), in order.
        units, bounds, start_range, log: per name: the unit, the calibration bounds, the range
            starts are drawn from, whether sebcal fits it on a log scale.
        initial: the configuration's value of each (the first guess).
        rows: (observation label, level index) of each observed value, in order.
        observed, sigma: the observed values and their error scales, (N,).
    """

    def __init__(self, config: Any) -> None:
        from .problem import Problem

        settings = _single_stage(config)
        obs = load_observations(config)
        win = make_windows(config)
        forcing = forcing_for(config)
        config = prepare(config, forcing, obs)
        space = Space.build(settings["free"], config.full_params(), config.spec.nlayers,
                            settings["start_range"], settings["bounds"])
        self.config, self.space, self.forcing, self.observations = config, space, forcing, obs
        self.windows = win
        self.problem = Problem(config.spec, forcing, obs, win.calibration, space, None)
        self.names = list(space.free)
        coords = {c.label: c for c in space.coords}
        self.units = {k: coords[k].unit for k in self.names}
        self.bounds = {k: tuple(float(b) for b in coords[k].bounds) for k in self.names}
        self.start_range = {k: tuple(float(b) for b in coords[k].start) for k in self.names}
        self.log = {k: bool(coords[k].log) for k in self.names}
        params = config.full_params()
        self.initial = {}
        for k in self.names:
            c = coords[k]
            v = params.layers(c.name, space.nlayers)[c.layer] if c.layer is not None \
                else params[c.name]
            v = float(v[0] if isinstance(v, tuple) else v)
            lo, hi = self.bounds[k]
            self.initial[k] = min(max(v, lo), hi)
        self._fitted = [(j, o) for j, o in enumerate(obs) if o.fit]
        self._sel = [win.calibration & o.valid for _, o in self._fitted]
        self.rows = [(o.label, int(n)) for (_, o), s in zip(self._fitted, self._sel)
                     for n in np.flatnonzero(s)]
        self.observed = np.concatenate([o.values[s] for (_, o), s in zip(self._fitted,
                                                                          self._sel)])
        self.sigma = np.concatenate([np.full(int(s.sum()), o.sigma)
                                     for (_, o), s in zip(self._fitted, self._sel)])

    def _phys(self, values: Any) -> dict[str, np.ndarray]:
        if isinstance(values, Mapping):
            missing = [k for k in self.names if k not in values]
            if missing:
                raise ConfigError(f"values for {', '.join(missing)} are missing; the free "
                                  f"parameters are {', '.join(self.names)}")
            return {k: np.atleast_1d(np.asarray(values[k], float)) for k in self.names}
        arr = np.atleast_2d(np.asarray(values, float))
        if arr.shape[-1] != len(self.names):
            raise ConfigError(f"{arr.shape[-1]} values given for {len(self.names)} free "
                              f"parameters ({', '.join(self.names)})")
        return {k: arr[:, i] for i, k in enumerate(self.names)}

    def simulate(self, values: Any) -> np.ndarray:
        """The model's equivalents of the observed values (N,), or (B, N) for a batch.

        Args:
            values: a mapping name -> value (or (B,) values), or a sequence in :attr:`names`
                order ((P,) or (B, P)), in physical units. A value outside the calibration
                bounds, or a run that fails, gives NaN.
        """
        single = not isinstance(values, Mapping) and np.ndim(values) == 1 or \
            isinstance(values, Mapping) and all(np.ndim(v) == 0 for v in values.values())
        phys = self._phys(values)
        B = next(iter(phys.values())).size
        inside = np.ones(B, dtype=bool)
        for k in self.names:
            lo, hi = self.bounds[k]
            inside &= (phys[k] >= lo) & (phys[k] <= hi)
        out = np.full((B, self.observed.size), np.nan)
        if inside.any():
            u = self.space.to_u({k: v[inside] for k, v in phys.items()})
            ev = self.problem.evaluate(u, jac=False)
            parts = [ev.equivalents[:, j, s] for (j, _), s in zip(self._fitted, self._sel)]
            m = np.concatenate(parts, axis=1)
            m[ev.failed] = np.nan
            out[inside] = m
        return out[0] if single else out

    def cost(self, simulated: np.ndarray) -> float | np.ndarray:
        """Mean squared normalised residual, mean(((m - o)/sigma)^2): sebcal's loss without
        priors; inf where the run failed."""
        r = (np.asarray(simulated, float) - self.observed) / self.sigma
        c = np.mean(r * r, axis=-1)
        return np.where(np.isfinite(c), c, np.inf) if np.ndim(c) else \
            (float(c) if math.isfinite(c) else math.inf)

    def equivalents_of_run(self, result: Any) -> np.ndarray:
        """The same equivalents (N,) from a forward run's output (`sebcal run`), by the
        calibration's observation operator."""
        params = self.config.full_params()
        lam = node_lambda(self.config.spec, params, result.forcing)
        eq = model_equivalents(self.observations, result.z, result.T, result.fluxes, lam)
        return np.concatenate([eq[o.label][s] for (_, o), s in zip(self._fitted, self._sel)])


class SpotpySetup:
    """A SPOTPY setup class over a configuration's calibration problem.

    Example:
        >>> import spotpy
        >>> setup = SpotpySetup("examples/paper_synthetic_2depth.toml")
        >>> sampler = spotpy.algorithms.sceua(setup, dbformat="ram")
        >>> sampler.sample(5000)
        >>> best = setup.best(sampler.getdata())

    The parameters are uniform over the configuration's start ranges (``ranges="start"``,
    sebcal's multi-start draws) or its calibration bounds (``ranges="bounds"``), with the
    configured value as ``optguess``. The objective is sebcal's loss without priors,
    mean(((m - o)/sigma)^2): **lower is better**, as SCE-UA expects (samplers that maximise
    a likelihood take :meth:`loglikelihood` instead).
    """

    def __init__(self, config: Any, ranges: str = "start") -> None:
        import spotpy

        from ..config import RunConfig, load_config, parse_config

        if not isinstance(config, RunConfig):
            config = parse_config(config) if isinstance(config, Mapping) else \
                load_config(config)
        if ranges not in ("start", "bounds"):
            raise ConfigError(f"ranges = {ranges!r}: choose \"start\" or \"bounds\"")
        self.problem = ForwardProblem(config)
        p = self.problem
        rng = p.start_range if ranges == "start" else p.bounds
        self.params = [spotpy.parameter.Uniform(k, rng[k][0], rng[k][1],
                                                optguess=min(max(p.initial[k], rng[k][0]),
                                                             rng[k][1]))
                       for k in p.names]

    def parameters(self):
        import spotpy

        return spotpy.parameter.generate(self.params)

    def simulation(self, vector: Sequence[float]) -> np.ndarray:
        return self.problem.simulate([float(v) for v in vector])

    def evaluation(self) -> np.ndarray:
        return self.problem.observed

    def objectivefunction(self, simulation, evaluation, params=None) -> float:
        return float(self.problem.cost(simulation))

    def loglikelihood(self, simulation, evaluation=None, params=None) -> float:
        """Gaussian log-likelihood with the observations' sigmas (up to a constant)."""
        c = self.problem.cost(simulation)
        return -0.5 * c * self.problem.observed.size if math.isfinite(c) else -math.inf

    def best(self, results: Any) -> dict[str, float]:
        """The parameter set of the lowest objective in a sampler's results."""
        like = np.asarray(results["like1"], float)
        k = int(np.nanargmin(like))
        return {n: float(results[f"par{n}"][k]) for n in self.problem.names}


# ------------------------------------------------------------------------------ PEST++
_PEST_NAME = re.compile(r"[^a-z0-9_]")


def _pest_name(text: str) -> str:
    return _PEST_NAME.sub("_", text.lower())


def _num(x: float) -> str:
    return f"{x:.10g}"


def write_pest(config: Any, out_dir: str | Path, *, command: str = "sebcal") -> dict[str, Path]:
    """PEST++ files around `sebcal run` for a configuration's calibration problem.

    Writes to ``out_dir``:

    * ``sebcal.pst``: the control file: one parameter per free parameter (its calibration
      bounds, the configured value as PARVAL1, ``log`` where sebcal fits it on a log scale),
      one observation per observed value of the calibration window (weight 1/sigma, one group
      per observation), and the model command line;
    * ``parameters.toml.tpl``: the template of the ``[parameters]`` table `sebcal run
      --parameters` reads;
    * ``equivalents.txt.ins``: the instruction file of the equivalents `sebcal run
      --equivalents` writes (one "name value" line per observed value);

    and returns their paths. Every file is written through a temporary name.

    Args:
        command: how PEST++ calls sebcal (e.g. "python -m sebcal").
    """
    from ..config import RunConfig, load_config, parse_config
    from ..output import write_text

    if not isinstance(config, RunConfig):
        config = parse_config(config) if isinstance(config, Mapping) else load_config(config)
    if config.path is None:
        raise ConfigError("write_pest needs a configuration file (PEST++ runs `sebcal run` on "
                          "it); give its path")
    p = ForwardProblem(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pnames = {k: _pest_name(k) for k in p.names}
    if len(set(pnames.values())) != len(pnames):
        raise ConfigError(f"free parameters {', '.join(p.names)} are not distinct in lower "
                          "case, as PEST++ names must be")
    width = 26
    tpl = ["ptf ~", "# sebcal run --parameters: the free parameters, written by PEST++",
           "[parameters]"]
    for k in p.names:
        c = next(c for c in p.space.coords if c.label == k)
        key = c.name if c.layer is None else f"{c.name}_{c.layer + 1}"
        tpl.append(f"{key} = ~{pnames[k]:<{width - 2}}~")
    obs_names = [f"{_pest_name(lab)}_{n:06d}" for lab, n in p.rows]
    ins = ["pif @"] + [f"l1 w !{name}!" for name in obs_names]
    groups = list(dict.fromkeys(_pest_name(lab) for lab, _ in p.rows))
    cfg = Path(config.path).resolve()
    cmd = (f"{command} run {cfg} --parameters parameters.toml --equivalents equivalents.txt "
           "--out run.nc --force")
    lines = ["pcf", "* control data", "restart estimation",
             f"{len(p.names)} {len(obs_names)} 1 0 {len(groups)}",
             "1 1 single point 1 0 0",
             "10.0 -3.0 0.3 0.03 10", "10.0 10.0 0.001", "0.1",
             "30 0.005 4 4 0.005 4", "1 1 1",
             "* parameter groups", "sebcal relative 0.01 0.0 switch 2.0 parabolic",
             "* parameter data"]
    for k in p.names:
        lo, hi = p.bounds[k]
        log = p.log[k] and lo > 0
        lines.append(f"{pnames[k]} {'log' if log else 'none'} "
                     f"{'factor' if log else 'relative'} {_num(p.initial[k])} {_num(lo)} "
                     f"{_num(hi)} sebcal 1.0 0.0 1")
    lines.append("* observation groups")
    lines += groups
    lines.append("* observation data")
    for name, (lab, _), o, s in zip(obs_names, p.rows, p.observed, p.sigma):
        lines.append(f"{name} {_num(o)} {_num(1.0 / s)} {_pest_name(lab)}")
    lines += ["* model command line", cmd, "* model input/output",
              "parameters.toml.tpl parameters.toml", "equivalents.txt.ins equivalents.txt",
              "++ forgive_unknown_args(true)"]
    files = {"control": out / "sebcal.pst", "template": out / "parameters.toml.tpl",
             "instructions": out / "equivalents.txt.ins"}
    write_text(files["template"], "\n".join(tpl) + "\n")
    write_text(files["instructions"], "\n".join(ins) + "\n")
    write_text(files["control"], "\n".join(lines) + "\n")
    return files


def equivalents_text(config: Any, result: Any) -> str:
    """What `sebcal run --equivalents` writes: one "name value" line per observed value of
    the calibration window, in the order of the PEST++ files of :func:`write_pest`."""
    p = ForwardProblem(config)
    vals = p.equivalents_of_run(result)
    return "".join(f"{_pest_name(lab)}_{n:06d} {v:.12e}\n" for (lab, n), v in zip(p.rows, vals))


__all__ = ["ForwardProblem", "SpotpySetup", "equivalents_text", "write_pest"]
