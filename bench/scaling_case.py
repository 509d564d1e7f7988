"""One scaling measurement in a fresh process: forward + backward of the torch model.

Usage: python bench/scaling_case.py B NT NZ [DT] [REPEATS]

Prints one JSON line: forward/backward seconds (median over REPEATS in-process runs after a
warm-up on a tiny problem and, unless the case is large, one unmeasured run of the case), peak
resident memory of the process (VmHWM from /proc/self/status, else getrusage maxrss; it includes
the ~0.3 GiB of the Python/torch runtime; ``rss_before_mib`` is the level before the measured
runs).
The run is the paper column (1 m) with NZ nodes, NT steps of DT seconds of the paper's synthetic
forcing, B random parameter sets from the published prior ranges, and a loss on the soil
temperature at 5 and 15 cm (the observation operator), so gradients flow to every parameter.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time

import numpy as np
import torch


def peak_rss_mib() -> float:
    """High-water resident memory of this process [MiB] (VmHWM; falls back to getrusage).

    VmHWM belongs to this process image; ru_maxrss would also count the parent's peak, which
    Linux carries over a fork + exec.
    """
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> dict:
    B, nt, nz = int(argv[0]), int(argv[1]), int(argv[2])
    dt = float(argv[3]) if len(argv) > 3 else 3600.0
    repeats = int(argv[4]) if len(argv) > 4 else 1
    from sebcal.autodiff import SoilColumn, observe
    from sebcal.forcing import paper_synthetic
    from sebcal.spec import ModelSpec, uniform_grid

    fc = paper_synthetic(nt, dt)
    z, dx = uniform_grid(1.0, nz)
    model = SoilColumn(ModelSpec(z, dx=dx, dt=dt))
    gen = torch.Generator().manual_seed(0)
    u = torch.rand(B, 6, generator=gen, dtype=torch.float64)
    base = {"alpha": 0.05 + 0.45 * u[:, 0], "eps": 0.9 + 0.1 * u[:, 1],
            "lambda": 0.47 + 0.33 * u[:, 2], "C": 2e6 + 0.5e6 * u[:, 3],
            "T_b": 290 + 13 * u[:, 4], "h_eff": 6.45 + 24 * u[:, 5]}
    data = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in fc.data.items()}

    def once():
        p = {k: v.clone().requires_grad_() for k, v in base.items()}
        t0 = time.perf_counter()
        out = model(data, p)
        obs = observe.soil_temperature(out.T, out.z, [0.05, 0.15])
        loss = ((obs - 295.0) ** 2).mean()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        ok = all(bool(torch.isfinite(p[k].grad).all()) for k in p)
        return t1 - t0, t2 - t1, ok

    # warm-up on a tiny problem (first-call overheads), then the measured runs
    zs, dxs = uniform_grid(1.0, 5)
    small = SoilColumn(ModelSpec(zs, dx=dxs, dt=dt))
    small({k: v[:3] for k, v in data.items()},
          {k: v[:1].clone().requires_grad_() for k, v in base.items()}).T.sum().backward()
    if B * nt * nz <= 20_000_000:     # and the case itself once (first-touch of its memory)
        once()
    rss0 = peak_rss_mib()
    runs = [once() for _ in range(repeats)]
    fwd = statistics.median(r[0] for r in runs)
    bwd = statistics.median(r[1] for r in runs)
    peak = peak_rss_mib()
    return {"B": B, "nt": nt, "nz": nz, "dt": dt, "repeats": repeats, "forward_s": fwd,
            "backward_s": bwd, "total_s": fwd + bwd, "per_set_ms": 1e3 * (fwd + bwd) / B,
            "peak_rss_mib": peak, "rss_before_mib": rss0, "threads": torch.get_num_threads(),
            "finite_gradients": all(r[2] for r in runs)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
