"""OpenSSF model signing (the `model_signing` library): sign a folder, check a signature.

The signature is the library's own format (a Sigstore bundle holding a DSSE envelope over
an in-toto statement whose predicate lists every signed file's SHA-256), so OpenSSF's own
`model_signing verify` checks it without this tool. The paths left out of the signed set
are recorded in the signature itself, and the library leaves them out again when it
verifies, so the files that describe the signed ones (checksums, manifest) may be added to
the folder afterwards.

Two ways to sign, as the library offers: an elliptic-curve private key (PEM; offline), or
Sigstore keyless signing with the ambient OIDC identity of a GitHub Actions job (needs the
job's `id-token: write` and the network). `model_signing` is imported at first use: it
costs about 300 ms that no other command should pay.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from medperf_action.errors import SignatureInvalid, SigningError

#: The library's message when the signature is good but the files differ from it.
_CONTENT_MISMATCH = "Signature mismatch"

if TYPE_CHECKING:
    from model_signing import hashing as _hashing_types


@dataclass(frozen=True)
class PublicKey:
    """A public key (PEM text) that may have signed; `name` is how reports call it."""

    pem: str
    name: str = "a public key"


@dataclass(frozen=True)
class SigstoreIdentity:
    """A keyless signer: the certificate's identity (for a GitHub workflow, its URL
    `https://github.com/OWNER/REPO/.github/workflows/FILE@REF`) and the OIDC issuer."""

    identity: str
    issuer: str
    #: The repository whose workflow run signed (the certificate's Source Repository URI):
    #: a reusable workflow's identity is the same for every repository that calls it.
    repository: str = ""

    @property
    def name(self) -> str:
        return f"{self.identity} (issuer {self.issuer})"


Identity = PublicKey | SigstoreIdentity


def _hashing(ignore: Iterable[str]) -> _hashing_types.Config:
    from model_signing import hashing

    return hashing.Config().set_ignored_paths(paths=list(ignore))  # type: ignore[no-untyped-call]


def sign_with_key(folder: Path, signature: Path, key: Path, ignore: Iterable[str]) -> None:
    """Sign every file under `folder` but `ignore` (names relative to it) with the EC
    private key at `key`, writing the signature to `signature`."""
    if not key.is_file():
        raise SigningError(f"--key {key}: no such file")
    check_private_key(key)
    from model_signing import signing

    try:
        config = signing.Config().set_hashing_config(_hashing(ignore))  # type: ignore[no-untyped-call]
        config.use_elliptic_key_signer(private_key=key).sign(folder, signature)
    except (ValueError, TypeError, OSError) as exc:
        raise SigningError(
            f"signing with {key} failed: {exc} (the key must be an elliptic-curve private "
            "key in PEM, e.g. from `openssl ecparam -name prime256v1 -genkey -noout`)"
        ) from exc


def check_private_key(key: Path) -> None:
    """`key` is an elliptic-curve private key in PEM: `SigningError` else (checked before
    anything is packaged)."""
    try:
        pem = key.read_bytes()
    except OSError as exc:
        raise SigningError(f"--key {key}: cannot read it: {exc}") from exc
    _elliptic(pem, key, private=True)


def sign_keyless(folder: Path, signature: Path, ignore: Iterable[str]) -> None:
    """Sign with Sigstore, as the GitHub Actions job's OIDC identity (its ambient
    credential); the certificate and the transparency-log entry go into the signature."""
    from model_signing import signing

    try:
        config = signing.Config().set_hashing_config(_hashing(ignore))  # type: ignore[no-untyped-call]
        config.use_sigstore_signer(use_ambient_credentials=True).sign(folder, signature)
    except Exception as exc:  # the library and sigstore raise many kinds; none is a bug here
        raise SigningError(f"Sigstore signing failed: {exc}") from exc


def _verify_one(folder: Path, signature: Path, identity: Identity, tmp: Path) -> None:
    from model_signing import verifying

    config = verifying.Config()  # type: ignore[no-untyped-call]
    if isinstance(identity, PublicKey):
        pem = tmp / "key.pub"
        pem.write_text(identity.pem, encoding="utf-8")
        config.use_elliptic_key_verifier(public_key=pem)
    else:
        config.use_sigstore_verifier(identity=identity.identity, oidc_issuer=identity.issuer)
    config.verify(folder, signature)


@dataclass(frozen=True)
class SignedSet:
    """What a signature says it covers: each file's name, and the paths it leaves out."""

    names: frozenset[str]
    ignored: frozenset[str]


def signed_set(signature: Path) -> SignedSet:
    """The files a model signature covers, read from its payload (the library's in-toto
    statement: `predicate.resources`, `predicate.serialization.ignore_paths`): the signer
    chose both, so a checker compares them with what it expects signed.
    `SignatureInvalid` when it is not an OpenSSF model signature."""
    try:
        bundle = json.loads(signature.read_text(encoding="utf-8"))
        payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        predicate = payload["predicate"]
        names = frozenset(str(r["name"]) for r in predicate["resources"])
        ignored = frozenset(str(p) for p in predicate["serialization"].get("ignore_paths", []))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SignatureInvalid(
            f"{signature.name} is not an OpenSSF model signature ({type(exc).__name__}: {exc})"
        ) from exc
    return SignedSet(names, ignored)


