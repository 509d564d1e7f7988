"""The vocabulary is the one table of parameters, options, forcing and fluxes: every entry is
well formed, and every Fortran slot and option code equals the one in fortran/sebcal_const.f90
(read here from the source, so neither side can drift)."""

from __future__ import annotations

import math
import re

import pytest

from conftest import ROOT
from sebcal import vocabulary as V

CONST = (ROOT / "fortran" / "sebcal_const.f90").read_text()


def fortran_int(name: str) -> int:
    m = re.search(rf"integer, parameter, public :: {name}\s*=\s*(\d+)", CONST)
    assert m, f"{name} not in sebcal_const.f90"
    return int(m.group(1))


def fortran_real(name: str) -> float:
    m = re.search(rf"real\(dp\), parameter, public :: {name}\s*=\s*([0-9.eE+-]+)_dp", CONST)
    assert m, f"{name} not in sebcal_const.f90"
    return float(m.group(1))


@pytest.mark.parametrize("p", V.PARAMETERS.values(), ids=list(V.PARAMETERS))
def test_every_parameter_is_well_formed(p):
    assert p.unit and p.long_name and p.source
    lo, hi = p.bounds
    assert lo < hi
    assert p.group in ("surface", "soil", "site", "state")
    assert p.scale in ("log", "linear")
    inside = lambda x: p.in_bounds(x) or (x == lo and p.closed[0]) or (x == hi and p.closed[1])  # noqa: E731
    for rng, what in ((p.plausible, "plausible"), (p.prior, "prior"), (p.calib, "calibration")):
        assert rng[0] < rng[1], what
        assert all(math.isfinite(x) for x in rng), what
    assert inside(p.calib[0]) or p.calib[0] == lo, "calibration bounds outside the physical"
    assert inside(p.calib[1])
    if p.fittable:     # the transform maps the open interval (calib) onto the real line
        assert p.calib[0] < p.prior[0] < p.prior[1] < p.calib[1], "starts outside calib bounds"
    if p.scale == "log":
        assert p.calib[0] > 0
    if p.default is not None:
        assert p.in_bounds(p.default)


def test_fortran_slots_of_parameters():
    names = {"alpha": "ip_alpha", "eps": "ip_eps", "h_eff": "ip_heff", "beta": "ip_beta",
             "T_b": "ip_tb", "z0m": "ip_z0m", "z0h_ratio": "ip_z0h", "d0": "ip_d0",
             "z_ref": "ip_zref", "r_s": "ip_rs", "rs_a": "ip_rs_a", "rs_b": "ip_rs_b",
             "tau_sw": "ip_tau_sw", "tau_lw": "ip_tau_lw", "k_ext": "ip_k_ext",
             "lambda": "is_lambda", "C": "is_c", "porosity": "is_porosity",
             "lambda_dry": "is_lambda_dry", "lambda_solids": "is_lambda_solids",
             "C_dry": "is_c_dry", "psi_sat": "is_psi_sat", "b_clapp": "is_b_clapp",
             "dT_freeze": "is_dt_freeze"}
    for name, p in V.PARAMETERS.items():
        if p.group == "state":
            continue
        assert p.slot == fortran_int(names[name]), name
    surf = sorted(p.slot for p in V.PARAMETERS.values() if p.group in ("surface", "site"))
    soil = sorted(p.slot for p in V.PARAMETERS.values() if p.group == "soil")
    assert surf == list(range(1, fortran_int("npsurf") + 1)) and V.NPSURF == len(surf)
    assert soil == list(range(1, fortran_int("npsoil") + 1)) and V.NPSOIL == len(soil)


