"""S/MIME: an opaque-signed message is read from inside its signature; an encrypted one is
named as unread; a detached signature is no attachment to open."""

from __future__ import annotations

from email.message import EmailMessage
from email.mime.application import MIMEApplication

import pytest
from asn1crypto import algos, cms  # type: ignore[import-untyped]

from inbox_watcher.mime import read_message
from inbox_watcher.smime import SmimeError, signed_content

INNER = (
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\n"
    b"Please deliver against PO HF-24-00110.\r\n--x--\r\n"
)


def signed_data(content: bytes) -> bytes:
    """A CMS SignedData holding ``content`` (no signer: the signature is not verified)."""
    info = cms.ContentInfo(
        {
            "content_type": "signed_data",
            "content": cms.SignedData(
                {
                    "version": "v1",
                    "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                    "encap_content_info": {"content_type": "data", "content": content},
                    "signer_infos": [],
                }
            ),
        }
    )
    return bytes(info.dump())


def enveloped_data() -> bytes:
    info = cms.ContentInfo(
        {
            "content_type": "enveloped_data",
            "content": cms.EnvelopedData(
                {
                    "version": "v0",
                    "recipient_infos": [],
                    "encrypted_content_info": {
                        "content_type": "data",
                        "content_encryption_algorithm": {
                            "algorithm": "aes128_cbc",
                            "parameters": b"0" * 16,
                        },
                        "encrypted_content": b"x" * 32,
                    },
                }
            ),
        }
    )
    return bytes(info.dump())


def smime_mail(der: bytes, smime_type: str) -> bytes:
    part = MIMEApplication(der, "pkcs7-mime", name="smime.p7m")
    part.set_param("smime-type", smime_type)
    part["From"] = "orders@harbor.example"
    part["Subject"] = "Order"
    part["MIME-Version"] = "1.0"
    return part.as_bytes()


def test_an_opaque_signed_message_is_read_from_inside() -> None:
    mail = read_message(smime_mail(signed_data(INNER), "signed-data"))
    assert "PO HF-24-00110" in mail.text_body
    assert mail.attachments == ()
    assert mail.unread == ()


def test_an_encrypted_message_is_named_as_unread() -> None:
    mail = read_message(smime_mail(enveloped_data(), "enveloped-data"))
    assert mail.text_body == ""
    assert any("encrypted for its recipient" in u for u in mail.unread)


@pytest.mark.parametrize(
    ("der", "why"),
    [
        (b"not DER at all", "is damaged"),
        (signed_data(INNER)[:40], "is damaged"),
        (signed_data(b""), "holds no content (a signature only)"),
    ],
)
def test_damaged_or_empty_signed_data_is_refused_in_plain_words(der: bytes, why: str) -> None:
    with pytest.raises(SmimeError) as refused:
        signed_content(der)
    assert str(refused.value) == why


def test_a_detached_signature_is_no_attachment_to_open() -> None:
    msg = EmailMessage()
    msg["From"] = "orders@harbor.example"
    msg["Subject"] = "Order"
    msg.set_content("PO HF-24-00110")
    msg.add_attachment(
        b"0\x82\x01\x00", maintype="application", subtype="pkcs7-signature", filename="smime.p7s"
    )
    mail = read_message(msg.as_bytes())
    assert mail.attachments == ()
