# Two commands are the whole set-up: `make test` and `make demo` each create or
# update the virtual environment first (pip + uv from PyPI; Delta's jars come
# from Maven Central on the first Spark start and are cached in ~/.ivy2.5.2).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
SCALE ?= small
PYTEST_ARGS ?=

.PHONY: venv test demo bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) pip install --python $(PY) -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

demo: venv
	$(VENV)/bin/searchrel demo --scale $(SCALE)

clean:
	rm -rf warehouse .pytest_cache