def test_options_codes_and_slots():
    prefix = {"solver": "solver_", "longwave": "lw_", "bottom": "bottom_", "init": "init_",
              "turbulence": "turb_", "stability": "stab_", "latent": "latent_",
              "surface_resistance": "rsurf_", "canopy": "canopy_", "soil_thermal": "soil_",
              "top": "top_", "freezing": "freeze_"}
    codes = {"direct": "direct", "jacobi": "jacobi", "paper": "paper", "kirchhoff": "kirchhoff",
             "dirichlet": "dirichlet", "zero_flux": "zero_flux", "series": "series",
             "uniform": "uniform", "profile": "given", "spinup": "spinup", "h_eff": "heff",
             "bulk": "bulk", "neutral": "neutral", "most": "most", "none": "none",
             "resistance": "resistance", "constant": "constant", "soil_moisture": "moisture",
             "transmission": "transmission", "lai": "lai", "johansen": "johansen",
             "seb": "seb", "temperature": "temperature", "flux": "flux",
             "niu_yang": "niu_yang", "linear": "linear"}
    slot = {"solver": "io_solver", "longwave": "io_longwave", "bottom": "io_bottom",
            "init": "io_init", "turbulence": "io_turbulence", "stability": "io_stability",
            "latent": "io_latent", "surface_resistance": "io_rsurf", "canopy": "io_canopy",
            "soil_thermal": "io_soil", "top": "io_top", "freezing": "io_freezing"}
    for name, o in V.OPTIONS.items():
        assert o.default in o.choices and set(o.meaning) == set(o.choices), name
        if name == "time_scheme":
            continue
        assert o.slot == fortran_int(slot[name]), name
        for choice in o.choices:
            assert o.code(choice) == fortran_int(prefix[name] + codes[choice]), (name, choice)
    assert V.NOPT == fortran_int("nopt") and V.NRSET == fortran_int("nrset")
    for name, (_where, k) in V.SETTINGS.items():
        fname = {"max_iter": "io_max_iter", "spinup_max_cycles": "io_spinup_max",
                 "tol": "rs_tol", "theta": "rs_theta", "spinup_tol": "rs_spinup_tol",
                 "wind_min": "rs_wind_min", "sigma": "rs_sigma"}[name]
        assert k == fortran_int(fname), name


def test_forcing_rows_and_fluxes():
    rows = {"SWdown": "if_sw", "LWdown": "if_lw", "Tair": "if_ta", "Wind": "if_wind",
            "PSurf": "if_ps", "Qair": "if_qa", "LAI": "if_lai", "Ttop": "if_top",
            "Gtop": "if_top", "Tbottom": "if_tbot"}
    for name, v in V.FORCING.items():
        assert v.row == fortran_int(rows[name]), name
    assert V.NFORC == fortran_int("nforc")
    idx = {"SWnet": "ix_swnet", "LWnet": "ix_lwnet", "LWup": "ix_lwup", "Qh": "ix_qh",
           "Qle": "ix_qle", "Qg": "ix_qg", "Qh_plus_Qle": "ix_qturb"}
    for name, f in V.FLUXES.items():
        assert f.row == fortran_int(idx[name]), name
        assert f.positive in ("up", "down")
    assert V.NFLUX == fortran_int("nflux")


def test_constants_equal_the_fortran_source():
    names = {"sigma": "sigma_sb", "karman": "karman", "gravity": "gravity", "r_dry": "r_dry",
             "cp_air": "cp_air", "lv": "lv", "c_water": "c_water",
             "lambda_water": "lambda_water", "t_freeze": "t_freeze", "l_fusion": "l_fusion",
             "rho_water": "rho_water", "c_ice": "c_ice", "lambda_ice": "lambda_ice"}
    for name, (value, unit, why) in V.CONSTANTS.items():
        assert fortran_real(names[name]) == value, name
        assert unit and why


def test_needed_parameters_follow_the_options():
    paper = V.default_options()
    assert V.needed(paper) == ["alpha", "eps", "h_eff", "T_b", "lambda", "C"]
    bulk = {**paper, "turbulence": "bulk", "latent": "resistance"}
    assert {"z0m", "z0h_ratio", "d0", "z_ref", "r_s"} <= set(V.needed(bulk))
    assert "h_eff" not in V.needed(bulk)
    soil = {**paper, "soil_thermal": "johansen", "top": "temperature", "bottom": "zero_flux",
            "init": "profile"}
    assert V.needed(soil) == ["porosity", "lambda_dry", "lambda_solids", "C_dry"]
    assert V.forcing_needed(soil) == ["Ttop"] and V.soil_moisture_needed(soil)


def test_aliases_resolve():
    assert V.resolve_alias("emissivity") == "eps" and V.resolve_alias("Tb") == "T_b"
    assert V.parameter("lam").name == "lambda" and V.parameter("h").name == "h"
    with pytest.raises(KeyError):
        V.parameter("lamda")


def test_namelist_names_are_the_schemes():
    """Every parameter's namelist name is a member of &sebcal_params or &sebcal_soil in the
    scheme's reader (fortran/sebcal_namelist.f90)."""
    import re

    src = (ROOT / "fortran" / "sebcal_namelist.f90").read_text().lower()
    members = set()
    for grp in ("sebcal_params", "sebcal_soil"):
        text = src[src.index(f"namelist /{grp}/"):]
        text = text[:text.index("namelist /", 5)]
        members |= {w.strip() for w in re.split(r"[,&\s]+", text.split("/", 2)[2]) if w.strip()}
    for p in V.PARAMETERS.values():
        if p.group in ("surface", "site", "soil"):
            assert p.nml_name in members, (p.name, p.nml_name)
