"""Results for the committee's eyes only: metrics sealed to the committee's public key.

Hybrid encryption with the `cryptography` package: a fresh AES-256 key per result encrypts
the metrics (JSON) with AES-256-GCM, the result's place (`results/B/M/D.yaml`) as
associated data, so a sealed block cannot be moved into another result; RSA-OAEP with
SHA-256 wraps that key for the committee's RSA key (at least 3072 bits). A seal is
`{algorithm, recipient, encrypted_key, nonce, ciphertext}` (schemas/result.schema.json),
`recipient` the SHA-256 of the public key's DER SubjectPublicKeyInfo, so the registry can
tell, without the private key, to which key a result was sealed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from medperf_action.errors import SealingError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

ALGORITHM = "RSA-OAEP-SHA256+A256GCM"
MIN_RSA_BITS = 3072


def _oaep() -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _public_key(pem: str) -> RSAPublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError) as exc:
        raise SealingError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SealingError("results are sealed to an RSA public key; this key is not one")
    if key.key_size < MIN_RSA_BITS:
        raise SealingError(f"the RSA key has {key.key_size} bits; at least {MIN_RSA_BITS}")
    return key


def recipient(public_pem: str) -> str:
    """The SHA-256 of the public key's DER SubjectPublicKeyInfo (64 lower-case hex)."""
    from cryptography.hazmat.primitives import serialization

    der = _public_key(public_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def recipient_of(key: RSAPrivateKey) -> str:
    """The recipient a private key opens: its public key's `recipient`."""
    from cryptography.hazmat.primitives import serialization

    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def seal(metrics: dict[str, Any], public_pem: str, place: str) -> dict[str, str]:
    """`metrics` sealed to the key `public_pem`, bound to the result's `place`."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = _public_key(public_pem)
    data_key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    plain = json.dumps(metrics, sort_keys=True, separators=(",", ":")).encode()
    cipher = AESGCM(data_key).encrypt(nonce, plain, place.encode())
    return {
        "algorithm": ALGORITHM,
        "recipient": recipient(public_pem),
        "encrypted_key": base64.b64encode(key.encrypt(data_key, _oaep())).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(cipher).decode(),
    }


def private_key(pem: bytes, password: bytes | None = None) -> RSAPrivateKey:
    """The committee's RSA private key from PEM (encrypted with `password`, if given)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise SealingError(f"not a usable PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SealingError("sealed results open with an RSA private key; this key is not one")
    return key


def unseal(sealed: dict[str, Any], key: RSAPrivateKey, place: str) -> dict[str, Any]:
    """The metrics of a sealed result at `place`; SealingError when the key is not the
    recipient's, or the seal was altered or moved from another result."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if sealed.get("algorithm") != ALGORITHM:
        raise SealingError(f"{place}: sealed with {sealed.get('algorithm')!r}, not {ALGORITHM}")
    try:
        wrapped, nonce, cipher = (
            base64.b64decode(sealed[k], validate=True)
            for k in ("encrypted_key", "nonce", "ciphertext")
        )
        data_key = key.decrypt(wrapped, _oaep())
        plain = AESGCM(data_key).decrypt(nonce, cipher, place.encode())
        metrics = json.loads(plain)
    except (KeyError, binascii.Error, ValueError, InvalidTag):
        raise SealingError(
            f"{place}: cannot be opened with this key (sealed to another key, altered, or "
            "moved from another result)"
        ) from None
    if not isinstance(metrics, dict):
        raise SealingError(f"{place}: the sealed metrics are not a mapping")
    return metrics
