"""Files as the field downloads them: AmeriFlux BASE with its preamble, station CSVs with
other time columns, and PLUMBER2 NetCDF whose times are local standard time.

The BASE file is the one AmeriFlux distributes (tests/data/PROVENANCE.md); the expected values
below are read off its text by eye, not computed by sebcal."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import WP_FILE
from sebcal.errors import ForcingError

HERE = Path(__file__).resolve().parent
BASE = HERE / "data" / "ameriflux" / "AMF_US-CRT_BASE_HH_2-5.csv"
BASE_CONFIG = HERE / "data" / "ameriflux" / "us_crt.toml"


def _utc(text: str) -> float:
    return float(np.datetime64(text, "s").astype(np.int64))


def test_base_file_as_downloaded_keeps_its_preamble_and_columns():
    from sebcal.forcing.csvfiles import CSVTable

    first = BASE.read_text().splitlines()[:3]
    assert first[0].startswith("# Site: US-CRT") and first[1].startswith("# Version: 2-5")
    t = CSVTable(BASE, utc_offset_hours=-5)
    assert t.metadata == {"Site": "US-CRT", "Version": "2-5"}
    assert t.site == "US-CRT"
    # the exact column set of the header line (minus the two time columns)
    header = first[2].split(",")
    assert t.variables() == header[2:]
    assert len(header) == 36
    # first record ends 2011-01-01 00:30 local standard time = 05:30 UTC
    assert t.stamps[0] == _utc("2011-01-01T05:30")
    assert t.stamps.size == 96 and np.all(np.diff(t.stamps) == 1800.0)
    # the numbers are the text's: LW_OUT of the first three records; H is -9999 (missing)
    lw = t.read("LW_OUT", 0, 2, 0)
    assert lw.tolist() == [360.5549, 361.4426, 365.1971]
    assert np.isnan(t.read("H", 0, 0, 0)[0])
    assert t.units("TS_1_1_1") == "degC" and t.units("G_1_1_1") == "W m-2"
    assert "UTC-5" in t.time_note


def test_base_file_validates_and_calibrates(tmp_path):
    """The file as downloaded, with a small config: `sebcal validate` and `sebcal calibrate`."""
    shutil.copy(BASE, tmp_path / BASE.name)
    shutil.copy(BASE_CONFIG, tmp_path / BASE_CONFIG.name)
    cfg = tmp_path / BASE_CONFIG.name
    exe = [sys.executable, "-m", "sebcal"]
    v = subprocess.run(exe + ["validate", str(cfg)], capture_output=True, text=True)
    assert v.returncode == 0, v.stderr
    assert "is valid" in v.stdout
    assert "TIMESTAMP_END in local standard time, UTC-5 h" in v.stdout
    assert "observation LWup: LWup, 95 values" in v.stdout
    c = subprocess.run(exe + ["calibrate", str(cfg), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True)
    assert c.returncode in (0, 3), c.stderr
    params = json.loads((tmp_path / "out" / "params.json").read_text())
    text = json.dumps(params)
    assert "h_eff" in text and "T_b" in text


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("column", ["DATETIME_END", "TIMESTAMP"])
def test_station_csv_time_columns(tmp_path, column):
    from sebcal.forcing.csvfiles import CSVTable

    f = _write(tmp_path / "station.csv",
               f"{column},TA\n2020-06-01 00:30,20.5\n2020-06-01 01:00,20.1\n"
               "2020-06-01 01:30,-9999\n")
    t = CSVTable(f, utc_offset_hours=2)
    assert t.stamps.tolist() == [_utc("2020-05-31T22:30"), _utc("2020-05-31T23:00"),
                                 _utc("2020-05-31T23:30")]
    vals = t.read("TA", 0, 2, 0)
    assert vals[:2].tolist() == [20.5, 20.1] and np.isnan(vals[2])
    assert t.variables() == ["TA"]


def test_datetime_start_moves_to_the_end(tmp_path):
    from sebcal.forcing.csvfiles import CSVTable

    f = _write(tmp_path / "s.csv", "DATETIME_START,TA\n202006010000,1\n202006010030,2\n")
    t = CSVTable(f, utc_offset_hours=0)
    assert t.stamps.tolist() == [_utc("2020-06-01T00:30"), _utc("2020-06-01T01:00")]


def test_campbell_toa5_header(tmp_path):
    from sebcal.forcing.csvfiles import CSVTable

    f = _write(tmp_path / "t.dat",
               '"TOA5","CR1000X","CR1000X","1234","CR1000X.Std.05","CPU:p.CR1X","1","Met"\n'
               '"TIMESTAMP","RECORD","TA"\n"TS","RN","Deg C"\n"","","Avg"\n'
               '"2020-06-01 00:30:00",0,12.5\n"2020-06-01 01:00:00",1,12.0\n')
    t = CSVTable(f, utc_offset_hours=-7)
    assert t.metadata == {"format": "TOA5"}
    assert t.stamps[0] == _utc("2020-06-01T07:30")
    assert t.read("TA", 0, 1, 0).tolist() == [12.5, 12.0]


def test_a_file_without_time_column_names_what_was_tried(tmp_path):
    from sebcal.forcing.csvfiles import CSVTable

    f = _write(tmp_path / "x.csv", "# Site: XX-Xxx,,\n# Version: 1-5,,\nDATE,TA\n1,2\n")
    with pytest.raises(ForcingError, match="DATETIME_END.*columns: DATE, TA"):
        CSVTable(f, utc_offset_hours=0)
    f = _write(tmp_path / "y.csv", "TIMESTAMP_END,TA\n2020-06-01 00:30,1\n202006010100,2\n")
    with pytest.raises(ForcingError, match="row 2 of the data holds '202006010100'"):
        CSVTable(f, utc_offset_hours=0)


# ----------------------------------------------------------------- PLUMBER2 time zones
def _plumber2(path: Path, *, zone: str | None, info: str | None, glob: dict | None = None,
              units: str = "seconds since 2010-01-01 00:00:00") -> Path:
    """A PLUMBER2-style file (FluxnetLSM's layout: time attributes `time_zone` and `info`,
    x/y singleton dimensions). SWdown is 1000 W m-2 in the half hour that starts at 12:00
    local standard time, 0 otherwise."""
    import netCDF4

    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", None)
        ds.createDimension("x", 1)
        ds.createDimension("y", 1)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = units
        t.calendar = "standard"
        if zone is not None:
            t.time_zone = zone
        if info is not None:
            t.info = info
        for k, v in (glob or {}).items():
            ds.setncattr(k, v)
        sw = ds.createVariable("SWdown", "f4", ("time", "y", "x"))
        sw.units = "W/m2"
        start = np.arange(48) * 1800.0                  # period starts, local standard time
        t[:] = start
        sw[:, 0, 0] = np.where(start == 12 * 3600.0, 1000.0, 0.0)
    return path


def test_plumber2_local_standard_time_is_converted(tmp_path):
    from sebcal.forcing.alma import NetCDFTable

    # America/Denver in January: MST, UTC-7; the stamp marks the start of its period
    t = NetCDFTable(_plumber2(tmp_path / "p.nc", zone="America/Denver",
                              info="Time stamp indicates start time"))
    i = int(np.argmax(t.read("SWdown", 0, 47, 0)))
    # the period 12:00-12:30 MST ends at 12:30 MST = 19:30 UTC
    assert t.stamps[i] == _utc("2010-01-01T19:30")
    assert t.utc_offset_hours == -7.0
    assert "America/Denver" in t.time_note and "UTC-7" in t.time_note
    assert "moved to its end" in t.time_note


def test_plumber2_zone_uses_standard_time_in_summer(tmp_path):
    from sebcal.forcing.alma import NetCDFTable

    # in July Denver keeps MDT (UTC-6); FLUXNET stamps stay in MST (UTC-7)
    t = NetCDFTable(_plumber2(tmp_path / "p.nc", zone="America/Denver", info=None,
                              units="seconds since 2010-07-01 00:00:00"))
    assert t.utc_offset_hours == -7.0
    assert t.stamps[0] == _utc("2010-07-01T07:00")
    # southern hemisphere, January is daylight saving there: standard AEST is UTC+10
    t = NetCDFTable(_plumber2(tmp_path / "a.nc", zone="Australia/Sydney", info=None))
    assert t.utc_offset_hours == 10.0
    t = NetCDFTable(_plumber2(tmp_path / "u.nc", zone="UTC+5:30", info=None))
    assert t.utc_offset_hours == 5.5


def test_time_zone_conventions_of_other_files(tmp_path):
    from sebcal.forcing.alma import NetCDFTable

    t = NetCDFTable(_plumber2(tmp_path / "a.nc", zone=None, info=None,
                              glob={"time_shown_in": "local", "local_utc_offset_hours": -5.0}))
    assert t.stamps[0] == _utc("2010-01-01T05:00") and "time_shown_in" in t.time_note
    t = NetCDFTable(_plumber2(tmp_path / "b.nc", zone="America/Denver", info=None,
                              units="seconds since 2010-01-01 00:00:00 +03:00"))
    assert t.stamps[0] == _utc("2009-12-31T21:00") and t.utc_offset_hours is None
    t = NetCDFTable(_plumber2(tmp_path / "c.nc", zone=None, info=None))
    assert t.stamps[0] == _utc("2010-01-01T00:00") and "CF default" in t.time_note
    with pytest.raises(ForcingError, match="time_zone = 'Mars/Olympus'"):
        NetCDFTable(_plumber2(tmp_path / "d.nc", zone="Mars/Olympus", info=None))


def test_urban_plumber_file_states_utc():
    from sebcal.forcing.alma import NetCDFTable

    t = NetCDFTable(WP_FILE)
    assert t.time_note.startswith("UTC")
    assert t.stamps[0] == _utc("2011-12-16T18:30")
