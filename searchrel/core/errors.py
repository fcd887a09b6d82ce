"""The errors every layer raises, and the exit code each one maps to.

Exit codes of every command (`searchrel <command>`, `spark-submit spark_jobs/<job>.py`):
0 success, 2 bad arguments or configuration (one line naming what is wrong), 1 a failed run.
"""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class ConfigError(ValueError):
    """Bad configuration; the CLI prints the message as one line and exits 2."""


class UsageError(ValueError):
    """Bad arguments discovered after parsing; exit code 2 like argparse's own."""


class JobFailed(RuntimeError):
    """A run that finished but failed (e.g. a validation gate); exit code 1, message shown as is."""


class TableNotFound(RuntimeError):
    """A job asked for a table no earlier step has written."""


class ReconciliationError(RuntimeError):
    """Rows in != rows written + rows quarantined: something was dropped or doubled."""


class ConcurrentWriteConflict(JobFailed):
    """A Delta write lost to concurrent writers on every allowed attempt; exit 1, one line, nothing half-written."""


# What hadoop-aws raises when the store refuses a request (wrong key or secret, no permission):
# java.nio.file.AccessDeniedException: s3a://bucket/path: <operation> on s3a://…: … Status Code: 403 …
_S3A_DENIED = re.compile(r"java\.nio\.file\.AccessDeniedException: (s3a://[^\s:]*)")
# What hadoop-aws raises when nothing answers at the endpoint (the store is down, a wrong host or port):
# java.net.ConnectException: getFileStatus on s3a://…: … Connect to 127.0.0.1:8333 [/127.0.0.1] failed: Connection refused
_S3A_UNREACHABLE = re.compile(
    r"java\.net\.(?:ConnectException|UnknownHostException|SocketTimeoutException|NoRouteToHostException): "
    r"\w+ on (s3a://[^\s:]*)")
_S3A_CONNECT = re.compile(r"Connect to (\S+?)(?: \[[^\]]*\])? failed: ([^:\n]+)")
_S3_ERROR_CODE = re.compile(r"\b(SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied|InvalidToken|ExpiredToken)\b")


def storage_refusal(exc: BaseException) -> str | None:
    """One line for a job whose object store refused its credentials, or None for any other error.

    A refused key shows up as a Java AccessDeniedException wrapped in a Py4J error whose text
    is a long JVM stack; the person running the job needs the path, the store's reason and
    which settings to check. Only those are taken from the text: never a key or a secret.
    """
    text = str(exc)
    denied = _S3A_DENIED.search(text)
    if not denied:
        return None
    code = _S3_ERROR_CODE.search(text)
    reason = code.group(1) if code else "403 Forbidden"
    return (f"the object store refused access to {denied.group(1)} ({reason}): check the s3a credentials "
            "(spark.hadoop.fs.s3a.access.key / secret.key in the spark-submit properties file) "
            "and the bucket's permissions")


def storage_unreachable(exc: BaseException) -> str | None:
    """One line for a job whose object store did not answer, or None for any other error.

    A store that is down (or an endpoint that names the wrong host or port) surfaces, after
    s3a's retries, as a Java ConnectException under a JVM stack of a few hundred lines. It is
    a failed run, not bad arguments (exit 1, so a scheduler retries it later); Delta commits
    are atomic, so a run stopped this way committed nothing it had not finished.
    """
    text = str(exc)
    unreachable = _S3A_UNREACHABLE.search(text)
    if not unreachable:
        return None
    connect = _S3A_CONNECT.search(text)
    where, why = (connect.group(1), connect.group(2).strip()) if connect else ("its endpoint", "no answer")
    return (f"the object store did not answer at {where} ({why}) for {unreachable.group(1)}: "
            "is it up? check spark.hadoop.fs.s3a.endpoint in the spark-submit properties file")
