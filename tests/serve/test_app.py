"""The HTTP endpoint on a real local Ray Serve (127.0.0.1), every loop bounded in count and time."""

import base64
import random
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from tests_support import check_two_versions, decode_while_killing_a_replica, free_ports, serving_registry

from nbmf.client import Client
from nbmf.frame import FORMAT_VERSION, unpack
from nbmf.registry import Registry

TOKEN = "s3cret"
WORDS = "the licensee shall keep every copyright notice intact in all copies of the software and its documentation".split()


def _text(rng: random.Random, n: int = 60) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


@pytest.fixture(scope="module")
def served(ray_local, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Registry]]:  # type: ignore[no-untyped-def]
    from serve.local import start

    root = tmp_path_factory.mktemp("serve")
    reg = serving_registry(str(root), WORDS)
    (port,) = free_ports(1)
    stop = start(
        str(root),
        port=port,
        token=TOKEN,
        overrides={"channel_ttl_s": 0, "max_body_bytes": 256 * 1024, "max_batch": 64, "max_in_flight": 4, "model_load_timeout_s": 20},
        deployment_options={
            "Encoder": {
                "autoscaling_config": {
                    "min_replicas": 1,
                    "max_replicas": 2,
                    "target_ongoing_requests": 1,
                    "upscale_delay_s": 1,
                    "downscale_delay_s": 600,
                },
                "ray_actor_options": {"num_cpus": 0.25},
            }
        },
    )
    try:
        yield f"http://127.0.0.1:{port}", reg
    finally:
        stop()


@pytest.fixture
def client(served: tuple[str, Registry]) -> Iterator[Client]:
    with Client(served[0], token=TOKEN, retries=8) as c:
        yield c


@pytest.mark.slow
@pytest.mark.parametrize("fidelity", ["lossless", "semantic"])
def test_round_trips_every_type(client: Client, fidelity: str) -> None:
    rng = random.Random(1)
    texts = [_text(rng), "  Ünïcode\t text  ✓  ", ""]
    jsons = [{"z": 1, "a": [1.5, None, True]}, [1, "two"], "a json string", 3.25]
    for payloads, ptype in ((texts, None), (jsons, "json"), ([b"\x00\xff" * 50, b""], None)):
        frames = client.encode(payloads, domain="legal", fidelity=fidelity, payload_type=ptype)
        back = client.decode(frames)
        if fidelity == "semantic" and ptype is None and isinstance(payloads[0], str):
            assert back == [" ".join(t.split()) for t in payloads]  # NFC + folded whitespace
        else:
            assert back == payloads  # lossless; semantic JSON (sorted keys) compares equal; bytes as is


@pytest.mark.slow
def test_two_versions_each_frame_decodes_with_its_own(served: tuple[str, Registry], client: Client) -> None:
    _, reg = served
    rng = random.Random(2)
    texts = [_text(rng) for _ in range(4)]
    check_two_versions(client, reg, texts)


@pytest.mark.slow
def test_canary_split_within_bounds(served: tuple[str, Registry], client: Client) -> None:
    _, reg = served
    reg.promote("legal", 2, canary_percent=30)
    try:
        rng = random.Random(3)
        models = [client.encode_response([_text(rng, 20)], domain="legal")["frames"][0]["model"] for _ in range(200)]
    finally:
        reg.rollback("legal")
    share = models.count("legal@2") / len(models)
    assert 0.18 <= share <= 0.42, share  # 30 % +- 4 sigma of a binomial(200)


@pytest.mark.slow
def test_fallbacks_never_fail_an_encode(client: Client) -> None:
    r = client.encode_response(["no model for this domain " * 10], domain="unknown-domain")
    assert r["frames"][0]["codec"] == "stub_zlib" and "no production model" in r["frames"][0]["fallback"]
    r = client.encode_response(["a corrupt artifact " * 10], domain="broken")
    assert r["frames"][0]["codec"] == "stub_zlib" and "IntegrityError" in r["frames"][0]["fallback"]
    assert client.decode([base64.b64decode(r["frames"][0]["frame"])]) == ["a corrupt artifact " * 10]


