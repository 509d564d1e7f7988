"""Multi-site calibration (sebcal.calibration.multisite, `sebcal calibrate-sites`): shared and
per-site parameters fitted jointly, groups on Dask with the same results, failures of one
group reported while the others finish."""
from __future__ import annotations

import json

import netCDF4
import numpy as np
import pytest

from conftest import ROOT
from sebcal.calibration.multisite import (
    JointProblem,
    _global_coordinates,
    _prepare_site,
    calibrate_sites,
    load_multisite,
    write_results,
)
from sebcal.cli import main
from sebcal.errors import ConfigError

EX = ROOT / "examples"
TRUTH = {"alpha": 0.2, "h_eff": 25.0, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0}


def _file(tmp_path, shared: str = 'lambda = "soil"\nC = "soil"', extra: str = "",
          starts: int = 6) -> str:
    text = f"""
[multisite]
starts = {starts}
seed = 1

[multisite.shared]
{shared}

[[sites]]
name = "two-depth"
config = "{EX / 'paper_synthetic_2depth.toml'}"
soil = "synthetic"

[[sites]]
name = "one-depth"
config = "{EX / 'paper_synthetic_1depth.toml'}"
soil = "synthetic"

[[sites]]
name = "West Phoenix"
config = "{EX / 'west_phoenix.toml'}"
soil = "phoenix"
{extra}"""
    path = tmp_path / "sites.toml"
    path.write_text(text)
    return str(path)


def test_groups_follow_the_shared_values(tmp_path):
    ms = load_multisite(_file(tmp_path))
    assert ms.groups() == [[0, 1], [2]]
    ms = load_multisite(_file(tmp_path, shared='lambda = "all"'))
    assert ms.groups() == [[0, 1, 2]]
    ms = load_multisite(_file(tmp_path, shared=""))
    assert ms.groups() == [[0], [1], [2]]


@pytest.mark.parametrize("edit, words", [
    ('soil = "phoenix"', "site(s) West Phoenix do not give"),
    ('name = "one-depth"', "site names repeat"),
    ("starts = 6", "unknown key(s) colour"),
])
def test_bad_multisite_files_say_what_to_fix(tmp_path, edit, words):
    text = open(_file(tmp_path)).read()
    if edit.startswith("soil"):
        text = text.replace(edit, "")
    elif edit.startswith("name"):
        text = text.replace('name = "West Phoenix"', edit)
    else:
        text = text.replace(edit, edit + '\ncolour = "red"')
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_multisite(tmp_path / "bad.toml")


def test_joint_jacobian_is_the_derivative_of_the_joint_residuals(tmp_path):
    """The sites' exact Jacobians placed in the global columns equal central differences of
    the stacked residuals (a shared column gets both sites' rows)."""
    ms = load_multisite(_file(tmp_path))
    sites = [_prepare_site(ms.sites[i]) for i in (0, 1)]
    coords, columns = _global_coordinates(ms, sites)
    assert [g["label"] for g in coords].count("lambda") == 1          # shared once
    assert len(coords) == 8                                             # 3 + 3 own, 2 shared
    jp = JointProblem(sites, columns, len(coords))
    u = np.linspace(-0.3, 0.3, len(coords))[None]
    ev = jp.evaluate(u, jac=True)
    h = 1e-4          # the Newton tolerance (1e-10 K) over h bounds the differences' noise
    for k in range(len(coords)):
        e = np.zeros_like(u)
        e[0, k] = h
        fd = (jp.evaluate(u + e, jac=False).r - jp.evaluate(u - e, jac=False).r) / (2 * h)
        scale = np.abs(ev.J[0, :, k]).max()
        assert scale > 0
        assert np.abs(fd[0] - ev.J[0, :, k]).max() <= 1e-5 * scale, coords[k]["label"]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ms")
    ms = load_multisite(_file(tmp))
    return ms, calibrate_sites(ms)


