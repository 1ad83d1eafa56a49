# ruff: noqa: E501
"""HTTP overhead: encode/decode over the Serve endpoint on loopback vs the in-process codec.

    python bench/serve_bench.py --registry out/bench-registry --domain legal [--requests 300]
A bounded load generator: REQUESTS sequential single-record requests per operation, one client.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", required=True)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--data", default="data/corpus")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--colocate", action="store_true", help="codec in the ingress replicas (no Encoder hop)")
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
    texts = [r.value for r in test][: args.requests]
    codec = NBMF(args.registry)
    codec.encode(texts[0], domain=args.domain)  # prime in-process
    local_enc, local_dec, frames = [], [], []
    for t in texts:
        s = time.perf_counter()
        f = codec.encode(t, domain=args.domain)
        local_enc.append(1e3 * (time.perf_counter() - s))
        s = time.perf_counter()
        codec.decode(f)
        local_dec.append(1e3 * (time.perf_counter() - s))
        frames.append(f)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(include_dashboard=False, log_to_driver=False)
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    stop = start(args.registry, port=port, overrides={"model_load_timeout_s": 120, "request_timeout_s": 120, "colocate": args.colocate})
    try:
        with Client(f"http://127.0.0.1:{port}", retries=5, timeout_s=180) as c:
            c.encode(texts[:1], domain=args.domain)  # the replica primes the model
            http_enc, http_dec = [], []
            t_all = time.perf_counter()
            for t in texts:
                s = time.perf_counter()
                c.encode([t], domain=args.domain)
                http_enc.append(1e3 * (time.perf_counter() - s))
            enc_wall = time.perf_counter() - t_all
            t_all = time.perf_counter()
            for f in frames:
                s = time.perf_counter()
                c.decode([f])
                http_dec.append(1e3 * (time.perf_counter() - s))
            dec_wall = time.perf_counter() - t_all
            # where the time goes: proxy + ingress only (/healthz), + ingress codec work without the
            # encoder hop (a domain with no model: the stub answers in the ingress)
            health, stub = [], []
            for t in texts:
                s = time.perf_counter()
                c.http.get("/healthz")
                health.append(1e3 * (time.perf_counter() - s))
                s = time.perf_counter()
                c.encode([t], domain="no-such-domain")
                stub.append(1e3 * (time.perf_counter() - s))
    finally:
        stop()
    out = {
        "command": "python " + " ".join(sys.argv),
        "records": len(texts),
        "mean_record_bytes": round(statistics.mean(len(t.encode()) for t in texts)),
        "in_process": {"encode_ms_p50": pct(local_enc, 0.5), "encode_ms_p95": pct(local_enc, 0.95), "decode_ms_p50": pct(local_dec, 0.5), "decode_ms_p95": pct(local_dec, 0.95)},
        "http": {
            "encode_ms_p50": pct(http_enc, 0.5), "encode_ms_p95": pct(http_enc, 0.95), "decode_ms_p50": pct(http_dec, 0.5), "decode_ms_p95": pct(http_dec, 0.95),
            "encode_records_per_s": round(len(texts) / enc_wall, 1), "decode_records_per_s": round(len(texts) / dec_wall, 1),
        },
    }  # fmt: skip
    out["http_floor_ms_p50"] = {"healthz (proxy + ingress)": pct(health, 0.5), "stub encode in ingress (no encoder hop)": pct(stub, 0.5)}
    out["http_overhead_ms_p50"] = {
        "encode": out["http"]["encode_ms_p50"] - out["in_process"]["encode_ms_p50"],
        "decode": out["http"]["decode_ms_p50"] - out["in_process"]["decode_ms_p50"],
    }
    print(json.dumps(out, indent=2))
    Path(__file__).with_name("results").mkdir(exist_ok=True)
    (Path(__file__).with_name("results") / f"serve_{args.domain}{'_colocate' if args.colocate else ''}.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
