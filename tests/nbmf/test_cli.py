import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from nbmf.cli import app
from nbmf.registry import Registry
from nbmf.stub_blob import encode_stub_blob

runner = CliRunner()
TEXT = "Ünïcode line one\r\nline two\twith tab  \n".encode()


def _nbmf(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "nbmf.cli", *args], input=stdin, capture_output=True, timeout=120)


def test_encode_decode_stdin_stdout_exact_bytes() -> None:
    enc = _nbmf("encode", stdin=TEXT)
    assert enc.returncode == 0, enc.stderr
    dec = _nbmf("decode", stdin=enc.stdout)
    assert dec.returncode == 0 and dec.stdout == TEXT


def test_files_json_and_registry(tmp_path: Path) -> None:
    records = tmp_path / "r.jsonl"
    records.write_text("\n".join(json.dumps({"text": f"clause {i}: the licensee shall keep every notice intact " * 3}) for i in range(120)))
    d = tmp_path / "d.dict"
    assert runner.invoke(app, ["dict-train", "--data", str(records), "-o", str(d), "--size", "2048"]).exit_code == 0
    reg = Registry(str(tmp_path / "reg"))
    reg.publish("legal", {"zstd.dict": d.read_bytes()})
    reg.promote("legal", 1)
    src = tmp_path / "in.json"
    src.write_text('{"b": [1, 2.5], "a": "clause 7: the licensee shall keep every notice intact"}')
    out = tmp_path / "f.nbmf"
    r = runner.invoke(app, ["encode", str(src), "-o", str(out), "--type", "json", "--domain", "legal", "--registry", str(tmp_path / "reg")])
    assert r.exit_code == 0, r.output
    back = tmp_path / "back.json"
    r = runner.invoke(app, ["decode", str(out), "-o", str(back), "--registry", str(tmp_path / "reg")])
    assert r.exit_code == 0, r.output
    assert json.loads(back.read_text()) == json.loads(src.read_text())
    # without the registry, the frame's model cannot be found: a clear error, exit 2
    r = runner.invoke(app, ["decode", str(out)])
    assert r.exit_code == 2 and "registry" in r.output


def test_decode_old_stub_blob_and_invalid_utf8(tmp_path: Path) -> None:
    blob = tmp_path / "old.json"
    blob.write_text(json.dumps(encode_stub_blob({"k": [1, 2]}, "lossless")))
    r = _nbmf("decode", str(blob))
    assert r.returncode == 0 and json.loads(r.stdout) == {"k": [1, 2]}
    raw = b"\xff\xfe not utf-8"
    enc = _nbmf("encode", stdin=raw)
    assert b"not valid UTF-8" in enc.stderr
    assert _nbmf("decode", stdin=enc.stdout).stdout == raw


def test_bad_frame_is_a_clear_error() -> None:
    r = _nbmf("decode", stdin=b"\x9f\x00garbage")
    assert r.returncode == 2 and b"unknown codec" in r.stderr


def test_bench_json(tmp_path: Path) -> None:
    records = tmp_path / "r.jsonl"
    rows = [{"source": f"doc{i % 40}", "text": f"section {i}: the licensee shall keep notice {i % 7} intact " * 4} for i in range(400)]
    records.write_text("\n".join(json.dumps(r) for r in rows))
    r = runner.invoke(app, ["bench", "--data", str(records), "--domain", "legal", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout[r.stdout.index("{") :])
    roles = [x["role"] for x in report["results"]]
    assert roles[:4] == ["stub", "zstd", "zstd_dict", "nbmf"]  # results are found by role, not by display name
    for x in report["results"]:
        assert x["exact"] == 1.0
        assert abs(x["total_ratio"] - x["original_bytes"] / x["coded_bytes"]) < 1e-9


def test_bench_timing_rounds_add_the_best_times(tmp_path: Path) -> None:
    records = tmp_path / "r.jsonl"
    rows = [{"source": f"doc{i % 40}", "text": f"clause {i}: the tenant shall pay rent {i % 5} on time " * 3} for i in range(200)]
    records.write_text("\n".join(json.dumps(r) for r in rows))
    r = runner.invoke(app, ["bench", "--data", str(records), "--domain", "legal", "--timing-rounds", "2"])
    assert r.exit_code == 0, r.output
    assert "best of 2: enc/dec ms/KB p95" in r.stdout
    r = runner.invoke(app, ["bench", "--data", str(records), "--domain", "legal", "--timing-rounds", "2", "--json"])
    report = json.loads(r.stdout[r.stdout.index("{") :])
    for x in report["results"]:
        assert x["timing_rounds"] == 2 and x["exact"] == 1.0
        assert x["decode_ms_per_kb_best_p95"] <= x["decode_ms_per_kb_p95"]
    assert runner.invoke(app, ["bench", "--data", str(records), "--domain", "legal", "--timing-rounds", "0"]).exit_code != 0


def test_build_on_one_machine_primes_its_choices_two_at_once(tmp_path: Path) -> None:
    """`nbmf build --threads 2`: the two primings of the open order sets run at once (each line labelled), and the
    version it publishes names the choice and what each choice coded."""
    from nbmf.corpus import local_records

    rows = [{"text": r["text"], "source": f"doc-{i % 40}"} for i, r in enumerate(local_records("technical", limit=240))]
    data = tmp_path / "t.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    reg = tmp_path / "reg"
    args = ["build", "--data", str(data), "--domain", "technical", "--registry", str(reg), "--time-budget", "2"]
    assert runner.invoke(app, [*args, "--threads", "0"]).exit_code != 0  # at least one
    r = runner.invoke(app, [*args, "--threads", "2"])
    assert r.exit_code == 0, r.output
    assert "[order sets on] priming on" in r.output and "[order sets off] priming on" in r.output
    m = Registry(str(reg)).manifest("technical", 1).metrics
    assert set(m["order_sets_bytes"]) == {"on", "off"} and m["order_sets"] == (m["order_sets_bytes"]["on"] < m["order_sets_bytes"]["off"])
    assert m["val_exact"] == 1.0


def test_compile_kernel_readies_every_variant_for_later_processes() -> None:
    """What an image runs once it is built (the Dockerfile): every variant of the kernel into numba's cache."""
    argv = [sys.executable, "-m", "nbmf.cli", "compile-kernel"]  # in a cold cache: four compiles of about 40 s
    r = subprocess.run(argv, capture_output=True, timeout=900)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    lines = r.stdout.decode().splitlines()
    assert [line.split(":")[0] for line in lines] == ["first-layer table int16", "first-layer table int32"]
    assert all("ready in" in line for line in lines) and "numba's cache" in r.stderr.decode()
