"""Observations named the way flux-tower files name them: PLUMBER2 and FLUXNET names without a
``name`` key, soil-temperature depths stated by the file (and contradictions refused) or taken
from [site] soil_depths by the AmeriFlux position qualifier of the column name."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT
from sebcal.config import load_config
from sebcal.errors import ConfigError, ForcingError
from sebcal.observations import load_observations, qualifier_depth

EX = ROOT / "examples"
WP_OBS = EX / "data" / "US-WestPhoenix_clean_observations_v1.nc"


@pytest.fixture(scope="module")
def wp():
    return load_config(EX / "west_phoenix.toml")


def test_depth_from_the_file_and_a_contradiction_refused(wp):
    (obs,) = load_observations(wp, {"T": {"variable": "SoilTemp", "file": str(WP_OBS)}})
    assert obs.depth == pytest.approx(0.02)       # "SoilTemp at 2cm depth." in the file
    with pytest.raises(ConfigError, match=r"depth = 0.05 m contradicts the file.*0.02 m"):
        load_observations(wp, {"T": {"variable": "SoilTemp", "file": str(WP_OBS),
                                     "depth": 0.05}})


def test_fluxnet_names_are_found_without_a_name_key(wp, tmp_path):
    xr = pytest.importorskip("xarray")
    with xr.open_dataset(WP_OBS) as ds:
        src = ds[["SoilTemp", "Qh", "Qle"]].load()
    renamed = src.rename({"SoilTemp": "TS_F_MDS_1", "Qh": "H_F_MDS", "Qle": "LE"})
    renamed.attrs = {}                              # no depth sentence: depth from the config
    renamed["TS_F_MDS_1"] = renamed.TS_F_MDS_1 - 273.15
    renamed["TS_F_MDS_1"].attrs["units"] = "degC"
    path = tmp_path / "fluxnet_names.nc"
    renamed.to_netcdf(path)
    ref = {o.label: o for o in load_observations(wp, {
        "T": {"variable": "SoilTemp", "file": str(WP_OBS)},
        "H": {"variable": "Qh", "file": str(WP_OBS)},
        "LE": {"variable": "Qle", "file": str(WP_OBS)}})}
    got = {o.label: o for o in load_observations(wp, {
        "T": {"variable": "SoilTemp", "file": str(path), "depth": 0.02},
        "H": {"variable": "Qh", "file": str(path)},
        "LE": {"variable": "Qle", "file": str(path)}})}
    for k in ref:
        both = np.isfinite(ref[k].values)
        assert np.array_equal(both, np.isfinite(got[k].values)), k
        # degC written as float32 then converted back: agreement to float32 round-off
        np.testing.assert_allclose(got[k].values[both], ref[k].values[both], rtol=0, atol=1e-4)


def test_a_missing_observation_recommends_the_observation_key(wp):
    with pytest.raises(ForcingError, match=r'\[observations.G\] name = "<name in file>"'):
        load_observations(wp, {"G": {"variable": "Qg", "file": str(WP_OBS)}})


def test_qualifier_depths():
    table = {"1_2": 0.10, "1_3_2": 0.25}
    assert qualifier_depth("TS_1_2_1", table, "T") == 0.10
    assert qualifier_depth("T_1_3_2", table, "T") == 0.25      # the full qualifier first
    assert qualifier_depth("TS_1_2_1", None, "T") is None
    assert qualifier_depth("SoilTemp", table, "T") is None      # no qualifier: no lookup
    with pytest.raises(ConfigError, match=r"1_9_1.*soil_depths.*\"1_9\" = DEPTH_M"):
        qualifier_depth("T_1_9_1", table, "T")


def test_dugout_depths_from_the_site_table():
    """The Dugout Ranch example gives no depth in its soil-temperature tables: the CSV columns
    T_1_V_1 take theirs from [site.soil_depths] (the SoilVUE10 depths)."""
    cfg = load_config(EX / "dugout_ranch.toml")
    depths = {k: o["depth"] for k, o in cfg.observations.items() if o["variable"] == "SoilTemp"}
    assert depths == {"T5": 0.05, "T10": 0.10, "T20": 0.20, "T30": 0.30, "T40": 0.40,
                      "T50": 0.50, "T60": 0.60, "T75": 0.75, "T100": 1.00}
    assert "depth =" not in (EX / "dugout_ranch.toml").read_text().split("[observations.T5]")[1] \
        .split("[observations.LWup]")[0]
    spec = {k: v for k, v in cfg.observations["T20"].items() if k != "depth"}
    (obs,) = load_observations(cfg, {"T20": cfg.observations["T20"]})
    (ref,) = load_observations(cfg, {"T20": {**spec, "depth": 0.2}})
    assert obs.depth == ref.depth == 0.2
    assert np.array_equal(obs.values, ref.values, equal_nan=True)


def test_a_qualifier_missing_from_the_site_table_names_the_key(tmp_path):
    text = (EX / "dugout_ranch.toml").read_text().replace('"data/', f'"{EX}/data/')
    text = text.replace('"1_3" = 0.20\n', "", 1)
    path = tmp_path / "dugout.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"observations.T20.*1_3_1.*soil_depths"):
        load_config(path)
