"""Which domain and fidelity a memory-service record class gets: the class policy (a small YAML file).

    classes:                       # record class -> (domain, fidelity)
      legal:   {domain: legal, fidelity: lossless}
      finance: {domain: financial, fidelity: lossless}
      chat:    {domain: general, fidelity: semantic}
    default:   {domain: general, fidelity: semantic}

The defaults are the memory service's own (legal, finance, pii lossless; chat, ops_log, research_note
semantic; anything else semantic). Used by the store adapter (``nbmf.warm_store``), by collect (a
warm-store record's class names its domain) and by the migration job.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from nbmf.errors import InputError, RegistryError
from nbmf.registry import check_domain

POLICY_ENV = "NBMF_CLASS_POLICY"  # path or URI of a policy YAML; the built-in defaults otherwise


class ClassRule(BaseModel):
    domain: str
    fidelity: Literal["lossless", "semantic"]

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        try:
            return check_domain(v)
        except RegistryError as exc:
            raise ValueError(str(exc)) from None


def _defaults() -> dict[str, ClassRule]:
    rules = {
        "legal": ("legal", "lossless"),
        "finance": ("financial", "lossless"),
        "pii": ("general", "lossless"),
        "chat": ("general", "semantic"),
        "ops_log": ("technical", "semantic"),
        "research_note": ("general", "semantic"),
    }
    return {c: ClassRule.model_validate({"domain": d, "fidelity": f}) for c, (d, f) in rules.items()}


class ClassPolicy(BaseModel):
    """Record class -> (domain, fidelity); classes not listed get ``default``."""

    classes: dict[str, ClassRule] = Field(default_factory=_defaults)
    default: ClassRule = ClassRule(domain="general", fidelity="semantic")

    def rule(self, cls: str | None) -> ClassRule:
        return self.classes.get(cls or "", self.default)

    def domain_of(self, cls: str | None) -> str:
        return self.rule(cls).domain

    def fidelity_of(self, cls: str | None) -> str:
        return self.rule(cls).fidelity

    @classmethod
    def load(cls, uri: str | None = None) -> ClassPolicy:
        """The policy at ``uri`` (YAML, local or s3://), else ``$NBMF_CLASS_POLICY``, else the defaults."""
        import yaml

        from nbmf.storage import Store

        uri = uri or os.environ.get(POLICY_ENV)
        if not uri:
            return cls()
        parent, _, name = uri.rstrip("/").rpartition("/")
        try:
            raw = yaml.safe_load(Store(parent or ".").read_bytes(name)) or {}
            return cls.model_validate(raw)
        except (yaml.YAMLError, ValidationError) as exc:
            raise InputError(f"class policy {uri} is not valid: {exc}") from None
