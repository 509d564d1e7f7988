"""Tests of sebcal.params: validation against the vocabulary, names, h and beta, layers."""

from __future__ import annotations

import math

import pytest

from sebcal.errors import ConfigError
from sebcal.params import Params, public_name
from sebcal.vocabulary import PARAMETERS, default_options

PAPER = {"alpha": 0.2, "eps": 0.95, "lambda": 0.8, "C": 2.2e6, "T_b": 293.0, "h_eff": 25.0}


def test_access_by_name_alias_and_attribute():
    p = Params(PAPER)
    assert p["lambda"] == p.lam == p["lam"] == 0.8
    assert p.alpha == 0.2 and p.C == 2.2e6 and p.beta is None and p.h is None
    assert "lambda" in p and "lam" in p and "beta" not in p
    with pytest.raises(AttributeError, match="lamda"):
        p.lamda  # noqa: B018
    with pytest.raises(AttributeError):
        p.alpha = 0.3  # type: ignore[misc]


def test_h_and_beta_give_h_eff():
    p = Params.from_dict({**PAPER, "h_eff": None, "h": 15.0, "beta": 1.5})
    assert p.h_eff == pytest.approx(25.0, rel=1e-15)
    assert p.beta == 1.5
    assert p.h == pytest.approx(15.0, rel=1e-15)


@pytest.mark.parametrize("name,value", [("alpha", 1.2), ("lambda", 0.0), ("C", -1.0),
                                        ("eps", 0.0), ("T_b", 5000.0), ("C", 1e308),
                                        ("beta", 1e-300 * 0), ("z0m", 20.0)])
def test_out_of_bounds_raises_naming_parameter(name, value):
    with pytest.raises(ConfigError, match=f"'{name}'") as exc:
        Params.from_dict({name: value})
    assert "bounds" in str(exc.value)


@pytest.mark.parametrize("kwargs", [{"alpha": -0.1}, {"T_b": 0.0}, {"h_eff": 0.0},
                                    {"beta": 0.0}, {"alpha": math.nan}, {"C": math.inf}])
def test_constructor_checks_bounds(kwargs):
    with pytest.raises(ConfigError, match=public_name(next(iter(kwargs)))):
        Params(kwargs)


def test_celsius_hint_for_temperatures():
    with pytest.raises(ConfigError, match=r"degrees Celsius.*293\.15 K"):
        Params({"T_b": 20.0})


def test_closed_bounds_are_allowed():
    Params({"alpha": 0.0})
    Params({"alpha": 1.0})
    Params({"eps": 1.0})


def test_unknown_key_suggests_near_name():
    with pytest.raises(ConfigError, match=r"lamda.*did you mean 'lambda'"):
        Params.from_dict({"lamda": 0.8})


def test_aliases_and_public_names():
    p = Params.from_dict({"emissivity": 0.9, "Tb": 290.0, "heat_capacity": 2.0e6,
                          "lambda": 0.5, "bowen": 2.0})
    assert (p.eps, p.T_b, p.C, p.lam, p.beta) == (0.9, 290.0, 2.0e6, 0.5, 2.0)
    assert public_name("lam") == "lambda" and public_name("emissivity") == "eps"


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


@pytest.mark.parametrize("value", [True, "abc", [0.2]])
def test_non_numbers_rejected(value):
    with pytest.raises(ConfigError, match="alpha"):
        Params({"alpha": value})


def test_from_dict_needs_a_mapping():
    with pytest.raises(ConfigError, match="table"):
        Params.from_dict([("alpha", 0.2)])  # type: ignore[arg-type]


def test_per_layer_values():
    p = Params({**PAPER, "lambda": [0.5, 0.9], "C": 2.0e6})
    assert p["lambda"] == (0.5, 0.9)
    assert p.layers("lambda", 2) == (0.5, 0.9) and p.layers("C", 2) == (2.0e6, 2.0e6)
    with pytest.raises(ConfigError, match="3 layers"):
        p.layers("lambda", 3)
    with pytest.raises(ConfigError, match=r"lambda\[1\]"):
        Params({"lambda": [0.5, -1.0]})


def test_defaults_for_the_options_and_missing_ones():
    opts = default_options()
    full = Params(PAPER).with_defaults(opts)
    assert full == Params(PAPER)
    bulk = {**opts, "turbulence": "bulk"}
    with pytest.raises(ConfigError, match="missing z0m, z_ref"):
        Params(PAPER).with_defaults(bulk)
    full = Params({**PAPER, "z0m": 0.01, "z_ref": 10.0}).with_defaults(bulk)
    assert full["z0h_ratio"] == PARAMETERS["z0h_ratio"].default and full["d0"] == 0.0


def test_to_dict_round_trip_and_replace():
    p = Params({**PAPER, "beta": 2.0, "lambda": [0.7, 0.8]})
    d = p.to_dict()
    assert d["lambda"] == [0.7, 0.8]
    assert Params.from_dict(d) == p
    assert p.replace(lam=0.6)["lambda"] == 0.6
    assert "beta" not in p.replace(beta=None)
    with pytest.raises(ConfigError, match="lambda"):
        p.replace(lam=-1.0)
