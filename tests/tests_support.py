"""Helpers shared by tests (not fixtures)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def write_datasets(root: Path, domains: dict[str, list[str]]) -> None:
    """datasets/<domain>/{train,val,test}/ as the collect job writes them (80/10/10 in order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for domain, texts in domains.items():
        n = len(texts)
        splits = {"train": texts[: int(n * 0.8)], "val": texts[int(n * 0.8) : int(n * 0.9)], "test": texts[int(n * 0.9) :]}
        for split, rows in splits.items():
            d = root / "datasets" / domain / split
            d.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table({"text": rows, "payload_type": ["str"] * len(rows)}), d / "part-0.parquet")
        (root / "datasets" / domain / "manifest.json").write_text(json.dumps({"domain": domain, "records": n}))


def check_two_versions(client: Any, registry: Any, texts: list[str], domain: str = "legal") -> None:
    """Encode under version 1, promote 2, encode again: each frame names and decodes by its own version."""
    import base64

    from nbmf.frame import unpack

    r1 = client.encode_response(texts, domain=domain)
    registry.promote(domain, 2)
    try:
        r2 = client.encode_response(texts, domain=domain)
    finally:
        registry.promote(domain, 1)
    assert {f["model"] for f in r1["frames"]} == {f"{domain}@1"} and {f["model"] for f in r2["frames"]} == {f"{domain}@2"}
    frames = [base64.b64decode(f["frame"]) for f in r1["frames"] + r2["frames"]]
    assert {unpack(f)[0].model.version for f in frames} == {1, 2}
    # both generations in one request: each frame goes to its own version (never a mixed batch)
    assert client.decode(frames) == texts + texts


def serving_registry(root: str, words: list[str], broken: bool = True) -> Any:
    """A registry with legal@1 (production) and legal@2 (zstd dictionaries of two sizes); with
    ``broken``, also broken@1 in production whose artifact no longer matches its sha256."""
    import random

    from nbmf.codecs.zstd_dict import train_dictionary
    from nbmf.registry import Registry

    reg = Registry(root)
    rng = random.Random(0)
    samples = [" ".join(rng.choice(words) for _ in range(50)).encode() for _ in range(300)]
    for size in (2048, 4096):  # two versions of one domain, different dictionaries
        reg.publish("legal", {"zstd.dict": train_dictionary(samples, size)})
    reg.promote("legal", 1)
    if broken:
        bad = reg.publish("broken", {"zstd.dict": train_dictionary(samples, 2048)})
        reg.promote("broken", bad.version)
        reg.models.write_bytes(f"broken/{bad.version}/zstd.dict", b"tampered")  # sha256 no longer matches
    return reg


def decode_while_killing_a_replica(
    client: Any, frames: list[bytes], texts: list[str], deployment: str, pause_s: float = 0.0, threads: int = 3
) -> None:
    """Decode all frames, one batch per request, from ``threads`` threads, and kill one ``deployment``
    replica at a moment a request is in flight: none is lost, and the test knows a request was sent before
    the kill and answered after it (before, 30 fast decodes could finish first and prove nothing)."""
    import threading
    import time

    import ray

    spans: list[tuple[float, float, bool]] = []  # (sent, answered, right)
    errors: list[BaseException] = []
    stop = threading.Event()
    lock = threading.Lock()
    inflight = [0]

    def load() -> None:
        try:
            for _ in range(2000):  # bounded; runs until the kill is well behind it
                if stop.is_set():
                    return
                with lock:
                    inflight[0] += 1
                t0 = time.monotonic()
                try:
                    ok = client.decode(frames) == texts
                finally:
                    with lock:
                        inflight[0] -= 1
                spans.append((t0, time.monotonic(), ok))
                time.sleep(pause_s)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=load) for _ in range(threads)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 30
    while len(spans) < 3 and time.monotonic() < deadline:  # bounded: warm
        time.sleep(0.01)
    replicas = [a for a in ray.util.list_named_actors(all_namespaces=True) if deployment in a["name"]]
    assert replicas, f"no {deployment} replica to kill"
    victim = ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"])
    while time.monotonic() < deadline:  # bounded: wait for a request on the wire
        with lock:
            if inflight[0]:
                killed_at = time.monotonic()
                ray.kill(victim, no_restart=False)
                break
        time.sleep(0.0002)
    else:
        raise AssertionError("no request went out to kill a replica under")
    after = time.monotonic() + 60
    while time.monotonic() < after and sum(s[0] > killed_at for s in spans) < 3:  # bounded: requests through the restart
        time.sleep(0.05)
    stop.set()
    for w in workers:
        w.join(180)
    assert not errors, errors
    assert spans and all(ok for _, _, ok in spans)
    assert [s for s in spans if s[0] <= killed_at <= s[1]], "no request was in flight when the replica was killed"
    assert any(s[0] > killed_at for s in spans), "no request after the kill"


# The choices a build makes on val records where the config leaves them open, given: one priming and no passes over
# the check records to choose (two primings of 12 passes each otherwise, most of a tiny build's time). The build's
# choices are tested in tests/nbmf/neural/test_codec.py; the README's commands (test_demo) build with them open.
GIVEN_CHOICES = {"match_trust": 8, "lr_record": 16, "order_sets": False, "mixers": 6}

