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
    from model_signing import signing

    try:
        config = signing.Config().set_hashing_config(_hashing(ignore))  # type: ignore[no-untyped-call]
        config.use_elliptic_key_signer(private_key=key).sign(folder, signature)
    except (ValueError, TypeError, OSError) as exc:
        raise SigningError(
            f"signing with {key} failed: {exc} (the key must be an elliptic-curve private "
            "key in PEM, e.g. from `openssl ecparam -name prime256v1 -genkey -noout`)"
        ) from exc


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


def verify(folder: Path, signature: Path, identities: Iterable[Identity]) -> Identity:
    """The identity that signed `folder` as `signature` says; `SignatureInvalid` when none
    of `identities` did (a foreign signature) or when a signed file changed (invalid)."""
    if not signature.is_file():
        raise SignatureInvalid(f"no signature: {signature} is missing")
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
                foreign.append(f"{identity.name}: {_shorter(text)}")
                continue
            return identity
    if not foreign:
        raise SignatureInvalid("no identity to check the signature against")
    raise SignatureInvalid(
        "the signature is not by any accepted identity (" + "; ".join(foreign) + ")"
    )


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
    return PublicKey(pem, os.fspath(path))
