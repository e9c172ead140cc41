"""Model signing (OpenSSF model signing): `package --sign`, checked by OpenSSF's own CLI and by
`validate`/`test --verify-signature`; how keyless signing is chosen. Offline, real library,
key pairs made here. The registry's side is in test_registry_workflows.py."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from medperf_action.errors import UsageError
from medperf_action.usecases.signatures import SignWith, sign_method
from tests.test_packaging import example_copy, run_cli

OPENSSF_CLI = Path(sys.executable).parent / "model_signing"


def key_pair(folder: Path, name: str = "key") -> tuple[Path, Path]:
    """An EC P-256 key pair as PEM files: (private, public)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def openssf_verify(assets: Path, public: Path) -> subprocess.CompletedProcess[str]:
    """OpenSSF's own CLI, exactly as the docs tell a hospital to run it."""
    return subprocess.run(
        [
            str(OPENSSF_CLI),
            "verify",
            "key",
            "--signature",
            str(assets / "model.sig"),
            "--public_key",
            str(public),
            "--ignore-paths",
            str(assets / "model.sig"),
            str(assets),
        ],
        capture_output=True,
        text=True,
    )


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A freshly packaged and signed example model: (mlcube folder, assets, public key)."""
    cube = example_copy(tmp_path)
    private, public = key_pair(tmp_path)
    code, _, err = run_cli("package", str(cube), "--sign", "--key", str(private))
    assert code == 0, err
    return cube, cube / "assets", public


def test_a_signed_folder_is_accepted_by_openssf_and_refused_once_a_byte_changes(
    signed: tuple[Path, Path, Path],
) -> None:
    _, assets, public = signed
    listed = (assets / "checksums.sha256").read_text().split()
    assert "model.sig" in listed  # so publish uploads it
    done = openssf_verify(assets, public)
    assert done.returncode == 0, done.stdout + done.stderr
    # publish writes release.json beside the assets: not signed, and left out when checked
    (assets / "release.json").write_text("{}\n")
    assert openssf_verify(assets, public).returncode == 0
    data = bytearray((assets / "additional_files.tar.gz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (assets / "additional_files.tar.gz").write_bytes(bytes(data))
    done = openssf_verify(assets, public)
    assert done.returncode != 0
    assert "additional_files.tar.gz" in done.stdout + done.stderr


def test_every_asset_but_the_descriptions_is_signed(signed: tuple[Path, Path, Path]) -> None:
    _, assets, public = signed
    for name in ("mlcube.yaml", "parameters.yaml"):
        original = (assets / name).read_bytes()
        (assets / name).write_bytes(original + b"\n")
        assert openssf_verify(assets, public).returncode != 0, name
        (assets / name).write_bytes(original)
    # a file added to the folder is not what was signed either
    (assets / "extra.bin").write_bytes(b"x")
    assert openssf_verify(assets, public).returncode != 0


def test_validate_and_test_check_the_signature_first(
    signed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    cube, assets, public = signed
    code, out, err = run_cli("validate", str(cube), "--verify-signature", str(public))
    assert code == 0, out + err
    assert "signature" in (out + err).lower()
    _, other = key_pair(tmp_path, "other")
    code, out, err = run_cli("validate", str(cube), "--verify-signature", str(other))
    assert code == 1
    assert "not by any accepted identity" in err
    (assets / "parameters.yaml").write_bytes(b"changed: 1\n")
    code, out, err = run_cli("validate", str(cube), "--verify-signature", str(public))
    assert code == 1
    assert "does not match the files" in err and "parameters.yaml" in err
    # test runs the folder, not the signed assets beside it: it does not pretend to
    # check a signature that would vouch for something else
    code, out, err = run_cli("test", "--model", str(cube), "--verify-signature", str(public))
    assert code == 2 and "give --mlcube-id" in err
    assert "candidate" not in out  # refused before anything ran


def test_a_missing_signature_is_refused(tmp_path: Path) -> None:
    cube = example_copy(tmp_path)
    _, public = key_pair(tmp_path)
    assert run_cli("package", str(cube))[0] == 0
    code, _, err = run_cli("validate", str(cube), "--verify-signature", str(public))
    assert code == 1
    assert "model.sig is missing" in err


def test_a_failed_signing_writes_nothing(tmp_path: Path) -> None:
    cube = example_copy(tmp_path)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    code, _, err = run_cli("package", str(cube), "--sign", "--key", str(bad))
    assert code == 1
    assert "cannot read the key" in err
    assert not (cube / "assets").exists()
    # an RSA key: said so, before anything is packaged (not a library traceback)
    rsa = tmp_path / "rsa.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(rsa), "2048"], check=True, capture_output=True)
    code, _, err = run_cli("package", str(cube), "--sign", "--key", str(rsa))
    assert code == 1 and "not an elliptic-curve key" in err and "Traceback" not in err
    assert not (cube / "assets").exists()


def test_keyless_signing_is_chosen_only_with_an_actions_oidc_token() -> None:
    assert sign_method(Path("k.pem"), in_actions=False, oidc=False) == SignWith(Path("k.pem"))
    assert sign_method(Path("k.pem"), in_actions=True, oidc=True) == SignWith(Path("k.pem"))
    assert sign_method(None, in_actions=True, oidc=True) == SignWith(None)
    with pytest.raises(UsageError, match="this is not GitHub Actions"):
        sign_method(None, in_actions=False, oidc=False)
    with pytest.raises(UsageError, match="id-token: write"):
        sign_method(None, in_actions=True, oidc=False)


def test_package_sign_without_key_outside_actions_is_a_usage_error(tmp_path: Path) -> None:
    cube = example_copy(tmp_path)
    code, _, err = run_cli("package", str(cube), "--sign")
    assert code == 2
    assert "--key" in err
    code, _, err = run_cli(
        "package",
        str(cube),
        "--sign",
        env={
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": "",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "",
        },
    )
    assert code == 2
    assert "id-token: write" in err
    assert not (cube / "assets").exists()


def test_a_keyless_signatures_source_repository_is_read_from_its_certificate(
    tmp_path: Path,
) -> None:
    """A reusable workflow's identity is the same for every repository that calls it: the
    certificate's Source Repository URI (Fulcio's extension) tells whose run signed, and
    registry verify compares it with the identity's `repository`."""
    import base64
    import datetime
    import json

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from medperf_action.adapters.signing import SOURCE_REPOSITORY_OID, source_repository

    def bundle_with(repository: bytes | None) -> Path:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sigstore")])
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(minutes=10))
        )
        if repository is not None:
            der = b"\x0c" + bytes([len(repository)]) + repository  # a DER UTF8String
            builder = builder.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(SOURCE_REPOSITORY_OID), der),
                critical=False,
            )
        cert = builder.sign(key, hashes.SHA256())
        raw = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        path = tmp_path / f"sig-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps({"verificationMaterial": {"certificate": {"rawBytes": raw}}}))
        return path

    assert source_repository(bundle_with(b"https://github.com/alice/wdbc")) == (
        "https://github.com/alice/wdbc"
    )
    assert source_repository(bundle_with(None)) is None  # a key signature has none
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    assert source_repository(broken) is None
