"""Just enough of the S3 API to make a local object store ready: signed ListBuckets, PUT and HEAD bucket.

Why not boto3: the cluster tooling must not pull an AWS SDK into the pipeline's
environment for three calls, and the readiness check has to prove what the
Spark jobs will rely on, that a request signed with the generated key pair
(AWS Signature Version 4, path-style addressing, the same as s3a is configured
for) is accepted. An unsigned probe would pass against a store that rejects
our credentials.

The secret key is used to sign and never appears in a message, an exception or
a log line: errors carry the HTTP status and S3's error code only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class S3Response:
    """Status and body of one request; `code` is S3's error code (e.g. SignatureDoesNotMatch) when it failed."""

    status: int
    body: bytes

    @property
    def code(self) -> str | None:
        match = re.search(rb"<Code>([^<]+)</Code>", self.body)
        return match.group(1).decode() if match else None


@dataclass(frozen=True)
class S3Client:
    """A SigV4 signer over urllib for a path-style endpoint such as http://127.0.0.1:8333."""

    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    timeout_s: float = 5.0

    def request(self, method: str, path: str = "/", body: bytes = b"",
                query: dict[str, str] | None = None) -> S3Response:
        """Send one signed request; HTTP errors come back as a response, connection errors raise OSError."""
        now = dt.datetime.now(dt.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        host = urllib.parse.urlsplit(self.endpoint).netloc
        canonical_path = urllib.parse.quote(path, safe="/-_.~")
        canonical_query = "&".join(
            f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
            for k, v in sorted((query or {}).items()))
        payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        signed_headers = "host;x-amz-content-sha256;x-amz-date"
        canonical_headers = f"host:{host}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n"
        canonical_request = "\n".join(
            [method, canonical_path, canonical_query, canonical_headers, signed_headers, payload_hash])
        scope = f"{day}/{self.region}/s3/aws4_request"
        string_to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
        key = ("AWS4" + self.secret_key).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        headers = {
            "x-amz-date": amz_date,
            "x-amz-content-sha256": payload_hash,
            "Authorization": (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                              f"SignedHeaders={signed_headers}, Signature={signature}"),
        }
        url = self.endpoint.rstrip("/") + canonical_path + (f"?{canonical_query}" if canonical_query else "")
        req = urllib.request.Request(url, data=body or None,
                                     method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return S3Response(resp.status, resp.read())
        except urllib.error.HTTPError as err:
            return S3Response(err.code, err.read())

    def list_buckets(self) -> S3Response:
        return self.request("GET", "/")

    def create_bucket(self, bucket: str) -> S3Response:
        return self.request("PUT", f"/{bucket}")

    def head_bucket(self, bucket: str) -> S3Response:
        return self.request("HEAD", f"/{bucket}")

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under `prefix` (ListObjectsV2, all pages); raises OSError on a refused request."""
        keys: list[str] = []
        token: str | None = None
        while True:
            query = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
            resp = self.request("GET", f"/{bucket}", query=query)
            if resp.status != 200:
                raise OSError(f"listing s3://{bucket}/{prefix} failed: HTTP {resp.status} {resp.code}")
            keys += [k.decode() for k in re.findall(rb"<Key>([^<]*)</Key>", resp.body)]
            match = re.search(rb"<NextContinuationToken>([^<]+)</NextContinuationToken>", resp.body)
            if not (re.search(rb"<IsTruncated>true</IsTruncated>", resp.body) and match):
                return keys
            token = match.group(1).decode()
