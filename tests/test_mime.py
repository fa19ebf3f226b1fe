"""inbox_watcher.mime.read_message: real messages built with the stdlib or as raw bytes."""

from __future__ import annotations

import base64
import random
import time
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailparser.utils import get_addresses

from extractors.types import Email
from inbox_watcher.mime import MimeLimits, _plain_address, read_message

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 4


def raw(*lines: str, body: str = "") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8", "surrogateescape")


def b64(text: str, charset: str) -> str:
    return base64.b64encode(text.encode(charset)).decode("ascii")


def has_defect(mail: Email, words: str) -> bool:
    return any(words in d for d in mail.defects)


def with_attachment(
    data: bytes,
    *,
    ctype: str = "application/octet-stream",
    name: str | None = None,
    disposition: str = "attachment",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "buyer@customer.example"
    msg["Subject"] = "order"
    msg.set_content("see attached")
    maintype, subtype = ctype.split("/")
    msg.add_attachment(
        data, maintype=maintype, subtype=subtype, filename=name, disposition=disposition
    )
    return msg.as_bytes()


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("utf-8", "Bestellung Nr. 4711 \u2013 Größe"),
        ("iso-8859-1", "Commande n° 4711 à régler"),
        ("koi8-r", "Заказ на поставку 4711"),
        ("shift_jis", "注文書 4711 号"),
    ],
)
def test_rfc2047_subject_in_any_charset(charset: str, text: str) -> None:
    subject = f"=?{charset}?B?{b64(text, charset)}?="
    mail = read_message(raw(f"Subject: {subject}", "From: a@b.example", body="x"))
    assert mail.subject == text
    assert mail.defects == ()


def test_rfc2047_q_encoding_and_adjacent_words() -> None:
    subject = "=?iso-8859-1?Q?PO_4711_f=FCr?= =?utf-8?q?_M=C3=BCller?= and more"
    mail = read_message(raw(f"Subject: {subject}", body="x"))
    assert mail.subject == "PO 4711 für Müller and more"


def test_folded_subject_is_unfolded() -> None:
    mail = read_message(raw("Subject: Purchase order\r\n 4711 attached", body="x"))
    assert mail.subject == "Purchase order 4711 attached"


def test_unknown_charset_in_subject_is_best_effort_with_defect() -> None:
    mail = read_message(raw("Subject: =?x-foo?Q?PO_4711_caf=C3=A9?=", body="x"))
    assert mail.subject == "PO 4711 café"
    assert has_defect(mail, "unknown charset 'x-foo' in the subject")


def test_cr_lf_nul_removed_from_subject() -> None:
    encoded = base64.b64encode(b"PO 4711\r\nBcc: victim@x.example\x00!").decode()
    mail = read_message(raw(f"Subject: =?utf-8?B?{encoded}?=", body="x"))
    # The line break separates the words; the NUL goes; no header can be smuggled in.
    assert mail.subject == "PO 4711 Bcc: victim@x.example!"


def test_raw_8bit_subject_utf8_and_latin1() -> None:
    utf8 = b"Subject: Gr\xc3\xb6\xc3\x9fe 4711\r\n\r\nx"
    assert read_message(utf8).subject == "Größe 4711"
    latin1 = read_message(b"Subject: Gr\xf6\xdfe 4711\r\n\r\nx")
    assert latin1.subject == "Größe 4711"
    assert has_defect(latin1, "not UTF-8")


def test_one_megabyte_header_line_is_cut_quickly() -> None:
    big = "PO " + "x" * 1_000_000
    data = raw(f"Subject: {big}", f"X-Junk: {big}", "From: a@b.example", body="body")
    started = time.perf_counter()
    mail = read_message(data)
    assert time.perf_counter() - started < 2.0
    assert 0 < len(mail.subject) <= 64 * 1024
    assert mail.subject.startswith("PO xxx")
    assert has_defect(mail, "Subject header longer than")
    assert mail.text_body == "body"
    assert mail.sender == "a@b.example"


def test_one_megabyte_from_header_gives_no_sender_quickly() -> None:
    started = time.perf_counter()
    mail = read_message(raw("From: " + "a" * 1_000_000 + "@b.example", body="x"))
    assert time.perf_counter() - started < 2.0
    assert mail.sender == ""
    assert has_defect(mail, "From header longer than")


