"""Write forward runs as CF/ALMA NetCDF files (netCDF4), atomically.

Every file is written to a temporary name in the destination folder and renamed when
complete, so an interrupted run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SebcalError
from .forcing.alma import NETCDF_LOCK
from .vocabulary import FLUXES, FORCING

FILL = -9999.0

#: ALMA name -> (long name, units, positive direction)
VARIABLES: dict[str, tuple[str, str, str]] = {
    "AvgSurfT": ("average surface temperature (temperature of the top soil node)", "K", ""),
    **{f.name: (f.long_name, "W m-2", f.positive) for f in FLUXES.values()},
}
#: forcing variables written beside the output: name -> (long name, units, positive)
FORCING_ATTRS: dict[str, tuple[str, str, str]] = {
    v.name: (f"{v.long_name} (forcing)", v.unit,
             "down" if v.name in ("SWdown", "LWdown") else "")
    for v in FORCING.values()}


def _umask() -> int:
    """The process umask, without changing it (Linux /proc), else by the set-and-restore."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _write_error(path: Path, exc: BaseException) -> SebcalError | None:
    """A clear error for a failed write (disk full, read-only, permission), or None."""
    folder = path.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < 1 << 20:
        return SebcalError(f"no space left on the device of {folder} while writing {path.name} "
                           f"({free} bytes free); free some space or choose another --out")
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return SebcalError(f"cannot write {path}: {exc.strerror.lower()}; choose a folder you "
                           "can write to")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return SebcalError(f"no space left (or quota exceeded) while writing {path}")
    return None


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success.

    The file gets the permissions a new file would (0666 less the umask), not mkstemp's 0600,
    so colleagues on a shared disk can read results when the umask allows. A failed write
    (disk full, read-only folder, no permission) raises a SebcalError that says so, and the
    earlier file under ``path``, if any, is left as it was.
    """
    path = Path(path)
    if path.is_dir():
        raise SebcalError(f"output {path} is a folder; give a file name")
    if not path.parent.exists():
        raise SebcalError(f"output folder {path.parent} does not exist; create it first")
    if not path.parent.is_dir():
        raise SebcalError(f"output folder {path.parent} is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp",
                                   dir=path.parent)
    except OSError as exc:
        raise (_write_error(path, exc) or SebcalError(f"cannot write in {path.parent}: "
                                                      f"{exc}")) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
        except (OSError, RuntimeError) as exc:
            err = _write_error(path, exc)
            if err is None:
                raise
            raise err from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_simulation(path: str | Path, time: np.ndarray, z: np.ndarray, T: np.ndarray,
                     fluxes: Mapping[str, np.ndarray], *, config: Mapping[str, Any] | None = None,
                     title: str = "sebcal forward run",
                     extra: Mapping[str, np.ndarray] | None = None,
                     attrs: Mapping[str, Any] | None = None,
                     site: Mapping[str, Any] | None = None) -> Path:
    """Write a run to a CF/ALMA NetCDF file.

    Args:
        path: destination file (.nc).
        time: model time levels, datetime64 (UTC), shape (nt+1,).
        z: node depths [m], shape (nz,).
        T: soil temperature [K], shape (nt+1, nz).
        fluxes: surface fluxes [W m-2] keyed by ALMA names (SWnet, LWdown, LWup, Qh, Qle, Qg,
            Qh_plus_Qle), each shape (nt+1,); NaN values are written as fill values.
        config: the full run configuration, stored as JSON in the global attribute ``config``.
        title: global title.
        extra: further time series (name -> array (nt+1,)) with attributes from ``attrs``
            (forcing variables get theirs from the vocabulary).
        attrs: per extra variable {"long_name": .., "units": ..}.
        site: the [site] table: name, latitude, longitude become global attributes and
            scalar coordinate variables.

    Returns:
        The path written.
    """
    import netCDF4

    from . import __version__

    path = Path(path)
    time = np.asarray(time).astype("datetime64[s]")
    t0 = time[0]
    seconds = (time - t0).astype("timedelta64[s]").astype(np.float64)
    start_iso = str(t0).replace("T", " ")
    with atomic_path(path, ".nc") as tmp, NETCDF_LOCK:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.title = title
            ds.Conventions = "CF-1.8, ALMA"
            ds.source = f"sebcal {__version__}"
            ds.sebcal_version = __version__
            ds.history = (f"{_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}"
                          f" written by sebcal {__version__}")
            ds.time_shown_in = "UTC"
            site = dict(site or {})
            if site.get("name"):
                ds.site_name = str(site["name"])
            for key, units, std in (("latitude", "degrees_north", "latitude"),
                                    ("longitude", "degrees_east", "longitude")):
                if site.get(key) is not None:
                    setattr(ds, f"site_{key}", float(site[key]))
                    v = ds.createVariable(key, "f8", ())
                    v.units = units
                    v.standard_name = std
                    v[...] = float(site[key])
            if config is not None:
                ds.config = json.dumps(config, default=_json_default, sort_keys=True)
            ds.createDimension("time", len(time))
            ds.createDimension("soil_depth", len(z))
            v = ds.createVariable("time", "f8", ("time",))
            v.units = f"seconds since {start_iso}"
            v.calendar = "standard"
            v.standard_name = "time"
            v.long_name = "time of the model level (end of the step), UTC"
            v[:] = seconds
            v = ds.createVariable("soil_depth", "f8", ("soil_depth",))
            v.units = "m"
            v.positive = "down"
            v.standard_name = "depth"
            v.long_name = "depth of the soil temperature node below the surface"
            v.axis = "Z"
            v[:] = z
            v = ds.createVariable("SoilTemp", "f8", ("time", "soil_depth"), fill_value=FILL)
            v.units = "K"
            v.long_name = "soil temperature at the node depth"
            v.standard_name = "soil_temperature"
            v[:] = _filled(T)
            surf = ds.createVariable("AvgSurfT", "f8", ("time",), fill_value=FILL)
            surf.units = "K"
            surf.long_name = VARIABLES["AvgSurfT"][0]
            surf.standard_name = "surface_temperature"
            surf[:] = _filled(np.asarray(T)[:, 0])
            for name, (long_name, units, positive) in VARIABLES.items():
                if name == "AvgSurfT" or name not in fluxes:
                    continue
                data = np.asarray(fluxes[name], dtype=np.float64)
                v = ds.createVariable(name, "f8", ("time",), fill_value=FILL)
                v.units = units
                v.long_name = long_name
                if positive:
                    v.positive = positive
                if name in ("Qh", "Qle") and np.all(np.isnan(data)):
                    v.comment = ("not computed: with turbulence = h_eff and no Bowen ratio only "
                                 "Qh_plus_Qle is known; set beta to split it, or use "
                                 "turbulence = bulk")
                v[:] = _filled(data)
            for name, data in (extra or {}).items():
                v = ds.createVariable(name, "f8", ("time",), fill_value=FILL)
                own = (attrs or {}).get(name)
                if own is None and name in FORCING_ATTRS:
                    ln, un, pos = FORCING_ATTRS[name]
                    own = {"long_name": ln, "units": un, **({"positive": pos} if pos else {})}
                for key, val in (own or {}).items():
                    setattr(v, key, val)
                v[:] = _filled(np.asarray(data, dtype=np.float64))
    return path


def _filled(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    return np.ma.masked_invalid(a)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, (np.datetime64, Path)):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in the config attribute")
