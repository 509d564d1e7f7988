"""Variable names and units of flux-tower data, and their conversion to SI.

Canonical names are ALMA's (Urban-PLUMBER, PLUMBER2). :data:`ALIASES` lists the other names
tried for each, in order: PLUMBER2 (``Psurf``, ``Precip``) and FLUXNET2015 / AmeriFlux
(``*_F`` / ``*_F_MDS`` gap-filled names first, then the plain names). Every value is returned
in :data:`SI_UNIT`.
"""

from __future__ import annotations

#: canonical name -> alternative names tried in order (docs/forcing.md)
ALIASES: dict[str, tuple[str, ...]] = {
    "SWdown": ("SW_IN_F", "SW_IN"),
    "LWdown": ("LW_IN_F", "LW_IN"),
    "Tair": ("TA_F", "TA"),
    "Qair": (),
    "RH": ("RH_F",),
    "VPD": ("VPD_F",),
    "PSurf": ("Psurf", "PA_F", "PA"),
    "Rainf": ("Precip", "P_F", "P"),
    "Snowf": (),
    "Wind": ("WS_F", "WS"),
    "Wind_N": (),
    "Wind_E": (),
    "LAI": (),
    "SWup": ("SW_OUT",),
    "LWup": ("LW_OUT",),
    "Rnet": ("NETRAD",),
    "Qh": ("H_F_MDS", "H"),
    "Qle": ("LE_F_MDS", "LE"),
    "Qg": ("G_F_MDS", "G"),
    "Qtau": (),
    "SoilTemp": ("TS_F_MDS_1", "TS_1"),
    "SoilMoist": ("SWC_F_MDS_1", "SWC_1"),
    "RadT": ("T_CANOPY",),
}

#: SI unit of each canonical name (the unit every value is returned in)
SI_UNIT: dict[str, str] = {
    "SWdown": "W m-2", "LWdown": "W m-2", "SWup": "W m-2", "LWup": "W m-2", "Rnet": "W m-2",
    "Qh": "W m-2", "Qle": "W m-2", "Qg": "W m-2", "Gtop": "W m-2",
    "Tair": "K", "SoilTemp": "K", "RadT": "K", "Ttop": "K", "Tbottom": "K", "AvgSurfT": "K",
    "Qair": "kg kg-1", "RH": "1", "VPD": "Pa",
    "PSurf": "Pa", "Qtau": "Pa",
    "Rainf": "kg m-2 s-1", "Snowf": "kg m-2 s-1",
    "Wind": "m s-1", "Wind_N": "m s-1", "Wind_E": "m s-1",
    "LAI": "m2 m-2", "SoilMoist": "m3 m-3",
    "Qh_plus_Qle": "W m-2", "LWnet": "W m-2", "SWnet": "W m-2",
}

#: radiation components that cannot be negative. Pyranometers read a few W m-2 below zero at
#: night (thermal offset, typically down to -10 to -15 W m-2), so values in [-RAD_NEG_LIMIT, 0)
#: of the shortwave components are set to 0, as the FLUXNET processing does; values below
#: -RAD_NEG_LIMIT are errors (a sign convention or unit mistake)
RADIATION = ("SWdown", "SWup", "LWdown", "LWup")
RAD_NEG_LIMIT = 20.0

#: a temperature whose window maximum is below this [K] while its units say K is in Celsius
CELSIUS_SUSPECT_K = 150.0

#: plausible SI ranges of forcing values; outside them the reader refuses the value (a unit
#: mistake, a corrupt file): name -> (lo, hi, what to check)
PLAUSIBLE: dict[str, tuple[float, float, str]] = {
    "SWdown": (-RAD_NEG_LIMIT, 1500.0, "the solar constant is 1361 W m-2"),
    "LWdown": (50.0, 700.0, "downward longwave is 100-550 W m-2 on Earth"),
    "Tair": (180.0, 340.0, "air temperatures on Earth lie within 180-340 K"),
    "Ttop": (180.0, 360.0, "soil temperatures lie within 180-360 K"),
    "Tbottom": (180.0, 360.0, "soil temperatures lie within 180-360 K"),
    "SoilTemp": (180.0, 360.0, "soil temperatures lie within 180-360 K"),
    "RadT": (180.0, 360.0, "surface temperatures lie within 180-360 K"),
    "PSurf": (3.0e4, 1.1e5, "surface pressure is 30-110 kPa"),
    "Qair": (0.0, 0.05, "specific humidity is below 0.05 kg kg-1"),
    "RH": (0.0, 1.05, "relative humidity is a fraction 0-1 here"),
    "VPD": (0.0, 1.0e4, "vapour pressure deficit is below 10 kPa"),
    "Wind": (0.0, 75.0, "wind speed below 75 m s-1"),
    "LAI": (0.0, 15.0, "leaf area index is 0-15 m2 m-2"),
    "SoilMoist": (0.0, 1.0, "volumetric soil moisture is a fraction 0-1"),
    "Gtop": (-1000.0, 1000.0, "soil heat fluxes lie within +-1000 W m-2"),
}

