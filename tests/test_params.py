"""Tests of sebcal.params: metadata of every field, bounds, from_dict."""

from __future__ import annotations

import dataclasses
import math

import pytest

from sebcal.errors import ConfigError
from sebcal.params import Params, check_bounds, field_meta, public_name

FIELDS = dataclasses.fields(Params)


def _inside(value: float, meta) -> bool:
    lo, hi = meta["bounds"]
    lo_closed, hi_closed = meta["closed"]
    return (value >= lo if lo_closed else value > lo) and (value <= hi if hi_closed else value < hi)


@pytest.mark.parametrize("f", FIELDS, ids=[f.name for f in FIELDS])
def test_every_field_has_unit_bounds_prior_and_long_name(f):
    meta = f.metadata
    assert isinstance(meta["unit"], str) and meta["unit"]
    assert isinstance(meta["long_name"], str) and meta["long_name"]
    lo, hi = meta["bounds"]
    assert lo < hi
    assert len(meta["closed"]) == 2
    p_lo, p_hi = meta["prior"]
    assert p_lo < p_hi
    assert math.isfinite(p_lo) and math.isfinite(p_hi)
    assert _inside(p_lo, meta) and _inside(p_hi, meta), f"prior of {f.name} outside bounds"


@pytest.mark.parametrize("f", FIELDS, ids=[f.name for f in FIELDS])
def test_defaults_inside_bounds(f):
    value = f.default
    if value is None:  # beta: unknown by default
        assert f.name == "beta"
        return
    assert _inside(value, f.metadata)
    check_bounds(f.name, value)


def test_default_params_are_the_paper_values():
    p = Params()
    assert (p.alpha, p.eps, p.lam, p.C, p.T_b, p.h_eff, p.beta) == (
        0.2, 0.95, 0.8, 2.2e6, 293.0, 25.0, None)
    assert p.h is None


def test_h_and_beta_give_h_eff():
    p = Params.from_dict({"h": 15.0, "beta": 1.5})
    assert p.h_eff == pytest.approx(25.0, rel=1e-15)
    assert p.beta == 1.5
    assert p.h == pytest.approx(15.0, rel=1e-15)


@pytest.mark.parametrize("name,value", [("alpha", 1.2), ("lambda", 0.0), ("C", -1.0),
                                        ("eps", 0.0)])
def test_out_of_bounds_raises_naming_parameter(name, value):
    with pytest.raises(ConfigError, match=f"'{name}'") as exc:
        Params.from_dict({name: value})
    assert "bounds" in str(exc.value)


@pytest.mark.parametrize("kwargs", [{"alpha": -0.1}, {"T_b": 0.0}, {"h_eff": 0.0},
                                    {"beta": 0.0}, {"alpha": math.nan}, {"C": math.inf}])
def test_constructor_checks_bounds(kwargs):
    with pytest.raises(ConfigError, match=public_name(next(iter(kwargs)))):
        Params(**kwargs)


def test_closed_bounds_are_allowed():
    Params(alpha=0.0)
    Params(alpha=1.0)
    Params(eps=1.0)


def test_unknown_key_suggests_near_name():
    with pytest.raises(ConfigError, match=r"lamda.*did you mean 'lambda'"):
        Params.from_dict({"lamda": 0.8})


def test_aliases_and_public_names():
    p = Params.from_dict({"emissivity": 0.9, "Tb": 290.0, "heat_capacity": 2.0e6,
                          "lambda": 0.5, "bowen": 2.0})
    assert (p.eps, p.T_b, p.C, p.lam, p.beta) == (0.9, 290.0, 2.0e6, 0.5, 2.0)
    assert field_meta("lambda") is field_meta("lam")
    assert public_name("lam") == "lambda"


def test_same_parameter_twice_is_an_error():
    with pytest.raises(ConfigError, match="twice"):
        Params.from_dict({"eps": 0.9, "emissivity": 0.95})


@pytest.mark.parametrize("values,pattern", [
    ({"h": 15.0}, "beta"),
    ({"h": 15.0, "beta": 1.5, "h_eff": 25.0}, "both"),
    ({"h": 0.0, "beta": 1.5}, "'h'"),
    ({"h": "x", "beta": 1.5}, "'h' must be a number"),
])
def test_h_rules(values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        Params.from_dict(values)


@pytest.mark.parametrize("value", [True, "abc", None, [0.2]])
def test_non_numbers_rejected(value):
    with pytest.raises(ConfigError, match="'alpha' must be a number"):
        Params(alpha=value)


def test_from_dict_needs_a_mapping():
    with pytest.raises(ConfigError, match="table"):
        Params.from_dict([("alpha", 0.2)])  # type: ignore[arg-type]


def test_to_dict_round_trip_and_replace():
    p = Params(alpha=0.3, beta=2.0)
    d = p.to_dict()
    assert list(d) == ["alpha", "eps", "lambda", "C", "T_b", "h_eff", "beta"]
    assert Params.from_dict(d) == p
    assert p.replace(lam=0.6).lam == 0.6
    with pytest.raises(ConfigError, match="lambda"):
        p.replace(lam=-1.0)
