"""`sebcal calibrate`: multi-start calibration with checkpoints, error bars and a report."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import RunConfig, load_config
from ..errors import ConfigError, SebcalError
from ..observations import load_observations, prepare, windows
from ..output import write_text
from ..runner import forcing_for
from .analysis import identifiability, laplace
from .objective import Objective
from .optimize import OptimState, adam, hessian, lbfgs
from .space import Space

SCHEMA_VERSION = 2


def calibration_settings(config: RunConfig) -> dict[str, Any]:
    """The [calibration] table with defaults filled (validated by the config schema)."""
    if config.calibration is not None:
        return dict(config.calibration)
    from ..config import CalibrationTable

    return {k: f.default for k, f in CalibrationTable.model_fields.items()}


@dataclass
class CalibrationResult:
    """What `calibrate` found and wrote."""

    out_dir: Path
    params: dict            # the params.json content
    best: dict[str, float]  # best-fit free parameters (physical units)
    failed: int             # starts dropped because they went to NaN


def _fingerprint(config: RunConfig, settings: Mapping[str, Any]) -> str:
    d = config.to_dict()
    d["calibration"] = dict(settings)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def calibrate(config: RunConfig | str | Path, out_dir: str | Path, *, resume: bool = False,
              progress: bool = True, starts: int | None = None, figures: bool = True,
              log=print) -> CalibrationResult:
    """Calibrate the free parameters of a configuration against its observations.

    Args:
        config: a RunConfig or the path of its TOML file (with [observations.*] and
            [calibration] tables; docs/calibration.md).
        out_dir: folder for params.json, simulation.nc, report.md and the figures (created).
        resume: continue from ``out_dir/checkpoint.json`` (written during the run).
        progress: show a progress bar.
        starts: override the number of starts.
        figures: write the PNG figures.
        log: where progress messages go.

    Returns:
        the :class:`CalibrationResult`.
    """
    t_start = time.perf_counter()
    if not isinstance(config, RunConfig):
        config = load_config(config)
    settings = calibration_settings(config)
    if starts is not None:
        settings["starts"] = int(starts)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    obs = load_observations(config)
    win = windows(config)
    forcing = forcing_for(config)
    config = prepare(config, forcing, obs)
    space = Space.build(settings["free"], config.full_params(), config.spec.nlayers,
                        settings["start_range"], settings["bounds"])
    if "T_init" in space.free and config.init != "uniform":
        raise ConfigError(f"{config.path or 'config'}: [calibration] free has T_init, which needs "
                          f"[initial] kind = \"uniform\" (got \"{config.init}\"): a spin-up or a "
                          "given profile already sets the initial state")
    objective = Objective(config.spec, forcing, obs, win.calibration, space)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    ckpt = out_dir / "checkpoint.json"
    fp = _fingerprint(config, settings)
    drawn = space.draw(settings["starts"], settings["seed"])
    u0 = space.to_u(drawn)
    state = OptimState(u0, np.full(len(u0), np.nan), np.zeros(len(u0), bool),
                       np.zeros(len(u0), bool))
    if resume:
        if not ckpt.exists():
            raise SebcalError(f"--resume: no checkpoint at {ckpt}; run without --resume first")
        saved = json.loads(ckpt.read_text())
        if saved.get("fingerprint") != fp:
            raise SebcalError(f"--resume: {ckpt} belongs to a different configuration or "
                              "settings; remove it or run without --resume")
        state = OptimState.from_dict(saved["state"])
        log(f"resuming from {ckpt}: stage {state.stage}, iteration {state.iteration}")

    total = settings["adam_iterations"] + settings["lbfgs_iterations"]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        # disable=None: a bar on a terminal, nothing in a log file or CI
        bar = tqdm(total=total, desc="calibrating", unit="it", leave=True, disable=None,
                   mininterval=0.5)
        done = state.iteration + (settings["adam_iterations"] if state.stage != "adam" else 0)
        bar.update(min(done, total))

    def checkpoint(st: OptimState) -> None:
        write_text(ckpt, json.dumps({"fingerprint": fp, "state": st.to_dict()}))
        if bar is not None:
            bar.update(1)
            if st.history:
                bar.set_postfix(stage=st.stage, best_loss=f"{st.history[-1]:.3e}",
                                failed=int(st.failed.sum()))

    try:
        if state.stage == "adam":
            state = adam(objective, state, settings["adam_iterations"], settings["adam_lr"],
                         callback=checkpoint)
            write_text(ckpt, json.dumps({"fingerprint": fp, "state": state.to_dict()}))
        if state.stage == "lbfgs":
            state = lbfgs(objective, state, settings["lbfgs_iterations"], ftol=settings["ftol"],
                          gtol=settings["gtol"], callback=checkpoint)
            write_text(ckpt, json.dumps({"fingerprint": fp, "state": state.to_dict()}))
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        raise SebcalError(f"interrupted: the last complete iteration is saved in {ckpt}; "
                          "continue with --resume") from None
    finally:
        if bar is not None:
            bar.close()

    ok = ~state.failed & np.isfinite(state.loss)
    if not ok.any():
        raise SebcalError("every start failed (the loss became NaN or infinite): check the "
                          "observations, their sigma and the prior ranges")
    best = int(np.nanargmin(np.where(ok, state.loss, np.nan)))
    phys_all = space.to_phys_np(state.u)
    phys_best = {k: float(v[best]) for k, v in phys_all.items()}
    H = hessian(objective, state.u[best:best + 1])[0]
    lap = laplace(space, phys_best, H, float(state.loss[best]), objective.n_terms)
    finals = [{k: float(v[b]) for k, v in phys_all.items()} for b in range(len(state.u))]
    ident = identifiability(space, phys_best, lap, [f for f, g in zip(finals, ok) if g],
                            [float(x) for x, g in zip(state.loss, ok) if g])

    from .report import write_outputs

    params = write_outputs(out_dir, config, settings, space, obs, win, forcing, state, drawn,
                           phys_best, lap, ident, figures=figures,
                           elapsed=time.perf_counter() - t_start)
    if ckpt.exists():
        ckpt.unlink()
    nf = int(state.failed.sum())
    if nf:
        log(f"{nf} of {len(state.u)} starts failed (loss NaN/inf) and were dropped")
    return CalibrationResult(out_dir, params, phys_best, nf)


__all__ = ["calibrate", "CalibrationResult", "calibration_settings", "SCHEMA_VERSION"]
