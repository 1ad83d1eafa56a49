# ruff: noqa: E501
"""HTTP overhead: encode/decode over the Serve endpoint on loopback vs the in-process codec.

    python bench/serve_bench.py --registry out/bench-registry --domain legal [--rounds 3] [--colocate] [--direct]

A bounded load generator, one client: ROUNDS rounds over the domain's held-out records; each round
times every record in-process (NBMF with the same registry), then over HTTP (one record per request,
sequential), so slow drift on this shared 2-core machine hits both sides alike. p50 / p95 pool all
rounds. Also: the floor (GET /healthz: the path to the ingress), the stub path (a domain with no model,
answered in the ingress) and batched throughput (BATCH records per request).
--direct: Serve's direct ingress; the client sends to the ingress replica's own port (Client(direct=True)).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from results_io import save


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * (len(s) - 1)))], 2)


def timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    s = time.perf_counter()
    fn(*args)
    return 1e3 * (time.perf_counter() - s)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", required=True)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--data", default="data/corpus")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--colocate", action="store_true", help="codec in the ingress replicas (no Encoder hop)")
    ap.add_argument("--direct", action="store_true", help="direct ingress: requests go to the replica's port, not the proxy")
    args = ap.parse_args()
    import os
    import socket

    import ray

    from nbmf.bench import split_records
    from nbmf.client import Client
    from nbmf.codec import NBMF
    from nbmf.records import read_records
    from serve.local import start

    _, test = split_records(list(read_records(f"{args.data}/{args.domain}.jsonl")))
    texts = [r.value for r in test]
    codec = NBMF(args.registry)
    frames = [codec.encode(t, domain=args.domain) for t in texts]  # primes the in-process model
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from serve.hosting import LOW_LATENCY_ENV

    os.environ.update({k: os.environ.get(k, v) for k, v in LOW_LATENCY_ENV.items()})  # as `nbmf serve` does
    if args.direct:
        from serve.direct import DIRECT_INGRESS_ENV

        os.environ.update(DIRECT_INGRESS_ENV)  # before Ray starts: its processes read them
    ray.init(include_dashboard=False, log_to_driver=False)
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    stop = start(
        args.registry,
        port=port,
        overrides={"model_load_timeout_s": 120, "request_timeout_s": 120, "colocate": args.colocate},
        direct=args.direct,
    )
    lat: dict[str, list[float]] = {k: [] for k in ("local_enc", "local_dec", "http_enc", "http_dec", "health", "stub_http", "stub_local")}
    try:
        with Client(f"http://127.0.0.1:{port}", retries=5, timeout_s=180, direct=args.direct) as c:
            c.encode(texts[:1], domain=args.domain)  # the replica primes the model
            direct = c.endpoints() if args.direct else []
            assert not args.direct or direct, "direct ingress on, but no replica endpoint listed"
            health = (direct[0] if direct else "") + "/healthz"
            c.decode(frames[:1])
            for _ in range(args.rounds):
                for t in texts:
                    lat["local_enc"].append(timed(lambda t=t: codec.encode(t, domain=args.domain)))
                for t in texts:
                    lat["http_enc"].append(timed(lambda t=t: c.encode([t], domain=args.domain)))
                for f in frames:
                    lat["local_dec"].append(timed(codec.decode, f))
                for f in frames:
                    lat["http_dec"].append(timed(c.decode, [f]))
                for t in texts:
                    lat["health"].append(timed(c.http.get, health))
                    lat["stub_local"].append(timed(lambda t=t: codec.encode(t, domain="no-such-domain")))
                    lat["stub_http"].append(timed(lambda t=t: c.encode([t], domain="no-such-domain")))
            batches = [texts[i : i + args.batch] for i in range(0, len(texts), args.batch)]
            t0 = time.perf_counter()
            coded = [c.encode(b, domain=args.domain) for b in batches]
            enc_rps = len(texts) / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            back = [c.decode(b) for b in coded]
            dec_rps = len(texts) / (time.perf_counter() - t0)
            assert [x for b in back for x in b] == texts
    finally:
        stop()
    out = {
        "command": "python " + " ".join(sys.argv),
        "topology": ("direct ingress -> " if args.direct else "proxy -> ")
        + ("Ingress (codes, colocated)" if args.colocate else "Ingress -> Encoder (split)"),
        "records": len(texts),
        "requests_per_side": len(lat["http_enc"]),
        "mean_record_bytes": round(statistics.mean(len(t.encode()) for t in texts)),
        "in_process": {"encode_ms_p50": pct(lat["local_enc"], 0.5), "encode_ms_p95": pct(lat["local_enc"], 0.95), "decode_ms_p50": pct(lat["local_dec"], 0.5), "decode_ms_p95": pct(lat["local_dec"], 0.95)},
        "http": {"encode_ms_p50": pct(lat["http_enc"], 0.5), "encode_ms_p95": pct(lat["http_enc"], 0.95), "decode_ms_p50": pct(lat["http_dec"], 0.5), "decode_ms_p95": pct(lat["http_dec"], 0.95)},
        "http_records_per_s_sequential": {"encode": round(1e3 / statistics.mean(lat["http_enc"]), 1), "decode": round(1e3 / statistics.mean(lat["http_dec"]), 1)},
        f"http_records_per_s_batch_{args.batch}": {"encode": round(enc_rps, 1), "decode": round(dec_rps, 1)},
        "floor_ms_p50": {"healthz (path to the ingress)": pct(lat["health"], 0.5), "stub encode over HTTP": pct(lat["stub_http"], 0.5), "stub encode in-process": pct(lat["stub_local"], 0.5)},
    }  # fmt: skip
    out["http_adds_ms_p50"] = {
        "encode": round(out["http"]["encode_ms_p50"] - out["in_process"]["encode_ms_p50"], 2),
        "decode": round(out["http"]["decode_ms_p50"] - out["in_process"]["decode_ms_p50"], 2),
        "stub encode": round(out["floor_ms_p50"]["stub encode over HTTP"] - out["floor_ms_p50"]["stub encode in-process"], 2),
    }
    save(f"serve_{args.domain}{'_colocate' if args.colocate else ''}{'_direct' if args.direct else ''}", out)


if __name__ == "__main__":
    main()
