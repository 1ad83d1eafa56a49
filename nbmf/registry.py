"""Versioned model registry on object storage.

    models/<domain>/<version>/manifest.json   config, metrics, data manifest, sha256 of every file
    models/<domain>/<version>/<files>         weights (safetensors), zstd dictionary, reference text
    models/<domain>/channels.json             production, optional canary (+ percent), history

Publish claims a version number with a create-only write, writes the files, then the manifest (its
presence is what makes a version exist). Channel moves are compare-and-swap with retries, so
concurrent promoters never lose an update. Every version ever published stays loadable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from nbmf import __version__
from nbmf.errors import ConflictError, IntegrityError, ModelNotFoundError, RegistryError, StorageError
from nbmf.frame import ModelRef, domain_tag
from nbmf.storage import S3Options, Store

log = logging.getLogger(__name__)
DOMAIN_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


REFS_DIR = ".refs"  # one object per (domain tag, version) taken, and per serial (serial-N): who holds the frame reference


def check_domain(domain: str) -> str:
    if not DOMAIN_RE.match(domain):
        raise RegistryError(f"bad domain name {domain!r}: use lowercase letters, digits, '-' and '_'")
    return domain


def artifact_hash(files: dict[str, str]) -> str:
    """One sha256 naming a version's content: over the sorted (name, sha256) pairs."""
    return hashlib.sha256("".join(f"{n}:{h}\n" for n, h in sorted(files.items())).encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Manifest(BaseModel):
    domain: str
    version: int
    created_at: str
    code_version: str = __version__
    config: dict[str, Any] = Field(default_factory=dict)
    data_manifest: dict[str, Any] | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str]  # name -> sha256
    artifact_hash: str
    signature: str | None = None  # HMAC-SHA256 of the rest, when the publisher had $NBMF_MANIFEST_KEY
    # the registry-wide number that names this version in a version 5 frame (``Registry.publish`` claims it
    # under ``.refs/``); None in a manifest published before frame version 5: its frames stay version 4
    serial: int | None = None

    def signed_bytes(self) -> bytes:
        # The serial is not signed: an nbmf before frame version 5 (which ignores the field) verifies a new
        # manifest as before, so writers can keep writing version 4 while such readers remain. A serial changed
        # by someone without the key can only make a frame fail its checksum (keyed by the signed artifact hash).
        return self.model_dump_json(exclude={"signature", "serial"}).encode()

    @property
    def ref(self) -> ModelRef:
        return ModelRef.of(self.domain, self.version, self.artifact_hash, self.serial)


class Canary(BaseModel):
    version: int
    percent: float = Field(gt=0, le=100)


class HistoryEntry(BaseModel):
    at: str
    action: str  # promote | canary | rollback | retire
    version: int | None
    percent: float | None = None
    reason: str | None = None
    forced: bool = False


class Channels(BaseModel):
    production: int | None = None
    canary: Canary | None = None
    previous: list[int] = Field(default_factory=list)  # earlier productions, for rollback
    retired: list[int] = Field(default_factory=list)  # no stored blob needs them (census); never served again
    history: list[HistoryEntry] = Field(default_factory=list)

    def serving(self, draw: float | None = None) -> int | None:
        """The version that codes one record: the canary for a ``draw`` in [0, 100) below its percent
        (drawn here when not given: per record), else production."""
        if self.canary is not None:
            draw = random.uniform(0, 100) if draw is None else draw
            if draw < self.canary.percent:
                return self.canary.version
        return self.production


MANIFEST_KEY_ENV = "NBMF_MANIFEST_KEY"  # set: publish signs manifests, and loading refuses unsigned or wrong ones


def _manifest_key() -> bytes | None:
    text = os.environ.get(MANIFEST_KEY_ENV, "")
    return text.encode() if text else None


def _sign(man: Manifest, key: bytes) -> str:
    return hmac.new(key, man.signed_bytes(), hashlib.sha256).hexdigest()


PRIMED_DIR = "primed"
_PRIMED_KEY = re.compile(r"^[0-9a-zA-Z_-]{1,128}$")


