"""Real servers for the team-hub tests: a throwaway PostgreSQL cluster and moto's S3 server.

PostgreSQL runs from Debian's binaries (``make setup`` installs them when missing) on a
free loopback port, as the ``postgres`` user when the tests run as root (PostgreSQL
refuses to run as root); every test gets a fresh database. The S3 server is moto in server
mode inside the test process, so boto3 talks real HTTP to it, a test can stop it and start
it again on the same port, and its buckets survive that (they live in this process).
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from typing import Any

PG_USER = "postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL's server binaries are missing; run 'make setup' (it installs them)."
        )
    return os.path.dirname(found[-1])


class PostgresServer:
    """A cluster in a temporary folder; ``database()`` creates a fresh database and its URL."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="assethub-pg-")
        self.data = os.path.join(self.root, "data")
        self._names = itertools.count()
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [os.path.join(self.bin, args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", PG_USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if self._as_root:
            user = pwd.getpwnam(PG_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", PG_USER, "-E", "UTF8")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=300"
        )
        self._run("pg_ctl", "-D", self.data, "-o", options, "-w", "-l", f"{self.root}/log", "start")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def admin_url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def database(self) -> str:
        """A new, empty database; its ``postgresql://`` URL."""
        import psycopg

        name = f"hub{next(self._names)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{name}"

    def drop(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3Server:
    """moto's S3 server on a loopback port; ``stop``/``start`` keep its buckets."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._names = itertools.count()

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def env(self) -> dict[str, str]:
        return {**S3_ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=S3_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        )

    def bucket(self) -> str:
        name = f"hub-{next(self._names)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict[str, Any]:
        """key -> its listing entry, for every key under ``prefix``."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return {item["Key"]: item for page in pages for item in page.get("Contents", [])}

    def stop_once_an_object_landed(
        self, bucket: str, prefix: str, writer: subprocess.Popen[str]
    ) -> None:
        """Stop the server as soon as ``writer`` (still running) has stored a large object."""
        deadline = time.monotonic() + 120
        try:
            while not any("/objects/" in k for k in self.keys(bucket, prefix)):
                assert writer.poll() is None, writer.communicate()
                assert time.monotonic() < deadline, "no object ever landed"
                time.sleep(0.005)
        finally:
            self.stop()

    def drop(self, bucket: str) -> None:
        client = self.client()
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for page in pages:
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)


def requests_with(records: list[logging.LogRecord], method: str) -> list[str]:
    """The lines of moto's request log (logger ``werkzeug``, as captured by caplog) for
    requests of one HTTP ``method``."""
    return [r.getMessage() for r in records if f'"{method} ' in r.getMessage()]


def wait_until_answering(
    url: str, server: subprocess.Popen[bytes], *, token: str, deadline_s: float = 60.0
) -> None:
    """Poll ``url`` (with the server's token) until it answers; fail if the server exits."""
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {server.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server at {url} did not answer within {deadline_s:.0f} s")