def test_ids_date_and_references() -> None:
    mail = read_message(
        raw(
            "Message-ID:  <abc.123@mail.example> ",
            "In-Reply-To: <parent@mail.example> (comment)",
            "References: <root@mail.example>\r\n <parent@mail.example>",
            "Date: Tue, 5 Mar 2024 17:04:09 +0100",
            body="x",
        )
    )
    assert mail.message_id == "<abc.123@mail.example>"
    assert mail.in_reply_to == "<parent@mail.example>"
    assert mail.references == ("<root@mail.example>", "<parent@mail.example>")
    assert mail.date == "2024-03-05T16:04:09+00:00"


def test_missing_and_bad_dates() -> None:
    assert read_message(raw("Subject: x", body="x")).date is None
    unknown_zone = read_message(raw("Date: Tue, 5 Mar 2024 17:04:09 -0000", body="x"))
    assert unknown_zone.date == "2024-03-05T17:04:09+00:00"
    bad = read_message(raw("Date: yesterday at noon", body="x"))
    assert bad.date is None
    assert has_defect(bad, "unreadable Date header")


# --- From (CVE-2023-27043 class) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "sender", "name"),
    [
        ("Bob Smith <Bob@Good.Example>", "bob@good.example", "Bob Smith"),
        ("bob@good.example", "bob@good.example", ""),
        ("=?utf-8?q?Jos=C3=A9_P=C3=A9rez?= <jose@x.example>", "jose@x.example", "José Pérez"),
        ('"Smith, Bob" <bob@good.example>', "bob@good.example", "Smith, Bob"),
    ],
)
def test_plain_from_addresses(header: str, sender: str, name: str) -> None:
    mail = read_message(raw(f"From: {header}", body="x"))
    assert (mail.sender, mail.sender_name) == (sender, name)
    assert mail.defects == ()


def _mail_parser_reading(header: str) -> tuple[tuple[tuple[str, str], ...], frozenset[str]]:
    diagnostics: list[dict[str, object]] = []
    found = get_addresses(header, defects=diagnostics, decode_names=True)
    problems = {p for d in diagnostics for p in str(d.get("reason", "")).split(",")}
    return tuple((str(n), str(a)) for n, a in found if a), frozenset(problems - {""})


@pytest.mark.parametrize(
    "header",
    [
        "Bob Smith <Bob@Good.Example>",
        "Bob   Smith\t<bob@good.example>",
        "<bob@good.example>",
        " bob.smith+orders@mail.good.example ",
        '"Smith, Bob (Purchasing)" <bob@good.example>',
        '"" <bob@good.example>',
        "O'Neil Smith <bob@good.example>",
        "=?utf-8?q?Jos=C3=A9_P=C3=A9rez?= <jose@x.example>",
        "=?utf-8?b?SsO2cmcgQsOkY2tlcg==?=  =?utf-8?q?_GmbH?= <j@x.example>",
        "=?windows-1252?q?S=F8rensen=2C_Siobh=E1n?= <s@x.example>",
    ],
)
def test_plain_from_shapes_are_read_as_mail_parser_reads_them(header: str) -> None:
    """The fast path for plain From headers (``mime._plain_address``) takes these, and gives
    what mail-parser gives, with no problem seen."""
    plain = _plain_address(header)
    assert plain is not None
    assert _mail_parser_reading(header) == ((plain,), frozenset())


@pytest.mark.parametrize(
    "header",
    [
        '"alice@evil.example" <bob@good.example>',
        "alice@evil.example, bob@good.example",
        "a..b@good.example",
        "=?utf-8?q?=E2=80=8B?= <bob@good.example>",  # a zero-width space for a name
        "=?x-unknown?q?abc?= <bob@good.example>",
        "=?utf-8?q?a?=b <bob@good.example>",
        "Bob (Purchasing) <bob@good.example>",
        "Bob Smith Jr. <bob@good.example>",
    ],
)
def test_other_from_shapes_go_to_mail_parser(header: str) -> None:
    assert _plain_address(header) is None