class PrimedShelf:
    """A version's primed states, shared between nodes: ``models/<d>/<v>/primed/<key>.zprimed`` (+ ``.json``).

    A primed state is derived data: what priming the version's reference computes with one nbmf build
    (the key names the artifact, the priming code and the flags). It is not part of the manifest, so
    sharing one changes no version; the node that primes first puts it here, every later node's first
    load unpacks it instead of priming (``nbmf.neural.codec.primed_state``). Each blob carries its
    sha256 in the sidecar (HMAC-signed when ``$NBMF_MANIFEST_KEY`` is set, like manifests), and its
    arrays their own xxh3-128 (``nbmf.neural.primed_cache``): a damaged or unsigned blob is refused
    and the node primes."""

    def __init__(self, registry: Registry, domain: str, version: int) -> None:
        self.store = registry.models.child(check_domain(domain), str(int(version)), PRIMED_DIR)
        self.label = f"{domain}@{version}"

    def _sig(self, key: bytes, name: str, sha: str) -> str:
        return hmac.new(key, f"{self.label}/{name}:{sha}".encode(), hashlib.sha256).hexdigest()

    def get(self, name: str) -> bytes | None:
        """The blob named ``name``, checked; None when there is none or it does not check out."""
        if not _PRIMED_KEY.match(name):
            return None
        try:
            if not self.store.exists(f"{name}.json"):
                return None
            meta = json.loads(self.store.read_bytes(f"{name}.json"))
            blob = self.store.read_bytes(f"{name}.zprimed")
        except (StorageError, ValueError) as exc:  # broken storage costs this node a priming, nothing else
            log.warning("shared primed state %s/%s is unreadable: %s", self.label, name, exc)
            return None
        sha = hashlib.sha256(blob).hexdigest()
        if not isinstance(meta, dict) or meta.get("sha256") != sha:
            log.warning("shared primed state %s/%s does not match its sha256: not used", self.label, name)
            return None
        key = _manifest_key()
        if key is not None and not hmac.compare_digest(str(meta.get("signature")), self._sig(key, name, sha)):
            log.warning("shared primed state %s/%s is not signed with %s: not used", self.label, name, MANIFEST_KEY_ENV)
            return None
        return blob

    def put(self, name: str, blob: bytes) -> None:
        """Share a blob: the blob first, its sidecar last (the sidecar's presence is what makes it exist)."""
        if not _PRIMED_KEY.match(name):
            raise RegistryError(f"bad primed-state name {name!r}")
        sha = hashlib.sha256(blob).hexdigest()
        meta: dict[str, Any] = {"sha256": sha, "bytes": len(blob), "created_at": _now(), "code_version": __version__}
        key = _manifest_key()
        if key is not None:
            meta["signature"] = self._sig(key, name, sha)
        self.store.write_bytes(f"{name}.zprimed", blob)
        self.store.write_bytes(f"{name}.json", json.dumps(meta, indent=2).encode())

    def names(self) -> list[str]:
        if not self.store.exists():
            return []
        return sorted(n[: -len(".json")] for n in self.store.list() if n.endswith(".json") and not n.startswith("."))


def _parse_channels(domain: str, data: bytes | None) -> Channels:
    if not data:
        return Channels()
    try:
        return Channels.model_validate_json(data)
    except ValueError as exc:  # pydantic's ValidationError: a corrupt or hand-edited file
        raise RegistryError(f"{domain}/channels.json is corrupt ({str(exc).splitlines()[0]}); restore it from its history") from None


