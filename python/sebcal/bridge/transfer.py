"""Transfer check: do the calibrated parameters keep their skill on a host's soil layers?

Parameters fitted on sebcal's fine grid (1 m, 101 nodes in the published setup) are run again
with the same scheme, forcing and options on the coarse layer structure of a host model, and
the skill (RMSE, bias against each observed series) over the calibration and evaluation
windows is compared.

Node placement (``placement``):

* ``"centres"`` (default): the surface node at z = 0 (sebcal's Ts, the host's skin), one node at
  the centre of every host layer (where hosts report layer temperatures), and the bottom node at
  the host's total depth. JULES: 0, 0.05, 0.225, 0.675, 2.0, 3.0 m; Noah-MP: 0, 0.05, 0.25,
  0.7, 1.5, 2.0 m.
* ``"boundaries"``: nodes at the layer boundaries, 0, 0.1, 0.35, 1.0, 3.0 m (JULES).

Either way the Dirichlet bottom T = T_b moves from sebcal's column depth (1 m) to the host's
total depth (3 m JULES, 2 m Noah-MP), so T_b is imposed deeper than where it was fitted; the
report says so.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import parse_config
from ..errors import ConfigError
from ..output import write_text
from ..paramsfile import Calibrated, load_params
from .hosts import LAYERS, SOURCES

PLACEMENTS = ("centres", "boundaries")


def host_grid(spec: str, placement: str = "centres") -> tuple[str, np.ndarray, str]:
    """(name, node depths [m], description) of a host name or a list of node depths.

    Args:
        spec: ``jules``, ``noahmp`` or comma-separated node depths in metres starting at 0
            (e.g. ``"0,0.05,0.2,0.6,1.5"``).
        placement: ``"centres"`` or ``"boundaries"`` (host names only).
    """
    if placement not in PLACEMENTS:
        raise ConfigError(f"unknown node placement '{placement}'; use one of "
                          f"{', '.join(PLACEMENTS)}")
    key = spec.strip().lower()
    if key in LAYERS:
        dz, src = LAYERS[key]
        bounds = np.concatenate([[0.0], np.cumsum(dz)])
        if placement == "centres":
            z = np.concatenate([[0.0], 0.5 * (bounds[:-1] + bounds[1:]), [bounds[-1]]])
        else:
            z = bounds
        desc = (f"{key} layers {', '.join(f'{d:g}' for d in dz)} m thick ({src}: "
                f"{SOURCES[src][1]}), total {bounds[-1]:g} m; nodes at the surface, "
                + ("the layer centres and the base" if placement == "centres"
                   else "the layer boundaries"))
        return key, z, desc
    try:
        z = np.array([float(x) for x in spec.replace(";", ",").split(",") if x.strip()])
    except ValueError:
        near = difflib.get_close_matches(key, list(LAYERS), n=1, cutoff=0.4)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise ConfigError(f"--grid {spec!r}: not a host{hint} and not a list of depths; give "
                          f"{', '.join(LAYERS)} or node depths in m such as "
                          "'0,0.05,0.2,0.6,1.5'") from None
    if z.size < 3 or z[0] != 0.0 or np.any(np.diff(z) <= 0):
        raise ConfigError(f"--grid {spec!r}: node depths must start at 0, increase strictly "
                          "and have at least 3 values (surface, interior, bottom)")
    return "custom", z, f"given node depths {', '.join(f'{v:g}' for v in z)} m"


@dataclass
class TransferResult:
    """Skill on the fine grid and on the host grid."""

    host: str
    fine_z: np.ndarray
    host_z: np.ndarray
    description: str
    rows: list[dict]
    report: Path | None

    def table(self) -> str:
        """Markdown table: one row per observed series and window."""
        lines = ["| observed | window | n | RMSE fine | RMSE host | change | bias fine | "
                 "bias host |", "|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            ch = r["rmse_host"] - r["rmse_fine"]
            rel = f" ({100 * ch / r['rmse_fine']:+.1f} %)" if r["rmse_fine"] > 0 else ""
            lines.append(f"| {r['label']} ({r['what']}) [{r['unit']}] | {r['window']} | "
                         f"{r['n']} | {r['rmse_fine']:.3f} | {r['rmse_host']:.3f} | "
                         f"{ch:+.3f}{rel} | {r['bias_fine']:+.3f} | {r['bias_host']:+.3f} |")
        return "\n".join(lines)


def transfer(params: Calibrated | str | os.PathLike | Mapping, grid: str,
             out_dir: str | os.PathLike | None = None, placement: str = "centres",
             write: bool = True) -> TransferResult:
    """Run the calibrated parameters on a host's layers and compare skill with the fine grid.

    Args:
        params: params.json (path, content or :class:`Calibrated`).
        grid: ``jules``, ``noahmp`` or node depths (see :func:`host_grid`).
        out_dir: folder of ``transfer.md`` (default: the folder of params.json).
        placement: node placement for host layers (module docstring).
        write: write ``transfer.md``.

    Raises:
        ConfigError: bad grid, params.json or config; ForcingError: unreadable forcing or
        observations.
    """
    from ..fortran import simulate
    from ..observations import load_observations, metrics, model_equivalents, node_lambda, windows
    from ..runner import forcing_for

    cal = params if isinstance(params, Calibrated) else load_params(params)
    name, z_host, desc = host_grid(grid, placement)
    fine = cal.config
    cfg = dict(cal.config_dict)
    cfg["grid"] = {"node_depths": [float(z) for z in z_host]}
    cfg.pop("soil", None) if fine.spec.nlayers == 1 else None
    if fine.init == "profile":
        init = dict(cfg.get("initial", {}))
        init["profile"] = [float(t) for t in np.interp(z_host, fine.node_depths,
                                                        fine.init_profile)]
        cfg["initial"] = init
    coarse = parse_config(cfg, base_dir=cal.path.parent if cal.path else None)
    forcing = forcing_for(fine)
    s_fine = simulate(fine.spec, forcing, cal.params)
    s_host = simulate(coarse.spec, forcing, cal.params)
    obs = load_observations(fine)
    win = windows(fine)
    eq_f = model_equivalents(obs, s_fine.z, s_fine.T, s_fine.fluxes,
                             node_lambda(fine.spec, cal.params, forcing))
    eq_h = model_equivalents(obs, s_host.z, s_host.T, s_host.fluxes,
                             node_lambda(coarse.spec, cal.params, forcing))
    rows = []
    for o in obs:
        m_f, m_h = eq_f[o.label], eq_h[o.label]
        for wname, mask, span in (("calibration", win.calibration, win.calibration_span),
                                  ("evaluation", win.evaluation, win.evaluation_span)):
            if not mask.any():
                continue
            a, b = metrics(m_f, o.values, mask), metrics(m_h, o.values, mask)
            if a["n"] == 0:
                continue
            rows.append({"label": o.label, "what": o.describe(), "unit": o.units,
                         "window": wname, "span": span, "n": a["n"], "fit": o.fit,
                         "rmse_fine": a["rmse"], "rmse_host": b["rmse"],
                         "bias_fine": a["bias"], "bias_host": b["bias"],
                         "r_fine": a["r"], "r_host": b["r"]})
    folder = Path(out_dir) if out_dir is not None else (
        cal.path.parent if cal.path is not None else Path.cwd())
    res = TransferResult(name, np.asarray(fine.node_depths), z_host, desc, rows, None)
    if write:
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"--out {folder}: exists and is not a folder")
        if not folder.parent.is_dir():
            raise ConfigError(f"--out {folder}: its parent folder {folder.parent} does not exist")
        folder.mkdir(exist_ok=True)      # like `sebcal calibrate --out`
        path = folder / "transfer.md"
        write_text(path, _report(cal, res, placement, fine.node_depths[-1], z_host[-1]))
        res.report = path
    return res


def _report(cal: Calibrated, res: TransferResult, placement: str, d_fine: float,
            d_host: float) -> str:
    p = cal.params
    src = cal.path if cal.path is not None else "params.json"
    fz = res.fine_z
    fine_desc = (f"{fz.size} nodes, {fz[-1]:g} m" + (f" (dz = {fz[1] - fz[0]:g} m)" if
                                                     np.allclose(np.diff(fz), fz[1] - fz[0])
                                                     else ""))
    worst = max(res.rows, key=lambda r: (r["rmse_host"] - r["rmse_fine"]) /
                max(r["rmse_fine"], 1e-12)) if res.rows else None
    lines = [
        f"# Transfer check: {res.host} soil layers",
        "",
        f"Parameters from `{src}`: " + ", ".join(
            f"{k} = {cal.describe(k)}" for k in cal.params if cal.value(k) is not None),
        "",
        f"* fine grid (calibration): {fine_desc}",
        f"* host grid: {res.description}; node depths "
        f"{', '.join(f'{z:g}' for z in res.host_z)} m ({placement})",
        f"* the Dirichlet bottom T = T_b = {p.T_b:.2f} K moves from {d_fine:g} m (where it was "
        f"fitted) to {d_host:g} m (the host's total depth)",
        "* same forcing, time step, solver, longwave and initial state (uniform at T_b) as the "
        "calibration; Fortran reference scheme; observations, windows and model equivalents "
        "of sebcal.observations",
        "",
        res.table(),
        "",
    ]
    if worst is not None:
        ch = worst["rmse_host"] - worst["rmse_fine"]
        lines.append(f"Largest relative change: {worst['label']} ({worst['what']}), "
                     f"{worst['window']} window, RMSE {worst['rmse_fine']:.3f} -> "
                     f"{worst['rmse_host']:.3f} {worst['unit']} ({ch:+.3f}).")
        lines.append("")
    lines.append("A positive change means the host's coarse layers lose skill with these "
                 "parameters: the surface node then sees a thicker first layer (larger "
                 "h_1 in the surface balance) and a deeper bottom boundary, so a re-fit on the "
                 "host grid (sebcal calibrate with [grid] node_depths) may be needed.")
    return "\n".join(lines) + "\n"

