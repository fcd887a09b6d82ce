"""Submit an unchanged `spark_jobs/<job>.py` entry point to the local cluster, the project shipped as `--py-files`.

Why a zip of the source packages rather than relying on the installed project:
on a real cluster the executors have pyspark and the third-party libraries in
their image, but not this checkout; `--py-files` is how the job's own code gets
there, and shipping it here too is what proves the jobs import nothing from the
driver's working tree by accident. PySpark puts the zip ahead of site-packages
on both sides, so it wins over an editable install of the same packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from searchrel.cluster.local import LocalCluster
from searchrel.cluster.processes import ClusterError
from searchrel.core.session import spark_home

# The installed packages (pyproject's [tool.setuptools.packages.find]); conf/ and the
# job scripts' folder travel as files, not imports.
PACKAGES = ("searchrel", "spark_jobs", "features", "modeling", "expectations", "simulation")


def project_root() -> Path:
    """The checkout this module was imported from (searchrel/cluster/submit.py -> the repository root)."""
    return Path(__file__).resolve().parents[2]


def build_py_files(dest: Path, root: Path | None = None) -> Path:
    """Zip the project's packages (sources and package data, no bytecode) into `dest`; returns its path."""
    root = root or project_root()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for package in PACKAGES:
            for path in sorted((root / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    zf.write(path, path.relative_to(root).as_posix())
    os.replace(tmp, dest)
    return dest


def job_script(job: str) -> Path:
    """The entry point of a job: spark_jobs/<job>.py of this checkout."""
    script = project_root() / "spark_jobs" / f"{job}.py"
    if not script.is_file():
        raise ClusterError(f"no job {job!r}: {script} does not exist")
    return script


def spark_submit_argv(script: Path, args: list[str], py_files: Path, properties_file: Path,
                      master: str | None = None) -> list[str]:
    """The spark-submit command line: a properties file, the zip, the script, its arguments.

    `master` overrides the properties file's spark.master (e.g. local[2] for the same job run locally).
    """
    if not properties_file.is_file():
        raise ClusterError(f"no properties file {properties_file}: is the cluster up?")
    return [str(spark_home() / "bin" / "spark-submit"), "--properties-file", str(properties_file),
            *(["--master", master] if master else []), "--py-files", str(py_files), str(script), *args]


def submit_env(cluster: LocalCluster) -> dict[str, str]:
    """spark-submit's environment: pyspark's SPARK_HOME and this cluster's (empty) conf folder, this Python."""
    env = dict(os.environ)
    env.update({
        "SPARK_HOME": str(spark_home()),
        "SPARK_CONF_DIR": str(cluster.root / "spark" / "conf"),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    })
    return env


def start_script(cluster: LocalCluster, script: Path, args: list[str], log_file: Path, *,
                 properties_file: Path | None = None, master: str | None = None) -> subprocess.Popen:
    """Start one PySpark script with spark-submit and return at once; the driver's output goes to `log_file`.

    For a caller that acts on the cluster while the job runs (tests/test_cluster.py takes
    a worker away in the middle of `label`). Keyword arguments as for `submit_script`.
    """
    py_files = build_py_files(cluster.root / "dist" / "searchrel-py.zip")
    argv = spark_submit_argv(script, args, py_files, properties_file or cluster.properties_path, master)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        return subprocess.Popen(argv, env=submit_env(cluster), cwd=project_root(), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def submit_script(cluster: LocalCluster, script: Path, args: list[str], *, log_file: Path | None = None,
                  properties_file: Path | None = None, master: str | None = None,
                  timeout_s: float | None = None) -> subprocess.CompletedProcess:
    """Run one PySpark script with spark-submit and wait for it; the driver's output goes to `log_file` if given.

    By default on the cluster with its properties file; `properties_file` and `master`
    run the same script elsewhere (a copy with other credentials, a local master).
    Returns the finished process: its returncode is the script's exit code.
    """
    if log_file is None:
        py_files = build_py_files(cluster.root / "dist" / "searchrel-py.zip")
        argv = spark_submit_argv(script, args, py_files, properties_file or cluster.properties_path, master)
        return subprocess.run(argv, env=submit_env(cluster), cwd=project_root(), timeout=timeout_s, check=False)
    process = start_script(cluster, script, args, log_file, properties_file=properties_file, master=master)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode)


def submit_job(cluster: LocalCluster, job: str, job_args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """`spark-submit spark_jobs/<job>.py ARGS` on the cluster (keyword arguments as for submit_script)."""
    return submit_script(cluster, job_script(job), job_args, **kwargs)