def verify(folder: Path, signature: Path, identities: Iterable[Identity]) -> Identity:
    """The identity that signed `folder` as `signature` says; `SignatureInvalid` when none
    of `identities` did (a foreign signature) or when a signed file changed (invalid)."""
    if not signature.is_file():
        raise SignatureInvalid(f"no signature: {signature} is missing")
    signed_set(signature)  # a file that is no model signature is said so, not "foreign"
    foreign: list[str] = []
    with tempfile.TemporaryDirectory(prefix="medperf-sig-") as tmp:
        for identity in identities:
            try:
                _verify_one(folder, signature, identity, Path(tmp))
            except Exception as exc:  # the library's errors: ValueError and its own kinds
                text = " ".join(str(exc).split())
                if text.startswith(_CONTENT_MISMATCH):
                    raise SignatureInvalid(
                        f"the signature by {identity.name} does not match the files: "
                        f"{_shorter(text)}"
                    ) from exc
                if isinstance(identity, SigstoreIdentity) and _unreachable(text):
                    raise SignatureInvalid(
                        f"the signature could not be checked against {identity.name}: "
                        f"Sigstore's trust root could not be reached ({_shorter(text)})"
                    ) from exc
                foreign.append(f"{identity.name}: {_shorter(text)}")
                continue
            if isinstance(identity, SigstoreIdentity):
                source = source_repository(signature)
                if source != identity.repository:
                    foreign.append(f"{identity.name}: signed by a run of {source}")
                    continue
            return identity
    if not foreign:
        raise SignatureInvalid("no identity to check the signature against")
    raise SignatureInvalid(
        "the signature is not by any accepted identity (" + "; ".join(foreign) + ")"
    )


SOURCE_REPOSITORY_OID = "1.3.6.1.4.1.57264.1.12"


def source_repository(signature: Path) -> str | None:
    """The Source Repository URI of a keyless signature's certificate (Fulcio's extension
    for GitHub Actions tokens), or None when it has none."""
    from cryptography import x509

    try:
        bundle = json.loads(signature.read_text(encoding="utf-8"))
        material = bundle["verificationMaterial"]
        raw = (material.get("certificate") or {}).get("rawBytes") or material[
            "x509CertificateChain"
        ]["certificates"][0]["rawBytes"]
        certificate = x509.load_der_x509_certificate(base64.b64decode(raw))
        value = certificate.extensions.get_extension_for_oid(
            x509.ObjectIdentifier(SOURCE_REPOSITORY_OID)
        ).value
    except (OSError, ValueError, KeyError, TypeError, IndexError, x509.ExtensionNotFound):
        return None
    return _utf8_string(getattr(value, "value", b""))


def _utf8_string(der: bytes) -> str | None:
    """A DER UTF8String's text (Fulcio writes its extensions so)."""
    if len(der) < 2 or der[0] != 0x0C:
        return None
    size, start = der[1], 2
    if size & 0x80:  # the long form: the next (size & 0x7f) bytes give the length
        count = size & 0x7F
        size, start = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    text = der[start : start + size]
    return text.decode("utf-8", "replace") if len(text) == size else None


def _unreachable(text: str) -> bool:
    """Whether a Sigstore check failed for want of the network (TUF, Rekor, Fulcio)."""
    lowered = text.lower()
    return any(w in lowered for w in ("tuf", "connection", "network", "resolve", "timed out"))


def _shorter(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_public_key(path: Path) -> PublicKey:
    """A public key file (PEM) as an identity."""
    try:
        pem = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SignatureInvalid(f"{path}: cannot read the public key: {exc}") from exc
    if "BEGIN PUBLIC KEY" not in pem:
        raise SignatureInvalid(f"{path}: not a PEM public key (-----BEGIN PUBLIC KEY-----)")
    _elliptic(pem.encode(), path, private=False)
    return PublicKey(pem, os.fspath(path))


def _elliptic(pem: bytes, path: Path, *, private: bool) -> None:
    """The key in `pem` is an elliptic-curve key, as model signing's key signer needs;
    else a clear error (an RSA or Ed25519 key would end in a library traceback)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    error = SigningError if private else SignatureInvalid
    try:
        key = (
            serialization.load_pem_private_key(pem, password=None)
            if private
            else serialization.load_pem_public_key(pem)
        )
    except (ValueError, TypeError) as exc:
        raise error(f"{path}: cannot read the key: {exc}") from exc
    wanted = ec.EllipticCurvePrivateKey if private else ec.EllipticCurvePublicKey
    if not isinstance(key, wanted):
        raise error(
            f"{path}: a {type(key).__name__.lstrip('_')}, not an elliptic-curve key: model "
            "signing's key signer takes EC keys (`openssl ecparam -name prime256v1 -genkey "
            "-noout`)"
        )
