"""Host land-surface models: one module per host (its mapping rows, options and writer).

* :mod:`.sebcal` -- the scheme's own namelist
* :mod:`.jules` -- JULES vn7.x namelists
* :mod:`.noahmp` -- Noah-MP v5 NoahmpTable.TBL
* :mod:`.clm` -- CTSM 5.x surface dataset (urban impervious road)
* :mod:`.suews` -- SUEWS supy 2026.x YAML

:data:`SOURCES` holds the citations the rows name (docs/hosts.md prints them);
:func:`markdown_table` prints a host's rows.
"""

from __future__ import annotations

import difflib
from types import ModuleType

from ...errors import ConfigError
from . import clm, jules, noahmp, sebcal, suews

HOSTS: dict[str, ModuleType] = {m.NAME: m for m in (sebcal, jules, noahmp, clm, suews)}

#: citation key -> (what, where): the host source each row was checked against
SOURCES: dict[str, tuple[str, str]] = {
    "sebcal": ("the scheme's namelist reader", "fortran/sebcal_namelist.f90 (this repository)"),
    "JULES-nveg": ("JULES user guide, nveg_params.nml: JULES_NVEGPARM members albsnc_nvg_io, "
                   "albsnf_nvg_io ('A bare soil snow-free albedo of -1.0 indicates that it is "
                   "supplied by an ancillary field'), albsnf_nvgu_io, albsnf_nvgl_io, "
                   "catch_nvg_io, gs_nvg_io, infil_nvg_io, z0_nvg_io, ch_nvg_io, vf_nvg_io, "
                   "emis_nvg_io, z0hm_nvg_io, z0hm_classic_nvg_io; 'All parameters must be "
                   "defined for any configuration'",
                   "github jules-lsm/jules-lsm.github.io user_guide/doc/build/html/_sources/"
                   "namelists/nveg_params.nml.rst.txt"),
    "JULES-anc": ("JULES user guide, ancillaries.nml: JULES_SOIL_PROPS (const_z, nvars, var, "
                  "use_file, var_name, tpl_name, const_val, file, read_from_dump); the soil "
                  "variables b, sathh, satcon, sm_sat, sm_crit, sm_wilt, hcap, hcon, albsoil",
                  "https://jules-lsm.github.io/latest/namelists/ancillaries.nml.html"),
    "JULES-psparms": ("JULES source p_s_parms: HCAP 'Soil heat capacity (J/K/m3)', HCON 'Soil "
                      "thermal conductivity (W/m/K)', ALBSOIL 'Soil albedo'",
                      "github purplecat7/JULES_trunk src/control/standalone/var/p_s_parms.F90"),
    "JULES-heatcon": ("JULES heat_con: hcon 'Dry soil thermal conductivity (W/m/K)'; method 1 "
                      "hcsat = hcon hcwat^thwat hcice^thice / hcair^v_sat, hcons = (hcsat - "
                      "hcon) sth + hcon; method 2 hcsat = 1.58 + 12.4 (hcon - 0.25) capped to "
                      "[1.58, 2.20], hcons = (hcsat - hcon) Ke + hcon, Ke = 1 + log10(sth) for "
                      "sth > 0.1",
                      "github purplecat7/JULES_trunk src/science/soil/heat_con_jls.F90"),
    "JULES-htc": ("JULES soil_htc: the total heat capacity is hcap plus the water and ice terms "
                  "(hcap + (hcapw sthu + hcapi sthf) rho_water v_sat = hcap + 4.18e6 theta "
                  "unfrozen)",
                  "github purplecat7/JULES_trunk src/science/soil/soil_htc_jls.F90"),
    "JULES-rose": ("rose app-run writes each namelist item as key=value, (a value ending in a "
                   "comma gives soil=8,,: a null value, which a Fortran read(nml=) skips)",
                   "github NatalieDouglas/GPP-Rose-Suite-u-ci348 app/jules/rose-app.conf "
                   "(tests/data/jules_rose)"),
    "JULES-soil": ("JULES user guide, jules_soil.nml: soilhc_method (1 Cox et al. 1999, default; "
                   "2 simplified Johansen); dzsoil_io 0.1, 0.25, 0.65, 2.0 m",
                   "https://jules-lsm.github.io/latest/namelists/jules_soil.nml.html"),
    "NoahMP-table": ("Noah-MP v5 parameter table: noahmp_rad_parameters (ALBSAT_VIS/NIR, "
                     "ALBDRY_VIS/NIR per soil colour, EG 'emissivity soil surface 1-soil;2-lake'),"
                     " noahmp_general_parameters (CSOIL_DATA 'Soil heat capacity [J m-3 K-1]'), "
                     "noahmp_soil_stas_parameters (MAXSMC, QTZ per soil category), read by "
                     "NoahmpReadTableMod",
                     "github NCAR/noahmp parameters/NoahmpTable.TBL, drivers/hrldas/"
                     "NoahmpReadTableMod.F90"),
    "NoahMP-thermo": ("Noah-MP SoilThermalProperty: C = theta_liq 4.188e6 + (1 - SMCMAX) CSOIL + "
                      "(SMCMAX - theta) c_air; lambda_s = 7.7^QTZ 2.0^(1 - QTZ); lambda_sat = "
                      "lambda_s^(1-SMCMAX) 0.57^SMCMAX; lambda_dry from SMCMAX; Ke = log10 S + 1 "
                      "(S > 0.1)",
                      "github NCAR/noahmp src/SoilThermalPropertyMod.F90, "
                      "src/ConstantDefineMod.F90"),
    "NoahMP-color": ("every NCAR/noahmp driver sets SoilColor = 4",
                     "github NCAR/noahmp drivers/{hrldas,wrf,lis,erf}/ConfigVarInTransferMod.F90 "
                     "line 83"),
    "NoahMP-albedo": ("Noah-MP GroundAlbedo: soil albedo per band = min(ALBSAT + max(0.11 - "
                      "0.40 theta_1, 0), ALBDRY)",
                      "github NCAR/noahmp src/GroundAlbedoMod.F90"),
    "NoahMP-ufs": ("UFS Noah-MP (ccpp-physics): noahmpdrv_run sets soil_color_category = "
                   "soilcol(i), each cell's colour from the dataset; noahmp_tables.f90 "
                   "read_mp_table_parameters reads noahmptable.tbl (the same groups, lower-case, "
                   "20 soil colours); module_sf_noahmplsm.F90 tdfcnd, thermoprop and groundalb "
                   "hold the same conductivity, heat capacity and albedo formulas",
                   "github NCAR/ccpp-physics physics/SFC_Models/Land/Noahmp/noahmpdrv.F90, "
                   "noahmp_tables.f90, module_sf_noahmplsm.F90; barlage/ccpp-physics "
                   "noahmptable.tbl"),
    "CTSM-soiltemp": ("CTSM SoilThermProp: for the impervious road's levels j <= nlev_improad "
                      "thk(c,j) = tk_improad(l,j) and cv(c,j) = cv_improad(l,j) dz(c,j)",
                      "github ESCOMP/CTSM src/biogeophys/SoilTemperatureMod.F90"),
    "CTSM-urban": ("CTSM reads TK_IMPROAD, CV_IMPROAD (numurbl, nlevurb), ALB_IMPROAD_DIR/DIF "
                   "(numurbl, numrad), EM_IMPROAD, NLEV_IMPROAD (numurbl) from fsurdat, checks "
                   "numurbl, nlevurb and numrad against its own, and ends with '<NAME> NOT on "
                   "fsurdat file' when one is missing",
                   "github ESCOMP/CTSM src/biogeophys/UrbanParamsType.F90"),
    "SUEWS-yaml": ("SUEWS YAML configuration (schema 2026.5): sites[i].properties.land_cover."
                   "<surface> with sfr, alb, emis and thermal_layers {dz, k, rho_cp}, values "
                   "under 'value:'",
                   "supy 2026.6.5 (PyPI) supy/sample_data/sample_config.yml and "
                   "supy.data_model.SUEWSConfig"),
    "SUEWS-storage": ("supy StorageHeatMethod: 0 observed, 1 OHM, 3 ANOHM, 4 ESTM, 5 EHC "
                      "(explicit heat conduction), 6 DyOHM (coefficients from material "
                      "properties), 7 STEBBS",
                      "supy 2026.6.5 supy/data_model/core/model.py"),
}

