"""Content Credentials (C2PA): a signed manifest in every image and video we write, saying that it
is AI-generated (IPTC digital source type trainedAlgorithmicMedia), made by which CodeSwap version
with which models, and how many faces were changed. Written and read with c2pa-python, the Content
Authenticity Initiative's bindings of c2pa-rs.

The signing key is the deployer's: CODESWAP_C2PA_CERT (the certificate chain, end entity first)
and CODESWAP_C2PA_KEY (its private key), each a PEM file path or the PEM text itself (a Space
secret). Without them a development key is made on first use under CODESWAP_HOME (default
~/.cache/codeswap)/c2pa-dev: a throwaway root and a signer certificate labelled "CodeSwap
development (untrusted)". Readers then report the signature as valid but the signer as untrusted,
which is the truth. That key never enters the repository.

A manifest is metadata: a screenshot or a re-encode drops it. The watermark in the pixels
(pipelines/watermark.py) is what survives those.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__

log = logging.getLogger(__name__)

AI_GENERATED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CERT_ENV, KEY_ENV = "CODESWAP_C2PA_CERT", "CODESWAP_C2PA_KEY"
DEVELOPMENT_ISSUER = "CodeSwap development (untrusted)"


@dataclass(frozen=True)
class Made:
    """What an output is, for its manifest."""

    what: str  # e.g. "face swap", "video face swap", "samples from the vqgan prior"
    models: tuple[str, ...] = ()  # model families involved
    faces_changed: int | None = None


@dataclass
class Credentials:
    """A C2PA manifest as read back from a file."""

    valid: bool  # the signature and every hash check out
    trusted: bool  # the signer chains to a trust anchor the reader knows
    signer: str
    issuer: str
    generator: str  # e.g. "CodeSwap 0.1.0"
    ai_generated: bool  # an action declares trainedAlgorithmicMedia
    description: str
    problems: list[str] = field(default_factory=list)  # validation failures, e.g. signingCredential.untrusted


def home() -> Path:
    return Path(os.environ.get("CODESWAP_HOME") or Path.home() / ".cache" / "codeswap")


def _pem(value: str) -> bytes:
    """An environment value: PEM text itself, or the path of a PEM file."""
    return value.encode() if "-----BEGIN" in value else Path(value).read_bytes()


def signing_material() -> tuple[bytes, bytes, bool]:
    """(certificate chain PEM, private key PEM, is the development key)."""
    cert, key = os.environ.get(CERT_ENV), os.environ.get(KEY_ENV)
    if cert and key:
        return _pem(cert), _pem(key), False
    if cert or key:
        raise ValueError(f"set both {CERT_ENV} and {KEY_ENV} (a PEM path or PEM text each), or neither")
    return *development_key(), True


def development_key() -> tuple[bytes, bytes]:
    """The self-signed development chain and key, made once per machine (atomically) and kept."""
    folder = home() / "c2pa-dev"
    cert_path, key_path = folder / "chain.pem", folder / "key.pem"
    if not (cert_path.exists() and key_path.exists()):
        chain, key = _make_development_key()
        folder.mkdir(parents=True, exist_ok=True)
        for path, data, mode in ((key_path, key, 0o600), (cert_path, chain, 0o644)):
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.chmod(mode)
            os.replace(tmp, path)
        log.warning("C2PA: signing with a self-signed development key (%s); set %s and %s for a real one", folder, CERT_ENV, KEY_ENV)
    return cert_path.read_bytes(), key_path.read_bytes()


def _make_development_key() -> tuple[bytes, bytes]:
    """A throwaway root CA and an ES256 signer certificate it issues (C2PA refuses a self-signed
    end-entity certificate; the root is included in the chain so readers can show who it is)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common: str) -> x509.Name:
        return x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, common), x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEVELOPMENT_ISSUER)]
        )

    def usage(sign: bool) -> x509.KeyUsage:  # a signer signs content; the root signs certificates
        off = dict.fromkeys(
            ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only", "decipher_only"), False
        )
        return x509.KeyUsage(digital_signature=sign, key_cert_sign=not sign, crl_sign=not sign, **off)

    now = datetime.datetime.now(datetime.UTC)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder().subject_name(name("CodeSwap development root")).issuer_name(name("CodeSwap development root"))
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).add_extension(usage(False), critical=True)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    signer = (
        x509.CertificateBuilder().subject_name(name("CodeSwap development signer")).issuer_name(root.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True).add_extension(usage(True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    chain = signer.public_bytes(pem) + root.public_bytes(pem)
    return chain, key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def manifest(made: Made, title: str) -> dict:
    """The manifest definition (c2pa-rs JSON) for one output."""
    parameters = {"models": list(made.models)}
    if made.faces_changed is not None:
        parameters["faces_changed"] = made.faces_changed
    action = {
        "action": "c2pa.created",
        "digitalSourceType": AI_GENERATED,
        "softwareAgent": {"name": "CodeSwap", "version": __version__},
        "description": f"{made.what} by CodeSwap {__version__} (AI-generated)",
        "parameters": parameters,
    }
    return {
        "claim_generator_info": [{"name": "CodeSwap", "version": __version__}],
        "title": title,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [action]}}],
    }


@functools.lru_cache(maxsize=1)
def _context():
    """No thumbnail in the manifest: it would cost a JPEG encode per output and the file is the picture."""
    import c2pa

    return c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})


def sign_in_place(path: str | os.PathLike, mime: str, made: Made) -> None:
    """Add a signed manifest to the file at `path` (image/png, image/jpeg, video/mp4); the signed
    copy is written beside it and renamed over it, so the file is never half-written."""
    import c2pa

    path = Path(path)
    chain, key, _ = signing_material()
    info = c2pa.C2paSignerInfo(alg=c2pa.C2paSigningAlg.ES256, sign_cert=chain, private_key=key, ta_url=None)
    signed = path.with_name(f".{path.name}.{os.getpid()}.c2pa")
    try:
        with (
            c2pa.Signer.from_info(info) as signer,
            c2pa.Builder(json.dumps(manifest(made, path.name)), _context()) as builder,
            open(path, "rb") as source,
            open(signed, "w+b") as dest,
        ):
            builder.sign(signer, mime, source, dest)
        os.replace(signed, path)
    finally:
        signed.unlink(missing_ok=True)


def read(path: str | os.PathLike) -> Credentials | None:
    """The active manifest of a file, validated by c2pa-rs; None when the file has none."""
    import c2pa

    try:
        with c2pa.Reader(str(path)) as reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
    except (c2pa.C2paError.ManifestNotFound, c2pa.C2paError.NotSupported):  # no manifest, or a type C2PA cannot carry
        return None
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    if not active:
        return None
    problems = [s.get("code", "") for s in store.get("validation_status") or []]
    actions = [a for assertion in active.get("assertions", []) if assertion.get("label", "").startswith("c2pa.actions")
               for a in assertion.get("data", {}).get("actions", [])]  # fmt: skip
    generator = next(iter(active.get("claim_generator_info") or [{}]))
    signature = active.get("signature_info", {})
    return Credentials(
        valid=state in ("Valid", "Trusted"),
        trusted=state == "Trusted",
        signer=signature.get("common_name", ""),
        issuer=signature.get("issuer", ""),
        generator=f"{generator.get('name', '?')} {generator.get('version', '')}".strip(),
        ai_generated=any(a.get("digitalSourceType") == AI_GENERATED for a in actions),
        description="; ".join(a.get("description", "") for a in actions if a.get("description")),
        problems=problems,
    )
