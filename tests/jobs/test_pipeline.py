"""Validate, promote, rollback and the one-command pipeline, end to end on a local Ray + moto S3."""

import json

import pytest
from tests_support import TINY_TRAIN

from jobs.pipeline import PipelineConfig, run
from jobs.validate import ValidateConfig, failure_message, split_texts
from jobs.validate import run as validate_run
from nbmf.codec import NBMF
from nbmf.corpus import local_records
from nbmf.promotion import PromotionRefused, promote
from nbmf.registry import Registry
from nbmf.storage import Store
from nbmf.validation import Gates, ValidationReport, read_report, report_dir, report_runs

VALIDATE = 60  # test records each validation measures, at most (of about 90 a domain)


@pytest.fixture(scope="module")
def pipeline_run(ray_local, s3_server: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    import boto3

    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket="pipe")
    storage = f"s3://pipe/nbmf?endpoint_override={s3_server}"
    raw = Store(storage).child("raw")
    rows = [dict(r, domain="technical") for r in local_records("technical", limit=300)]
    rows += [dict(r, domain="legal") for r in local_records("legal", limit=300)]
    raw.write_bytes("records.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
    cfg = PipelineConfig(
        storage=storage,
        inputs=[raw.uri],
        train=TINY_TRAIN,
        min_train_records=20,
        collect={"test": 0.3, "val": 0.1},
        validate_records=VALIDATE,
    )
    return storage, run(cfg)


@pytest.mark.slow
def test_pipeline_end_to_end(pipeline_run: tuple[str, dict]) -> None:
    storage, summary = pipeline_run
    reg = Registry(storage)
    assert set(summary["domains"]) <= {"technical", "legal"} and summary["domains"]
    for domain, e in summary["domains"].items():
        assert e["passed"] and e["promoted"] == "production"
        assert reg.channels(domain).production == e["version"]
        assert e["ratio"] > e["zstd_dict_ratio"] > e["stub_ratio"]
    assert json.loads(Store(storage).read_bytes("pipeline/summary.json")) == summary


@pytest.mark.slow
def test_report_files_match_a_direct_measurement(pipeline_run: tuple[str, dict]) -> None:
    storage, summary = pipeline_run
    reg = Registry(storage)
    domain, e = next(iter(summary["domains"].items()))
    base = f"{domain}/{e['version']}/reports/{e['report']}"
    for f in ("report.json", "report.md", "ratio.png", "latency.png"):
        assert reg.models.exists(f"{base}/{f}"), f
    assert reg.models.read_bytes(f"{base}/ratio.png")[:8] == b"\x89PNG\r\n\x1a\n"
    report = ValidationReport.model_validate_json(reg.models.read_bytes(f"{base}/report.json"))
    assert read_report(reg, domain, e["version"]) == report
    everything = split_texts(storage, domain)
    texts = everything[:VALIDATE]  # the pipeline's validation measured its first VALIDATE records
    assert len(everything) > VALIDATE
    codec = NBMF(reg)
    codec.model = codec.load(domain, e["version"])
    coded = sum(len(codec.encode_bytes(t.encode(), codec_fid(), codec_str(), codec.model).frame) for t in texts)
    cand = report.measured
    assert cand.coded_bytes == coded and cand.records == len(texts)
    assert abs(cand.total_ratio - sum(len(t.encode()) for t in texts) / coded) < 1e-9
    # the validated version is production by now: a second validation says so and keeps the first report
    again = validate_run(ValidateConfig(domain=domain, version=e["version"], data=storage, registry=storage, max_records=50))
    assert again.role == "production" and again.measured.name == f"{domain}@{e['version']} (production)"
    assert report_runs(reg, domain, e["version"]) == sorted([report.run, again.run])
    assert reg.models.read_bytes(f"{base}/report.json") == report.model_dump_json(indent=2).encode()
    md = reg.models.read_bytes(f"{report_dir(again)}/report.md").decode()
    assert "None" not in md and "this version is production" in md


def codec_fid():  # type: ignore[no-untyped-def]
    from nbmf.payload import Fidelity

    return Fidelity.LOSSLESS


def codec_str():  # type: ignore[no-untyped-def]
    from nbmf.payload import PayloadType

    return PayloadType.STR


@pytest.mark.slow
def test_gates_force_canary_and_rollback(pipeline_run: tuple[str, dict]) -> None:
    storage, summary = pipeline_run
    reg = Registry(storage)
    domain, e = next(iter(summary["domains"].items()))
    v1 = e["version"]
    sample = split_texts(storage, domain)[:5]
    frames_v1 = [NBMF(reg).encode(t, domain=domain) for t in sample]
    # a second version whose validation fails (an impossible latency gate): refused, then forced with a reason
    _, files = reg.load_files(domain, v1)
    v2 = reg.publish(domain, files, config=reg.manifest(domain, v1).config).version
    report = validate_run(ValidateConfig(domain=domain, version=v2, data=storage, registry=storage, gates=Gates(max_decode_p95_ms=1e-6)))
    assert not report.passed and "p95 decode" in failure_message(report)  # what `nbmf validate` says on stderr
    with pytest.raises(PromotionRefused, match="failed its gates"):
        promote(reg, domain, v2)
    with pytest.raises(PromotionRefused, match="--reason"):
        promote(reg, domain, v2, force=True)
    promote(reg, domain, v2, canary=20, force=True, reason="latency gate too strict for this test")
    ch = reg.channels(domain)
    assert ch.canary is not None and ch.canary.version == v2 and ch.history[-1].forced and ch.history[-1].reason
    frames_v2 = [NBMF(reg).encode(t, domain=domain) for t in sample]  # production or canary by draw
    promote(reg, domain, v2, force=True, reason="canary looked fine")
    assert reg.channels(domain).production == v2 and reg.channels(domain).canary is None
    reg.rollback(domain, reason="test")
    assert reg.channels(domain).production == v1
    for t, f1, f2 in zip(sample, frames_v1, frames_v2):
        assert NBMF(reg).decode(f1) == t and NBMF(reg).decode(f2) == t  # every version still decodes
