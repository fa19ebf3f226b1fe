"""Builders of hostile messages (raw RFC 5322 bytes) and a poll helper, shared by the reliability
tests (the end-to-end tables, the fuzz seeds, the secrets canary).

Every builder returns bytes that carry an ``X-Test-Seq`` header, so a test can tell which record
belongs to which message. PO numbers are Westside's (``2024-00815-MT`` is a known record in the
tests; ``2024-00816-MT`` is the decoy that must not be picked up).
"""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

from inbox_watcher.config import load_config
from inbox_watcher.poller import PollSummary
from inbox_watcher.runtime import make_poller, make_pool, open_store
from inbox_watcher.store import Store, StoredMessage
from tests.pdfgen import assemble, invoice_pdf

KNOWN = "2024-00815-MT"
DECOY = "2024-00816-MT"
SENDER = "buyer@westside-tools.example"
CRLF = b"\r\n"


def poll(config_path: Path) -> PollSummary:
    """One in-process poll, as ``po-watcher poll`` does it (the real worker pool included)."""
    config = load_config(config_path)
    store = open_store(config)
    try:
        with make_pool(config) as pool:
            return make_poller(config, store, pool).poll()
    finally:
        store.close()


def stored(db: Path) -> list[StoredMessage]:
    """Every recorded message of a SQLite state file."""
    with Store.open(f"sqlite:///{db}") as store:
        return list(store.messages())


def head(
    seq: int, subject: bytes | str, *, sender: bytes | str = SENDER, extra: bytes = b""
) -> bytes:
    """The usual top headers (no Content-Type: the caller adds its own)."""
    subj = subject.encode() if isinstance(subject, str) else subject
    frm = sender.encode() if isinstance(sender, str) else sender
    return (
        b"From: Buyer <" + frm + b">\r\n"
        b"To: po@example.com\r\n"
        b"Subject: " + subj + b"\r\n"
        b"Date: Fri, 01 Mar 2024 09:30:00 +0000\r\n"
        b"Message-ID: <hostile-%d@test.example>\r\n"
        % seq
        + b"X-Test-Seq: %d\r\n" % seq
        + b"MIME-Version: 1.0\r\n"
        + extra
    )


def plain(seq: int, subject: str, body: str) -> bytes:
    return (
        head(seq, subject)
        + b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + body.encode()
        + CRLF
    )


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", CRLF)


def with_attachments(
    seq: int,
    subject: str,
    body: str,
    attachments: list[tuple[bytes, bytes, bytes]],
) -> bytes:
    """multipart/mixed: a text part, then (content type, Content-Disposition params, data) parts."""
    boundary = b"b0undary-%d" % seq
    out = (
        head(seq, subject) + b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
    )
    out += b"--" + boundary + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    out += body.encode() + CRLF
    for ctype, disposition, data in attachments:
        out += b"--" + boundary + CRLF
        out += b"Content-Type: " + ctype + CRLF
        out += b"Content-Disposition: attachment; " + disposition + CRLF
        out += b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(data)
    return out + b"--" + boundary + b"--\r\n"


def pdf_only(seq: int, subject: str, name: bytes, data: bytes) -> bytes:
    """A message whose only PO (if any) is inside the PDF attachment."""
    return with_attachments(
        seq, subject, "Please find the document attached.", [(b"application/pdf", name, data)]
    )


# --- MIME structure -----------------------------------------------------------------------------


def unclosed_multipart(seq: int) -> bytes:
    return (
        head(seq, "Order update")
        + b'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n'
        + b"--never-closed\r\nContent-Type: text/plain\r\n\r\n"
        + f"Please ship PO {KNOWN} today.\r\n".encode()
        + b"--never-closed\r\nContent-Type: text/plain\r\n\r\nsecond part, and then the end\r\n"
    )


def many_parts(seq: int, parts: int = 10_000, *, po_in_part: int | None = None) -> bytes:
    out = head(seq, "Many parts") + b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n'
    chunks = [out]
    for i in range(1, parts + 1):
        text = f"PO {KNOWN}" if i == po_in_part else f"part {i}"
        chunks.append(b"--p\r\nContent-Type: text/plain\r\n\r\n" + text.encode() + CRLF)
    chunks.append(b"--p--\r\n")
    return b"".join(chunks)


def nested_rfc822(seq: int, depth: int = 50, *, subject: str = "Fwd: deep") -> bytes:
    """``depth`` message/rfc822 parts inside each other; the PO in the innermost body."""
    inner = (
        b"From: Buyer <" + SENDER.encode() + b">\r\nSubject: innermost\r\n"
        b"Content-Type: text/plain\r\n\r\n" + f"PO {KNOWN}\r\n".encode()
    )
    for level in range(depth):
        inner = (
            b"From: Fwd <fwd%d@westside-tools.example>\r\nSubject: Fwd level %d\r\n"
            % (level, level)
            + b"Content-Type: message/rfc822\r\n\r\n"
            + inner
        )
    top = head(seq, subject) + b"Content-Type: message/rfc822\r\n\r\n"
    return top + inner


def long_header(seq: int, size: int = 1 << 20) -> bytes:
    """A 1 MB Subject header line (no folding) that starts with the PO."""
    subject = f"PO {KNOWN} " + "x" * size
    return plain(seq, subject, "See subject.")


def control_chars_subject(seq: int) -> bytes:
    """CR, LF and NUL smuggled into the Subject through an RFC 2047 encoded word."""
    subject = f"=?utf-8?q?PO_{KNOWN}=0D=0ABcc:_victim@example.com=00end?="
    return plain(seq, subject, "Body without a number.")


