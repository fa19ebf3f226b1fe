"""Writes TNEF (winmail.dat) files as Outlook does, from the format's description ([MS-OXTNEF]):
a signature, a key, then objects of level (message 1, attachment 2), attribute id, length, data
and a checksum. Enough for a message body and attached files with 8.3 titles."""

from __future__ import annotations

import struct
from collections.abc import Sequence

SIGNATURE = 0x223E9F78
_MESSAGE, _ATTACHMENT = 1, 2
# attribute ids: the low 16 bits name it, the high 16 bits give its type
ATT_TNEF_VERSION = 0x00089006
ATT_OEM_CODEPAGE = 0x00069007
ATT_MESSAGE_CLASS = 0x00078008
ATT_BODY = 0x0002800C
ATT_ATTACH_REND_DATA = 0x00069002
ATT_ATTACH_TITLE = 0x00018010
ATT_ATTACH_DATA = 0x0006800F


def tnef_object(level: int, attribute: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return (
        struct.pack("<BHHI", level, attribute & 0xFFFF, attribute >> 16, len(data))
        + data
        + struct.pack("<H", checksum)
    )


def winmail(files: Sequence[tuple[str, bytes]], *, body: str = "") -> bytes:
    """A winmail.dat holding ``files`` (8.3 names, as attAttachTitle) and a plain ``body``."""
    out = [struct.pack("<IH", SIGNATURE, 0x1234)]
    out.append(tnef_object(_MESSAGE, ATT_TNEF_VERSION, struct.pack("<I", 0x10000)))
    out.append(tnef_object(_MESSAGE, ATT_OEM_CODEPAGE, struct.pack("<II", 1252, 0)))
    out.append(tnef_object(_MESSAGE, ATT_MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\x00"))
    if body:
        out.append(tnef_object(_MESSAGE, ATT_BODY, body.encode("cp1252") + b"\x00"))
    for name, data in files:
        out.append(tnef_object(_ATTACHMENT, ATT_ATTACH_REND_DATA, b"\x01\x00" + b"\xff" * 12))
        out.append(tnef_object(_ATTACHMENT, ATT_ATTACH_TITLE, name.encode("cp1252") + b"\x00"))
        out.append(tnef_object(_ATTACHMENT, ATT_ATTACH_DATA, data))
    return b"".join(out)