_ATEXT = st.text(alphabet="abcXYZ019!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=6)


@given(
    words=st.lists(_ATEXT, max_size=3),
    spaces=st.sampled_from([" ", "  ", "\t"]),
    quoted=st.booleans(),
    local=st.lists(_ATEXT, min_size=1, max_size=3),
    domain=st.lists(_ATEXT, min_size=1, max_size=3),
)
@settings(max_examples=300, deadline=None)
def test_fast_from_path_agrees_with_mail_parser(
    words: list[str], spaces: str, quoted: bool, local: list[str], domain: list[str]
) -> None:
    address = ".".join(local) + "@" + ".".join(domain)
    name = spaces.join(words)
    header = f'"{name}" <{address}>' if quoted else f"{name}{spaces}<{address}>"
    plain = _plain_address(header)
    if plain is not None:
        assert _mail_parser_reading(header) == ((plain,), frozenset())


@pytest.mark.parametrize(
    "header",
    [
        "alice@a.example@b.example",
        "<alice@evil.example> <bob@good.example>",
        "Alice <alice@evil.example>bob@good.example",
        "alice@evil.example, bob@good.example",
        "bob@good.example)<alice@evil.example>",
        "Big Bug bb@bug.example",
        "undisclosed",
        "Kessler, Sabine <sabine@kessler.example>, bob@good.example",
        "Kessler, bob@good.example <sabine@kessler.example>",
    ],
)
def test_ambiguous_or_invalid_from_gives_no_sender(header: str) -> None:
    mail = read_message(raw(f"From: {header}", body="x"))
    assert mail.sender == ""
    assert has_defect(mail, "From")


def test_an_unquoted_last_first_name_is_one_sender() -> None:
    """ "Kessler, Sabine <sabine@…>": the quotes the comma needs are missing; mail clients show
    one sender, and there is only one address."""
    mail = read_message(raw("From: Kessler, Sabine <Sabine@Kessler.example>", body="x"))
    assert (mail.sender, mail.sender_name) == ("sabine@kessler.example", "Kessler, Sabine")
    assert "the From display name has an unquoted comma; read as one name" in mail.defects
    assert mail.notes == ()  # not a reason a clerk is shown


def test_address_shaped_display_name_is_not_the_sender() -> None:
    mail = read_message(raw('From: "alice@evil.example" <bob@good.example>', body="x"))
    assert mail.sender == "bob@good.example"
    assert has_defect(mail, "looks like another address")


def test_two_from_headers_give_no_sender() -> None:
    mail = read_message(raw("From: alice@evil.example", "From: bob@good.example", body="x"))
    assert mail.sender == ""
    assert has_defect(mail, "more than one From header")


# --- bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "charset", "text"),
    [
        ("shift_jis", "shift_jis", "発注番号\uff1aTS-2411-0062 をお願いします"),
        ("iso-2022-jp", "shift_jis", "発注番号\uff1aTS-2411-0062 をお願いします"),
        ("windows-1250", "windows-1250", "W załączeniu zamówienie nr ZD/2024/11/0502"),
    ],
)
def test_an_undeclared_body_is_read_in_the_language_its_subject_declares(
    declared: str, charset: str, text: str
) -> None:
    """An in-house mailer sends 8-bit text without a charset; its encoded subject names one (or
    7-bit Japanese, ISO-2022-JP, whose 8-bit kin is Shift_JIS)."""
    subject = f"=?{declared}?B?{b64(text[:6], declared)}?="
    data = (
        f"From: a@b.example\r\nSubject: {subject}\r\nContent-Type: text/plain\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + text.encode(charset)
    mail = read_message(data)
    assert mail.text_body == text
    assert has_defect(mail, f"(read as {charset}: the message declares {declared} elsewhere)")


def test_an_undeclared_body_without_a_hint_is_read_as_cp1252() -> None:
    data = b"From: a@b.example\r\nSubject: x\r\n\r\nPreis: 12,50 \x80"
    mail = read_message(data)
    assert mail.text_body == "Preis: 12,50 \u20ac"
    assert has_defect(mail, "(read as cp1252)")


@pytest.mark.parametrize(("codec", "name"), [("shift_jis", "shift_jis"), ("euc_jp", "euc-jp")])
def test_an_undeclared_japanese_body_without_a_hint_is_read_as_japanese(
    codec: str, name: str
) -> None:
    """No charset anywhere, as some in-house mailers send: the kana tell Japanese apart."""
    text = "ご注文ありがとうございます。発注番号 TS-2411-0062 を確認しました。"
    data = b"From: a@b.example\r\nSubject: order\r\n\r\n" + text.encode(codec)
    mail = read_message(data)
    assert mail.text_body == text
    assert has_defect(mail, f"(read as {name})")


@given(
    st.text(
        alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz ÄÖÜäöüßéèêàâçñåøæ€,.-0123456789"),
        max_size=200,
    )
)
@settings(max_examples=300, deadline=None)
def test_undeclared_western_text_is_never_taken_for_japanese(text: str) -> None:
    raw = text.encode("cp1252")
    mail = read_message(b"From: a@b.example\r\nSubject: x\r\n\r\n" + raw)
    assert not has_defect(mail, "(read as shift_jis)")
    assert not has_defect(mail, "(read as euc-jp)")


def test_plain_and_html_alternatives() -> None:
    msg = MIMEMultipart("alternative")
    msg["Subject"] = "x"
    msg.attach(MIMEText("Plain PO 4711", "plain", "utf-8"))
    msg.attach(MIMEText("<p>Html <b>PO</b>&nbsp;4711</p>", "html", "utf-8"))
    mail = read_message(msg.as_bytes())
    assert mail.text_body == "Plain PO 4711"
    assert mail.html_text == "Html PO 4711"
    assert mail.attachments == ()


HTML = """<html><head><title>Title PO 1</title><style>p {color: red}</style></head>
<body><script>var po = "PO 666";</script>
<p>Dear&nbsp;buyer,<br>your order &amp; invoice &lt;PO&gt; &#8364;5 &euro;</p>
<div>Line one</div><div>Line   two
 wrapped</div>
<table><tr><th>Item</th><th>PO</th></tr>
<tr><td>Widget</td><td>PO-4711</td></tr></table>
<ul><li>first</li><li>second</li></ul></body></html>"""


def test_html_to_text() -> None:
    mail = read_message(MIMEText(HTML, "html", "utf-8").as_bytes())
    assert mail.html_text == (
        "Dear buyer,\nyour order & invoice <PO> €5 €\n\nLine one\nLine two wrapped\n\n"
        "Item | PO\nWidget | PO-4711\n\nfirst\nsecond"
    )
    assert "666" not in mail.html_text
    assert "Title" not in mail.html_text
    assert "color" not in mail.html_text


@pytest.mark.parametrize(
    "hostile",
    [
        "<a " * 20_000,
        "</" * 30_000,
        "<?" * 30_000,
        "<!--" + "-> <!-- " * 10_000,
        "<![cdata[ > " * 10_000,
        "<p>" + "<" * 200_000,
        '<a b="' * 10_000 + ">",
        "<![cdata[ <![if x]> " * 5_000,
        "<![foo[ " * 10_000 + "]]>",
    ],
)
def test_hostile_html_is_linear(hostile: str) -> None:
    data = MIMEText("PO 4711 " + hostile, "html", "utf-8").as_bytes()
    started = time.perf_counter()
    mail = read_message(data)
    assert time.perf_counter() - started < 3.0
    assert mail.html_text.startswith("PO 4711")


def test_marked_sections() -> None:
    html = "<p>PO 4711</p><![foo[ x ]]><![if !mso]>y<![endif]><![CDATA[z]]><p>end</p>"
    mail = read_message(MIMEText(html, "html").as_bytes())
    assert mail.html_text == "PO 4711\n\n<![foo[ x ]]>yz\n\nend"


def test_quoted_printable_body() -> None:
    data = raw(
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        body="Bestellnummer=3D PO-4711 f=C3=BCr M=C3=BCller, eine sehr lange =\r\nZeile\r\n",
    )
    assert (
        read_message(data).text_body == "Bestellnummer= PO-4711 für Müller, eine sehr lange Zeile\n"
    )


def test_broken_base64_text_is_a_defect_not_an_exception() -> None:
    data = raw(
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        body="UE8gNDcxMQ=!=*\r\n",
    )
    mail = read_message(data)
    assert mail.text_body.startswith("PO 4711")
    assert has_defect(mail, "bad base64 in the message")


def test_unknown_charset_in_body() -> None:
    data = raw("Content-Type: text/plain; charset=x-foo", body="PO 4711")
    mail = read_message(data)
    assert mail.text_body == "PO 4711"
    assert has_defect(mail, "unknown charset 'x-foo' in the message")


@pytest.mark.parametrize(
    ("charset", "body", "text"),
    [
        ("us-ascii", "café 4711".encode(), "café 4711"),
        ("utf-8", b"caf\xe9 4711", "café 4711"),
        ("iso-8859-1", "café 4711".encode(), "café 4711"),
        (None, b"caf\xe9 \x80 4711", "café € 4711"),
    ],
)
def test_mislabelled_8bit_text(charset: str | None, body: bytes, text: str) -> None:
    ctype = f"text/plain; charset={charset}" if charset else "text/plain"
    head = ("From: a@b.example", f"Content-Type: {ctype}", "Content-Transfer-Encoding: 8bit")
    mail = read_message(raw(*head) + body)
    assert mail.text_body == text
    (defect,) = mail.defects
    assert "8-bit text" in defect
    assert "in the message" in defect


def test_correct_8bit_charsets_have_no_defect() -> None:
    data = raw("From: a@b.example", "Content-Type: text/plain; charset=koi8-r") + "Заказ".encode(
        "koi8-r"
    )
    mail = read_message(data)
    assert (mail.text_body, mail.defects) == ("Заказ", ())


def test_missing_closing_boundary() -> None:
    data = raw(
        "Content-Type: multipart/mixed; boundary=XYZ",
        body="--XYZ\r\nContent-Type: text/plain\r\n\r\nPO 4711 in an unterminated part\r\n",
    )
    mail = read_message(data)
    assert "PO 4711" in mail.text_body
    assert has_defect(mail, "missing closing MIME boundary")


def test_text_attachment_is_not_body() -> None:
    data = with_attachment(b"PO 9999", ctype="text/plain", name="notes.txt")
    mail = read_message(data)
    assert mail.text_body.strip() == "see attached"
    assert [(a.filename, a.content_type, a.is_pdf, a.data) for a in mail.attachments] == [
        ("notes.txt", "text/plain", False, b"")
    ]


# --- attachments -----------------------------------------------------------------------------


def test_pdf_as_octet_stream_with_bin_name() -> None:
    mail = read_message(with_attachment(PDF, name="scan0001.bin"))
    (att,) = mail.attachments
    assert (att.filename, att.content_type, att.is_pdf, att.data) == (
        "scan0001.bin",
        "application/octet-stream",
        True,
        PDF,
    )
    assert (att.inline, att.forwarded) == (False, False)


def test_pdf_with_wrong_extension_and_type() -> None:
    (att,) = read_message(with_attachment(PDF, ctype="image/jpeg", name="photo.jpg")).attachments
    assert att.is_pdf
    assert att.data == PDF


def test_pdf_magic_after_junk_within_1024_bytes() -> None:
    junk = b"\x00garbage header\n" * 50
    assert read_message(with_attachment(junk + PDF, name="a.pdf")).attachments[0].is_pdf
    far = b"x" * 1100 + PDF
    assert not read_message(with_attachment(far, name="b.pdf")).attachments[0].is_pdf


def test_zip_named_pdf_is_not_pdf_and_keeps_no_data() -> None:
    (att,) = read_message(
        with_attachment(ZIP, ctype="application/pdf", name="order.pdf")
    ).attachments
    assert (att.filename, att.content_type, att.is_pdf, att.data) == (
        "order.pdf",
        "application/pdf",
        False,
        b"",
    )


def test_a_file_called_a_pdf_that_is_none_is_named_as_unread() -> None:
    """It may hold the PO: a clerk must open it, so it is not read over in silence."""
    mail = read_message(with_attachment(ZIP, ctype="application/pdf", name="PO_attached.pdf"))
    assert any("PO_attached.pdf is called a PDF but is not one" in u for u in mail.unread)


def test_a_base64_pdf_declared_8bit_is_read_as_base64() -> None:
    encoded = base64.encodebytes(PDF).decode("ascii")
    data = (
        "From: buyer@customer.example\r\nSubject: order\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        "--b\r\nContent-Type: application/pdf; name=Bestellung.pdf\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        f"{encoded}\r\n--b--\r\n"
    ).encode("ascii")
    mail = read_message(data)
    (att,) = mail.attachments
    assert (att.filename, att.is_pdf, att.data) == ("Bestellung.pdf", True, PDF)
    assert mail.unread == ()
    assert has_defect(mail, "is base64 but declared 8bit; read as base64")


def test_an_unnamed_attachment_is_named_by_its_type() -> None:
    msg = EmailMessage()
    msg["From"] = "buyer@customer.example"
    msg.set_content("see the invitation")
    msg.add_attachment(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", maintype="text", subtype="calendar")
    msg.add_attachment(b"\x89PNG\r\n", maintype="image", subtype="png")
    names = [a.filename for a in read_message(msg.as_bytes()).attachments]
    assert names == ["attachment-1.ics", "attachment-2.png"]


@pytest.mark.parametrize(
    ("data", "ctype", "name"),
    [
        (b'Invoice,PO Number,Amount\r\nINV-1,78-45120,"1,200.00"\r\n', "text/csv", "r.csv"),
        (
            b"Invoice;PO Number;Amount\nINV-1;78-45120;1.200,00\n",
            "application/octet-stream",
            "r.csv",
        ),
        (
            b"\xef\xbb\xbfInvoice\tPO Number\tAmount\nINV-1\t78-45120\t1200.00\n",
            "text/csv",
            "r.tsv",
        ),
    ],
)
def test_a_csv_attachment_is_read_as_table_rows(data: bytes, ctype: str, name: str) -> None:
    (att,) = read_message(with_attachment(data, ctype=ctype, name=name)).attachments
    assert att.text.splitlines()[0] == "Invoice | PO Number | Amount"
    assert att.text.splitlines()[1].startswith("INV-1 | 78-45120 | 1")


@pytest.mark.parametrize(
    ("data", "ctype", "name"),
    [
        ("Bestellnummer: BST-000464\r\nMenge: 12\r\n".encode("cp1252"), "text/plain", "B.txt"),
        ("Bestellnummer: BST-000464\nGrüße\n".encode(), "application/octet-stream", "B.txt"),
    ],
)
def test_a_text_attachment_is_read_as_text(data: bytes, ctype: str, name: str) -> None:
    (att,) = read_message(with_attachment(data, ctype=ctype, name=name)).attachments
    assert att.text.splitlines()[0] == "Bestellnummer: BST-000464"
    assert "\r" not in att.text


def test_a_calendar_invitation_is_read_as_text_lines() -> None:
    """A delivery slot booked by invitation: folded lines joined, escapes undone."""
    ics = (
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Delivery slot DC Leeds\\, PO 24-\r\n 1187\r\n"
        b"DESCRIPTION:Gate 4\\nBooking ref BK-55\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (att,) = read_message(with_attachment(ics, ctype="text/calendar")).attachments
    assert att.filename == "attachment-1.ics"
    assert "SUMMARY:Delivery slot DC Leeds, PO 24-1187" in att.text.splitlines()
    assert "Booking ref BK-55" in att.text.splitlines()


def test_large_image_is_only_sniffed() -> None:
    image = b"\x89PNG\r\n\x1a\n" + random.Random(1).randbytes(3_000_000)
    started = time.perf_counter()
    (att,) = read_message(with_attachment(image, ctype="image/png", name="big.png")).attachments
    assert time.perf_counter() - started < 2.0
    assert (att.filename, att.is_pdf, att.data) == ("big.png", False, b"")


def test_inline_pdf_counts() -> None:
    data = with_attachment(PDF, ctype="application/pdf", name="po.pdf", disposition="inline")
    (att,) = read_message(data).attachments
    assert (att.is_pdf, att.inline, att.data) == (True, True, PDF)


def test_unnamed_attachments_get_synthesized_names() -> None:
    msg = MIMEMultipart()
    msg.attach(MIMEText("body"))
    msg.attach(MIMEApplication(PDF))
    msg.attach(MIMEApplication(ZIP))
    mail = read_message(msg.as_bytes())
    assert [(a.filename, a.is_pdf) for a in mail.attachments] == [
        ("attachment-1.pdf", True),
        ("attachment-2.bin", False),
    ]


def test_rfc2231_filenames() -> None:
    single = raw(
        "Content-Type: application/octet-stream",
        "Content-Disposition: attachment; filename*=utf-8''Bestellung%20%E2%84%96%204711.pdf",
        "Content-Transfer-Encoding: base64",
        body=base64.b64encode(PDF).decode(),
    )
    assert read_message(single).attachments[0].filename == "Bestellung № 4711.pdf"
    continued = raw(
        "Content-Type: application/pdf",
        "Content-Disposition: attachment;",
        " filename*0*=iso-8859-1''Auftrag%20f%FCr%20;",
        ' filename*1="M\u00fcller.pdf"'.replace("\u00fc", "ue"),
        "Content-Transfer-Encoding: base64",
        body=base64.b64encode(PDF).decode(),
    )
    assert read_message(continued).attachments[0].filename == "Auftrag für Mueller.pdf"


def test_rfc2047_filename_in_content_type_name() -> None:
    data = raw(
        'Content-Type: application/pdf; name="=?utf-8?B?' + b64("Заказ 4711.pdf", "utf-8") + '?="',
        "Content-Transfer-Encoding: base64",
        body=base64.b64encode(PDF).decode(),
    )
    (att,) = read_message(data).attachments
    assert (att.filename, att.is_pdf) == ("Заказ 4711.pdf", True)


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\..\\evil.pdf", "evil.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("po\r\n4711\x00.pdf", "po4711.pdf"),
        ("..", "attachment-1.pdf"),
        ("...hidden.pdf", "hidden.pdf"),
        ('what?<>:"|*.pdf', "what_______.pdf"),
        ("x" * 500 + ".pdf", "x" * 146 + ".pdf"),
    ],
)
def test_filenames_are_sanitized(name: str, clean: str) -> None:
    encoded = base64.b64encode(name.encode()).decode()
    data = raw(
        f'Content-Type: application/pdf; name="=?utf-8?B?{encoded}?="',
        "Content-Transfer-Encoding: base64",
        body=base64.b64encode(PDF).decode(),
    )
    (att,) = read_message(data).attachments
    assert att.filename == clean


def test_broken_base64_pdf_is_a_defect() -> None:
    good = base64.b64encode(PDF).decode()
    data = raw(
        "Content-Type: multipart/mixed; boundary=B",
        body="--B\r\nContent-Type: text/plain\r\n\r\nsee pdf\r\n"
        "--B\r\nContent-Type: application/pdf; name=po.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + good[:40] + "!!*\r\n" + good[40:-1] + "\r\n"
        "--B--\r\n",
    )
    mail = read_message(data)
    (att,) = mail.attachments
    assert att.is_pdf
    assert has_defect(mail, "bad base64 in part 2")


def test_pdf_inside_forwarded_message() -> None:
    inner = EmailMessage()
    inner["From"] = "customer@buyer.example"
    inner["Subject"] = "PO 4711 original"
    inner.set_content("Original order text PO 4711")
    inner.add_attachment(PDF, maintype="application", subtype="pdf", filename="po4711.pdf")
    outer = EmailMessage()
    outer["From"] = "colleague@us.example"
    outer["Subject"] = "Fwd: PO 4711 original"
    outer.set_content("FYI, see the forwarded order")
    outer.add_attachment(inner)
    mail = read_message(outer.as_bytes())
    assert mail.sender == "colleague@us.example"
    assert "Original order text" not in mail.text_body
    (fwd,) = mail.forwarded
    assert (fwd.quoted, fwd.origin) == (True, "forwarded")
    assert fwd.text.startswith("Subject: PO 4711 original\n\n")
    assert "Original order text PO 4711" in fwd.text
    (att,) = mail.attachments
    assert (att.filename, att.is_pdf, att.forwarded, att.data) == ("po4711.pdf", True, True, PDF)


def _nested_rfc822(levels: int) -> bytes:
    msg = b"Content-Type: text/plain\r\nSubject: level %d\r\n\r\ninnermost PO 4711\r\n" % levels
    for level in range(levels - 1, -1, -1):
        msg = (b"Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n" % level) + msg
    return b"From: a@b.example\r\n" + msg


def test_rfc822_nested_50_deep_is_capped() -> None:
    mail = read_message(_nested_rfc822(50))
    assert mail.subject == "level 0"
    assert 1 <= len(mail.forwarded) <= 10
    assert not any("innermost" in p.text for p in mail.forwarded)
    assert has_defect(mail, "nested deeper than 10 levels")
    deeper = read_message(_nested_rfc822(50), limits=MimeLimits(max_depth=60))
    assert "innermost PO 4711" in deeper.forwarded[-1].text


def test_multipart_nested_beyond_the_parser_stack_reads_headers() -> None:
    body = b"innermost\r\n"
    for i in range(3000):
        body = (
            b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
            + body
            + b"--b%d--\r\n" % i
        )
    data = b"Subject: deep\r\n" + body
    started = time.perf_counter()
    mail = read_message(data)
    assert time.perf_counter() - started < 5.0
    assert mail.subject == "deep"
    assert has_defect(mail, "nested too deeply")


def test_ten_thousand_parts_are_capped_fast() -> None:
    parts = "".join(f"--B\r\nContent-Type: text/plain\r\n\r\nline {i}\r\n" for i in range(10_000))
    data = raw("Content-Type: multipart/mixed; boundary=B", body=parts + "--B--\r\n")
    started = time.perf_counter()
    mail = read_message(data)
    assert time.perf_counter() - started < 3.0
    assert "line 0\n" in mail.text_body
    assert "line 5000" not in mail.text_body
    assert has_defect(mail, "more than 1000 MIME parts")


def test_attachments_are_capped() -> None:
    msg = MIMEMultipart()
    for i in range(150):
        msg.attach(MIMEApplication(PDF, Name=f"po{i}.pdf"))
    mail = read_message(msg.as_bytes(), limits=MimeLimits(max_attachments=100))
    assert len(mail.attachments) == 100
    assert mail.attachments[-1].filename == "po99.pdf"
    assert has_defect(mail, "more than 100 attachments")


def test_defects_are_capped() -> None:
    parts = "".join(
        f"--B\r\nContent-Type: text/plain; charset=x-{i}\r\n\r\nline\r\n" for i in range(200)
    )
    head = ("From: a@b.example", "Content-Type: multipart/mixed; boundary=B")
    mail = read_message(raw(*head, body=parts + "--B--"))
    assert len(mail.defects) == 51
    assert mail.defects[-1] == "150 more defects not listed"


# --- never raising -------------------------------------------------------------------------


def test_empty_message() -> None:
    mail = read_message(b"")
    assert (mail.sender, mail.subject, mail.text_body, mail.attachments, mail.size) == (
        "",
        "",
        "",
        (),
        0,
    )
    assert has_defect(mail, "empty")


def test_size_is_the_raw_length() -> None:
    data = raw("Subject: x", body="hello")
    assert read_message(data).size == len(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(read_message(data), Email)


_TOKENS = [
    "Content-Type: multipart/mixed; boundary=B\r\n",
    "Content-Type: message/rfc822\r\n",
    "Content-Type: text/html; charset=x-bad\r\n",
    "Content-Type: application/pdf; name*=utf-8''%FF%00.pdf\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n",
    'Content-Disposition: attachment; filename="../x"\r\n',
    'From: "a@b" <c@d>, e@f@g\r\n',
    "Subject: =?utf-8?B?////?= =?x?Q?=FF?=\r\n",
    "Date: Mon, 99 Foo 99999 99:99:99 +9999\r\n",
    "\r\n",
    "--B\r\n",
    "--B--\r\n",
    "JVBERi0xLjQK\r\n",
    "<![if x]><a <table><td>1<td>2</table>=\r\n",
    "\udcff\udcfe 8-bit\r\n",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=60))
def test_mime_shaped_garbage_never_raises(tokens: list[str]) -> None:
    data = "".join(tokens).encode("utf-8", "surrogateescape")
    mail = read_message(data)
    assert not any(d.startswith(("internal error", "could not read")) for d in mail.defects)


@pytest.mark.parametrize(
    ("header", "auto"),
    [
        ("Auto-Submitted: auto-replied", True),
        ("Auto-Submitted: auto-replied (vacation)", True),
        ("X-Autoreply: yes", True),
        ("X-Autorespond: Out of office", True),
        ("Precedence: auto_reply", True),
        ("Auto-Submitted: auto-generated", False),  # a notification, not a reply
        ("Auto-Submitted: no", False),
        ("Precedence: bulk", False),
    ],
)
def test_automatic_replies_are_told_by_their_headers(header: str, auto: bool) -> None:
    raw = f"{header}\nFrom: a@b.example\nSubject: Re: PO 4500123456\n\nAway until Monday.\n"
    assert read_message(raw.encode()).auto_reply is auto


def test_vietnamese_windows_1258_is_read_with_composed_letters() -> None:
    """windows-1258 writes tone marks as combining characters: "hủy" (cancel) comes out as u,
    a combining hook and y; composed, it reads as typed in UTF-8 mail."""
    written = "bên em hu\u0309y PO SGX-PO-25-0188 và thay bă\u0300ng PO SGX-PO-25-0201"
    said = "bên em h\u1ee7y PO SGX-PO-25-0188 và thay b\u1eb1ng PO SGX-PO-25-0201"
    encoded = base64.b64encode(written.encode("cp1258")).decode("ascii")
    mail = read_message(
        raw(
            "From: a@b.example",
            "Content-Type: text/plain; charset=windows-1258",
            "Content-Transfer-Encoding: base64",
            body=encoded,
        )
    )
    assert mail.text_body.strip() == said
