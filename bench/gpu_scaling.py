"""The PyTorch mirror on a GPU against the same machine's CPU: parity, and the batch sizes at
which the GPU pays (forward + backward of the published column, the loss on the soil
temperature at 5 and 15 cm, B parameter sets).

Needs only torch, numpy and pydantic (no Fortran build): run it on a GPU machine with
``PYTHONPATH=python python bench/gpu_scaling.py [--deadline SECONDS] [--json FILE]``.
Prints a markdown table (docs/performance.md, "The GPU path"); cases are skipped, and said so,
once the deadline is near.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch


def setup(B: int, nt: int, nz: int, device: str, dt: float = 3600.0):
    from sebcal.autodiff import SoilColumn, observe
    from sebcal.forcing import paper_synthetic
    from sebcal.spec import ModelSpec, uniform_grid

    fc = paper_synthetic(nt, dt)
    z, dx = uniform_grid(1.0, nz)
    model = SoilColumn(ModelSpec(z, dx=dx, dt=dt)).to(device)
    gen = torch.Generator().manual_seed(0)
    u = torch.rand(B, 6, generator=gen, dtype=torch.float64)
    base = {"alpha": 0.05 + 0.45 * u[:, 0], "eps": 0.9 + 0.1 * u[:, 1],
            "lambda": 0.47 + 0.33 * u[:, 2], "C": 2e6 + 0.5e6 * u[:, 3],
            "T_b": 290 + 13 * u[:, 4], "h_eff": 6.45 + 24 * u[:, 5]}
    data = {k: torch.tensor(np.asarray(v, dtype=np.float64), device=device)
            for k, v in fc.data.items()}

    def once(keep: bool = False):
        p = {k: v.to(device).clone().requires_grad_() for k, v in base.items()}
        t0 = time.perf_counter()
        out = model(data, p)
        obs = observe.soil_temperature(out.T, out.z, [0.05, 0.15])
        loss = ((obs - 295.0) ** 2).mean()
        if device == "cuda":
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        loss.backward()
        if device == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        res = (t1 - t0, t2 - t1)
        if keep:
            return res, out.T.detach().cpu(), {k: v.grad.detach().cpu() for k, v in p.items()}
        return res, None, None
    return once


def parity() -> dict:
    """CPU and GPU on the same 8 parameter sets: largest |dT| and gradient difference."""
    _, Tc, gc = setup(8, 100, 101, "cpu")(keep=True)
    _, Tg, gg = setup(8, 100, 101, "cuda")(keep=True)
    dT = float((Tc - Tg).abs().max())
    rel = max(float(((gc[k] - gg[k]).abs() / gc[k].abs().clamp_min(1e-300)).max()) for k in gc)
    return {"max_abs_dT_K": dT, "max_rel_grad": rel}


def table(rows: list[dict]) -> str:
    out = ["| B | steps | nodes | GPU forward + backward [s] | GPU peak [GiB] | "
           "CPU forward + backward [s] | GPU speed-up |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        g, c = r["cuda"], r["cpu"]
        gt = g["forward_s"] + g["backward_s"] if isinstance(g, dict) else None
        ct = c["forward_s"] + c["backward_s"] if isinstance(c, dict) else None
        out.append(" | ".join([
            f"| {r['B']}", str(r["nt"]), str(r["nz"]),
            f"{gt:.3f}" if gt is not None else str(g),
            f"{g['peak_gib']:.2f}" if isinstance(g, dict) and 'peak_gib' in g else "–",
            f"{ct:.3f}" if ct is not None else str(c),
            f"{ct / gt:.1f}x" if gt and ct else "–"]) + " |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deadline", type=float, default=400.0, help="seconds for all cases")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure")
        return 1
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", os.cpu_count() or 1)))
    info = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads()}
    print(info, flush=True)
    info["parity"] = parity()
    print("parity", info["parity"], flush=True)
    cases = [(1, 100, 101), (10, 100, 101), (100, 100, 101), (1000, 100, 101),
             (10000, 100, 101), (100000, 100, 101), (10, 17520, 101), (1000, 17520, 101)]
    rows = []
    for B, nt, nz in cases:
        row = {"B": B, "nt": nt, "nz": nz}
        for device in ("cuda", "cpu"):
            left = args.deadline - (time.perf_counter() - t_start)
            if device == "cpu" and B * nt > 1_000_000:
                row[device] = "not run (CPU case too long for the lease)"
                continue
            if left < 30:
                row[device] = "not run (deadline)"
                continue
            try:
                once = setup(B, nt, nz, device)
                once()                                   # warm-up (kernels, allocator)
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                (f, b), _, _ = once()
                row[device] = {"forward_s": f, "backward_s": b}
                if device == "cuda":
                    row[device]["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
            except (RuntimeError, MemoryError) as exc:    # out of memory, said in the table
                row[device] = f"failed: {str(exc).splitlines()[0][:80]}"
            finally:
                if device == "cuda":
                    torch.cuda.empty_cache()
        rows.append(row)
        print(json.dumps(row), flush=True)
    info["rows"] = rows
    print(table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(info, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