class Registry:
    """Models per domain under ``<root>/models``; ``root`` is any storage URI."""

    CAS_RETRIES = 20

    def __init__(self, root: str | Store, s3: S3Options | None = None) -> None:
        self.store = root if isinstance(root, Store) else Store(root, s3)
        self.models = self.store.child("models")

    # ---- reading ------------------------------------------------------------------------------
    def domains(self) -> list[str]:
        return [d for d in self.models.list() if DOMAIN_RE.match(d)]

    def versions(self, domain: str) -> list[int]:
        """Published versions (those with a manifest), ascending."""
        out = []
        for name in self.models.list(check_domain(domain)):
            if name.isdigit() and self.models.exists(f"{domain}/{name}/manifest.json"):
                out.append(int(name))
        return sorted(out)

    def manifest(self, domain: str, version: int) -> Manifest:
        rel = f"{check_domain(domain)}/{version}/manifest.json"
        if not self.models.exists(rel):
            known = self.versions(domain) if self.models.exists(domain) else []
            raise ModelNotFoundError(f"no model {domain}@{version} in {self.store.uri} (versions: {known or 'none'})")
        try:
            man = Manifest.model_validate_json(self.models.read_bytes(rel))
        except ValueError as exc:
            raise RegistryError(f"manifest of {domain}@{version} is unreadable: {exc}") from None
        key = _manifest_key()
        if key is not None:  # whoever can write the registry must also hold the key to swap a model
            if man.signature is None:
                raise IntegrityError(f"{domain}@{version}: manifest is not signed and {MANIFEST_KEY_ENV} is set; refusing it")
            if not hmac.compare_digest(man.signature, _sign(man, key)):
                raise IntegrityError(f"{domain}@{version}: manifest signature does not verify with {MANIFEST_KEY_ENV}; refusing it")
        return man

    def load_files(self, domain: str, version: int) -> tuple[Manifest, dict[str, bytes]]:
        """A version's manifest and files, each checked against its recorded sha256."""
        man = self.manifest(domain, version)
        files = {}
        for name, want in man.files.items():
            data = self.models.read_bytes(f"{domain}/{version}/{name}")
            got = hashlib.sha256(data).hexdigest()
            if got != want:
                raise IntegrityError(
                    f"{domain}@{version}/{name}: sha256 {got[:12]}… does not match manifest {want[:12]}…; "
                    "the artifact was modified or corrupted — refusing to load it"
                )
            files[name] = data
        if artifact_hash(man.files) != man.artifact_hash:
            raise IntegrityError(f"{domain}@{version}: manifest artifact_hash does not match its file list")
        return man, files

    def find_all(self, ref: ModelRef) -> list[Manifest]:
        """Every manifest a frame's model reference matches (domain tag + version + hash prefix; or serial).

        ``publish`` keeps references unique within a registry; more than one match can only come from
        versions published before it did (decode then tries each and keeps the one whose checksum verifies)."""
        if ref.serial_only:
            assert ref.serial is not None
            return [self.find_serial(ref.serial)]
        found = []
        for domain in self.domains():
            if domain_tag(domain) != ref.domain_tag:
                continue
            try:
                man = self.manifest(domain, ref.version)
            except ModelNotFoundError:
                continue
            if ref.names(man.ref):
                found.append(man)
        if not found:
            raise ModelNotFoundError(
                f"no model in this registry matches the frame's reference ({ref.describe()}): "
                "it was coded with a model version this registry does not have"
            )
        return found

    def find(self, ref: ModelRef) -> Manifest:
        """The manifest a frame's model reference names (the first, if several do: see ``find_all``)."""
        return self.find_all(ref)[0]

    def find_serial(self, serial: int) -> Manifest:
        """The manifest of the version this registry numbered ``serial`` (what a version 5 frame names)."""
        name = f"{REFS_DIR}/serial-{serial}"
        holder = self.models.read_bytes(name).decode(errors="replace") if self.models.exists(name) else ""
        domain, _, version = holder.partition("/")
        if not DOMAIN_RE.match(domain) or not version.isdigit():
            raise ModelNotFoundError(
                f"no model in this registry has serial {serial}: the frame was coded with a model version this registry does not have"
            )
        man = self.manifest(domain, int(version))
        if man.serial != serial:
            raise ModelNotFoundError(f"serial {serial} was claimed by {domain}@{version}, whose manifest says {man.serial}: not published")
        return man

    def _claim_serial(self, domain: str, version: int) -> int:
        """The next free registry serial, claimed for ``domain@version`` (``.refs/serial-N``; two publishers
        never get the same one)."""
        taken = [int(n[7:]) for n in self.models.list(REFS_DIR) if n.startswith("serial-") and n[7:].isdigit()]
        serial = max(taken, default=0) + 1
        while not self.models.put_if_absent(f"{REFS_DIR}/serial-{serial}", f"{domain}/{version}".encode()):
            serial += 1
        return serial

    def _tag_holders(self, domain: str, version: int) -> list[str]:
        """Other domains with this domain's tag that hold this version, or began publishing it."""
        tag = domain_tag(domain)
        return [o for o in self.domains() if o != domain and domain_tag(o) == tag and str(version) in self.models.list(o)]

    def shares_ref(self, domain: str, version: int) -> bool:
        """Whether another domain with this domain's tag has published this version too (only registries written
        before ``publish`` kept (tag, version) unique): its frames must then be v1, which carry a hash prefix."""
        return any(version in self.versions(other) for other in self._tag_holders(domain, version))

    def _claim_ref(self, domain: str, version: int) -> bool:
        """Claim (domain tag, version) for ``domain``; False if another domain holds or claimed that pair."""
        if self._tag_holders(domain, version):
            return False  # published (or being published) before claims across domains existed
        name = f"{REFS_DIR}/{domain_tag(domain)}-{version}"
        if self.models.put_if_absent(name, domain.encode()):
            return True
        return self.models.read_bytes(name).decode(errors="replace") == domain

    def primed(self, domain: str, version: int) -> PrimedShelf:
        """Where nodes share this version's primed states (see ``PrimedShelf``)."""
        return PrimedShelf(self, domain, version)

    def channels(self, domain: str) -> Channels:
        data, _ = self.models.read_versioned(f"{check_domain(domain)}/channels.json")
        return _parse_channels(domain, data)

    def serving_version(self, domain: str, draw: float | None = None) -> int | None:
        """Production, or the canary for a ``draw`` in [0, 100) below its percent."""
        return self.channels(domain).serving(draw)

    # ---- writing ------------------------------------------------------------------------------
    def publish(
        self,
        domain: str,
        files: dict[str, bytes],
        config: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        data_manifest: dict[str, Any] | None = None,
    ) -> Manifest:
        """Publish a new candidate version: files first, manifest last. Returns its manifest."""
        check_domain(domain)
        if not files or any("/" in n or n in ("manifest.json", ".claim") for n in files):
            raise RegistryError(f"bad artifact file names: {sorted(files)}")
        existing = [int(n) for n in self.models.list(domain) if n.isdigit()]
        version = max(existing, default=0) + 1
        # A frame names its model by (1-byte domain tag, version): no two domains may hold the same pair,
        # or a frame could name two artifacts. A version another domain with this tag holds is skipped, and
        # the pair is claimed across domains (``.refs/``) so two publishers cannot take it at once.
        while not (self.models.put_if_absent(f"{domain}/{version}/.claim", _now().encode()) and self._claim_ref(domain, version)):
            version += 1  # another publisher took it, or another domain with this tag holds it
        serial = self._claim_serial(domain, version)  # names it in a version 5 frame: one byte up to 127
        hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        for name, data in sorted(files.items()):
            self.models.write_bytes(f"{domain}/{version}/{name}", data)
        man = Manifest(
            domain=domain,
            version=version,
            created_at=_now(),
            config=config or {},
            metrics=metrics or {},
            data_manifest=data_manifest,
            files=hashes,
            artifact_hash=artifact_hash(hashes),
            serial=serial,
        )
        key = _manifest_key()
        if key is not None:
            man.signature = _sign(man, key)
        self.models.write_bytes(f"{domain}/{version}/manifest.json", man.model_dump_json(indent=2).encode())
        return man

    def update_channels(self, domain: str, change: Callable[[Channels], Channels]) -> Channels:
        """Read-modify-write ``channels.json`` with compare-and-swap; retries lost races."""
        rel = f"{check_domain(domain)}/channels.json"
        for attempt in range(self.CAS_RETRIES):
            data, tag = self.models.read_versioned(rel)
            current = _parse_channels(domain, data)
            new = change(current.model_copy(deep=True))
            try:
                self.models.compare_and_swap(rel, new.model_dump_json(indent=2).encode(), tag)
                return new
            except ConflictError:
                time.sleep(min(0.5, 0.01 * 2**attempt) * random.random())
        raise ConflictError(f"could not update {domain}/channels.json after {self.CAS_RETRIES} tries")

    def promote(
        self, domain: str, version: int, canary_percent: float | None = None, reason: str | None = None, forced: bool = False
    ) -> Channels:
        self.manifest(domain, version)  # must exist

        def change(ch: Channels) -> Channels:
            if version in ch.retired:
                raise RegistryError(f"{domain}@{version} is retired; publish or promote another version")
            if canary_percent:
                ch.canary = Canary(version=version, percent=canary_percent)
                action = "canary"
            else:
                if ch.production is not None and ch.production != version:
                    ch.previous.append(ch.production)
                ch.production = version
                if ch.canary is not None and ch.canary.version == version:
                    ch.canary = None
                action = "promote"
            ch.history.append(HistoryEntry(at=_now(), action=action, version=version, percent=canary_percent, reason=reason, forced=forced))
            return ch

        return self.update_channels(domain, change)

    def rollback(self, domain: str, reason: str | None = None) -> Channels:
        """Drop the canary if there is one, else return production to the version before it."""

        def change(ch: Channels) -> Channels:
            if ch.canary is not None:
                ch.canary = None
                ch.history.append(HistoryEntry(at=_now(), action="rollback", version=ch.production, reason=reason))
                return ch
            if not ch.previous:
                raise RegistryError(f"{domain}: nothing to roll back to (production {ch.production}, no earlier version)")
            ch.production = ch.previous.pop()
            ch.history.append(HistoryEntry(at=_now(), action="rollback", version=ch.production, reason=reason))
            return ch

        return self.update_channels(domain, change)

    def retire(self, domain: str, version: int, reason: str | None = None) -> Channels:
        """Mark a version retired (the caller checked that no stored blob names it: ``nbmf retire``).

        Its files stay, so a frame found later still decodes; it can no longer be promoted or rolled back to."""
        self.manifest(domain, version)

        def change(ch: Channels) -> Channels:
            if version == ch.production or (ch.canary is not None and ch.canary.version == version):
                raise RegistryError(f"{domain}@{version} is serving (production or canary); promote another version first")
            if version not in ch.retired:
                ch.retired.append(version)
                ch.previous = [v for v in ch.previous if v != version]
                ch.history.append(HistoryEntry(at=_now(), action="retire", version=version, reason=reason))
            return ch

        return self.update_channels(domain, change)

    def describe(self) -> dict[str, Any]:
        """Every domain with its channels and versions (what ``GET /v1/models`` returns)."""
        return {
            d: {"versions": self.versions(d), **json.loads(self.channels(d).model_dump_json(exclude={"history", "previous"}))}
            for d in self.domains()
        }
