"""RFC 3161 time-stamps of checkpoints: ask a time-stamping authority (TSA) to sign SHA-256 of the text
with its own clock, and check the token it answers, offline, with the TSA's certificate in the token.

The check is done here in Python (asn1crypto for the structures, cryptography for the signature) so an
expert can run it without a network or an `openssl` binary; tests hold it equal to `openssl ts -verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import algos, cms, core, tsp, x509
from cryptography import x509 as crypto_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ..domain_errors import DomainError

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
MAX_REPLY_BYTES = 256 * 1024  # a token with its certificates is a few kilobytes

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class TimeStampResponse(core.Sequence):
    """RFC 3161 §2.4.2 TimeStampResp. asn1crypto's own makes the token mandatory, but a refusal carries
    none: with it, every refusal would read as garbage instead of the TSA's reason."""

    _fields = [  # noqa: RUF012 (asn1crypto's declaration)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class TimestampError(DomainError):
    """No valid time-stamp: the TSA could not be reached, refused, or answered something that does not
    prove the time of this text. The message says which."""


class TimestampUnavailable(TimestampError):
    """The TSA could not be reached or did not answer a time-stamp response in time."""


class TimestampRefused(TimestampError):
    """The TSA answered, but did not grant a time-stamp."""


class TimestampInvalid(TimestampError):
    """A token that does not hold: malformed, for other data or another nonce, or badly signed."""


@dataclass(frozen=True)
class Timestamp:
    """What a checked token proves: `data` existed at `time` (by the TSA's clock), signed by `signer`."""

    token: bytes  # DER ContentInfo (SignedData over a TSTInfo), as stored and put in packs
    time: datetime
    serial_number: int
    signer: str  # the TSA certificate's subject, readable
    certificate: bytes  # DER of the certificate that signed it


def timestamp_request(data: bytes, nonce: int) -> bytes:
    """DER TimeStampReq for SHA-256(data), with `nonce`, asking for the TSA's certificate in the token."""
    return tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": hashlib.sha256(data).digest(),
            },
            "nonce": nonce,
            "cert_req": True,
        }
    ).dump()