# A model that trains in seconds: the job tests check the machinery, not the ratio.
TINY_TRAIN = {
    "eval_every": 15,  # two evaluations (and checkpoints) in 30 steps
    "model": {
        "reference_bytes": 150_000,
        "dict_bytes": 4096,
        "neural": {"context": 8, "dim": 8, "hidden": 32, "max_steps": 30, "batch_size": 128},
        "cm": {"table_bits": 16, "match_bits": 16, **GIVEN_CHOICES},
        "predictor_min_gain": None,  # kept unchecked: one priming a build (the check is tested in test_codec.py)
    },
}

# TINY_TRAIN with a light core (two orders, one extra context, two narrow mixers), for a test that codes thousands
# of records: it encodes and decodes in about a quarter of the time of the full core (11 against 43 ms per KB here,
# legal, /tmp-style timing in the twenty-seventh session). The full core runs in the other job tests.
LIGHT_TRAIN = {
    **TINY_TRAIN,
    "model": {
        **TINY_TRAIN["model"],
        "cm": {"table_bits": 16, "match_bits": 16, "orders": [2, 4], "contexts": ["json"], "wide_mixers": False}
        | {**GIVEN_CHOICES, "mixers": 2},
    },
}


def autoscale_ramp(
    url: str,
    domain: str,
    texts: list[str],
    deployment: str = "Ingress",
    app: str = "nbmf",
    up_to: int = 3,
    max_threads: int = 8,
    step_s: float = 3.0,
    hold_s: float = 5.0,
    deadline_s: float = 150.0,
    pace_s: float = 0.0,
    direct: bool = False,
) -> dict[str, Any]:
    """Ramp load on ``url`` (one more client thread every ``step_s``) until ``up_to`` replicas of
    ``deployment`` run, hold ``hold_s``, then drop to one thread until one replica is left.

    Every request is recorded (seconds since start, op, ms, ok, fallback, sent to a replica directly) with the running replicas
    over time. Bounded: ``deadline_s`` in all. Each thread alternates an encode of one text with a
    decode of a frame it got back, and checks the decode returns the text. ``pace_s``: a thread starts
    a pair at most every ``pace_s`` (callers that each send a few requests a second, as a memory service's
    do); 0: back to back (every thread saturates what it can). ``direct``: the clients send to the
    replicas' own ports (``Client(direct=True)``, the list refreshed every 2 s), not through the proxy.
    """
    import base64
    import threading
    import time

    from ray import serve

    from nbmf.client import Client

    t0 = time.monotonic()
    deadline = t0 + deadline_s
    requests: list[tuple[float, str, float, bool, str | None, bool]] = []
    replicas: list[tuple[float, int]] = []
    lock = threading.Lock()
    stops: list[threading.Event] = []
    phase = {"name": "ramp"}

    def running() -> int:
        st = serve.status().applications[app].deployments[deployment]
        return int(st.replica_states.get("RUNNING", 0))

    def worker(n: int, stop: threading.Event) -> None:
        with Client(url, retries=4, timeout_s=60, direct=direct, refresh_s=2.0) as c:
            i = n
            next_at = time.monotonic()
            while not stop.is_set() and time.monotonic() < deadline:
                wait = next_at - time.monotonic()
                if wait > 0 and stop.wait(wait):
                    break
                next_at = max(next_at + pace_s, time.monotonic()) if pace_s else next_at
                text = texts[i % len(texts)]
                i += 7
                for op in ("encode", "decode"):
                    s = time.perf_counter()
                    ok, fb = True, None
                    try:
                        if op == "encode":
                            r = c.encode_response([text], domain=domain)["frames"][0]
                            fb = r["fallback"]
                            frame = base64.b64decode(r["frame"])
                        else:
                            ok = c.decode([frame]) == [text]
                    except Exception as exc:  # counted, never raised: the test asserts on the record
                        ok, fb = False, f"{type(exc).__name__}: {exc}"[:200]
                    with lock:
                        requests.append((time.monotonic() - t0, op, 1e3 * (time.perf_counter() - s), ok, fb, bool(c.targets)))

    threads: list[threading.Thread] = []

    def add_thread() -> None:
        stop = threading.Event()
        stops.append(stop)
        th = threading.Thread(target=worker, args=(len(threads), stop), daemon=True)
        threads.append(th)
        th.start()

    add_thread()
    next_step = time.monotonic() + step_s
    peak_at: float | None = None
    while time.monotonic() < deadline:
        n = running()
        replicas.append((time.monotonic() - t0, n))
        if phase["name"] == "ramp":
            if n >= up_to:
                phase["name"], peak_at = "hold", time.monotonic()
            elif time.monotonic() >= next_step and len(threads) < max_threads:
                add_thread()
                next_step = time.monotonic() + step_s
        elif phase["name"] == "hold" and peak_at is not None and time.monotonic() - peak_at >= hold_s:
            phase["name"] = "down"
            for stop in stops[1:]:
                stop.set()
        elif phase["name"] == "down" and n == 1:
            replicas.append((time.monotonic() - t0, n))
            break
        time.sleep(0.5)
    for stop in stops:
        stop.set()
    for th in threads:
        th.join(70)
    return {
        "requests": requests,
        "replicas": replicas,
        "peak_replicas": max(n for _, n in replicas),
        "final_replicas": replicas[-1][1],
        "threads": len(threads),
        "seconds": round(time.monotonic() - t0, 1),
    }
