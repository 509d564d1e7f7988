"""Many sites calibrated together: per-site and shared parameters in one Levenberg-Marquardt
problem, and the independent groups of sites farmed out to Dask workers.

A multi-site file (TOML, docs/scale.md) lists the sites, each with its own sebcal configuration
(forcing, observations, windows, physics, free parameters), and says which free parameters
are shared::

    [multisite]
    starts = 20
    seed = 0

    [multisite.shared]        # parameter -> what sites share one value
    lambda = "soil_class"     # one value per soil class (a key of the [[sites]] entries)
    C = "all"                 # one value for every site that fits it

    [[sites]]
    name = "A"
    config = "a.toml"
    soil_class = "loam"

Sites linked by a shared value form a **group**, fitted jointly: its residual vector stacks
every site's residuals (and prior rows), its unknowns are the per-site coordinates plus one
per shared value, and its Jacobian is the sites' exact Jacobians placed in those columns.
Groups are independent of each other, so they run one after the other here, or in parallel on
Dask workers (:func:`calibrate_sites` with a client); each group's result does not depend on
where it ran. A group that fails (a missing file, a run that fails at every start) is reported
and the other groups' results are kept.

Error bars: the Gauss-Newton precision sum_s w_s J_s^T J_s (+ the prior rows), w_s =
(N_eff,s / N_s) / s_s^2 the weight that site's residuals earn (their variance and
autocorrelation, as for one site: docs/calibration.md), in u, mapped to physical units.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, SebcalError
from .problem import Evaluation

SHARE_ALL = "all"


# ============================================================================ the file


@dataclass(frozen=True)
class SiteEntry:
    """One site of a multi-site file."""

    name: str
    config: Path
    attributes: dict[str, Any]
    stage: str | None = None


@dataclass(frozen=True)
class MultiSite:
    """A multi-site calibration: the sites, the shared parameters and the optimiser settings."""

    sites: tuple[SiteEntry, ...]
    shared: dict[str, str]
    starts: int = 20
    seed: int = 0
    max_iterations: int = 100
    xtol: float = 1e-10
    ftol: float = 1e-10
    gtol: float = 1e-10
    path: Path | None = None

    def groups(self) -> list[list[int]]:
        """Indices of the sites of each group (sites linked by shared values), in file order."""
        parent = list(range(len(self.sites)))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for key in self.shared.values():
            first: dict[Any, int] = {}
            for i, s in enumerate(self.sites):
                value = SHARE_ALL if key == SHARE_ALL else s.attributes.get(key)
                if value in first:
                    parent[find(i)] = find(first[value])
                else:
                    first[value] = i
        out: dict[int, list[int]] = {}
        for i in range(len(self.sites)):
            out.setdefault(find(i), []).append(i)
        return sorted(out.values())


_MULTISITE_KEYS = {"starts", "seed", "max_iterations", "xtol", "ftol", "gtol", "shared"}


def load_multisite(path: str | Path) -> MultiSite:
    """Read and check a multi-site file.

    Raises:
        ConfigError: the file is missing or not TOML, a key is unknown, a site lacks a name or
            a config, names repeat, or a shared parameter names an attribute a site lacks.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"multi-site file '{p}' does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    unknown = set(data) - {"multisite", "sites"}
    if unknown:
        raise ConfigError(f"{p}: unknown table(s) {', '.join(sorted(unknown))}; a multi-site "
                          "file has [multisite] and [[sites]] (docs/scale.md)")
    ms = dict(data.get("multisite") or {})
    bad = set(ms) - _MULTISITE_KEYS
    if bad:
        raise ConfigError(f"{p}: [multisite] has unknown key(s) {', '.join(sorted(bad))}; "
                          f"keys: {', '.join(sorted(_MULTISITE_KEYS))}")
    raw_sites = data.get("sites")
    if not isinstance(raw_sites, list) or not raw_sites:
        raise ConfigError(f"{p}: no [[sites]] entries; give each site a name and a config")
    sites = []
    for k, s in enumerate(raw_sites, 1):
        if not isinstance(s, dict) or "name" not in s or "config" not in s:
            raise ConfigError(f"{p}: [[sites]] entry {k} needs name = \"...\" and "
                              "config = \"site.toml\"")
        cfg = Path(str(s["config"])).expanduser()
        cfg = cfg if cfg.is_absolute() else (p.parent / cfg).resolve()
        attrs = {a: v for a, v in s.items() if a not in ("name", "config", "stage")}
        sites.append(SiteEntry(str(s["name"]), cfg, attrs, s.get("stage")))
    names = [s.name for s in sites]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{p}: site names repeat: {', '.join(dup)}")
    shared = {str(k): str(v) for k, v in dict(ms.get("shared") or {}).items()}
    for param, key in shared.items():
        if key == SHARE_ALL:
            continue
        missing = [s.name for s in sites if key not in s.attributes]
        if missing:
            raise ConfigError(f"{p}: [multisite.shared] {param} = \"{key}\" groups sites by "
                              f"their '{key}', which site(s) {', '.join(missing)} do not give; "
                              f"add {key} = ... to their [[sites]] entries")
    try:
        return MultiSite(tuple(sites), shared, starts=int(ms.get("starts", 20)),
                         seed=int(ms.get("seed", 0)),
                         max_iterations=int(ms.get("max_iterations", 100)),
                         xtol=float(ms.get("xtol", 1e-10)), ftol=float(ms.get("ftol", 1e-10)),
                         gtol=float(ms.get("gtol", 1e-10)), path=p)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{p}: [multisite]: {exc}") from None


