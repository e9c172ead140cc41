"""Model signatures: `package --sign` writes one, `validate`/`test --verify-signature` and
`registry verify` check one (OpenSSF model signing, `adapters/signing.py`).

What is signed is exactly what a registry entry pins: the manifest (`mlcube.yaml` or
`container_config.yaml`), `parameters.yaml`, `additional_files.tar.gz` and `image.tar.gz`,
whichever the folder holds. Left out, and recorded as left out in the signature itself:
`model.sig`, `checksums.sha256` and `manifest.json` (both only describe the signed files,
and the checksums list the signature too) and `release.json` (publish's record). So a
registry checks a signature from the entry's downloads alone, and OpenSSF's own
`model_signing verify ... --ignore-paths assets/model.sig assets/` accepts the folder.
An image pushed to a registry (`publish --push-image`) is pinned by digest in the entry,
not signed: sign with `--image-archive` to cover the image too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action.adapters import signing
from medperf_action.domain.registry.layout import ASSET_FILES, IMAGE_ARCHIVE
from medperf_action.errors import SignatureInvalid, UsageError

SIGNATURE = ASSET_FILES["signature"]
UNSIGNED = (SIGNATURE, "checksums.sha256", "manifest.json", "release.json")
#: A registry entry's signed assets (`group.name` in the entry) and their signed names.
ENTRY_FILES = {
    "assets.parameters": ASSET_FILES["parameters"],
    "assets.additional_files": ASSET_FILES["additional_files"],
    "image.archive": IMAGE_ARCHIVE,
}
#: What the library leaves out of a signed folder by default.
LIBRARY_IGNORED = frozenset({".git", ".gitattributes", ".gitignore", ".github"})
#: What the OIDC token of a GitHub Actions workflow says as its issuer.
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@dataclass(frozen=True)
class SignWith:
    """How to sign: with the private key at `key`, or (None) keyless with Sigstore."""

    key: Path | None


def sign_method(key: Path | None, *, in_actions: bool, oidc: bool) -> SignWith:
    """`--key` signs with that key; without it, Sigstore keyless signing, which needs a
    GitHub Actions job allowed its OIDC token (`permissions: id-token: write`)."""
    if key is not None:
        return SignWith(key)
    if not in_actions:
        raise UsageError(
            "--sign without --key signs with Sigstore as a GitHub Actions job's identity, "
            "and this is not GitHub Actions: pass --key PRIVATE_KEY.pem"
        )
    if not oidc:
        raise UsageError(
            "--sign without --key needs the job's OIDC token: give the job "
            "`permissions: id-token: write` (or pass --key PRIVATE_KEY.pem)"
        )
    return SignWith(None)


def sign_folder(folder: Path, how: SignWith) -> Path:
    """Sign the assets in `folder` as `folder/model.sig`; returns its path."""
    signature = folder / SIGNATURE
    if how.key is not None:
        signing.sign_with_key(folder, signature, how.key, UNSIGNED)
    else:
        signing.sign_keyless(folder, signature, UNSIGNED)
    return signature


def assets_folder(path: Path) -> Path:
    """The signed assets folder `path` names: itself when it holds model.sig, else the
    `assets/` folder `package` writes beside the MLCube's manifest."""
    if path.is_file():  # the manifest: its folder
        path = path.parent
    if (path / SIGNATURE).is_file() or path.name == "assets":
        return path
    for candidate in (path / "assets", path / "mlcube" / "assets"):  # never a sibling's
        if (candidate / SIGNATURE).is_file():
            return candidate
    return path / "assets"


