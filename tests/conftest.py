"""Shared fixtures: real local services on 127.0.0.1 (moto's S3 server), temp registries."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# primed states the tests write stay out of the user's ~/.cache (Ray workers inherit this too);
# a directory made here (up to 2 GB of primed states) is removed when the pytest session ends
_OWN_PRIMED_CACHE = None if "NBMF_PRIMED_CACHE" in os.environ else tempfile.mkdtemp(prefix="nbmf-test-primed-")
if _OWN_PRIMED_CACHE is not None:
    os.environ["NBMF_PRIMED_CACHE"] = _OWN_PRIMED_CACHE


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the primed-state cache this conftest made; one the user set is theirs and stays."""
    if _OWN_PRIMED_CACHE is not None:
        shutil.rmtree(_OWN_PRIMED_CACHE, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server (real S3 wire protocol) on loopback; yields its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket; yields ``s3://bucket/root`` addressing the moto server."""
    import boto3

    name = "b" + str(abs(hash(request.node.nodeid)) % 10**10)
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=name)
    return f"s3://{name}/root?endpoint_override={s3_server}"


@pytest.fixture(params=["local", "s3"])
def storage_uri(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "local":
        return str(tmp_path)
    return str(request.getfixturevalue("s3_bucket"))


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """One local Ray per test module (a start costs seconds); shut down after the module."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, object_store_memory=300 * 1024 * 1024, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
