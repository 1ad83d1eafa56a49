"""The ``nbmf`` command: encode / decode records, train a zstd dictionary, benchmark codecs."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from nbmf.codec import NBMF

from nbmf.errors import NBMFError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

Registry_ = Annotated[Optional[str], typer.Option("--registry", help="Registry root URI (local dir or s3://bucket/prefix).")]
Domain_ = Annotated[Optional[str], typer.Option("--domain", help="Domain whose production model encodes.")]


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _read_input(path: Optional[Path]) -> bytes:
    return sys.stdin.buffer.read() if path is None or str(path) == "-" else path.read_bytes()


def _write_output(path: Optional[Path], data: bytes) -> None:
    if path is None or str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        path.write_bytes(data)


@app.command()
def encode(
    input: Annotated[Optional[Path], typer.Argument(help="File to encode (default: stdin).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Frame file (default: stdout).")] = None,
    domain: Domain_ = None,
    fidelity: Annotated[str, typer.Option(help="lossless | semantic")] = "lossless",
    payload_type: Annotated[str, typer.Option("--type", help="str (UTF-8 text) | json | bytes")] = "str",
    registry: Registry_ = None,
) -> None:
    """Encode one record into an NBMF frame. Text is read as UTF-8 bytes and comes back exactly."""
    from nbmf.payload import PayloadType

    try:
        raw = _read_input(input)
        ptype = PayloadType.parse(payload_type)
        if ptype is PayloadType.STR:
            value: object = raw.decode("utf-8") if _is_utf8(raw) else raw
            if isinstance(value, bytes):
                typer.echo("warning: input is not valid UTF-8; coding it as bytes so nothing is lost", err=True)
                ptype = PayloadType.BYTES
        elif ptype is PayloadType.JSON:
            value = json.loads(raw)
        else:
            value = raw
        enc = _codec(registry).encode_record(value, fidelity, ptype, domain)
        _write_output(output, enc.frame)
        typer.echo(f"{enc.original_size} -> {len(enc.frame)} bytes ({enc.codec.name.lower()})", err=True)
    except (NBMFError, ValueError, OSError) as exc:
        _fail(exc)


def _codec(registry: str | None) -> NBMF:
    """The codec for one CLI command, saying on stderr when it loads a model (the first load on a machine
    primes it on its reference text: seconds to a minute; later loads read the primed state back)."""
    from nbmf.codec import NBMF
    from nbmf.models import ModelService

    def say(event: str, domain: str, version: int, seconds: float | None = None, **_: Any) -> None:
        if event == "miss":
            typer.echo(f"loading model {domain}@{version} (its first use on this machine primes it: up to a minute)…", err=True)
        elif event == "load" and seconds is not None:
            typer.echo(f"model {domain}@{version} ready in {seconds:.1f} s", err=True)

    return NBMF(models=ModelService(registry, listener=say))


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@app.command()
def decode(
    input: Annotated[Optional[Path], typer.Argument(help="Frame file or memory-service blob (JSON) (default: stdin).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Payload file (default: stdout).")] = None,
    registry: Registry_ = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {payload, payload_type, fidelity, codec, truncated, verified} as JSON.")
    ] = False,
) -> None:
    """Decode a frame or a memory-service blob (old stub or nbmf): text and bytes exactly, JSON values as JSON."""
    from nbmf.payload import PayloadType

    try:
        d = _codec(registry).decode_record(_read_input(input))
        if as_json:
            value = base64.b64encode(d.value).decode() if isinstance(d.value, bytes) else d.value  # as over HTTP
            out = {"payload": value, "payload_type": d.payload_type.name.lower(), "fidelity": d.fidelity.name.lower()}
            out.update(codec=d.codec, truncated=d.truncated, verified=d.verified)
            data = json.dumps(out, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n"
        elif d.payload_type is PayloadType.JSON and not isinstance(d.value, str):
            data = json.dumps(d.value, ensure_ascii=False).encode("utf-8", "surrogatepass")
        elif isinstance(d.value, str):
            data = d.value.encode("utf-8", "surrogatepass")
        else:
            data = bytes(d.value)  # type: ignore[arg-type]
        if d.truncated:
            typer.echo("warning: old semantic stub blob was cut at 2,048 characters; this is its preview only", err=True)
        _write_output(output, data)
    except (NBMFError, OSError) as exc:
        _fail(exc)


@app.command("dict-train")
def dict_train(
    data: Annotated[str, typer.Option("--data", help="JSONL or Parquet sample (local or s3://).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the dictionary.")],
    size: Annotated[int, typer.Option(help="Dictionary size in bytes.")] = 112 * 1024,
) -> None:
    """Train a zstd dictionary for a domain from a sample of its records."""
    from nbmf.codecs.zstd_dict import train_dictionary
    from nbmf.payload import Fidelity, to_bytes
    from nbmf.records import read_records

    try:
        samples = [to_bytes(r.value, r.payload_type, Fidelity.LOSSLESS) for r in read_records(data)]
        d = train_dictionary(samples, size)
        output.write_bytes(d)
        typer.echo(f"trained a {len(d)}-byte dictionary from {len(samples)} records -> {output}")
    except (NBMFError, OSError) as exc:
        _fail(exc)


@app.command()
def corpus(
    out: Annotated[Path, typer.Option("--out", help="Directory for <domain>.jsonl files.")],
    domains: Annotated[str, typer.Option(help="Comma-separated built-in domains.")] = "financial,general,legal,technical",
    limit: Annotated[Optional[int], typer.Option(help="Records per domain at most.")] = None,
) -> None:
    """Write the built-in corpus (this machine's text, generated financial JSON) as JSONL, one file per domain."""
    from nbmf.corpus import write_jsonl

    out.mkdir(parents=True, exist_ok=True)
    for d in domains.split(","):
        n = write_jsonl(d, str(out / f"{d}.jsonl"), limit)
        typer.echo(f"{d}: {n} records -> {out / f'{d}.jsonl'}" + ("" if n else " (no source text on this machine)"))


@app.command()
def bench(
    data: Annotated[str, typer.Option("--data", help="JSONL or Parquet records (local or s3://).")],
    domain: Annotated[str, typer.Option("--domain")],
    registry: Registry_ = None,
    version: Annotated[Optional[int], typer.Option(help="Model version (default: production).")] = None,
    max_test: Annotated[int, typer.Option(help="Held-out records measured at most.")] = 1000,
    ppmd: Annotated[bool, typer.Option("--ppmd/--no-ppmd", help="Also measure PPMd primed on the train split.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    timing_rounds: Annotated[
        int,
        typer.Option(
            min=1,
            help="Code the held-out records this many times and also report each record's best time (the codec's own "
            "cost, without the machine's stalls); sizes and exactness are checked in every round.",
        ),
    ] = 1,
) -> None:
    """Measure zlib (stub), zstd-19, zstd-19+dict and nbmf on held-out records (split by source)."""
    from nbmf.bench import format_table, run_bench
    from nbmf.records import read_records
    from nbmf.registry import Registry

    try:
        recs = list(read_records(data))
        reg = Registry(registry) if registry else None
        report = run_bench(
            recs, domain, reg, version, max_test, ppmd=ppmd, progress=lambda s: typer.echo(s, err=True), timing_rounds=timing_rounds
        )
    except (NBMFError, ValueError, OSError) as exc:
        _fail(exc)
        return
    typer.echo(report.model_dump_json(indent=2) if as_json else format_table(report))


@app.command()
def build(
    data: Annotated[str, typer.Option("--data", help="JSONL or Parquet records of the domain (local or s3://).")],
    domain: Annotated[str, typer.Option("--domain")],
    registry: Annotated[str, typer.Option("--registry", help="Registry root URI to publish the candidate to.")],
    time_budget: Annotated[float, typer.Option(help="Seconds of neural training.")] = 120.0,
    reference_mb: Annotated[
        Optional[float], typer.Option(help="MiB of domain text the model is primed with (at most; default 32, ModelConfig's).")
    ] = None,
    no_neural: Annotated[bool, typer.Option("--no-neural", help="Context mixing without the neural predictor.")] = False,
    promote: Annotated[bool, typer.Option(help="Also make it production (no gates: use `nbmf validate` for those).")] = False,
    threads: Annotated[
        Optional[int],
        typer.Option(min=1, help="Primings run at once (each holds a primed state in memory; default: up to 2, one per CPU)."),
    ] = None,
) -> None:
    """Build a domain model on one machine (no Ray) and publish it as a candidate version."""
    from nbmf.config import ModelConfig, NeuralConfig
    from nbmf.neural.build import build_files, build_threads, publish, split_bytes
    from nbmf.records import read_records
    from nbmf.registry import Registry

    try:
        splits = split_bytes(list(read_records(data)))
        typer.echo(f"{domain}: {', '.join(f'{k} {len(v)}' for k, v in splits.items())} records (split by source document)", err=True)
        cfg = ModelConfig(
            neural=NeuralConfig(time_budget_s=time_budget, max_steps=10**9),
            use_neural=not no_neural,
            **({} if reference_mb is None else {"reference_bytes": int(reference_mb * (1 << 20))}),
        )
        n = threads or build_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        files, metrics = build_files(splits["train"], splits["val"], cfg, progress=lambda s: typer.echo(s, err=True), threads=n)
        reg = Registry(registry)
        man = publish(reg, domain, files, cfg, metrics)
        if promote:
            reg.promote(domain, man.version, reason="nbmf build --promote")
        typer.echo(json.dumps({"domain": domain, "version": man.version, "metrics": metrics}, indent=2))
    except (NBMFError, ValueError, OSError) as exc:
        _fail(exc)


@app.command("serve")
def serve_cmd(
    registry: Registry_ = None,
    host: Annotated[str, typer.Option(help="Bind address (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    token: Annotated[Optional[str], typer.Option(help="Require this bearer token.", envvar="NBMF_AUTH_TOKEN")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Serve a non-loopback address without a token (explicitly).")] = False,
    config: Annotated[Optional[str], typer.Option(help="Serve config YAML (its app args and deployments are used).")] = None,
    colocate: Annotated[
        bool, typer.Option("--colocate", help="Code in the ingress replicas (no Encoder deployment): lowest latency.")
    ] = False,
    direct: Annotated[
        bool,
        typer.Option("--direct", help="Serve's direct ingress: each ingress replica also listens on its own port (GET /v1/endpoints)."),
    ] = False,
) -> None:
    """Run the HTTP endpoint on a local Ray Serve until Ctrl-C."""
    import ipaddress
    import time

    from serve.local import start

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if token is not None and not token.strip():
        _fail(ValueError("the bearer token is empty: give a real one, or --no-auth"))
    if not loopback and not token and not no_auth:
        _fail(ValueError(f"{host} is reachable from other machines: give --token (or NBMF_AUTH_TOKEN), or --no-auth to serve it open"))
    overrides: dict[str, object] = {"colocate": True} if colocate else {}
    if no_auth:
        overrides["auth_disabled"] = True
    try:
        stop = start(registry, host, port, token, config, overrides=overrides or None, direct=direct)
    except (NBMFError, OSError) as exc:  # a bad field of the Serve config, a config file that is not there
        _fail(exc)
    typer.echo(f"nbmf serving on http://{host}:{port}  (OpenAPI at /docs; Ctrl-C stops it)")
    if direct:
        from nbmf.client import Client

        with Client(f"http://{host}:{port}", token=token) as c:
            typer.echo(f"direct ingress replicas: {', '.join(c.endpoints()) or 'none listed yet'}  (Client(..., direct=True))")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        typer.echo("stopping…")
    finally:
        stop()


@app.command()
def census(
    store: Annotated[list[str], typer.Option("--store", help="Warm-store root (holds records/), local or s3:// (repeatable).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Also decode every blob here (needs --registry); exit 1 if any does not decode.")
    ] = False,
    registry: Annotated[Optional[str], typer.Option("--registry", help="Registry root URI (for --verify).")] = None,
) -> None:
    """Count a memory-service store's blobs per generation and model version (what `retire` checks)."""
    from nbmf.census import census as run_census
    from nbmf.census import format_census

    if verify and registry is None:
        _fail(NBMFError("--verify decodes neural frames: give the model registry with --registry"))
        return
    try:
        result = run_census(store, verify=_codec(registry) if verify else None, progress=lambda s: typer.echo(s, err=True))
    except NBMFError as exc:
        _fail(exc)
        return
    typer.echo(json.dumps(result, indent=2) if as_json else format_census(result))
    if result.get("undecodable"):
        raise typer.Exit(1)


@app.command()
def retire(
    domain: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Argument()],
    registry: Annotated[str, typer.Option("--registry", help="Registry root URI.")],
    store: Annotated[list[str], typer.Option("--store", help="Every warm store that may hold its blobs (repeatable).")],
    reason: Annotated[Optional[str], typer.Option(help="Kept in the channel history.")] = None,
) -> None:
    """Retire a model version: refused while a census of the stores still finds blobs that name it."""
    from nbmf.census import blobs_naming
    from nbmf.census import census as run_census
    from nbmf.registry import Registry

    try:
        reg = Registry(registry)
        ref = reg.manifest(domain, version).ref
        result = run_census(store)
        n = blobs_naming(result, ref)
        if n or result["unreadable"]:
            why = f"{n} blobs still name {domain}@{version}" if n else f"{result['unreadable']} records could not be read"
            typer.echo(f"refused: {why}; migrate them first (nbmf migrate) and run the census again", err=True)
            raise typer.Exit(1)
        reg.retire(domain, version, reason)
        typer.echo(f"{domain}@{version} retired ({result['records']} records checked, none name it)")
    except NBMFError as exc:
        _fail(exc)


@app.command()
def prime(
    registry: Annotated[str, typer.Option("--registry", help="Registry root URI.")],
    domain: Annotated[Optional[list[str]], typer.Option("--domain", help="Domains to prime (repeatable; default: all).")] = None,
    version: Annotated[Optional[int], typer.Option("--version", help="This version only (default: production and canary).")] = None,
) -> None:
    """Prime serving model versions once and put their primed states on the registry's shelf, so every node's
    first load reads them (about a second) instead of priming (up to a minute). Training shares a new
    version's state by itself; run this after upgrading nbmf, or for versions published by an older one."""
    from nbmf.neural.codec import share
    from nbmf.registry import Registry

    try:
        reg = Registry(registry)
        domains = domain or reg.domains()
        if not domains:
            raise NBMFError(f"no models in {registry}")
        for d in domains:
            ch = reg.channels(d)
            serving = (ch.production, ch.canary.version if ch.canary else None)
            versions = [version] if version is not None else [v for v in serving if v is not None]
            if not versions:
                typer.echo(f"{d}: no production or canary version (name one with --version)", err=True)
            for v in versions:
                _, files = reg.load_files(d, v)
                if "neural.safetensors" not in files:
                    typer.echo(f"{d}@{v}: no neural model, nothing to prime")
                    continue
                typer.echo(f"{d}@{v}: priming (up to a minute unless a node or the shelf has it)…", err=True)
                t0 = time.perf_counter()
                source, what = share(files, reg.primed(d, v))
                where = "primed here" if source == "primed" else f"from the {source}"
                typer.echo(f"{d}@{v}: {what} (state {where}, {time.perf_counter() - t0:.1f} s)")
    except NBMFError as exc:
        _fail(exc)


@app.command("compile-kernel")
def compile_kernel_cmd() -> None:
    """Compile the neural codec's kernel into numba's cache (about 40 s for each of four variants on one core), so
    that no process started later waits for the compiler before its first record: run it where an image or a node is
    prepared (the Dockerfile does). The cache lies beside the installed source, or in NUMBA_CACHE_DIR."""
    from nbmf.neural.precompile import FIRST_LAYERS, compile_kernel

    typer.echo("compiling the kernel (or loading it from numba's cache)…", err=True)
    for first_layer in FIRST_LAYERS:  # one at a time: progress between the variants
        took = compile_kernel((first_layer,))
        typer.echo(f"first-layer table {first_layer}: ready in {took.get(first_layer, 0.0):.1f} s")


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's own logs (workers, raylet, Ray Data) on the screen too.")] = False,
) -> None:
    """nbmf: a domain-trained codec for the records of an AI memory service."""
    if verbose:
        import os

        os.environ["NBMF_VERBOSE"] = "1"


def _register_jobs() -> None:
    """The Ray jobs' commands (their modules import Ray only when they run)."""
    from jobs.collect import collect
    from jobs.demo import demo
    from jobs.migrate import migrate
    from jobs.pipeline import pipeline
    from jobs.promote import promote_cmd, rollback_cmd
    from jobs.train import train
    from jobs.validate import validate_cmd

    app.command("collect")(collect)
    app.command("train")(train)
    app.command("validate")(validate_cmd)
    app.command("promote")(promote_cmd)
    app.command("rollback")(rollback_cmd)
    app.command("pipeline")(pipeline)
    app.command("migrate")(migrate)
    app.command("demo")(demo)


def main() -> None:
    _register_jobs()
    app()


if __name__ == "__main__":
    main()