# ============================================================================ one site


@dataclass
class _Site:
    entry: SiteEntry
    config: Any
    problem: Any
    space: Any
    observations: list
    windows: Any


def _prepare_site(entry: SiteEntry) -> _Site:
    from ..config import load_config
    from ..observations import load_observations, prepare
    from ..observations import windows as make_windows
    from ..runner import forcing_for
    from . import priors as priors_mod
    from .problem import Problem
    from .run import _stage_config, calibration_settings
    from .space import Space

    config = load_config(entry.config)
    settings = calibration_settings(config)
    stages = settings.get("stages") or []
    if stages:
        names = [s["name"] for s in stages]
        if entry.stage not in names:
            raise ConfigError(f"site {entry.name}: {entry.config} is a staged calibration "
                              f"(stages {', '.join(names)}); say which stage to fit with "
                              f"stage = \"...\" in its [[sites]] entry")
        config = _stage_config(config, settings, stages[names.index(entry.stage)], {})
        settings = calibration_settings(config)
    elif entry.stage is not None:
        raise ConfigError(f"site {entry.name}: stage = \"{entry.stage}\" but {entry.config} "
                          "has no [[calibration.stages]]")
    obs = load_observations(config)
    win = make_windows(config)
    forcing = forcing_for(config)
    config = prepare(config, forcing, obs)
    space = Space.build(settings["free"], config.full_params(), config.spec.nlayers,
                        settings["start_range"], settings["bounds"])
    sm = forcing.soil_moisture
    theta_mean = None if sm is None else float(np.mean(sm.at_nodes(config.spec.node_depths)))
    prs = priors_mod.build(settings.get("prior") or {}, list(settings["free"]), config.site,
                           theta_mean)
    problem = Problem(config.spec, forcing, obs, win.calibration, space, prs)
    return _Site(entry, config, problem, space, obs, win)


# ============================================================================ a group


class JointProblem:
    """The residuals and Jacobian of a group of sites in the global coordinates.

    Args:
        sites: the prepared sites.
        columns: for each site, the global column of each of its coordinates.
        n_global: the number of global coordinates.
    """

    def __init__(self, sites: Sequence[_Site], columns: Sequence[np.ndarray], n_global: int):
        self.sites = list(sites)
        self.columns = [np.asarray(c, dtype=int) for c in columns]
        self.n_global = n_global

    @property
    def sizes(self) -> list[int]:
        return [s.problem.size for s in self.sites]

    def evaluate(self, u: np.ndarray, jac: bool = True) -> Evaluation:
        u = np.atleast_2d(np.asarray(u, dtype=np.float64))
        B = u.shape[0]
        rs, Js, failed, message, eqs = [], [], np.zeros(B, dtype=bool), "", []
        for site, cols in zip(self.sites, self.columns):
            ev = site.problem.evaluate(u[:, cols], jac=jac)
            rs.append(ev.r)
            eqs.append(ev.equivalents)
            failed |= ev.failed
            if ev.failed.any() and not message:
                message = f"site {site.entry.name}: {ev.message}"
            if jac:
                Jg = np.zeros((B, ev.r.shape[1], self.n_global))
                Jg[:, :, cols] = ev.J
                Js.append(Jg)
        r = np.concatenate(rs, axis=1)
        J = np.concatenate(Js, axis=1) if jac else None
        return Evaluation(r=r, J=J, equivalents=eqs, failed=failed, message=message)