@pytest.mark.slow
def test_bad_inputs_get_status_and_message(served: tuple[str, Registry]) -> None:
    url, _ = served
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, timeout=30) as h:
        assert h.post("/v1/encode", json={"domain": "legal", "payload": "x"}).status_code == 401
        assert h.post("/v1/encode", json={"domain": "legal", "payload": "x"}, headers={"Authorization": "Bearer nope"}).status_code == 401
        r = h.post("/v1/encode", content=b"{not json", headers=auth | {"content-type": "application/json"})
        assert r.status_code == 422
        r = h.post("/v1/encode", json={"domain": "legal", "payload": "x", "payloads": ["y"]}, headers=auth)
        assert r.status_code == 422 and "exactly one" in r.text
        r = h.post("/v1/encode", json={"domain": "legal", "payload": [1, 2], "payload_type": "bytes"}, headers=auth)
        assert r.status_code == 422
        r = h.post("/v1/encode", json={"domain": "legal", "payload": "x" * 300_000}, headers=auth)
        assert r.status_code == 413 and "limit" in r.text
        r = h.post("/v1/encode", json={"domain": "legal", "payloads": ["x"] * 65}, headers=auth)
        assert r.status_code == 413 and "64" in r.text
        r = h.post("/v1/decode", json={"frame": "!!!not base64"}, headers=auth)
        assert r.status_code == 422
        r = h.post("/v1/decode", json={"frame": base64.b64encode(b"\x9f\x00junk").decode()}, headers=auth)
        assert r.status_code == 422 and "unknown codec" in r.text
        # a frame naming a version that was never published
        good = base64.b64decode(
            h.post("/v1/encode", json={"domain": "legal", "payload": _text(random.Random(4))}, headers=auth).json()["frames"][0]["frame"]
        )
        header, payload = unpack(good)
        assert header.model is not None and header.version in (3, FORMAT_VERSION) and header.model.version < 16
        bad = bytearray(good)
        pos = len(good) - len(payload) - 2  # v2 to v4 frames end ... domain tag, model version, payload
        # v4: the model version's varint also carries fidelity and payload type (its low 3 bits)
        flags = (int(header.fidelity) << 2 | int(header.payload_type)) if header.version >= 4 else 0
        shift = 3 if header.version >= 4 else 0
        assert bad[pos : pos + 2] == bytes([header.model.domain_tag, header.model.version << shift | flags])
        bad[pos + 1] = 12 << shift | flags
        r = h.post("/v1/decode", json={"frame": base64.b64encode(bytes(bad)).decode()}, headers=auth)
        assert r.status_code == 404 and "version 12" in r.text
        assert h.get("/healthz").json() == {"status": "ok"}
        assert h.get("/v1/models", headers=auth).json()["domains"]["legal"]["versions"] == [1, 2]
        assert h.get("/openapi.json").status_code == 200


