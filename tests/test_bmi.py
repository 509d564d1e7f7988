"""The BMI component (sebcal.bmi.SebcalBmi): the CSDMS bmi-tester, and what it does not test:
equality with `sebcal run` bit for bit, update_until, live pointers, independent instances,
rollback of a bad parameter, forcing inputs, and runs in several threads."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from sebcal.bmi import SebcalBmi
from sebcal.config import load_config
from sebcal.errors import SebcalError
from sebcal.runner import run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
T = "soil__temperature"
LAMBDA = "soil__thermal_conductivity"
QG = "land_surface_soil_conduction__heat_energy_flux"
TAIR = "land_surface_air__temperature"


def _config(tmp_path: Path, example: str, hours: int = 100, extra: str = "",
            name: str = "cfg.toml", **params: float) -> Path:
    """A copy of an example configuration with absolute data paths, a shorter run, and
    changed parameter values."""
    text = (EXAMPLES / example).read_text()
    text = text.replace('"data/', f'"{EXAMPLES}/data/').replace("hours = 200", f"hours = {hours}")
    for key, value in params.items():
        lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
        text = "\n".join(lines).replace("[parameters]", f"[parameters]\n{key} = {value!r}", 1)
    path = tmp_path / name
    path.write_text(text + "\n" + extra)
    return path


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The published model at West Phoenix (h_eff surface, uniform soil), 100 hourly steps,
    and its `sebcal run`."""
    path = _config(tmp_path_factory.mktemp("bmi"), "west_phoenix_published.toml")
    return path, run(load_config(path))


def _updates(model: SebcalBmi, n: int) -> tuple[np.ndarray, np.ndarray]:
    nz = model.get_grid_size(0)
    out = np.empty((n, nz))
    qg = np.empty(n)
    buf = np.empty(1)
    for k in range(n):
        model.update()
        model.get_value(T, out[k])
        qg[k] = model.get_value(QG, buf)[0]
    return out, qg


# ----------------------------------------------------------------------------- bmi-tester

