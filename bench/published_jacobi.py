"""Faithful re-run of the published forward model and its gradient (the speed baseline).

A transcription of the published notebooks' solver as docs/theory.md sec. 5.3 describe it
(Huang, Heaney & van Reeuwijk, RuiyueH/SEB-model): a ``torch.nn.Conv1d(1, 1, 3, bias=False)``
whose weight is set to [1, 0, 1] through ``.weight.data`` (and keeps requires_grad=True, as
published), Jacobi sweeps with first guess T^n, simultaneous update, lagged T0^3 and the
increment stop ``while err > tol`` (tol 1e-4 K), autograd through every sweep, six scalar
parameters as 1-element float64 leaf tensors, and the 1-depth loss (MSE of node 5 against
Target_T2.txt, all 101 levels). It is *not* sebcal code: it only serves as the baseline timing,
measured in the same process as the sebcal timings.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


class HeatEqConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size=3, padding="valid", bias=False)
        self.conv.weight.data = torch.tensor([[[1.0, 0.0, 1.0]]], dtype=torch.float64)

    def forward(self, x):
        return self.conv(x)


def synthetic_forcing(nt: int = 100, dt: float = 3600.0):
    t = np.arange(nt + 1) * dt
    t24 = np.mod(t, 86400.0)
    trise, tset = 7 * 3600.0, 21 * 3600.0
    theta = ((t24 - trise) / (tset - trise) * math.pi / 2
             + (t24 - tset) / (tset - trise) * math.pi / 2)
    theta = np.clip(theta, -math.pi / 2, math.pi / 2)
    K = torch.tensor(800.0 * np.cos(theta), dtype=torch.float64)
    L = torch.full((nt + 1,), 100.0, dtype=torch.float64)
    Ta = torch.full((nt + 1,), 296.0, dtype=torch.float64)
    return K, L, Ta


def forward(alpha, h, beta, Lambda, Tb, C, K, L, Ta, nt=100, nx=101, dx=0.01, dt=3600.0,
            eps=0.95, sig=5.67e-8, tol=1e-4):
    """The published time loop: returns T at node 5 for levels 0..nt and the sweep count."""
    conv = HeatEqConv()
    r = Lambda / C * dt / dx ** 2
    hb = h * (1 + 1 / beta)
    T = Tb * torch.ones(1, 1, nx, dtype=torch.float64)
    out = [T[0, 0, 5:6]]
    sweeps = 0
    for n in range(nt):
        Tn = T
        Tk = Tn
        err = 1e9
        while err > tol:
            interior = 1 / (1 + 2 * r) * (r * conv(Tk) + Tn[:, :, 1:-1])
            top = (Tn[0, 0, 0:1] + 2 * r * (Tk[0, 0, 1:2] + dx / Lambda
                                            * (K[n + 1] * (1 - alpha) + L[n + 1] + hb * Ta[n + 1])))
            top = top / (1 + 2 * r * (1 + dx / Lambda * (hb + sig * eps * Tk[0, 0, 0:1] ** 3)))
            Tnew = torch.cat((top, interior[0, 0], Tb)).view(1, 1, nx)
            err = float(torch.max(torch.abs(Tnew - Tk)).detach())
            Tk = Tnew
            sweeps += 1
        T = Tk
        out.append(T[0, 0, 5:6])
    return torch.cat(out), sweeps


def run(threads: int | None = None) -> dict:
    """One forward + backward of the 100-h 1-depth loss at the true parameters (timed)."""
    if threads:
        torch.set_num_threads(threads)
    K, L, Ta = synthetic_forcing()
    target = torch.tensor(np.loadtxt(ROOT / "examples" / "data" / "paper" / "Target_T2.txt"))
    leaf = lambda v: torch.tensor([v], dtype=torch.float64, requires_grad=True)  # noqa: E731
    alpha, h, beta, Lambda, Tb, C = (leaf(v) for v in (0.2, 15.0, 1.5, 0.8, 293.0, 2.2e6))
    t0 = time.perf_counter()
    T5, sweeps = forward(alpha, h, beta, Lambda, Tb, C, K, L, Ta)
    loss = nn.MSELoss()(T5, target)
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    return {"forward_s": t1 - t0, "backward_s": t2 - t1, "total_s": t2 - t0, "sweeps": sweeps,
            "loss": float(loss.detach()), "grad_Lambda": float(Lambda.grad[0])}


if __name__ == "__main__":
    print(run())
