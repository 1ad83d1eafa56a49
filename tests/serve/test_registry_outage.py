"""The registry (S3 on moto) goes away mid-run: every encode still answers, every earlier frame still decodes."""

import os
import random
import threading
from collections.abc import Iterator

import pytest
from tests_support import free_ports, serving_registry

from nbmf.client import Client
from nbmf.registry import Registry

WORDS = "each party shall give written notice of any claim within thirty days of the breach".split()


@pytest.fixture(scope="module")
def outage(ray_local) -> Iterator[tuple[str, Registry, object]]:  # type: ignore[no-untyped-def]
    import boto3
    from moto.server import ThreadedMotoServer

    from serve.local import start

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(k, v)  # moto takes any credentials; the registry's client needs some (also run alone)
    s3_port, port = free_ports(2)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{s3_port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t").create_bucket(
        Bucket="reg"
    )
    uri = f"s3://reg/nbmf?endpoint_override={endpoint}&region=us-east-1"
    reg = serving_registry(uri, WORDS, broken=False)
    stop = start(uri, port=port, overrides={"colocate": True, "channel_ttl_s": 0.2, "model_load_timeout_s": 20})
    try:
        yield f"http://127.0.0.1:{port}", reg, server
    finally:
        stop()
        server.stop()


@pytest.mark.slow
def test_encodes_answer_and_frames_decode_with_the_registry_gone(outage: tuple[str, Registry, object]) -> None:
    url, _, server = outage
    rng = random.Random(3)
    texts = [" ".join(rng.choice(WORDS) for _ in range(30)) for _ in range(40)]
    with Client(url, retries=8) as c:
        before = c.encode(texts[:10], domain="legal")
        assert c.decode(before) == texts[:10]
        server.stop()  # type: ignore[attr-defined]
        results: list[bool] = []
        errors: list[BaseException] = []

        def load(part: list[str]) -> None:
            try:
                for t in part:  # bounded
                    resp = c.encode_response([t], domain="legal")["frames"][0]
                    results.append(c.decode([__import__("base64").b64decode(resp["frame"])]) == [t])
                for f, t in zip(before, texts[:10]):
                    results.append(c.decode([f]) == [t])
                # a domain never seen before: no channels cached, the stub answers and says why
                resp = c.encode_response([part[0]], domain="newdomain")["frames"][0]
                results.append(bool(resp["fallback"]) and resp["codec"] in ("stub_zlib", "stored"))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=load, args=(texts[10 + 10 * i : 20 + 10 * i],)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not errors, errors
    assert len(results) == 3 * (10 + 10 + 1) and all(results)