def test_bmi_tester_passes(tmp_path):
    """bmi-tester (pinned in the Makefile, with gimli.units so that its unit checks run) on
    the published West Phoenix case in the layout examples/bmi ships for it."""
    if importlib.util.find_spec("bmi_tester") is None:
        pytest.skip("bmi-tester is not installed (make test installs bmi-tester==0.5.10)")
    if importlib.util.find_spec("gimli") is None:
        pytest.skip("gimli.units is not installed: bmi-tester would skip its unit checks")
    from gimli.units import units  # noqa: F401  (the module bmi-tester imports)

    # examples/bmi as shipped: the tester stages the folder's files (not subfolders), and the
    # config reads its forcing from beside itself
    stage = EXAMPLES / "bmi"
    exe = Path(sys.executable).with_name("bmi-test")
    proc = subprocess.run([str(exe), "sebcal.bmi:SebcalBmi", "--root-dir", str(stage),
                           "--config-file", "west_phoenix_bmi.toml"], capture_output=True,
                          text=True, cwd=stage, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "All tests passed" in out
    assert "gimli.units is not installed" not in out      # the unit checks ran
    assert " failed" not in out


# ----------------------------------------------------------------------------- our own tests

def test_100_updates_equal_the_run_bit_for_bit(published):
    path, ref = published
    m = SebcalBmi()
    m.initialize(str(path))
    assert m.get_time_step() == 3600.0 and m.get_end_time() == 100 * 3600.0
    T0 = m.get_value(T, np.empty(m.get_grid_size(0)))
    assert np.array_equal(T0, ref.T[0])
    got, qg = _updates(m, 100)
    assert np.array_equal(got, ref.T[1:])
    assert np.array_equal(qg, ref.fluxes["Qg"][1:])
    assert m.get_current_time() == m.get_end_time()
    with pytest.raises(SebcalError, match="the run is over"):
        m.update()
    m.finalize()


def test_grid_is_the_column_depth_positive_down(published):
    path, ref = published
    m = SebcalBmi()
    m.initialize(str(path))
    gid = m.get_var_grid(T)
    assert m.get_grid_type(gid) == "rectilinear" and m.get_grid_rank(gid) == 1
    x = m.get_grid_x(gid, np.empty(m.get_grid_size(gid)))
    assert np.array_equal(x, ref.z) and x[0] == 0.0 and np.all(np.diff(x) > 0)
    assert m.get_grid_shape(gid, np.empty(1, dtype=np.int32))[0] == ref.z.size
    assert m.get_var_units(T) == "K" and m.get_var_units(QG) == "W m-2"
    assert m.get_grid_type(m.get_var_grid("land_surface__temperature")) == "scalar"


def test_update_until(published):
    path, ref = published
    m = SebcalBmi()
    m.initialize(str(path))
    m.update_until(37 * 3600.0)
    assert m.get_current_time() == 37 * 3600.0
    assert np.array_equal(m.get_value(T, np.empty(ref.z.size)), ref.T[37])
    with pytest.raises(SebcalError, match="whole number of steps"):
        m.update_until(37.5 * 3600.0)
    with pytest.raises(SebcalError, match="whole number of steps"):
        m.update_until(10 * 3600.0)


def test_value_ptr_is_live(published):
    path, ref = published
    m = SebcalBmi()
    m.initialize(str(path))
    ptr = m.get_value_ptr(T)
    ts = m.get_value_ptr("land_surface__temperature")
    qg = m.get_value_ptr(QG)
    before = ptr.copy()
    m.update()
    assert not np.array_equal(ptr, before)
    assert np.array_equal(ptr, ref.T[1]) and ts[0] == ref.T[1, 0] and qg[0] == ref.fluxes["Qg"][1]
    assert m.get_value_ptr(T) is ptr
    # writing into the state's pointer changes the model's state
    ptr[:] = ref.T[1] + 1.0
    m.update()
    assert not np.array_equal(ptr, ref.T[2])
    # parameters come read-only: they are changed through set_value, which checks them
    with pytest.raises(ValueError):
        m.get_value_ptr(LAMBDA)[0] = 2.0


def test_two_instances_interleaved_equal_their_own_runs(tmp_path):
    a_cfg = _config(tmp_path, "west_phoenix_published.toml", name="a.toml", **{"lambda": 0.4})
    b_cfg = _config(tmp_path, "west_phoenix_published.toml", name="b.toml", **{"lambda": 1.6})
    ref_a, ref_b = run(load_config(a_cfg)), run(load_config(b_cfg))
    assert np.abs(ref_a.T - ref_b.T).max() > 1.0          # the two really differ
    a, b = SebcalBmi(), SebcalBmi()
    a.initialize(str(a_cfg))
    b.initialize(str(b_cfg))
    nz = ref_a.z.size
    for k in range(1, 101):
        a.update()
        b.update()
        assert np.array_equal(a.get_value(T, np.empty(nz)), ref_a.T[k]), k
        assert np.array_equal(b.get_value(T, np.empty(nz)), ref_b.T[k]), k


def test_bad_parameter_raises_and_the_instance_still_works(tmp_path, published):
    path, ref = published
    m = SebcalBmi()
    m.initialize(str(path))
    m.update_until(10 * 3600.0)
    with pytest.raises(ValueError, match="lambda.*outside its physical bounds"):
        m.set_value(LAMBDA, np.array([-0.5]))
    with pytest.raises(ValueError, match="finite"):
        m.set_value("land_surface__albedo", np.array([np.nan]))
    with pytest.raises(ValueError, match="cannot be set"):
        m.set_value(QG, np.array([1.0]))
    assert m.get_value(LAMBDA, np.empty(1))[0] == 0.8
    got, _ = _updates(m, 90)
    assert np.array_equal(got, ref.T[11:])


def test_parameter_change_between_steps_equals_a_run_with_that_value(tmp_path):
    """Changing lambda at t = 0 through set_value gives the run of a config with that value."""
    cfg = _config(tmp_path, "west_phoenix_published.toml", hours=30, **{"lambda": 1.3})
    ref = run(load_config(cfg))
    m = SebcalBmi()
    m.initialize(str(_config(tmp_path, "west_phoenix_published.toml", hours=30, name="b.toml")))
    m.set_value(LAMBDA, np.array([1.3]))
    got, _ = _updates(m, 30)
    assert np.array_equal(got, ref.T[1:])


def test_forcing_input_replaces_the_file_for_one_step(tmp_path, published):
    path, ref = published
    m = SebcalBmi()
    m.initialize(str(path))
    assert m.get_value(TAIR, np.empty(1))[0] == ref.forcing.t_air[1]
    m.set_value(TAIR, np.array([ref.forcing.t_air[1] + 5.0]))
    m.update()
    warmer = m.get_value(T, np.empty(ref.z.size))
    assert warmer[0] > ref.T[1, 0] + 0.1
    # the next input is the file's again
    assert m.get_value(TAIR, np.empty(1))[0] == ref.forcing.t_air[2]


def test_spinup_bulk_surface_equals_the_run(tmp_path):
    """The West Phoenix case with the site's physics (bulk transfer, stability, evaporation,
    spin-up initial state): the BMI's initial state and steps are those of `sebcal run`."""
    cfg = _config(tmp_path, "west_phoenix.toml", hours=48)
    ref = run(load_config(cfg))
    m = SebcalBmi()
    m.initialize(str(cfg))
    assert np.array_equal(m.get_value(T, np.empty(ref.z.size)), ref.T[0])
    names = m.get_input_var_names()
    assert "land_surface_air_flowing__speed" in names and "land_surface_air__pressure" in names
    got, _ = _updates(m, 48)
    assert np.array_equal(got, ref.T[1:])
    qle = m.get_value("land_surface__upward_component_of_latent_heat_energy_flux", np.empty(1))
    assert qle[0] == ref.fluxes["Qle"][48]


def test_crank_nicolson_carries_the_ground_heat_flux(tmp_path):
    cfg = _config(tmp_path, "west_phoenix_published.toml", hours=24,
                  extra='[solver]\ntime_scheme = "crank_nicolson"\n')
    ref = run(load_config(cfg))
    m = SebcalBmi()
    m.initialize(str(cfg))
    got, _ = _updates(m, 24)
    assert np.array_equal(got, ref.T[1:])


# ----------------------------------------------------------------------------- threads

def test_runs_in_threads_equal_serial_runs(tmp_path):
    """`sebcal run` on NetCDF forcing and BMI instances, four at once in threads: each equals
    its serial result bit for bit (NetCDF/HDF5 reads are serialised by NETCDF_LOCK)."""
    cfgs = [_config(tmp_path, "west_phoenix_published.toml", hours=48, name=f"c{i}.toml",
                    **{"lambda": 0.5 + 0.3 * i}) for i in range(4)]
    serial = [run(load_config(c)).T for c in cfgs]
    barrier = threading.Barrier(4)

    def one_run(c):
        barrier.wait()
        return run(load_config(c)).T

    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(one_run, cfgs))
    for s, t in zip(serial, threaded):
        assert np.array_equal(s, t)

    def one_bmi(c):
        m = SebcalBmi()
        m.initialize(str(c))
        barrier.wait()
        return _updates(m, 48)[0]

    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(one_bmi, cfgs))
    for s, t in zip(serial, threaded):
        assert np.array_equal(s[1:], t)
