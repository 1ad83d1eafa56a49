"""Moving channels with the gates in mind: a version that failed validation needs --force and a reason."""

from __future__ import annotations

from nbmf.errors import RegistryError
from nbmf.registry import Channels, Registry
from nbmf.validation import read_report


class PromotionRefused(RegistryError):
    """The version has no passing validation report (and no forced override)."""


def promote(
    registry: Registry, domain: str, version: int, canary: float | None = None, force: bool = False, reason: str | None = None
) -> Channels:
    registry.manifest(domain, version)  # an unknown version is a ModelNotFoundError, not a refusal
    report = read_report(registry, domain, version)
    passed = bool(report and report.passed)
    if not passed:
        why = "it has no validation report" if report is None else "it failed its gates: " + "; ".join(report.failed_checks())
        if not force:
            raise PromotionRefused(f'refusing to promote {domain}@{version}: {why} (use --force --reason "…" to override)')
        if not reason:
            raise PromotionRefused("--force needs --reason: it is recorded in the channel history")
    return registry.promote(domain, version, canary, reason=reason, forced=not passed)
