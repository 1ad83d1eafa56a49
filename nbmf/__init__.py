"""nbmf: a domain-trained codec for the small records of an AI memory service.

``from nbmf import NBMF`` is ``nbmf.codec.NBMF`` (imported when first asked for: ``import nbmf`` stays light)."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["NBMF", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "NBMF":
        from nbmf.codec import NBMF

        return NBMF
    raise AttributeError(f"module 'nbmf' has no attribute {name!r}")
