"""Local cluster tooling: a Spark standalone cluster and an S3-compatible object store on this machine.

Tooling above the jobs, like the demo (docs/DESIGN.md, Layers): it starts the
processes a cluster deployment has (`local.py`), signs the few S3 calls that make
the store ready (`s3.py`), and submits the unchanged `spark_jobs/*.py` entry
points to it with the project shipped as `--py-files` (`submit.py`). `make
cluster-up` / `make cluster-down` and tests/test_cluster.py use the same code
through `python -m searchrel.cluster up|down|status|submit`.
"""
