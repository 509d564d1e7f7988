"""What each physics option costs relative to the published model (docs/performance.md).

For the published model and for each option switched on alone (with the parameters and forcing
it needs), on the paper's grid (101 nodes, 1 m) and 240 hourly steps:

* the Fortran forward run (the direct solver),
* the Fortran forward run with 5 tangents (the Levenberg-Marquardt Jacobian),
* the PyTorch mirror's forward + backward (the gradient of a loss on two depths),

each the median of repeated runs, and the ratio to the published model's time measured in the
same process. Usage: python bench/option_costs.py [--quick] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

NT = 240
BASE = {"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0, "h_eff": 25.0}
CASES = [
    ("published model", {}, {}),
    ("longwave kirchhoff", {"longwave": "kirchhoff"}, {}),
    ("turbulence bulk (neutral)", {"turbulence": "bulk"},
     {"z0m": 0.05, "z0h_ratio": 0.1, "z_ref": 10.0}),
    ("bulk + stability most", {"turbulence": "bulk", "stability": "most"},
     {"z0m": 0.05, "z0h_ratio": 0.1, "z_ref": 10.0}),
    ("bulk + latent resistance", {"turbulence": "bulk", "latent": "resistance"},
     {"z0m": 0.05, "z0h_ratio": 0.1, "z_ref": 10.0, "r_s": 100.0}),
    ("r_s from soil moisture", {"turbulence": "bulk", "latent": "resistance",
                                "surface_resistance": "soil_moisture"},
     {"z0m": 0.05, "z0h_ratio": 0.1, "z_ref": 10.0, "rs_a": 8.0, "rs_b": 4.0, "porosity": 0.4}),
    ("canopy transmission", {"canopy": "transmission"}, {"tau_sw": 0.6, "tau_lw": 0.8}),
    ("soil johansen", {"soil_thermal": "johansen"},
     {"porosity": 0.4, "lambda_dry": 0.25, "lambda_solids": 3.0, "C_dry": 1.3e6}),
    ("layered soil (2 layers)", {"layers": True}, {"lambda": (0.8, 1.2), "C": (2.2e6, 1.8e6)}),
    ("bottom zero flux", {"bottom": "zero_flux"}, {}),
    ("Crank-Nicolson", {"time_scheme": "crank_nicolson"}, {}),
    ("spin-up", {"init": "spinup"}, {}),
    ("top temperature", {"top": "temperature"}, {}),
]


def forcing(nt):
    from sebcal.forcing import paper_synthetic
    from sebcal.forcing.core import SoilMoisture

    f = paper_synthetic(nt, 3600.0)
    h = np.arange(nt + 1)
    sm = SoilMoisture(np.array([0.0, 0.5, 1.0]),
                      np.stack([0.2 + 0.05 * np.sin(h / 10), np.full(nt + 1, 0.25),
                                np.full(nt + 1, 0.3)], 1))
    return f.replace(Wind=np.full(nt + 1, 3.0), PSurf=np.full(nt + 1, 95000.0),
                     Qair=np.full(nt + 1, 0.008), Ttop=290 + 5 * np.sin(h / 24 * 2 * np.pi),
                     soil_moisture=sm)


def median_time(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def measure(name: str, opts: dict, extra: dict, f, rep: int) -> dict:
    """Median times of one case (see the module docstring)."""
    import torch

    from sebcal import fortran
    from sebcal.autodiff import SoilColumn, observe, param_tensors
    from sebcal.params import Params
    from sebcal.spec import paper_spec
    from sebcal.vocabulary import NPSOIL, NPSURF, PARAMETERS

    opts = dict(opts)
    layers = opts.pop("layers", False)
    spec = paper_spec(**opts)
    if layers:
        spec = spec.replace(layer_bottoms=(0.3, 1.0))
    if opts.get("top") == "temperature":
        spec = spec.replace(node_depths=np.linspace(0.05, 1.0, 96), dx=None)
    vals = dict(BASE)
    vals.update(extra)
    if opts.get("soil_thermal") == "johansen":
        vals.pop("lambda"), vals.pop("C")
    params = spec.check_params(Params.from_dict(vals))
    free = [n for n in ("alpha", "h_eff", "lambda", "C", "T_b", "z0m", "r_s", "lambda_dry")
            if n in params][:5]
    t_fwd = median_time(lambda: fortran.simulate(spec, f, params), rep)
    ps, so = spec.psurf(params)[None], spec.psoil(params)[None]
    ti = np.full((1, spec.nz), 293.0)
    P = len(free)
    dps = np.zeros((1, P, NPSURF))
    dso = np.zeros((1, P, NPSOIL, spec.nz))
    for k, n in enumerate(free):
        p = PARAMETERS[n]
        if p.group == "soil":
            dso[0, k, p.slot - 1] = 1.0
        else:
            dps[0, k, p.slot - 1] = 1.0
    dti = np.zeros((1, P, spec.nz))
    t_tan = median_time(lambda: fortran.probe_batch(spec, f, ps, so, ti, [0, 5],
                                                    (dps, dso, dti)), rep)
    model = SoilColumn(spec)
    theta = f.theta_at(spec.node_depths, spec.options)
    theta = None if theta is None else torch.tensor(theta)
    data = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in f.data.items()}
    names = [n for n in PARAMETERS if n in params]

    def torch_step():
        out = model(data, param_tensors(params, requires_grad=True, names=names), theta=theta)
        loss = (observe.soil_temperature(out.T, out.z, [0.05, 0.15]) ** 2).mean()
        loss.backward()

    t_torch = median_time(torch_step, max(2, rep // 4))
    return {"case": name, "fortran_ms": 1e3 * t_fwd, "tangents_ms": 1e3 * t_tan, "P": P,
            "torch_ms": 1e3 * t_torch}


def run(quick: bool) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    rep = 5 if quick else 20
    f = forcing(NT)
    rows = []
    for name, opts, extra in CASES:
        r = measure(name, opts, extra, f, rep)
        rows.append(r)
        print(f"{name:28s} fortran {r['fortran_ms']:7.3f} ms  +{r['P']} tangents "
              f"{r['tangents_ms']:7.3f} ms  torch fwd+bwd {r['torch_ms']:8.1f} ms", flush=True)
    return rows


def markdown(rows: list[dict]) -> list[str]:
    b = rows[0]
    out = ["| option (alone) | Fortran forward | ratio | forward + tangents | ratio | "
           "PyTorch forward + backward | ratio |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['case']} | {r['fortran_ms']:.3f} ms | "
                   f"{r['fortran_ms'] / b['fortran_ms']:.2f} | {r['tangents_ms']:.3f} ms "
                   f"({r['P']}) | {r['tangents_ms'] / b['tangents_ms']:.2f} | "
                   f"{r['torch_ms']:.1f} ms | {r['torch_ms'] / b['torch_ms']:.2f} |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    rows = run(a.quick)
    text = "\n".join(markdown(rows))
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
