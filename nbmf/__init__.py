"""nbmf: a domain-trained codec for the small records of an AI memory service."""

__version__ = "0.1.0"
