"""winmail.dat: the files and the plain body inside an Outlook TNEF part.

Outlook and Exchange, set to "Rich Text", send a message's attachments inside one
``application/ms-tnef`` part named ``winmail.dat``; other mail programs show that file and
nothing else. A supplier's PDF invoice sent that way is only readable from inside it. The
format is decoded by ``tnefparse``; before it runs, the object framing is walked here (9 bytes
of header, the length, 2 bytes of checksum a object) so that a hostile file of many tiny objects,
which ``tnefparse`` would copy once per object (quadratic), is refused up front.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

import tnefparse  # type: ignore[import-untyped]

SIGNATURE = b"\x78\x9f\x3e\x22"
MAX_OBJECTS = 400  # a real winmail.dat holds ~10 objects and ~8 more per attached file
MAX_FILES = 50

logging.getLogger("tnefparse").setLevel(logging.ERROR)  # its warnings name no message


class TnefError(ValueError):
    """Why a winmail.dat could not be read, in plain words."""


@dataclass(frozen=True, slots=True)
class TnefFile:
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class TnefContent:
    files: tuple[TnefFile, ...]
    body: str  # the plain-text body, when the sender's program put one there ("" if not)
    html: str  # the HTML body, likewise


def is_tnef(data: bytes) -> bool:
    return data[:4] == SIGNATURE


def read_tnef(data: bytes) -> TnefContent:
    """The files and bodies of a TNEF blob; raises TnefError for anything it cannot read."""
    if not is_tnef(data):
        raise TnefError("it is not a TNEF file (its signature is missing)")
    _check_framing(data)
    try:
        tnef = tnefparse.TNEF(data, do_checksum=False)
    except Exception as exc:  # a third-party decoder on hostile bytes: any error is "damaged"
        raise TnefError("it is damaged") from exc
    files = []
    for att in tnef.attachments[:MAX_FILES]:
        payload = att.data if isinstance(att.data, bytes) else b""
        if not payload:
            continue
        try:
            name = att.long_filename() or att.name
        except Exception:  # a name in a broken code page: the file is still worth reading
            name = ""
        files.append(TnefFile(name=name if isinstance(name, str) else "", data=payload))
    return TnefContent(
        files=tuple(files), body=_text(tnef.body, tnef.codepage), html=_text(tnef.htmlbody, None)
    )


def _check_framing(data: bytes) -> None:
    if len(data) < 6:
        raise TnefError("it is cut off")
    offset, objects = 6, 0
    while offset < len(data):
        if len(data) - offset < 11:
            raise TnefError("it is cut off")
        (length,) = struct.unpack_from("<I", data, offset + 5)
        if length + 11 > len(data) - offset:
            raise TnefError("it is cut off")
        offset += length + 11
        objects += 1
        if objects > MAX_OBJECTS:
            raise TnefError(f"it holds more than {MAX_OBJECTS} objects")


def _text(value: object, codepage: str | None) -> str:
    if isinstance(value, str):
        return value.rstrip("\x00")
    if isinstance(value, bytes):
        try:
            return value.decode(codepage or "cp1252", errors="replace").rstrip("\x00")
        except LookupError:
            return value.decode("cp1252", errors="replace").rstrip("\x00")
    return ""
