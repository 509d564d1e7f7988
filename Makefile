# sebcal: set-up, tests, demo and benchmarks. `make test` and `make demo` install whatever is
# missing (gfortran, a .venv with torch==2.13.0 and the package) and do nothing twice.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMPS := $(VENV)/.stamps
SRC    := $(shell find python/sebcal fortran -type f \( -name '*.py' -o -name '*.f90' -o -name 'meson.build' -o -name 'kind_map' -o -name 'string_lengths' \) -not -path '*/__pycache__/*') meson.build pyproject.toml
# torch is pinned here (a CPU build is on local disk); pyproject.toml states the range users need
TORCH_PIN := torch==2.13.0
BUILD_DEPS := "meson-python>=0.15" "meson>=1.1" ninja "numpy>=2.0" f90wrap==0.3.0 "pytest>=7" "pyyaml>=6" "ruff>=0.5" "hypothesis>=6" "jsonschema>=4" "resvg-py>=0.5" "pillow>=9" "matplotlib>=3.7"
# the field's calibration frameworks, run on sebcal's forward model in the tests
INTEROP_DEPS := "spotpy>=1.6" "pyemu>=1.3"
# the BMI and its tester; gimli.units 0.3.x is the units package bmi-tester 0.5.10 imports
# (gimli.units.units): with 0.4 its unit checks are skipped
BMI_DEPS := bmipy==2.0.1 bmi-tester==0.5.10 gimli.units==0.3.4
# multi-site calibration on Dask (tests run a LocalCluster)
DASK_DEPS := "dask[distributed]>=2024.1"
# posterior sampling ([calibration] posterior): emcee on the Fortran, NUTS (pyro) on the mirror
POSTERIOR_DEPS := "emcee>=3.1" "pyro-ppl>=1.9"

.PHONY: test lint docs demo bench install gfortran driver clean help wheel

help:
	@echo "make demo    install what is missing, then calibrate the bundled sites and print each verdict"
	@echo "make test    install what is missing, then run the test suite"
	@echo "make docs    regenerate the generated tables in docs/ (config keys, parameters)"
	@echo "make lint    ruff check"
	@echo "make bench   run the benchmarks in bench/ (long)"
	@echo "make driver  build the stand-alone Fortran driver (no Python) in build/"
	@echo "make wheel   build a binary wheel with libgfortran inside (build/wheel/wheelhouse) and run it in a fresh venv"

gfortran:
	@command -v gfortran >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing gfortran (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gfortran >/dev/null; \
	  else \
	    echo "gfortran is missing: install it, e.g. 'sudo apt-get install gfortran' (Debian/Ubuntu)," \
	         "'sudo dnf install gcc-gfortran' (Fedora) or 'brew install gcc' (macOS), then re-run make" >&2; \
	    exit 1; \
	  fi; }

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMPS)/deps: pyproject.toml | $(PY)
	@mkdir -p $(STAMPS)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_PIN) $(BUILD_DEPS) $(BMI_DEPS) $(DASK_DEPS) $(POSTERIOR_DEPS) $(INTEROP_DEPS)
	@touch $@

# supy (SUEWS) in its own environment: the SUEWS export is read back with supy's own config
# model, and supy's pins need not agree with sebcal's. The environment is built once per supy
# version in a per-user cache (SUPY_CACHE) and linked as .venv-supy, so a second checkout or a
# `make clean` does not build it again (building it takes minutes)
SUPY_PIN := supy==2026.6.5
SUPY_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sebcal
SUPY_VENV := $(SUPY_CACHE)/venv-$(subst ==,-,$(SUPY_PIN))
$(SUPY_VENV)/.complete:
	@mkdir -p $(SUPY_CACHE)
	rm -rf $(SUPY_VENV)
	$(PYTHON) -m venv $(SUPY_VENV)
	$(SUPY_VENV)/bin/python -m pip install -q --upgrade pip
	$(SUPY_VENV)/bin/python -m pip install -q $(SUPY_PIN)
	@touch $@
$(STAMPS)/supy: $(SUPY_VENV)/.complete | $(PY)
	@mkdir -p $(STAMPS)
	rm -rf .venv-supy
	ln -s $(SUPY_VENV) .venv-supy
	@touch $@

$(STAMPS)/install: $(STAMPS)/deps $(SRC) | gfortran
	$(PIP) install -q --no-build-isolation .
	@touch $@

install: gfortran $(STAMPS)/install

lint: $(STAMPS)/deps
	$(PY) -m ruff check python tests bench tools
	$(PY) tools/ccpp_meta_check.py fortran/ccpp/sebcal_ccpp.meta fortran/ccpp/sebcal_ccpp.F90

docs: install
	$(PY) tools/gen_docs.py

test: install lint $(STAMPS)/supy
	$(PY) -m pytest -q

DEMO_OUT := demo-out
DEMO_CASES := paper_synthetic_2depth west_phoenix baltimore dugout_ranch

# each calibration exits 0 (usable, with or without caveats) or 3 (not usable for a host):
# both are results; anything else stops the demo
demo: install
	@mkdir -p $(DEMO_OUT)
	@for c in $(DEMO_CASES); do \
	  echo "== $$c: sebcal calibrate examples/$$c.toml"; \
	  $(VENV)/bin/sebcal calibrate examples/$$c.toml --out $(DEMO_OUT)/$$c --force; \
	  s=$$?; if [ $$s -ne 0 ] && [ $$s -ne 3 ]; then exit $$s; fi; \
	done
	@$(PY) tools/demo_summary.py $(DEMO_OUT) $(DEMO_CASES)

# scipy is the peer's optimiser in bench/peer_scipy.py, not a sebcal dependency
bench: install
	$(PIP) install -q scipy
	$(PY) bench/run_all.py

wheel: install
	tools/check_wheel.sh build/wheel

driver: gfortran
	@mkdir -p build
	gfortran -O2 -fimplicit-none -Jbuild -o build/sebcal_driver \
	  fortran/sebcal_const.f90 fortran/sebcal_surface.f90 fortran/sebcal_soil.f90 \
	  fortran/sebcal_column.f90 fortran/sebcal_simulate.f90 fortran/sebcal_namelist.f90 \
	  fortran/driver/sebcal_driver.f90
	@echo "built build/sebcal_driver (usage: build/sebcal_driver NAMELIST FORCING.txt OUT.txt)"

clean:
	rm -rf build builddir .mesonpy-* $(STAMPS) .venv-supy
