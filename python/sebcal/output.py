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
from collections.abc import Iterator, Mapping, Sequence
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


def keep_or_force(paths: Sequence[str | Path], force: bool) -> None:
    """The output policy of every verb (docs/cli.md): an existing output is kept unless
    ``force``. Called before any work, so that a refusal costs nothing.

    Raises:
        SebcalError: an output exists and ``force`` is false (the message names it).
    """
    there = [str(p) for p in paths if Path(p).exists()]
    if there and not force:
        raise SebcalError(f"output {' and '.join(there)} exist{'s' if len(there) == 1 else ''}; "
                          "pass --force to replace it, or choose another --out")


def make_folder(folder: str | Path) -> Path:
    """Create an output folder (and its parents); a file system that refuses (read-only,
    no permission, full) is said in words."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SebcalError(f"--out {folder} is a file; give a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise (_write_error(folder / ".", exc) or SebcalError(
            f"cannot create the folder {folder}: {exc.strerror or exc}; choose a folder you "
            "can write to")) from None
    return folder


@contextmanager
def output_set(folder: str | Path, last: Sequence[str] = ()) -> Iterator[Path]:
    """Write a set of files as one: yield a hidden staging folder beside ``folder`` (at the
    same depth, so that paths written relative to it hold for ``folder`` too; inside it when
    its parent may not be written); when the block succeeds, move every file written there
    into ``folder`` (the names in ``last`` after the others, so that their presence means the
    set is complete); when it fails (disk full, interrupted), remove the staging folder and
    leave ``folder`` as it was.

    Moving within one file system needs no space, so a full disk cannot stop the set half
    way: either every file of the set is replaced or none is.
    """
    folder = make_folder(folder)
    try:
        try:
            stage = Path(tempfile.mkdtemp(prefix=f".{folder.resolve().name}.sebcal-set-",
                                          dir=folder.resolve().parent))
        except PermissionError:
            stage = Path(tempfile.mkdtemp(prefix=".sebcal-set-", dir=folder))
    except OSError as exc:
        raise (_write_error(folder / ".", exc) or SebcalError(
            f"cannot write in {folder}: {exc.strerror or exc}")) from None
    try:
        yield stage
        os.chmod(stage, 0o777 & ~_umask())
        names = sorted(p.name for p in stage.iterdir())
        order = [n for n in names if n not in last] + [n for n in last if n in names]
        for name in order:
            os.replace(stage / name, folder / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def simulation_dataset(time: np.ndarray, z: np.ndarray, T: np.ndarray,
                       fluxes: Mapping[str, np.ndarray], **kw: Any) -> Any:
    """A run as an ``xarray.Dataset``: the CF/ALMA variables, units and attributes of the
    NetCDF file :func:`write_simulation` writes (the same content; arguments as there)."""
    import xarray as xr

    data, coords, g = _simulation_content(time, z, T, fluxes, **kw)
    return xr.Dataset(data, coords=coords, attrs=g)


def _simulation_content(time: np.ndarray, z: np.ndarray, T: np.ndarray,
                        fluxes: Mapping[str, np.ndarray], *,
                        config: Mapping[str, Any] | None = None,
                        title: str = "sebcal forward run",
                        extra: Mapping[str, np.ndarray] | None = None,
                        attrs: Mapping[str, Any] | None = None,
                        site: Mapping[str, Any] | None = None
                        ) -> tuple[dict, dict, dict]:
    """The variables, coordinates and global attributes of a run, each variable as
    (dims, values, attributes): what both the Dataset and the NetCDF file hold.

    Args:
        time: model time levels, datetime64 (UTC), shape (nt+1,).
        z: node depths [m], shape (nz,).
        T: soil temperature [K], shape (nt+1, nz).
        fluxes: surface fluxes [W m-2] keyed by ALMA names (SWnet, LWnet, LWup, Qh, Qle, Qg,
            Qh_plus_Qle), each shape (nt+1,); NaN where not computed.
        config: the full run configuration, stored as JSON in the global attribute ``config``.
        title: global title.
        extra: further time series (name -> array (nt+1,)) with attributes from ``attrs``
            (forcing variables get theirs from the vocabulary).
        attrs: per extra variable {"long_name": .., "units": ..}.
        site: the [site] table: name, latitude, longitude become global attributes and
            scalar coordinates.
    """
    from . import __version__

    time = np.asarray(time).astype("datetime64[ns]")
    T = np.asarray(T, dtype=np.float64)
    g = {"title": title, "Conventions": "CF-1.8, ALMA", "source": f"sebcal {__version__}",
         "sebcal_version": __version__,
         "history": f"{_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')} written by "
                    f"sebcal {__version__}",
         "time_shown_in": "UTC"}
    site = dict(site or {})
    coords: dict[str, Any] = {
        "time": ("time", time, {"standard_name": "time",
                                "long_name": "time of the model level (end of the step), UTC"}),
        "soil_depth": ("soil_depth", np.asarray(z, dtype=np.float64),
                       {"units": "m", "positive": "down", "standard_name": "depth",
                        "long_name": "depth of the soil temperature node below the surface",
                        "axis": "Z"}),
    }
    if site.get("name"):
        g["site_name"] = str(site["name"])
    for key, units in (("latitude", "degrees_north"), ("longitude", "degrees_east")):
        if site.get(key) is not None:
            g[f"site_{key}"] = float(site[key])
            coords[key] = ((), float(site[key]), {"units": units, "standard_name": key})
    if config is not None:
        g["config"] = json.dumps(config, default=_json_default, sort_keys=True)
    data: dict[str, Any] = {
        "SoilTemp": (("time", "soil_depth"), T,
                     {"units": "K", "long_name": "soil temperature at the node depth",
                      "standard_name": "soil_temperature"}),
        "AvgSurfT": ("time", T[:, 0], {"units": "K", "long_name": VARIABLES["AvgSurfT"][0],
                                       "standard_name": "surface_temperature"}),
    }
    for name, (long_name, units, positive) in VARIABLES.items():
        if name == "AvgSurfT" or name not in fluxes:
            continue
        values = np.asarray(fluxes[name], dtype=np.float64)
        a = {"units": units, "long_name": long_name}
        if positive:
            a["positive"] = positive
        if name in ("Qh", "Qle") and np.all(np.isnan(values)):
            a["comment"] = ("not computed: with turbulence = h_eff and no Bowen ratio only "
                            "Qh_plus_Qle is known; set beta to split it, or use "
                            "turbulence = bulk")
        data[name] = ("time", values, a)
    for name, values in (extra or {}).items():
        own = (attrs or {}).get(name)
        if own is None and name in FORCING_ATTRS:
            ln, un, pos = FORCING_ATTRS[name]
            own = {"long_name": ln, "units": un, **({"positive": pos} if pos else {})}
        data[name] = ("time", np.asarray(values, dtype=np.float64), dict(own or {}))
    return data, coords, g


def write_simulation(path: str | Path, time: np.ndarray, z: np.ndarray, T: np.ndarray,
                     fluxes: Mapping[str, np.ndarray], **kw: Any) -> Path:
    """Write a run to a CF/ALMA NetCDF file (atomically): the content of
    :func:`simulation_dataset` (same arguments), with time in seconds since the first level
    and missing values as the fill value -9999. Written with netCDF4 directly: importing
    xarray (and the dask it looks for) would cost more than the file.

    Returns:
        The path written.
    """
    import netCDF4

    data, coords, g = _simulation_content(time, z, T, fluxes, **kw)
    seconds = np.asarray(time).astype("datetime64[s]")
    t0 = str(seconds[0]).replace("T", " ")
    scalars = [k for k, (dims, _, _) in coords.items() if dims == ()]
    path = Path(path)
    with atomic_path(path, ".nc") as tmp, NETCDF_LOCK, \
            netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
        nc.setncatts(g)
        nc.createDimension("time", len(seconds))
        nc.createDimension("soil_depth", len(coords["soil_depth"][1]))
        tv = nc.createVariable("time", "f8", ("time",))
        tv.setncatts({**coords["time"][2], "units": f"seconds since {t0}",
                      "calendar": "standard"})
        tv[:] = (seconds - seconds[0]).astype(np.float64)
        for name in ("soil_depth", *scalars):
            dims, values, a = coords[name]
            v = nc.createVariable(name, "f8", dims)
            v.setncatts(a)
            v[...] = values
        for name, (dims, values, a) in data.items():
            dims = (dims,) if isinstance(dims, str) else dims
            v = nc.createVariable(name, "f8", dims, fill_value=FILL)
            v.set_auto_mask(True)
            v.setncatts({**a, **({"coordinates": " ".join(scalars)} if scalars else {})})
            v[:] = np.ma.masked_invalid(np.asarray(values, dtype=np.float64))
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, (np.datetime64, Path)):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in the config attribute")
