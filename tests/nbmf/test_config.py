"""nbmf.config: what a user writes is read strictly (every field known, bad values named); what was stored is not."""

import pytest

from nbmf.config import CMParams, ModelConfig, merged, parse_config
from nbmf.errors import ConfigError, NBMFError


def test_an_unknown_field_at_any_depth_is_named_with_the_field_it_may_mean() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(ModelConfig, {"refrence_bytes": 1 << 20, "neural": {"hiden": 64}, "cm": {"table_bits": 20, "zzz": 1}}, "my.yaml")
    text = str(err.value)
    assert text.startswith("my.yaml: 3 problems (ModelConfig)")
    assert "  refrence_bytes: not a field (did you mean reference_bytes?)" in text
    assert "  neural.hiden: not a field (did you mean neural.hidden?)" in text
    assert "  cm.zzz: not a field\n" in text + "\n"  # nothing near it: no guess
    assert isinstance(err.value, NBMFError)  # the CLIs print it and exit 2


def test_a_bad_value_says_what_it_got() -> None:
    with pytest.raises(ConfigError, match=r"reference_bytes: Input should be greater than or equal to 0 \(got -5\)"):
        parse_config(ModelConfig, {"reference_bytes": -5})
    cfg = parse_config(ModelConfig, {"reference_bytes": 4096, "cm": {"match_trust": 5}})  # a good one parses as before
    assert cfg.reference_bytes == 4096 and cfg.cm.match_trust == 5


def test_stored_configs_read_as_written() -> None:
    """A manifest or artifact may carry fields this nbmf no longer has: reading it must not fail (only what a user
    writes is strict)."""
    assert ModelConfig.model_validate({"reference_bytes": 4096, "a_field_of_long_ago": 1}).reference_bytes == 4096
    assert CMParams.model_validate({**CMParams().model_dump(), "retired": True}) == CMParams()


def test_merged_sets_nested_fields_one_by_one() -> None:
    base = {"reference_bytes": 8, "neural": {"hidden": 128, "context": 64}, "cm": {}}
    assert merged(base, {"neural": {"hidden": 64}, "use_neural": False}) == {
        "reference_bytes": 8,
        "neural": {"hidden": 64, "context": 64},
        "cm": {},
        "use_neural": False,
    }
    assert base["neural"]["hidden"] == 128  # not changed in place