@pytest.mark.slow
def test_backpressure_is_503_with_retry_after(served: tuple[str, Registry]) -> None:
    url, _ = served
    statuses: list[tuple[int, str | None]] = []
    body = {"domain": "legal", "payloads": [_text(random.Random(i), 200) for i in range(60)]}

    def one() -> None:
        with httpx.Client(base_url=url, timeout=60) as h:
            r = h.post("/v1/encode", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            statuses.append((r.status_code, r.headers.get("retry-after")))

    threads = [threading.Thread(target=one) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    codes = [s for s, _ in statuses]
    assert set(codes) <= {200, 503} and 503 in codes and 200 in codes
    assert all(ra == "1" for s, ra in statuses if s == 503)


@pytest.mark.slow
def test_killed_replica_loses_no_request(served: tuple[str, Registry], client: Client) -> None:
    rng = random.Random(5)
    texts = [_text(rng) for _ in range(30)]
    decode_while_killing_a_replica(client, client.encode(texts, domain="legal"), texts, "Encoder")


@pytest.mark.slow
def test_autoscaling_one_to_two_replicas(served: tuple[str, Registry]) -> None:
    from ray import serve

    url, _ = served

    def running() -> int:
        st = serve.status().applications["nbmf"].deployments["Encoder"]
        return int(st.replica_states.get("RUNNING", 0))

    stop = time.monotonic() + 90
    seen = running()
    body = {"domain": "legal", "payloads": [_text(random.Random(i), 400) for i in range(8)]}

    def burst() -> None:
        with httpx.Client(base_url=url, timeout=60) as h:
            while time.monotonic() < stop and running() < 2:
                h.post("/v1/encode", json=body, headers={"Authorization": f"Bearer {TOKEN}"})

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for t in threads:
        t.start()
    while time.monotonic() < stop and seen < 2:
        seen = max(seen, running())
        time.sleep(0.5)
    for t in threads:
        t.join(120)
    assert seen == 2


@pytest.mark.slow
def test_memory_service_blobs_over_http(client: Client) -> None:
    """Every shared vector decodes over HTTP to what the old decoder returned; nbmf/1 blobs too; a tampered one is a 422."""
    import json
    from pathlib import Path

    from nbmf import memory
    from nbmf.client import ClientError

    vectors = [json.loads(x) for x in (Path(__file__).parents[1] / "compat" / "stub_blobs.jsonl").read_text().splitlines() if x]
    resp = client.decode_response([v["blob"] for v in vectors])
    for v, p in zip(vectors, resp["payloads"]):
        assert p["payload"] == v["decoded"] and p["codec"] == "legacy-stub", v["case"]
        assert p["truncated"] == (not p["verified"])
    assert sum(p["truncated"] for p in resp["payloads"]) == 3
    blob = memory.encode({"note": "kept  as is"}, "lossless")
    assert client.decode([blob, json.dumps(blob)]) == [{"note": "kept  as is"}] * 2
    tampered = json.loads(json.dumps(vectors[0]["blob"]))
    tampered["sig"] = "0" * 64
    with pytest.raises(ClientError) as err:
        client.decode([tampered])
    assert err.value.status == 422 and "sig" in str(err.value)


@pytest.mark.slow
def test_bad_input_gets_4xx_never_500(served: tuple[str, Registry]) -> None:
    """NaN / Infinity, lone surrogates, oversize claims, chunked bodies over the limit: all 4xx, with a reason."""
    url, reg = served
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as h:
        r = h.post("/v1/encode", content=b'{"domain": "legal", "fidelity": "lossless", "payload_type": "json", "payload": [1, Infinity]}')
        assert r.status_code == 422 and "JSON number" in r.text  # once accepted, and came back as null
        r = h.post("/v1/encode", content=b'{"domain": "legal", "fidelity": "lossless", "payload": "a\\ud800b"}')
        assert r.status_code == 422
        from nbmf.codec import NBMF

        lone = NBMF().encode("a\ud800b")  # a frame the library can write: its text has no JSON form
        r = h.post("/v1/decode", json={"frame": base64.b64encode(lone).decode()})
        assert r.status_code == 422 and "library" in r.text
        model = NBMF(reg).load("legal", 1)
        from nbmf.frame import CodecId, Header, pack
        from nbmf.payload import Fidelity, PayloadType

        claim = pack(Header(CodecId.ZSTD_DICT, Fidelity.LOSSLESS, PayloadType.STR, 60 << 20, 0, model.ref), b"\x00" * 32)
        r = h.post("/v1/decode", json={"frame": base64.b64encode(claim).decode()})
        assert r.status_code == 413

        def chunks():  # type: ignore[no-untyped-def]  # a chunked body (no Content-Length), 300 KiB > the 256 KiB limit
            yield b'{"domain": "legal", "fidelity": "lossless", "payload": "'
            for _ in range(300):
                yield b"x" * 1024
            yield b'"}'

        r = h.post("/v1/encode", content=chunks())
        assert r.status_code == 413