def _global_coordinates(ms: MultiSite, sites: Sequence[_Site]):
    """The group's global coordinates: (label, Coordinate, shared key value or None, site
    names) in order, and each site's column indices."""
    coords: list[dict] = []
    index: dict[tuple, int] = {}
    columns = []
    for site in sites:
        cols = []
        for c in site.space.coords:
            key = ms.shared.get(c.label) or ms.shared.get(c.name)
            if key is None:
                gkey = ("site", site.entry.name, c.label)
            else:
                value = SHARE_ALL if key == SHARE_ALL else site.entry.attributes[key]
                gkey = ("shared", c.label, value)
            if gkey not in index:
                index[gkey] = len(coords)
                coords.append({"label": c.label, "coord": c, "shared": gkey[0] == "shared",
                               "by": key, "value": gkey[2] if gkey[0] == "shared" else None,
                               "sites": []})
            g = coords[index[gkey]]
            if g["coord"].bounds != c.bounds or g["coord"].start != c.start or \
                    g["coord"].log != c.log:
                raise ConfigError(
                    f"shared parameter {c.label}: site {site.entry.name} has calibration bounds "
                    f"{c.bounds} and start range {c.start}, another site sharing it "
                    f"{g['coord'].bounds} and {g['coord'].start}; a shared value needs the "
                    "same [calibration.bounds] and [calibration.start_range] at every site")
            g["sites"].append(site.entry.name)
            cols.append(index[gkey])
        columns.append(np.array(cols, dtype=int))
    return coords, columns