def request_timestamp(data: bytes, *, url: str, timeout: float) -> Timestamp:
    """POST a time-stamp request for `data` to the TSA at `url` and return the checked token. Raises
    TimestampUnavailable, TimestampRefused or TimestampInvalid."""
    nonce = secrets.randbits(63)
    request = urllib.request.Request(
        url, data=timestamp_request(data, nonce), method="POST", headers={"Content-Type": QUERY_TYPE}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (an operator's https URL)
            reply = response.read(MAX_REPLY_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise TimestampUnavailable(f"the TSA answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TimestampUnavailable(f"the TSA could not be reached: {reason}") from None
    if len(reply) > MAX_REPLY_BYTES:
        raise TimestampInvalid("the TSA's answer is too large to be a time-stamp response")
    return read_timestamp_response(reply, data, nonce=nonce)


def read_timestamp_response(reply: bytes, data: bytes, *, nonce: int | None) -> Timestamp:
    """Check a DER TimeStampResp: granted, and its token valid for `data` (and `nonce`)."""
    try:
        response = TimeStampResponse.load(reply, strict=True)
        status = response["status"]["status"].native
    except (ValueError, TypeError, KeyError) as error:
        raise TimestampInvalid(f"the TSA's answer is not a time-stamp response ({error})") from None
    if status not in ("granted", "granted_with_mods"):
        text = response["status"]["status_string"].native or []
        failure = response["status"]["fail_info"].native or []
        detail = "; ".join([*text, *sorted(failure)])
        raise TimestampRefused(f"the TSA refused the request: {status}" + (f" ({detail})" if detail else ""))
    token = response["time_stamp_token"]
    if isinstance(token, core.Void):
        raise TimestampInvalid("the TSA granted a time-stamp but sent no token")
    return verify_timestamp_token(token.dump(), data, nonce=nonce)


def verify_timestamp_token(token: bytes, data: bytes, *, nonce: int | None = None) -> Timestamp:
    """Check a DER RFC 3161 token offline: it time-stamps SHA-256(`data`) (and `nonce`, when given), its
    signed attributes bind that TSTInfo and the signing certificate, the signature verifies with that
    certificate's key, and the certificate is for time-stamping. Raises TimestampInvalid naming what
    fails. Whether the certificate is one to trust (its chain to a CA) is the reader's call: `signer` and
    `certificate` say who signed."""
    try:
        info = cms.ContentInfo.load(token, strict=True)
        if info["content_type"].native != "signed_data":
            raise TimestampInvalid("the token is not CMS SignedData")
        signed = info["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise TimestampInvalid("the token does not hold a TSTInfo")
        tst_bytes = encap["content"].contents
        tst = tsp.TSTInfo.load(tst_bytes, strict=True)
        imprint = tst["message_imprint"]
        imprint_algorithm = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
        signers = list(signed["signer_infos"])
        time = tst["gen_time"].native
        serial = tst["serial_number"].native
        token_nonce = tst["nonce"].native
    except TimestampInvalid:
        raise
    except (ValueError, TypeError, KeyError) as error:
        raise TimestampInvalid(f"the token is malformed ({error})") from None

    if imprint_algorithm not in _HASHES:
        raise TimestampInvalid(f"the token's message imprint uses {imprint_algorithm}, not SHA-2")
    expected = hashlib.new(imprint_algorithm, data).digest()
    if not hmac.compare_digest(hashed, expected):
        raise TimestampInvalid("the token time-stamps other data (its message imprint differs)")
    if nonce is not None and token_nonce != nonce:
        raise TimestampInvalid("the token answers another request (its nonce differs)")
    if len(signers) != 1:
        raise TimestampInvalid(f"the token has {len(signers)} signers, not one")
    signer = signers[0]
    certificate = _signing_certificate(signed, signer)
    _check_signed_attributes(signer, tst_bytes, certificate)
    _check_signature(signer, certificate)
    _check_time_stamping_certificate(certificate)
    return Timestamp(
        token=token,
        time=time,
        serial_number=serial,
        signer=certificate.subject.human_friendly,
        certificate=certificate.dump(),
    )


def _signing_certificate(signed: cms.SignedData, signer: cms.SignerInfo) -> x509.Certificate:
    """The certificate in the token that the signer info names (by issuer and serial, or key id)."""
    sid = signer["sid"]
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        certificate: x509.Certificate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            if (
                certificate.issuer == sid.chosen["issuer"]
                and certificate.serial_number == sid.chosen["serial_number"].native
            ):
                return certificate
        elif certificate.key_identifier == sid.chosen.native:
            return certificate
    raise TimestampInvalid("the token does not carry the TSA's certificate (request it with certReq)")


def _attribute(signer: cms.SignerInfo, name: str) -> object:
    for attribute in signer["signed_attrs"]:
        if attribute["type"].native == name:
            values = attribute["values"]
            if len(values) != 1:
                raise TimestampInvalid(f"the token's {name} attribute has {len(values)} values")
            return values[0]
    raise TimestampInvalid(f"the token's signature does not cover a {name} attribute")


def _check_signed_attributes(signer: cms.SignerInfo, tst_bytes: bytes, certificate: x509.Certificate) -> None:
    """RFC 5652 §5.4 and RFC 3161 §2.4.2: the signed attributes name a TSTInfo, carry its digest, and
    bind the signing certificate (ESSCertID or ESSCertIDv2)."""
    if not signer["signed_attrs"]:
        raise TimestampInvalid("the token's signature has no signed attributes")
    content_type = _attribute(signer, "content_type")
    if getattr(content_type, "native", None) != "tst_info":
        raise TimestampInvalid("the token's signed content type is not TSTInfo")
    digest_algorithm = signer["digest_algorithm"]["algorithm"].native
    if digest_algorithm not in _HASHES:
        raise TimestampInvalid(f"the token is signed over {digest_algorithm}, not SHA-2")
    message_digest = _attribute(signer, "message_digest")
    if not hmac.compare_digest(
        getattr(message_digest, "native", b""), hashlib.new(digest_algorithm, tst_bytes).digest()
    ):
        raise TimestampInvalid("the token's signed digest does not match its TSTInfo (the TSTInfo was changed)")
    names = {attribute["type"].native for attribute in signer["signed_attrs"]}
    if "signing_certificate_v2" in names:
        ids = _attribute(signer, "signing_certificate_v2")["certs"]  # type: ignore[index]
        cert_id = ids[0]
        algorithm = cert_id["hash_algorithm"]["algorithm"].native
        if algorithm not in _HASHES:
            raise TimestampInvalid(f"the token names its certificate by {algorithm}, not SHA-2")
        wanted = hashlib.new(algorithm, certificate.dump()).digest()
    elif "signing_certificate" in names:
        cert_id = _attribute(signer, "signing_certificate")["certs"][0]  # type: ignore[index]
        wanted = hashlib.sha1(certificate.dump()).digest()  # noqa: S324 (ESSCertID is SHA-1 by definition)
    else:
        raise TimestampInvalid("the token's signature does not name its certificate (no ESSCertID)")
    if not hmac.compare_digest(cert_id["cert_hash"].native, wanted):
        raise TimestampInvalid("the token's signed certificate id does not match the certificate it carries")


def _check_signature(signer: cms.SignerInfo, certificate: x509.Certificate) -> None:
    # What is signed is the DER of the attributes as a SET OF (tag 0x31), not as the [0] they are sent in.
    signed_bytes = b"\x31" + signer["signed_attrs"].dump()[1:]
    signature = signer["signature"].native
    digest = _HASHES[signer["digest_algorithm"]["algorithm"].native]()
    algorithm: algos.SignedDigestAlgorithm = signer["signature_algorithm"]
    key = crypto_x509.load_der_x509_certificate(certificate.dump()).public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if algorithm.signature_algo == "rsassa_pss":
                params = algorithm["parameters"]
                salt = params["salt_length"].native
                pss_hash = _HASHES[params["hash_algorithm"]["algorithm"].native]()
                key.verify(signature, signed_bytes, padding.PSS(padding.MGF1(pss_hash), salt), pss_hash)
            else:
                key.verify(signature, signed_bytes, padding.PKCS1v15(), digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(digest))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signed_bytes)
        else:
            raise TimestampInvalid(f"the TSA's key type ({type(key).__name__}) is not supported")
    except InvalidSignature:
        raise TimestampInvalid("the token's signature does not verify with the TSA's certificate") from None
    except (ValueError, KeyError) as error:
        raise TimestampInvalid(f"the token's signature algorithm is not usable ({error})") from None


def _check_time_stamping_certificate(certificate: x509.Certificate) -> None:
    """RFC 3161 §2.3: a TSA's certificate has the one extended key usage timeStamping, marked critical."""
    usage = certificate.extended_key_usage_value
    if usage is None or usage.native != ["time_stamping"]:
        raise TimestampInvalid("the token's certificate is not a time-stamping certificate")
    if "extended_key_usage" not in certificate.critical_extensions:
        raise TimestampInvalid("the token's certificate does not mark time-stamping as critical")