#: units table: normalised text -> (SI unit, scale, offset); SI = raw * scale + offset
UNITS: dict[str, tuple[str, float, float]] = {}


def normalise(units: str) -> str:
    return " ".join(str(units).strip().lower().split())


def _add(si: str, scale: float, offset: float, *spellings: str) -> None:
    for s in spellings:
        UNITS[normalise(s)] = (si, scale, offset)


_add("W m-2", 1.0, 0.0, "W/m2", "W m-2", "W m^-2", "W/m^2", "W m**-2", "Wm-2", "W.m-2",
     "W/m**2", "watt/m2", "W m2-1", "W+1m-2")
_add("K", 1.0, 0.0, "K", "kelvin", "degK", "deg K", "degrees_K", "degree_K")
_add("K", 1.0, 273.15, "degC", "deg C", "°C", "C", "Celsius", "degrees_C", "degree_C",
     "deg_C", "degrees C", "degree C", "degree_Celsius", "degrees_Celsius",
     "degrees Celsius", "° C")
_add("Pa", 1.0, 0.0, "Pa", "N/m2", "N m-2", "N m^-2", "N/m^2")
_add("Pa", 1000.0, 0.0, "kPa")
_add("Pa", 100.0, 0.0, "hPa", "mbar", "millibar")
_add("kg m-2 s-1", 1.0, 0.0, "kg/m2/s", "kg m-2 s-1", "kg/m^2/s", "kg m^-2 s^-1",
     "kg/m2s", "kg m**-2 s**-1", "mm/s", "mm s-1", "mm s^-1")
_add("kg kg-1", 1.0, 0.0, "kg/kg", "kg kg-1", "kg kg^-1", "1")
_add("kg kg-1", 1.0e-3, 0.0, "g/kg", "g kg-1")
_add("m s-1", 1.0, 0.0, "m/s", "m s-1", "m s^-1", "m/sec", "m s**-1")
_add("1", 1.0, 0.0, "1", "-", "fraction", "m3/m3", "m3 m-3", "m^3/m^3", "m^3 m^-3")
_add("1", 0.01, 0.0, "%", "percent")
_add("m2 m-2", 1.0, 0.0, "m2/m2", "m2 m-2", "m^2/m^2", "m^2 m^-2")

#: units that mean the same quantity for these names
_SAME = {"m3 m-3": "1", "m2 m-2": "1", "kg kg-1": "1"}


def lookup(units: str) -> tuple[str, float, float] | None:
    """(SI unit, scale, offset) of a units string, or None when it is not in the table."""
    return UNITS.get(normalise(units))


def compatible(si: str, expected: str) -> bool:
    """Whether a value in ``si`` can stand for a quantity in ``expected``."""
    if si == expected:
        return True
    return _SAME.get(expected) == si or _SAME.get(si) == expected


#: AmeriFlux / FLUXNET units of variables by name prefix (files carry no units row)
AMERIFLUX_UNITS: dict[str, str] = {
    "TA": "degC", "T_SONIC": "degC", "TS": "degC", "T": "degC", "T_CANOPY": "degC",
    "T_DP": "degC", "PA": "kPa", "VPD": "hPa", "RH": "%", "SWC": "%", "VWC": "1",
    "WS": "m s-1", "U": "m s-1", "SW_IN": "W m-2", "SW_OUT": "W m-2", "LW_IN": "W m-2",
    "LW_OUT": "W m-2", "NETRAD": "W m-2", "H": "W m-2", "LE": "W m-2", "G": "W m-2",
    "SG": "W m-2", "P": "mm", "USTAR": "m s-1",
}
