"""The colocated topology (``colocate: true``): the Ingress replicas host the codec, no Encoder hop."""

import base64
import random
from collections.abc import Iterator

import pytest
from tests_support import check_two_versions, free_ports, serving_registry

from nbmf.client import Client
from nbmf.registry import Registry

WORDS = "each party shall give written notice of any claim within thirty days of the breach".split()


@pytest.fixture(scope="module")
def served(ray_local, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Registry]]:  # type: ignore[no-untyped-def]
    from serve.local import start

    root = str(tmp_path_factory.mktemp("colocate"))
    reg = serving_registry(root, WORDS)
    (port,) = free_ports(1)
    stop = start(root, port=port, overrides={"colocate": True, "channel_ttl_s": 0, "model_load_timeout_s": 20})
    try:
        yield f"http://127.0.0.1:{port}", reg
    finally:
        stop()


@pytest.mark.slow
def test_colocated_round_trips_versions_and_fallback(served: tuple[str, Registry]) -> None:
    from ray import serve

    url, reg = served
    deployments = set(serve.status().applications["nbmf"].deployments)
    assert deployments == {"Ingress"}  # no Encoder deployment: the ingress codes
    rng = random.Random(1)
    texts = [" ".join(rng.choice(WORDS) for _ in range(40)) for _ in range(4)]
    with Client(url, retries=8) as c:
        check_two_versions(c, reg, texts)
        broken = c.encode_response(texts[:1], domain="broken")["frames"][0]
        assert broken["fallback"] and "failed" in broken["fallback"]
        assert c.decode([base64.b64decode(broken["frame"])]) == texts[:1]