def verify_folder(folder: Path, public_key: Path) -> str:
    """Check `folder/model.sig` against the key; returns what signed. SignatureInvalid."""
    identity = signing.read_public_key(public_key)
    signer = signing.verify(folder, folder / SIGNATURE, [identity]).name
    present = {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()
    _require_covers(folder / SIGNATURE, present - set(UNSIGNED))
    return signer


def _require_covers(signature: Path, expected: set[str]) -> None:
    """The signature covers exactly `expected`, and leaves out only what this tool leaves
    out: the signer chooses what is signed, and a signature over fewer files (or one that
    declares the pinned files ignored) would vouch for files nobody signed."""
    got = signing.signed_set(signature)
    if got.names != expected:
        raise SignatureInvalid(
            f"the signature covers {', '.join(sorted(got.names)) or 'no file'}, not the files "
            f"that must be signed: {', '.join(sorted(expected))}"
        )
    extra = got.ignored - set(UNSIGNED) - LIBRARY_IGNORED
    if extra:
        raise SignatureInvalid(
            f"the signature declares {', '.join(sorted(extra))} left out of what it signs"
        )


def check_key(key: Path) -> None:
    """A signing key that will do (an elliptic-curve private key), checked before any
    packaging work: SigningError."""
    signing.check_private_key(key)


def identities(entries: Iterable[dict[str, Any]]) -> list[signing.Identity]:
    """registry.yaml's `signatures.identities` as the adapter's identities."""
    found: list[signing.Identity] = []
    for number, item in enumerate(entries, 1):
        if "public_key" in item:
            found.append(
                signing.PublicKey(str(item["public_key"]), item.get("name") or f"key {number}")
            )
        else:
            found.append(
                signing.SigstoreIdentity(
                    str(item["identity"]), str(item["issuer"]), str(item["repository"])
                )
            )
    return found


def entry_files(entry: dict[str, Any], downloaded: dict[str, Path]) -> dict[str, Path]:
    """The signed file name of each downloaded asset of `entry` (`assets.NAME` keys)."""
    files: dict[str, Path] = {}
    for key, path in downloaded.items():
        if key == "assets.mlcube":
            url = str(entry["assets"]["mlcube"]["url"])
            is_config = url.rsplit("/", 1)[-1] == "container_config.yaml"
            files["container_config.yaml" if is_config else "mlcube.yaml"] = path
        elif key in ENTRY_FILES:
            files[ENTRY_FILES[key]] = path
    return files


def verify_files(files: dict[str, Path], signature: Path, accepted: list[signing.Identity]) -> str:
    """Lay `files` (signed name: downloaded path) out as the signed folder, check the
    signature; returns who signed. SignatureInvalid."""
    with tempfile.TemporaryDirectory(prefix="medperf-signed-") as tmp:
        folder = Path(tmp) / "assets"
        folder.mkdir()
        for name, path in files.items():
            try:
                os.link(path, folder / name)
            except OSError:  # another file system: a copy, never a symlink (refused)
                shutil.copyfile(path, folder / name)
        signer = signing.verify(folder, signature, accepted).name
    _require_covers(signature, set(files))
    return signer


def entry_signed_assets(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entry's assets a signature covers, by `group.name` key ({url, sha256} each),
    and its signature (`assets.signature`); SignatureInvalid when it names none."""
    signature = (entry.get("assets") or {}).get("signature")
    if not signature:
        raise SignatureInvalid(f"mlcube {entry.get('id')}: the entry names no signature")
    wanted = {"assets.mlcube": (entry.get("assets") or {}).get("mlcube")}
    for key in ENTRY_FILES:
        group, _, name = key.partition(".")
        wanted[key] = (entry.get(group) or {}).get(name)
    return {key: asset for key, asset in {**wanted, "assets.signature": signature}.items() if asset}


def verify_downloaded(entry: dict[str, Any], downloaded: dict[str, Path], public_key: Path) -> str:
    """Check an entry's signature, its assets downloaded (`entry_signed_assets`' keys),
    against `public_key`; returns who signed. SignatureInvalid."""
    identity = signing.read_public_key(public_key)
    signature = downloaded.pop("assets.signature")
    return verify_files(entry_files(entry, downloaded), signature, [identity])
