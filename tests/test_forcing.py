"""Tests of sebcal.forcing: the paper's synthetic forcing and the ALMA NetCDF reader.

Reference numbers come from the published model (docs/theory.md sec. 5.1: hourly K_down) and
from an independent inspection of the Urban-PLUMBER US-WestPhoenix file (docs/forcing.md,
"The bundled West Phoenix file": window ranges of SWdown, LWdown and Tair). Error cases use
small NetCDF files written in tmp_path.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from sebcal.errors import ForcingError
from sebcal.forcing import (
    ALIASES,
    Forcing,
    file_time_range,
    load_forcing,
    paper_synthetic,
    read_alma,
    variable_depth,
)

DATA = Path(__file__).parents[1] / "examples" / "data"
WP = DATA / "US-WestPhoenix_clean_observations_v1.nc"
WP_START = "2012-05-01T07:00:00"

# docs/theory.md sec. 5.1: K_down at 07..21 h (published forward notebook)
PAPER_KDOWN_07_21 = [0.0, 178.0167, 347.1070, 498.7918, 625.4652, 720.7751, 779.9423, 800.0,
                     779.9423, 720.7751, 625.4652, 498.7918, 347.107, 178.0167, 0.0]


def write_nc(path, seconds, variables, *, time_units="seconds since 2012-05-01T00:00:00",
             time_dtype="i4", attrs=None):
    """Write an Urban-PLUMBER-like file.

    variables: name -> dict(values=..., units=..., qc=None, fill=-999., depth=None); values may
    contain NaN, written as the fill value.
    """
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", len(seconds))
        t = ds.createVariable("time", time_dtype, ("time",))
        t.units = time_units
        t.calendar = "standard"
        t[:] = np.asarray(seconds)
        for key, value in (attrs or {}).items():
            ds.setncattr(key, value)
        for name, spec in variables.items():
            fill = spec.get("fill", -999.0)
            v = ds.createVariable(name, "f4", ("time",), fill_value=fill)
            if spec.get("units") is not None:
                v.units = spec["units"]
            if spec.get("depth") is not None:
                v.depth = spec["depth"]
            vals = np.asarray(spec["values"], dtype=np.float64)
            v[:] = np.ma.masked_invalid(vals)
            if spec.get("qc") is not None:
                q = ds.createVariable(f"{name}_qc", "i1", ("time",))
                q[:] = np.asarray(spec["qc"], dtype=np.int8)
    return path


def half_hourly(n, first=0):
    """n stamps 1800 s apart starting at 2012-05-01T00:00 + first s."""
    return first + 1800 * np.arange(n)


# ------------------------------------------------------------------------------------------
# synthetic forcing
# ------------------------------------------------------------------------------------------


def test_paper_synthetic_matches_published_table():
    f = paper_synthetic()
    assert f.nt == 100 and f.time.size == 101 and f.dt == 3600.0
    assert f.source == "paper_synthetic"
    np.testing.assert_allclose(f.sw_down[7:22], PAPER_KDOWN_07_21, rtol=0, atol=1e-4)
    # the same day repeats (t = 0 is local midnight of day 1)
    np.testing.assert_allclose(f.sw_down[31:46], PAPER_KDOWN_07_21, rtol=0, atol=1e-4)
    # night values are 800 cos(pi/2) ~ 4.9e-14, kept as the published code had them
    night = np.r_[f.sw_down[0:7], f.sw_down[22:24]]
    np.testing.assert_array_equal(night, 800.0 * np.cos(np.pi / 2))
    assert 4.8e-14 < night[0] < 5.0e-14
    assert np.all(f.lw_down == 100.0) and np.all(f.t_air == 296.0)
    assert f.time[0] == np.datetime64("2000-01-01T00:00:00")
    assert f.time[-1] == np.datetime64("2000-01-05T04:00:00")
    assert f.sw_down.dtype == np.float64


def test_paper_synthetic_options_and_time_axis():
    f = paper_synthetic(nt=48, dt=1800.0, start="2012-05-01T07:00:00Z", k_peak=1000.0,
                        lw_down=350.0, t_air=300.0, sunrise_h=6.0, sunset_h=18.0)
    assert f.nt == 48 and f.time[1] - f.time[0] == np.timedelta64(1800, "s")
    assert f.time[0] == np.datetime64("2012-05-01T07:00:00")
    assert f.sw_down[24] == pytest.approx(1000.0)     # solar noon 12 h, index 24 at 30 min
    assert f.sw_down[12] == pytest.approx(0.0, abs=1e-10)   # sunrise 06 h
    assert f.sw_down[36] == pytest.approx(0.0, abs=1e-10)   # sunset 18 h
    assert np.all(f.lw_down == 350.0) and np.all(f.t_air == 300.0)


def test_forcing_is_frozen_and_read_only():
    f = paper_synthetic(nt=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.dt = 10.0
    with pytest.raises(ValueError):
        f.sw_down[0] = 1.0
    with pytest.raises(ForcingError, match="SWdown has 2 values"):
        Forcing(time=f.time, dt=3600.0, data={"SWdown": [1.0, 2.0], "LWdown": f.lw_down,
                                              "Tair": f.t_air}, source="x")


@pytest.mark.parametrize("kwargs, match", [
    (dict(nt=-1), "nt"), (dict(dt=0.0), "dt"), (dict(dt=1.5), "whole number"),
    (dict(sunrise_h=21.0, sunset_h=7.0), "sunrise_h"), (dict(start="yesterday"), "start"),
])
def test_paper_synthetic_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ForcingError, match=match):
        paper_synthetic(**kwargs)


# ------------------------------------------------------------------------------------------
# the West Phoenix file (numbers in docs/forcing.md, checked by an independent inspection)
# ------------------------------------------------------------------------------------------


def test_wp_window_matches_published_statistics():
    d = read_alma(WP, ["SWdown", "LWdown", "Tair"], WP_START, 200, 3600.0)
    assert d["time"].dtype == np.dtype("datetime64[s]")
    assert d["time"][0] == np.datetime64(WP_START)
    assert d["time"][-1] == np.datetime64("2012-05-09T15:00:00")
    for key in ("SWdown", "LWdown", "Tair"):
        assert d[key].shape == (201,) and d[key].dtype == np.float64
        assert np.all(np.isfinite(d[key]))
    fit = slice(0, 151)                                   # hours 0..150
    assert d["SWdown"][fit].max() == pytest.approx(1022.0, abs=1.0)
    assert d["Tair"][fit].min() == pytest.approx(293.91, abs=0.01)
    assert d["Tair"][fit].max() == pytest.approx(306.02, abs=0.01)
    assert d["Tair"][fit].mean() == pytest.approx(300.29, abs=0.01)
    assert d["LWdown"][fit].min() == pytest.approx(309.1, abs=0.05)
    assert d["LWdown"][fit].max() == pytest.approx(386.8, abs=0.05)


def test_wp_file_time_range_and_depth():
    first, last, step = file_time_range(WP)
    assert first == np.datetime64("2011-12-16T18:30:00")
    assert last == np.datetime64("2013-01-01T06:30:00")
    assert step == 1800.0
    assert variable_depth(WP, "SoilTemp") == 0.02
    assert variable_depth(WP, "Tair") is None


def test_wp_mean_differs_from_sample_and_equals_hand_mean():
    sample = read_alma(WP, ["SWdown"], WP_START, 200, 3600.0)["SWdown"]
    mean = read_alma(WP, ["SWdown"], WP_START, 200, 3600.0, resample="mean")["SWdown"]
    assert np.abs(mean - sample).max() > 50.0             # half-hours differ a lot in the morning
    # hand computation at level 10 (2012-05-01T17:00 UTC): the periods ending 16:30 and 17:00
    with netCDF4.Dataset(WP) as ds:
        secs = ds["time"][:].astype(np.int64)
        ref = np.datetime64("2011-12-16T18:30:00")
        t_end = (np.datetime64("2012-05-01T17:00:00") - ref).astype(np.int64)
        i = int(np.flatnonzero(secs == t_end)[0])
        raw = ds["SWdown"][i - 1:i + 1].astype(np.float64)
    assert mean[10] == pytest.approx((raw[0] + raw[1]) / 2.0, abs=1e-9)
    assert sample[10] == pytest.approx(raw[1], abs=1e-9)


def test_wp_observations_qle_gap_reported_and_soiltemp_read():
    d = read_alma(WP, ["SoilTemp", "LWup", "Qh"], WP_START, 200, 3600.0)
    assert 294.0 < d["SoilTemp"][:151].min() < 295.0
    with pytest.raises(ForcingError, match="Qle") as exc:
        read_alma(WP, ["Qle"], WP_START, 200, 3600.0)
    assert "2012-05-09T04:00:00" in str(exc.value)
    filled = read_alma(WP, ["Qle"], WP_START, 200, 3600.0, gap_policy="interpolate")
    assert np.all(np.isfinite(filled["Qle"]))


# ------------------------------------------------------------------------------------------
# resampling on small files
# ------------------------------------------------------------------------------------------


def test_sample_interpolates_between_stamps(tmp_path):
    secs = 3600 * np.arange(6)
    vals = np.array([290.0, 292.0, 296.0, 294.0, 291.0, 290.0])
    p = write_nc(tmp_path / "h.nc", secs, {"Tair": dict(values=vals, units="K")})
    d = read_alma(p, ["Tair"], "2012-05-01T00:30:00", 4, 3600.0)
    np.testing.assert_allclose(d["Tair"], [291.0, 294.0, 295.0, 292.5, 290.5], atol=1e-12)
    # a stamp equal to t_n gives the stored value
    d = read_alma(p, ["Tair"], "2012-05-01T01:00:00", 2, 3600.0)
    np.testing.assert_allclose(d["Tair"], [292.0, 296.0, 294.0], atol=1e-12)


def test_mean_averages_periods_ending_in_step(tmp_path):
    vals = np.arange(10, dtype=float) * 10.0 + 100.0       # 100, 110, ..., 190 W m-2
    p = write_nc(tmp_path / "m.nc", half_hourly(10), {"SWdown": dict(values=vals, units="W/m2")})
    d = read_alma(p, ["SWdown"], "2012-05-01T01:00:00", 3, 3600.0, resample="mean")
    # level at 01:00 averages the periods ending 00:30 and 01:00 (stamps mark period ends)
    np.testing.assert_allclose(d["SWdown"], [115.0, 135.0, 155.0, 175.0], atol=1e-12)
    s = read_alma(p, ["SWdown"], "2012-05-01T01:00:00", 3, 3600.0)
    np.testing.assert_allclose(s["SWdown"], [120.0, 140.0, 160.0, 180.0], atol=1e-12)
    with pytest.raises(ForcingError, match="whole multiple"):
        read_alma(p, ["SWdown"], "2012-05-01T01:00:00", 1, 2700.0, resample="mean")
    with pytest.raises(ForcingError, match="not one"):
        read_alma(p, ["SWdown"], "2012-05-01T01:15:00", 1, 3600.0, resample="mean")
    with pytest.raises(ForcingError, match="outside the file"):
        # the mean at 00:30 would need the period ending 00:00 - 00:30 ... from 00:00
        read_alma(p, ["SWdown"], "2012-05-01T00:00:00", 1, 3600.0, resample="mean")


# ------------------------------------------------------------------------------------------
# error cases
# ------------------------------------------------------------------------------------------


def test_missing_file_names_path_and_config_rule(tmp_path):
    missing = tmp_path / "nope.nc"
    with pytest.raises(ForcingError) as exc:
        read_alma(missing, ["Tair"], "2012-05-01", 1, 3600.0)
    assert str(missing) in str(exc.value)
    assert "config" in str(exc.value)


def test_not_netcdf(tmp_path):
    p = tmp_path / "fake.nc"
    p.write_text("TIMESTAMP,TA_F\n201205010000,20.1\n")
    with pytest.raises(ForcingError, match="could not be opened as NetCDF"):
        read_alma(p, ["Tair"], "2012-05-01", 1, 3600.0)


def test_missing_variable_lists_names_tried_and_present(tmp_path):
    p = write_nc(tmp_path / "v.nc", half_hourly(4), {"LWdown": dict(values=[300.0] * 4,
                                                                    units="W m-2")})
    with pytest.raises(ForcingError) as exc:
        read_alma(p, ["LWdown", "Tair"], "2012-05-01", 1, 3600.0)
    msg = str(exc.value)
    assert "'Tair'" in msg and str(p) in msg
    for tried in ("Tair", "TA_F", "TA"):
        assert tried in msg
    assert "Variables in the file: time, LWdown" in msg


def _gap_file(tmp_path, values, qc=None, name="Tair", units="K"):
    return write_nc(tmp_path / "gap.nc", half_hourly(len(values)),
                    {name: dict(values=values, units=units, qc=qc)})


def test_gap_with_fill_value_is_an_error_naming_variable_and_time(tmp_path):
    vals = 290.0 + np.arange(20.0)
    vals[6] = np.nan                                     # 03:00 UTC, written as -999 fill
    p = _gap_file(tmp_path, vals)
    with netCDF4.Dataset(p) as ds:                       # the file really holds the fill value
        ds.set_auto_mask(False)
        assert ds["Tair"][6] == -999.0
    with pytest.raises(ForcingError) as exc:
        read_alma(p, ["Tair"], "2012-05-01T00:00:00", 9, 1800.0)
    msg = str(exc.value)
    assert "'Tair'" in msg and "1 missing value" in msg
    assert "2012-05-01T03:00:00 UTC" in msg
    assert 'gap_policy = "interpolate"' in msg
    # the same gap outside the window does not matter
    d = read_alma(p, ["Tair"], "2012-05-01T03:30:00", 5, 1800.0)
    assert d["Tair"][0] == 297.0


def test_gap_with_qc3_is_an_error(tmp_path):
    vals = 290.0 + np.arange(20.0)                       # values present ...
    qc = np.zeros(20, dtype=int)
    qc[[4, 5]] = 3                                       # ... but flagged missing
    qc[7] = 2                                            # ERA5-derived: the QC policy decides
    p = _gap_file(tmp_path, vals, qc)
    with pytest.raises(ForcingError) as exc:
        read_alma(p, ["Tair"], "2012-05-01T00:00:00", 9, 1800.0, qc="any")
    msg = str(exc.value)
    assert "2 missing value" in msg
    assert "first at 2012-05-01T02:00:00 UTC, last at 2012-05-01T02:30:00 UTC" in msg
    # the default policy counts only observed values (qc 0): the ERA5 value is a gap too
    with pytest.raises(ForcingError, match="3 missing value"):
        read_alma(p, ["Tair"], "2012-05-01T00:00:00", 9, 1800.0)
    vals[4:6] = 300.0
    qc[[4, 5]] = 1                                       # gap-filled from observations
    p = _gap_file(tmp_path, vals, qc)
    d = read_alma(p, ["Tair"], "2012-05-01T00:00:00", 3, 1800.0, qc="gapfilled")
    assert np.all(np.isfinite(d["Tair"]))


def test_interpolate_fills_gap_linearly_in_time(tmp_path):
    vals = np.array([290.0, 291.0, 295.0, np.nan, np.nan, np.nan, 299.0, 298.0, 297.0, 296.0])
    p = _gap_file(tmp_path, vals)
    d = read_alma(p, ["Tair"], "2012-05-01T00:00:00", 9, 1800.0, gap_policy="interpolate",
                  max_gap_hours=1.5)
    np.testing.assert_allclose(d["Tair"][2:7], [295.0, 296.0, 297.0, 298.0, 299.0], atol=1e-12)
    # hourly sampling uses the filled 02:00 value (index 4)
    h = read_alma(p, ["Tair"], "2012-05-01T00:00:00", 4, 3600.0, gap_policy="interpolate")
    assert h["Tair"][2] == pytest.approx(297.0, abs=1e-12)


def test_interpolate_refuses_long_gap_and_gap_at_window_edge(tmp_path):
    vals = np.array([290.0, 291.0, 295.0, np.nan, np.nan, np.nan, 299.0, 298.0, 297.0, 296.0])
    p = _gap_file(tmp_path, vals)
    with pytest.raises(ForcingError, match=r"1\.5 h\) is longer than max_gap_hours = 1 h"):
        read_alma(p, ["Tair"], "2012-05-01T00:00:00", 9, 1800.0, gap_policy="interpolate",
                  max_gap_hours=1.0)
    with pytest.raises(ForcingError, match="touches the edge") as exc:
        read_alma(p, ["Tair"], "2012-05-01T01:30:00", 4, 1800.0, gap_policy="interpolate")
    assert "2012-05-01T01:30:00 UTC" in str(exc.value)


def test_window_outside_file_gives_both_ranges(tmp_path):
    p = _gap_file(tmp_path, 290.0 + np.arange(10.0))
    with pytest.raises(ForcingError) as exc:
        read_alma(p, ["Tair"], "2012-05-01T03:00:00", 4, 1800.0)
    msg = str(exc.value)
    assert "2012-05-01T03:00:00 UTC to 2012-05-01T05:00:00 UTC" in msg
    assert "2012-05-01T00:00:00 UTC to 2012-05-01T04:30:00 UTC" in msg
    with pytest.raises(ForcingError, match="not inside the file"):
        read_alma(p, ["Tair"], "2012-04-30T23:00:00", 2, 1800.0)


def test_time_not_strictly_increasing(tmp_path):
    secs = np.array([0, 1800, 3600, 3600, 7200])
    p = write_nc(tmp_path / "t.nc", secs, {"Tair": dict(values=[290.0] * 5, units="K")})
    with pytest.raises(ForcingError, match="not strictly increasing at index 3"):
        read_alma(p, ["Tair"], "2012-05-01", 1, 1800.0)
    with pytest.raises(ForcingError, match="not strictly increasing"):
        file_time_range(p)


def test_missing_time_variable(tmp_path):
    p = tmp_path / "nt.nc"
    with netCDF4.Dataset(p, "w") as ds:
        ds.createDimension("t", 3)
        v = ds.createVariable("Tair", "f4", ("t",))
        v.units = "K"
    with pytest.raises(ForcingError, match="no time variable"):
        read_alma(p, ["Tair"], "2012-05-01", 1, 1800.0)


def test_celsius_values_with_kelvin_units_are_an_error(tmp_path):
    p = _gap_file(tmp_path, 20.0 + np.arange(10.0), units="K")
    with pytest.raises(ForcingError, match="look like degrees Celsius") as exc:
        read_alma(p, ["Tair"], "2012-05-01T00:00:00", 4, 1800.0)
    assert "units" in str(exc.value)


def test_kelvin_values_with_celsius_units_are_an_error(tmp_path):
    p = _gap_file(tmp_path, 290.0 + np.arange(10.0), units="degC")
    with pytest.raises(ForcingError, match="look like Kelvin"):
        read_alma(p, ["Tair"], "2012-05-01T00:00:00", 4, 1800.0)


@pytest.mark.parametrize("units", ["degC", "deg C", "°C", "C", "Celsius"])
def test_celsius_converted_to_kelvin(tmp_path, units):
    p = _gap_file(tmp_path, 20.0 + np.arange(10.0), units=units)
    d = read_alma(p, ["Tair"], "2012-05-01T00:00:00", 4, 1800.0)
    np.testing.assert_allclose(d["Tair"], 293.15 + np.arange(5.0), atol=1e-10)


def test_fluxnet_aliases_and_pressure_units(tmp_path):
    n = 6
    p = write_nc(tmp_path / "fx.nc", half_hourly(n), {
        "TA_F": dict(values=[15.0, 16.0, 17.0, 18.0, 19.0, 20.0], units="deg C"),
        "PA_F": dict(values=[97.0] * n, units="kPa"),
        "SW_IN_F": dict(values=[0.0, 10.0, 20.0, 30.0, 40.0, 50.0], units="W m-2"),
        "LW_IN_F": dict(values=[300.0] * n, units="W m^-2"),
        "Psurf_hPa": dict(values=[970.0] * n, units="hPa"),
    })
    d = read_alma(p, ["Tair", "PSurf", "SWdown", "LWdown"], "2012-05-01", 2, 1800.0)
    np.testing.assert_allclose(d["Tair"], [288.15, 289.15, 290.15], atol=1e-10)
    np.testing.assert_allclose(d["PSurf"], 97000.0, atol=1e-9)
    np.testing.assert_allclose(d["SWdown"], [0.0, 10.0, 20.0], atol=0)
    # a user alias overrides the built-in table
    d = read_alma(p, ["PSurf"], "2012-05-01", 2, 1800.0, aliases={"PSurf": "Psurf_hPa"})
    np.testing.assert_allclose(d["PSurf"], 97000.0, atol=1e-9)
    assert ALIASES["Tair"][0] == "TA_F" and "Psurf" in ALIASES["PSurf"]


def test_plumber2_names(tmp_path):
    p = write_nc(tmp_path / "p2.nc", half_hourly(3), {
        "Psurf": dict(values=[96000.0] * 3, units="Pa"),
        "Precip": dict(values=[0.0, 1e-4, 0.0], units="kg/m2/s"),
    })
    d = read_alma(p, ["PSurf", "Rainf"], "2012-05-01", 1, 1800.0)
    assert d["PSurf"][0] == 96000.0
    assert d["Rainf"][1] == pytest.approx(1e-4, rel=1e-6)


def test_unknown_units_are_an_error(tmp_path):
    p = _gap_file(tmp_path, [290.0] * 6, units="furlongs")
    with pytest.raises(ForcingError) as exc:
        read_alma(p, ["Tair"], "2012-05-01", 1, 1800.0)
    msg = str(exc.value)
    assert "'furlongs'" in msg and "'Tair'" in msg and str(p) in msg


def test_units_of_wrong_kind_are_an_error(tmp_path):
    p = _gap_file(tmp_path, [290.0] * 6, units="W/m2")
    with pytest.raises(ForcingError, match="needs K"):
        read_alma(p, ["Tair"], "2012-05-01", 1, 1800.0)


def test_negative_shortwave(tmp_path):
    """A night-time pyranometer offset (down to -20 W m-2) reads as 0; below that it is an
    error (a sign or unit mistake)."""
    p = _gap_file(tmp_path, [0.0, -3.0, 10.0, -18.0, 0.0, -25.0], name="SWdown", units="W/m2")
    d = read_alma(p, ["SWdown"], "2012-05-01", 4, 1800.0)
    assert d["SWdown"].tolist() == [0.0, 0.0, 10.0, 0.0, 0.0]
    with pytest.raises(ForcingError, match=r"-25 W m-2 at 2012-05-01T02:30:00 UTC"):
        read_alma(p, ["SWdown"], "2012-05-01", 5, 1800.0)


@pytest.mark.parametrize("units, values", [
    ("hours since 2012-05-01 00:00:00", [0.0, 0.5, 1.0, 1.5]),
    ("minutes since 2012-05-01T00:00", [0, 30, 60, 90]),
    ("days since 2012-05-01", [0.0, 1 / 48, 2 / 48, 3 / 48]),
    ("seconds since 2012-05-01T02:00:00+02:00", [0, 1800, 3600, 5400]),
    ("seconds since 2012-05-01 00:00:00Z", [0, 1800, 3600, 5400]),
])
def test_time_units_variants(tmp_path, units, values):
    dtype = "f8" if isinstance(values[1], float) else "i4"
    p = write_nc(tmp_path / "tu.nc", values, {"Tair": dict(values=[290.0, 291.0, 292.0, 293.0],
                                                           units="K")},
                 time_units=units, time_dtype=dtype)
    first, last, step = file_time_range(p)
    assert first == np.datetime64("2012-05-01T00:00:00")
    assert last == np.datetime64("2012-05-01T01:30:00")
    assert step == pytest.approx(1800.0, abs=1e-6)
    d = read_alma(p, ["Tair"], np.datetime64("2012-05-01T00:30"), 1, 3600.0)
    np.testing.assert_allclose(d["Tair"], [291.0, 293.0], atol=1e-9)


def test_variable_depth_from_comment_and_absent(tmp_path):
    p = write_nc(tmp_path / "d.nc", half_hourly(3),
                 {"SoilTemp": dict(values=[300.0] * 3, units="K"),
                  "TS_1": dict(values=[300.0] * 3, units="K", depth="5 cm")},
                 attrs={"comment": "Site at 340.5 m altitude. SoilTemp at 2cm depth."})
    assert variable_depth(p, "SoilTemp") == 0.02
    assert variable_depth(p, "TS_1") == 0.05
    q = write_nc(tmp_path / "e.nc", half_hourly(3),
                 {"SoilTemp": dict(values=[300.0] * 3, units="K")})
    assert variable_depth(q, "SoilTemp") is None
    with pytest.raises(ForcingError, match="not found"):
        variable_depth(q, "Tair")


# ------------------------------------------------------------------------------------------
# load_forcing
# ------------------------------------------------------------------------------------------


def test_load_forcing_paper_synthetic():
    f = load_forcing({"kind": "paper_synthetic", "lw_down": 350.0}, "2000-01-01T00:00:00Z",
                     24, 3600.0)
    assert f.nt == 24 and np.all(f.lw_down == 350.0)
    np.testing.assert_allclose(f.sw_down[7:22], PAPER_KDOWN_07_21, atol=1e-4)


def test_load_forcing_netcdf_wp():
    f = load_forcing({"kind": "netcdf", "path": str(WP)}, WP_START + "Z", 150, 3600.0)
    assert f.source == str(WP) and f.nt == 150
    assert f.sw_down.max() == pytest.approx(1022.0, abs=1.0)
    assert f.t_air.min() == pytest.approx(293.91, abs=0.01)
    assert f.lw_down.max() == pytest.approx(386.8, abs=0.05)


def test_load_forcing_netcdf_with_variable_names_and_gap_policy(tmp_path):
    vals = np.array([15.0, 16.0, np.nan, 18.0, 19.0, 20.0])
    p = write_nc(tmp_path / "fx.nc", half_hourly(6), {
        "air_t": dict(values=vals, units="degC"),
        "SW_IN": dict(values=[0.0] * 6, units="W/m2"),
        "LW_IN": dict(values=[300.0] * 6, units="W/m2"),
    })
    spec = {"kind": "netcdf", "path": str(p), "variables": {"Tair": "air_t"}}
    with pytest.raises(ForcingError, match="missing value"):
        load_forcing(spec, "2012-05-01", 5, 1800.0)
    f = load_forcing({**spec, "gap_policy": "interpolate"}, "2012-05-01", 5, 1800.0)
    np.testing.assert_allclose(f.t_air, 273.15 + np.array([15.0, 16.0, 17.0, 18.0, 19.0, 20.0]),
                               atol=1e-10)


@pytest.mark.parametrize("spec, match", [
    ({"kind": "era5"}, 'valid kinds: "paper_synthetic", "netcdf", "csv"'),
    ({"kind": "netcdf"}, "needs path"),
    ({"kind": "netcdf", "path": "x.nc"}, "does not exist"),
])
def test_load_forcing_bad_specs(spec, match):
    """load_forcing takes a validated [forcing] table (sebcal.config checks its keys)."""
    with pytest.raises(ForcingError, match=match):
        load_forcing(spec, "2012-05-01", 1, 3600.0)
