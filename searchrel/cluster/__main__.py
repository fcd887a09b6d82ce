"""`python -m searchrel.cluster up|down|status|submit`: the one entry point `make` and people use.

Prints cluster.json's public part (master URL, S3 endpoint, bucket, warehouse,
properties file, startup times) as JSON; never the credentials, which only the
0600 properties file holds. Exit codes as everywhere: 0 ok, 2 bad arguments,
1 a failure (one line, then the end of the failing component's log).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from searchrel.cluster.local import ClusterSpec, LocalCluster
from searchrel.cluster.processes import ClusterError
from searchrel.core.errors import EXIT_FAILED, EXIT_OK

DEFAULT_ROOT = os.environ.get("SEARCHREL_CLUSTER_DIR", ".cluster")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m searchrel.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=DEFAULT_ROOT, help="the cluster's folder (default .cluster or "
                        "$SEARCHREL_CLUSTER_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the object store, the master and the workers; wait until ready")
    up.add_argument("--workers", type=int, default=2)
    up.add_argument("--worker-memory", default="1g")
    up.add_argument("--bucket", default="searchrel")
    sub.add_parser("down", help="stop every process `up` started")
    sub.add_parser("status", help="what runs now")
    submit = sub.add_parser("submit", help="spark-submit a job to the cluster: submit JOB -- ARGS…")
    submit.add_argument("job", help="a job module of spark_jobs/, e.g. simulate or aggregate_features")
    submit.add_argument("job_args", nargs=argparse.REMAINDER, help="the job's own arguments")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    cluster = LocalCluster(args.dir)
    try:
        if args.command == "up":
            spec = ClusterSpec(cluster.root, workers=args.workers, worker_memory=args.worker_memory,
                               bucket=args.bucket)
            cluster.up(spec)
            print(json.dumps(cluster.status(), indent=2))
        elif args.command == "down":
            stopped = cluster.down()
            print(json.dumps({"stopped": stopped}))
        elif args.command == "status":
            print(json.dumps(cluster.status(), indent=2))
        else:
            from searchrel.cluster.submit import submit_job

            job_args = args.job_args[1:] if args.job_args[:1] == ["--"] else args.job_args
            return submit_job(cluster, args.job, job_args).returncode
    except ClusterError as err:
        print(f"cluster: {err}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