def test_shared_values_are_fitted_jointly(serial, tmp_path):
    ms, res = serial
    assert res.failed_sites == []
    sites = {s["name"]: s for s in res.site_results()}
    two, one, wp = sites["two-depth"], sites["one-depth"], sites["West Phoenix"]
    # one value of lambda and C for the two synthetic sites, the truth within 1 %
    assert two["values"]["lambda"] == one["values"]["lambda"]
    assert two["values"]["C"] == one["values"]["C"]
    for s in (two, one):
        for k, v in TRUTH.items():
            assert abs(s["values"][k] - v) <= 0.01 * abs(v), (s["name"], k)
    assert two["shared"] == wp["shared"] == {"lambda": "soil", "C": "soil"}
    # West Phoenix (soil "phoenix") is its own group, with its own (plausible) soil
    assert 0.1 < wp["values"]["lambda"] < 3.0 and wp["std"]["lambda"] > 0
    jpath, npath = write_results(res, tmp_path)
    with netCDF4.Dataset(npath) as ds:
        assert ds.dimensions["site"].size == 3
        assert list(ds["site"][:]) == ["two-depth", "one-depth", "West Phoenix"]
        lam = ds["lambda"][:]
        assert lam[0] == lam[1] == two["values"]["lambda"] and lam[2] == wp["values"]["lambda"]
        assert ds["lambda"].units == "W m-1 K-1" and ds["lambda"].shared_by == "soil"
        assert np.all(ds["lambda_std"][:] > 0)
    doc = json.loads(jpath.read_text())
    assert [g["sites"] for g in doc["groups"]] == [["two-depth", "one-depth"], ["West Phoenix"]]
    shared = [c for c in doc["groups"][0]["coordinates"] if c["shared"]]
    assert {c["label"] for c in shared} == {"lambda", "C"}
    assert all(c["sites"] == ["two-depth", "one-depth"] for c in shared)


def test_dask_local_cluster_gives_the_same_results(serial):
    distributed = pytest.importorskip("distributed",
                                      reason="dask.distributed is not installed "
                                             "(make test installs it)")
    ms, ref = serial
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        res = calibrate_sites(ms, client)
    assert res.engine == "dask"
    for a, b in zip(ref.site_results(), res.site_results()):
        assert a["name"] == b["name"]
        assert a["values"] == b["values"]          # bit for bit: the same computation
        assert a["std"] == b["std"]


def test_a_failing_site_is_reported_and_the_others_finish(tmp_path, capsys):
    broken = tmp_path / "broken.toml"
    broken.write_text((EX / "paper_synthetic_2depth.toml").read_text()
                      .replace('"data/paper/Target_T2.txt"', '"no/such/file.txt"')
                      .replace('"data/', f'"{EX}/data/'))
    extra = f'\n[[sites]]\nname = "broken"\nconfig = "{broken}"\nsoil = "other"\n'
    path = _file(tmp_path, shared="", extra=extra, starts=3)
    rc = main(["calibrate-sites", path, "--out", str(tmp_path / "out")])
    cap = capsys.readouterr()
    assert rc == 4
    assert "broken" in cap.err and "FAILED" in cap.out and "no/such/file.txt" in cap.out
    doc = json.loads((tmp_path / "out" / "sites.json").read_text())
    status = {s["name"]: s["failed"] for s in doc["sites"]}
    assert status == {"two-depth": False, "one-depth": False, "West Phoenix": False,
                      "broken": True}
    with netCDF4.Dataset(tmp_path / "out" / "sites.nc") as ds:
        assert list(ds["failed"][:]) == [0, 0, 0, 1]
        assert np.isnan(ds["lambda"][:].filled(np.nan)[3])


def test_the_bundled_multisite_example_loads():
    ms = load_multisite(EX / "sites.toml")
    assert [s.name for s in ms.sites] == ["US-WestPhoenix", "US-Baltimore", "US-UTD Dugout Ranch"]
    assert all(s.config.is_file() for s in ms.sites) and ms.groups() == [[0], [1], [2]]