def calibrate_group(ms: MultiSite, indices: Sequence[int]) -> dict:
    """Fit one group of sites jointly; a plain dict (JSON-ready) that says what came out, or
    why the group failed (never raises for a bad site: the caller gathers many groups)."""
    from . import lm
    from .analysis import effective_size
    from .run import _split_rows

    names = [ms.sites[i].name for i in indices]
    t0 = time.perf_counter()
    try:
        sites = [_prepare_site(ms.sites[i]) for i in indices]
        coords, columns = _global_coordinates(ms, sites)
        P = len(coords)
        problem = JointProblem(sites, columns, P)
        rng = np.random.default_rng(ms.seed)
        u0 = np.empty((ms.starts, P))
        r01 = rng.random((ms.starts, P))
        for k, g in enumerate(coords):
            c = g["coord"]
            glo, ghi = c.g(c.start[0]), c.g(c.start[1])
            u0[:, k] = c.to_u(c.g_inv(glo + (ghi - glo) * r01[:, k]))
        state, r, J = lm.start(problem, u0)
        if state.failed.all():
            raise SebcalError(f"every start failed at its first point: "
                              f"{state.reason[0]}")
        state, r, J = lm.levenberg_marquardt(problem, state, r, J,
                                             max_iterations=ms.max_iterations, ftol=ms.ftol,
                                             xtol=ms.xtol, gtol=ms.gtol)
        cost = np.where(state.failed, np.inf, state.cost)
        best = int(np.argmin(cost))
        ub = state.u[best]
        ev = problem.evaluate(ub[None], jac=True)
        # the precision: each site's data rows weighted by what its residuals earn
        A = np.zeros((P, P))
        row = 0
        per_site = []
        for site, cols, eqs in zip(sites, columns, ev.equivalents):
            pb = site.problem
            n_rows = pb.size
            rd = ev.r[0, row:row + pb.n_data]
            Jd = ev.J[0, row:row + pb.n_data]
            Jp = ev.J[0, row + pb.n_data:row + n_rows]
            n_eff, n, _ = effective_size(_split_rows(pb, rd))
            ss = float(np.sum(rd ** 2))
            s2 = ss / max(n - len(cols), 1)
            w = (n_eff / max(n, 1)) / max(s2, 1e-300)
            A += w * Jd.T @ Jd + Jp.T @ Jp
            row += n_rows
            phys = {c.label: float(site.space.coords[k].to_p(np.array(ub[cols[k]])))
                    for k, c in enumerate(site.space.coords)}
            per_site.append((site, phys, eqs[0], {"loss": ss / max(n, 1), "n_data": int(n),
                                                   "n_eff": float(n_eff), "s2": s2}))
        evals, evecs = np.linalg.eigh(A)
        good = evals > 1e-14 * max(evals.max(), 1e-300)
        cov = (evecs[:, good] / evals[good]) @ evecs[:, good].T
        std_u = np.sqrt(np.clip(np.diag(cov), 0, None))
        undetermined = set()
        for j in np.flatnonzero(~good):
            undetermined |= set(np.flatnonzero(np.abs(evecs[:, j]) > 1e-3).tolist())
        values, stds = [], []
        for k, g in enumerate(coords):
            c = g["coord"]
            p = float(c.to_p(np.array(ub[k])))
            values.append(p)
            dpdu = float(c.dp_du(np.array([p]))[0])
            stds.append(None if k in undetermined else float(std_u[k] * abs(dpdu)))
        result_sites = []
        for (site, phys, eq, stats), cols in zip(per_site, columns):
            mets = {}
            for o, model in zip(site.observations, eq):
                mets[o.label] = {
                    "calibration": _metrics(model, o.values, site.windows.calibration),
                    "evaluation": _metrics(model, o.values, site.windows.evaluation),
                    "fitted": bool(o.fit), "unit": o.units}
            result_sites.append({
                "name": site.entry.name, "config": str(site.entry.config),
                "attributes": site.entry.attributes, "stage": site.entry.stage,
                "values": phys,
                "std": {site.space.coords[k].label: stds[cols[k]]
                        for k in range(len(cols))},
                "units": {c.label: c.unit for c in site.space.coords},
                "shared": {site.space.coords[k].label: coords[cols[k]]["by"]
                           for k in range(len(cols)) if coords[cols[k]]["shared"]},
                **stats, "metrics": mets})
        return {
            "sites": names, "failed": False, "message": "",
            "coordinates": [{"label": g["label"], "shared": g["shared"], "by": g["by"],
                             "value": g["value"], "sites": g["sites"], "estimate": values[k],
                             "std": stds[k], "unit": g["coord"].unit}
                            for k, g in enumerate(coords)],
            "results": result_sites,
            "optimiser": {"starts": ms.starts, "iterations": state.iteration,
                          "evaluations": state.evaluations, "runs": state.runs,
                          "failed_starts": int(state.failed.sum()),
                          "best_cost": float(state.cost[best])},
            "elapsed_s": time.perf_counter() - t0,
        }
    except Exception as exc:  # noqa: BLE001 - one group's failure must not stop the others
        kind = "" if isinstance(exc, SebcalError) else f"{type(exc).__name__}: "
        return {"sites": names, "failed": True, "message": f"{kind}{exc}",
                "elapsed_s": time.perf_counter() - t0}


def _metrics(model: np.ndarray, observed: np.ndarray, mask: np.ndarray) -> dict:
    from ..observations import metrics

    m = metrics(np.asarray(model), observed, mask)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in m.items()}


# ============================================================================ all groups


@dataclass
class MultiSiteResult:
    """What a multi-site calibration found: one entry per group, in file order."""

    multisite: MultiSite
    groups: list[dict] = field(default_factory=list)
    engine: str = "serial"

    @property
    def failed_sites(self) -> list[str]:
        return [n for g in self.groups if g["failed"] for n in g["sites"]]

    def site_results(self) -> list[dict]:
        """Per-site results in the file's order (failed sites carry the group's message)."""
        by_name = {}
        for g in self.groups:
            if g["failed"]:
                for n in g["sites"]:
                    by_name[n] = {"name": n, "failed": True, "message": g["message"]}
            else:
                for s in g["results"]:
                    by_name[s["name"]] = {**s, "failed": False}
        return [by_name[s.name] for s in self.multisite.sites]


