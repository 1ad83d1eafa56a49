"""Typed errors: every failure a user can see is an ``NBMFError`` with a message they can act on."""

from __future__ import annotations


class NBMFError(Exception):
    """Base class of every error nbmf raises on purpose."""


class ConfigError(NBMFError, ValueError):
    """A job's or the endpoint's config is not valid: an unknown field (a typo is not ignored) or a bad value."""


class FrameError(NBMFError):
    """A frame is malformed: truncated, unknown version or codec, bad field."""


class ChecksumError(FrameError):
    """A frame decoded, but its content checksum (or legacy sha256) does not match."""


class PayloadError(NBMFError):
    """A value cannot be coded with the requested fidelity or type (e.g. a tuple in lossless JSON)."""


class OversizeError(PayloadError):
    """A payload or frame is larger than the configured limit."""


class CodecError(NBMFError):
    """A codec failed to compress or decompress."""


class ModelNotFoundError(NBMFError):
    """A frame or request names a domain / model version that the registry does not have."""


class RegistryError(NBMFError):
    """The model registry is inconsistent or refused an operation."""


class IntegrityError(RegistryError):
    """A registry artifact does not match the sha256 recorded in its manifest (tampered or corrupt)."""


class ConflictError(RegistryError):
    """A conditional write lost a race with another writer; retry with fresh state."""


class StorageError(NBMFError):
    """Object storage is unreachable, misconfigured, or a path is missing."""


class InputError(NBMFError):
    """An input file or record is malformed; the message names the file and line."""


class NoGainError(CodecError):
    """A codec would not shrink this record (not a failure: best-of simply picks another codec)."""
