"""The package version (meson.build says the same; tests/test_cli.py checks)."""

__version__ = "0.1.0"
