"""S/MIME parts: the content of an opaque-signed message, and what an encrypted one hides.

A message signed with ``application/pkcs7-mime; smime-type=signed-data`` carries its whole body
inside the signature's CMS structure (every mail program shows it); ``enveloped-data`` is
encrypted for its recipient and cannot be read here. The CMS is decoded by ``asn1crypto``; the
signature is not verified (po-watcher reads mail, it does not vouch for it).
"""

from __future__ import annotations

from asn1crypto import cms  # type: ignore[import-untyped]

PKCS7_MIME = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
SIGNATURES = frozenset(
    {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
)


class SmimeError(ValueError):
    """Why an S/MIME part could not be read, in plain words, as a predicate of "the S/MIME part
    of the message" ("is encrypted for its recipient")."""


def signed_content(der: bytes) -> bytes:
    """The MIME entity inside an opaque-signed S/MIME part; SmimeError for an encrypted or a
    damaged one."""
    try:
        info = cms.ContentInfo.load(der)
        kind = info["content_type"].native
        if kind in {"enveloped_data", "authenticated_enveloped_data", "encrypted_data"}:
            raise SmimeError("is encrypted for its recipient")
        if kind != "signed_data":
            raise SmimeError(f"holds {kind or 'nothing known'}, not a signed message")
        content = info["content"]["encap_content_info"]["content"].native
    except SmimeError:
        raise
    except Exception as exc:  # a third-party decoder on hostile bytes: any error is "damaged"
        raise SmimeError("is damaged") from exc
    if not isinstance(content, bytes) or not content.strip():
        raise SmimeError("holds no content (a signature only)")
    return content