#: host -> (soil layer thicknesses [m], source) for sebcal transfer
LAYERS: dict[str, tuple[tuple[float, ...], str]] = {
    "jules": ((0.1, 0.25, 0.65, 2.0), "JULES-soil"),
    "noahmp": ((0.1, 0.3, 0.6, 1.0), "NoahMP-table"),
}


def check_host(name: str) -> ModuleType:
    """The host module called ``name``; a ConfigError names the nearest host."""
    if name in HOSTS:
        return HOSTS[name]
    near = difflib.get_close_matches(str(name).lower(), list(HOSTS), n=1, cutoff=0.4)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    raise ConfigError(f"unknown host '{name}'{hint}; choose one of {', '.join(HOSTS)}")


def markdown_table(name: str) -> str:
    """The rows of a host as a markdown table (docs/hosts.md)."""
    host = check_host(name)
    lines = ["| sebcal | host entry | unit | kind | conversion | caveat | sources |",
             "|---|---|---|---|---|---|---|"]
    for r in host.ROWS:
        cell = lambda t: str(t).replace("|", "\\|")  # noqa: E731
        lines.append(f"| `{r.param}` | {cell(r.address.describe())} | {r.unit} | {r.kind} | "
                     f"{cell(r.conversion)} | {cell(r.caveat) or '–'} | "
                     f"{', '.join(f'`{s}`' for s in r.sources)} |")
    return "\n".join(lines) + "\n"


__all__ = ["HOSTS", "LAYERS", "SOURCES", "check_host", "markdown_table"]
