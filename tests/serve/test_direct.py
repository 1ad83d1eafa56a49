"""Direct ingress: the Ingress replicas listen on their own ports and ``Client(direct=True)`` uses them."""

import os
import random
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from tests_support import check_two_versions, decode_while_killing_a_replica, free_ports, serving_registry

from nbmf.client import Client
from nbmf.registry import Registry

WORDS = "the licensee shall not assign this agreement without prior written consent of the licensor".split()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Registry]]:
    """Its own local Ray: Ray's processes read the direct-ingress switch when Ray starts."""
    import ray

    from serve.direct import DIRECT_INGRESS_ENV
    from serve.local import start

    saved = {k: os.environ.get(k) for k in DIRECT_INGRESS_ENV}
    os.environ.update(DIRECT_INGRESS_ENV)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, object_store_memory=300 * 1024 * 1024, include_dashboard=False, log_to_driver=False)
    root = str(tmp_path_factory.mktemp("direct"))
    reg = serving_registry(root, WORDS, broken=False)
    (port,) = free_ports(1)
    stop = start(root, port=port, overrides={"colocate": True, "channel_ttl_s": 0, "model_load_timeout_s": 20}, direct=True)
    try:
        yield f"http://127.0.0.1:{port}", reg
    finally:
        stop()
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(40))


@pytest.mark.slow
def test_replicas_listed_and_used_directly(served: tuple[str, Registry]) -> None:
    url, reg = served
    with Client(url) as c:
        listed = c.endpoints()
    assert listed, "direct ingress is on: the ingress replica's own URL is listed"
    for u in listed:
        assert urlparse(u).hostname == "127.0.0.1" and urlparse(u).port != urlparse(url).port
        assert httpx.get(u + "/healthz", timeout=10).json() == {"status": "ok"}
    rng = random.Random(1)
    with Client(url, retries=8, direct=True) as c:
        check_two_versions(c, reg, [_text(rng) for _ in range(4)])
        assert c.targets == listed  # every request went to a replica's port, none through the proxy
    with Client(listed[0], retries=2) as only_replica:  # the replica answers the whole API itself
        texts = [_text(rng) for _ in range(3)]
        assert only_replica.decode(only_replica.encode(texts, domain="legal")) == texts


@pytest.mark.slow
def test_killed_replica_loses_no_request(served: tuple[str, Registry]) -> None:
    """The client drops the dead replica's URL, goes through the proxy, then re-lists the new replica."""
    url, _ = served
    rng = random.Random(5)
    texts = [_text(rng) for _ in range(25)]
    with Client(url, retries=10, direct=True, refresh_s=0.5) as c:
        frames = c.encode(texts, domain="legal")
        before = c.targets
        assert before
        decode_while_killing_a_replica(c, frames, texts, "Ingress", pause_s=0.05, threads=1)  # one thread: the client is not shared
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not c.targets or c.targets == before):  # bounded
            assert c.decode(frames[:1]) == texts[:1]
            time.sleep(0.5)
        assert c.targets and c.targets != before  # the new replica, on its own port