def control_chars_filename(seq: int) -> bytes:
    """CR, LF and NUL in an attachment file name (RFC 2231), the PO only in that PDF."""
    name = b"filename*=utf-8''evil%0D%0AX-Injected%3A%20yes%00.pdf"
    return pdf_only(seq, "Invoice", name, invoice_pdf(po=KNOWN))


def ambiguous_from(seq: int) -> bytes:
    """The CVE-2023-27043 shape: parseaddr would take the customer's address from the junk."""
    msg = plain(seq, "Invoice", f"PO {DECOY} please pay now")
    return msg.replace(
        b"From: Buyer <" + SENDER.encode() + b">",
        b"From: " + SENDER.encode() + b")<attacker@evil.example>",
    )


def unknown_charset(seq: int) -> bytes:
    body = f"Bestellung für Müller, PO {KNOWN}".encode("cp1252")
    return (
        head(seq, "=?x-klingon?q?Bestellung_M=FCller?=")
        + b"Content-Type: text/plain; charset=x-klingon\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body
        + CRLF
    )


def mislabelled_8bit(seq: int) -> bytes:
    """Header and body in cp1252 bytes, labelled UTF-8 (and an 8-bit Subject)."""
    body = f"Grüße, PO {KNOWN} \u2013 danke".encode("cp1252")
    return (
        head(seq, "Bestellbestätigung Müller".encode("cp1252"))
        + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body
        + CRLF
    )


def broken_base64_text(seq: int) -> bytes:
    good = base64.b64encode(f"Please ship PO {KNOWN} now.".encode())
    body = good[:20] + b"!!@@\x7f" + good[20:] + b"===x"
    return (
        head(seq, "Broken base64")
        + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + body
        + CRLF
    )


def broken_qp_text(seq: int) -> bytes:
    body = f"=ZZ=4 soft=\r\nbreak PO {KNOWN} =E2=80=9Cquoted=E2=80 trailing=".encode()
    return (
        head(seq, "Broken QP") + b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body + CRLF
    )


def broken_base64_pdf(seq: int) -> bytes:
    """A PDF attachment whose base64 is cut in the middle and has junk inserted."""
    b64 = base64.b64encode(invoice_pdf(po=KNOWN))
    broken = b64[:300] + b"*%$" + b64[301:900]
    msg = with_attachments(seq, "Invoice", "Invoice attached.", [])
    return msg.replace(
        b"--b0undary-%d--" % seq,
        b"--b0undary-%d\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" % seq + broken + b"\r\n--b0undary-%d--" % seq,
    )


def empty_message(seq: int) -> bytes:
    """Nothing but the test's sequence header: no From, no Subject, no body."""
    return b"X-Test-Seq: %d\r\n\r\n" % seq


def truly_empty_message(seq: int) -> bytes:
    """Zero bytes of content (a bare line break: IMAP APPEND needs a literal)."""
    del seq
    return CRLF


def headers_only(seq: int) -> bytes:
    return head(seq, "") + CRLF


# --- attachments ------------------------------------------------------------------------------


def path_filenames(seq: int) -> bytes:
    """Three PDFs named with ``../``, a NUL and a right-to-left override; the PO in each."""
    pdf = invoice_pdf(po=KNOWN)
    return with_attachments(
        seq,
        "Invoices",
        "Attached.",
        [
            (b"application/pdf", b'filename="../../../etc/cron.d/x.pdf"', pdf),
            (b"application/pdf", b"filename*=utf-8''inv%00oice.pdf", pdf),
            (b"application/pdf", b"filename*=utf-8''invoice%E2%80%AEfdp.exe", pdf),
        ],
    )


def html_with_script(seq: int) -> bytes:
    html = (
        "<html><head><script>var po = 'PO " + DECOY + "';</script>"
        "<style>.x:after{content:'PO " + DECOY + "'}</style></head>"
        "<body onload=\"alert('x')\"><p>Our PO " + KNOWN + "</p>"
        "<script>document.write('PO " + DECOY + "')</script></body></html>"
    )
    return (
        head(seq, "HTML order")
        + b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        + html.encode()
        + CRLF
    )


def zip_renamed_pdf(seq: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("invoice.txt", f"PO {KNOWN}")
    return pdf_only(seq, "Invoice", b'filename="invoice.pdf"', buf.getvalue())


def many_pdfs(seq: int, count: int = 200, *, po_in: int = 1) -> bytes:
    """``count`` PDF attachments; the PO only in attachment number ``po_in`` (1-based)."""
    blank = invoice_pdf(po=None, decoys=False, lines_per_page=1)
    with_po = invoice_pdf(po=KNOWN, decoys=False, lines_per_page=1)
    return with_attachments(
        seq,
        "Many invoices",
        "All invoices attached.",
        [
            (b"application/pdf", b'filename="inv-%03d.pdf"' % i, with_po if i == po_in else blank)
            for i in range(1, count + 1)
        ],
    )


# --- PDFs ---------------------------------------------------------------------------------------


def many_pages_pdf(pages: int = 10_000) -> bytes:
    """``pages`` pages sharing one content stream that carries the PO label and number."""
    content = f"BT /F1 12 Tf 72 720 Td (PO Number: {KNOWN}) Tj ET".encode()
    first_page = 5
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
        b"/Resources << /Font << /F1 4 0 R >> >> >>"
    )
    objects.extend(page for _ in range(pages))
    return assemble(objects)


def page_without_mediabox_pdf() -> bytes:
    """A one-object PDF that PDFium refuses and pdfplumber's fallback raises TypeError on (a Page
    without a MediaBox, a Root that does not exist): found by tests/reliability/test_fuzz.py."""
    return b"%PDF-1.7\n1 0 obj\n<< /Type /Page >>\nendobj\ntrailer\n<< /Root 2 0 R >>\n"