def calibrate_sites(ms: MultiSite, client: Any = None,
                    progress: Callable[[str], None] | None = None) -> MultiSiteResult:
    """Calibrate every group of sites: here, one after the other, or on the workers of a
    ``dask.distributed.Client`` (one task per group). The results are the same either way."""
    groups = ms.groups()
    if client is None:
        out = []
        for g in groups:
            res = calibrate_group(ms, g)
            out.append(res)
            if progress:
                progress(_line(res))
        return MultiSiteResult(ms, out, "serial")
    from distributed import as_completed

    futures = {client.submit(calibrate_group, ms, g, pure=False): k
               for k, g in enumerate(groups)}
    out: list[dict | None] = [None] * len(groups)
    for fut in as_completed(list(futures)):
        k = futures[fut]
        try:
            res = fut.result()
        except Exception as exc:  # noqa: BLE001 - a worker lost: report, keep the others
            res = {"sites": [ms.sites[i].name for i in groups[k]], "failed": True,
                   "message": f"the Dask task failed: {type(exc).__name__}: {exc}",
                   "elapsed_s": float("nan")}
        out[k] = res
        if progress:
            progress(_line(res))
    return MultiSiteResult(ms, [o for o in out if o is not None], "dask")


def _line(res: dict) -> str:
    sites = ", ".join(res["sites"])
    if res["failed"]:
        return f"  FAILED {sites}: {res['message']}"
    return f"  done   {sites} ({res['elapsed_s']:.1f} s)"


# ============================================================================ output


def write_results(result: MultiSiteResult, out_dir: str | Path) -> tuple[Path, Path]:
    """sites.json (everything) and sites.nc (values and standard errors with a site
    dimension), written atomically into out_dir."""
    import netCDF4

    from ..forcing.alma import NETCDF_LOCK
    from ..output import atomic_path, write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sites = result.site_results()
    doc = {"multisite": str(result.multisite.path), "engine": result.engine,
           "shared": result.multisite.shared, "groups": result.groups, "sites": sites}
    jpath = out / "sites.json"
    write_text(jpath, json.dumps(doc, indent=1, default=_json_default))
    labels: list[str] = []
    units: dict[str, str] = {}
    for s in sites:
        for k, v in s.get("units", {}).items():
            if k not in labels:
                labels.append(k)
                units[k] = v
    npath = out / "sites.nc"
    with atomic_path(npath, ".nc") as tmp, NETCDF_LOCK:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.title = "sebcal multi-site calibration"
            ds.source = f"sebcal calibrate-sites {result.multisite.path}"
            ds.createDimension("site", len(sites))
            name = ds.createVariable("site", str, ("site",))
            for i, s in enumerate(sites):
                name[i] = s["name"]
            name.long_name = "site name"
            failed = ds.createVariable("failed", "i1", ("site",))
            failed[:] = [int(s["failed"]) for s in sites]
            failed.long_name = "1 where the site's group failed (sites.json says why)"
            loss = ds.createVariable("loss", "f8", ("site",), fill_value=np.nan)
            loss[:] = [s.get("loss", np.nan) for s in sites]
            loss.long_name = "mean squared residual of the fitted observations"
            loss.units = "1"
            for lab in labels:
                v = ds.createVariable(_nc_name(lab), "f8", ("site",), fill_value=np.nan)
                v[:] = [s.get("values", {}).get(lab, np.nan) for s in sites]
                v.units = units[lab]
                v.long_name = f"fitted {lab} (NaN where the site does not fit it)"
                shared = result.multisite.shared.get(lab)
                v.shared_by = shared or "not shared: one value per site"
                e = ds.createVariable(_nc_name(lab) + "_std", "f8", ("site",), fill_value=np.nan)
                e[:] = [_num(s.get("std", {}).get(lab)) for s in sites]
                e.units = units[lab]
                e.long_name = f"standard error of {lab} (NaN: not determined or not fitted)"
    return jpath, npath


def _nc_name(label: str) -> str:
    return label.replace(" ", "_")


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _json_default(x: Any) -> Any:
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"cannot write {type(x).__name__} to JSON")


def summary_lines(result: MultiSiteResult) -> list[str]:
    """The terminal summary: one line per site with its values."""
    lines = []
    for s in result.site_results():
        if s["failed"]:
            lines.append(f"  {s['name']:<20} FAILED: {s['message']}")
            continue
        vals = ", ".join(
            f"{k} {v:.4g}" + ("" if s["std"].get(k) is None else f" ± {s['std'][k]:.2g}")
            + (f" (shared by {s['shared'][k]})" if k in s["shared"] else "")
            for k, v in s["values"].items())
        lines.append(f"  {s['name']:<20} {vals}")
    return lines


__all__ = ["JointProblem", "MultiSite", "MultiSiteResult", "SiteEntry", "calibrate_group",
           "calibrate_sites", "load_multisite", "summary_lines", "write_results"]
