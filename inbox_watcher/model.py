"""Value objects of the daemon: message keys, statuses, outcomes and PO records.

These travel between mailbox, triage, store and digest. They are frozen; money is Decimal.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from extractors.suggest import Lookalikes
from extractors.types import Candidate

LinkHow = Literal["found", "thread", "manual"]


class Status(StrEnum):
    LINKED = "linked"  # at least one well-formed PO that exists for the customer
    UNKNOWN = "unknown"  # well-formed, not in the records
    MALFORMED = "malformed"  # something labelled as a PO that is not a well-formed number
    MISSING = "missing"  # no PO at all
    AMBIGUOUS = "ambiguous"  # two or more different known POs of the customer; linked to all
    UNREADABLE = "unreadable"  # the message (or its only source) could not be read

    @property
    def flagged(self) -> bool:
        return self is not Status.LINKED


class Review(StrEnum):
    """What a person did with a flagged message."""

    OPEN = "open"
    RESOLVED = "resolved"  # linked by hand to a PO
    DISMISSED = "dismissed"  # not a PO matter


@dataclass(frozen=True, slots=True, order=True)
class MessageKey:
    """Where a message lives on the server: unique per message for all time."""

    account: str  # "user@host"
    folder: str
    uidvalidity: int
    uid: int

    def __str__(self) -> str:
        return f"{self.account}/{self.folder};UIDVALIDITY={self.uidvalidity}/;UID={self.uid}"


@dataclass(frozen=True, slots=True)
class JudgedCandidate:
    """A candidate with what the records say about it."""

    candidate: Candidate
    known: bool  # exists in the PO records of the message's customer


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one message."""

    status: Status
    po_numbers: tuple[str, ...]  # canonical numbers the message is linked to
    reasons: tuple[str, ...]  # plain words, each a full sentence a person can act on
    customer: str | None
    candidates: tuple[JudgedCandidate, ...] = ()
    suggestions: tuple[str, ...] = ()  # "did you mean" PO numbers
    link_how: LinkHow = "found"  # "found" in the message | "thread" inherited | "manual"
    owners: tuple[tuple[str, str], ...] = ()  # (customer, number) of links inherited by thread
    ignored: str | None = None  # the [ignore] rule that closes this flag at once, in words
    unknown: tuple[str, ...] = ()  # the well-formed numbers not in the records (`unknown`)

    @property
    def needs_review(self) -> bool:
        """Flagged, and no [ignore] rule closed the flag."""
        return self.status.flagged and self.ignored is None


@dataclass(frozen=True, slots=True)
class ProcessedMessage:
    """Everything recorded for one message, in one transaction with the folder checkpoint."""

    key: MessageKey
    message_id: str | None
    sender: str
    subject: str
    date: str | None  # ISO 8601
    content_hash: str  # sha256 hex of the raw bytes
    size: int
    in_reply_to: str | None
    references: tuple[str, ...]
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class PoRecord:
    """A purchase order as the ERP knows it."""

    po_number: str  # canonical
    customer: str  # the customer file's stem
    status: str = "open"  # "open" | "closed" | anything the ERP uses
    amount: Decimal | None = None
    currency: str | None = None
    issued_on: dt.date | None = None
    buyer: str | None = None

    @property
    def closed(self) -> bool:
        status = self.status.strip().lower()
        return status in CLOSED_STATUSES or status in CLOSED_STATUSES_ABROAD


# A PO record whose status is one of these (any case) is closed; any other status is open.
CLOSED_STATUSES = ("closed", "cancelled", "canceled", "complete", "completed")
# The same words as ERP exports in other languages write them (German, French, Spanish,
# Portuguese, Italian, Dutch, Nordic, Polish, Czech).
CLOSED_STATUSES_ABROAD = (
    "erledigt", "geschlossen", "abgeschlossen", "storniert", "fermé", "clôturé", "annulé",
    "soldé", "cerrado", "cancelado", "anulado", "completado", "fechado", "concluído", "chiuso",
    "annullato", "evaso", "gesloten", "afgesloten", "geannuleerd", "stängd", "avslutad",
    "makulerad", "lukket", "afsluttet", "annulleret", "suljettu", "zamknięte", "anulowane",
    "uzavřeno", "zrušeno",
    # feminine forms, as an "orden", "commande" or "ordine" takes them
    "fermée", "clôturée", "annulée", "soldée", "cerrada", "cancelada", "anulada", "completada",
    "finalizado", "finalizada", "fechada", "concluída", "encerrado", "encerrada", "chiusa",
    "annullata", "evasa",
    # Turkish, Greek, Hebrew, Arabic
    "kapal\u0131", "kapand\u0131", "iptal", "iptal edildi", "κλειστή", "ακυρωμένη", "סגור",
    "בוטל", "مغلق", "ملغى",
    # Russian and Ukrainian ("закрыт", "отменён", "выполнен"; "закрито", "скасовано")
    "закрыт", "закрыто", "закрыта", "отменен", "отменён", "отменено", "отменена", "аннулирован",
    "аннулировано", "выполнен", "выполнено", "исполнен", "закрито", "закритий", "скасовано",
    "скасований", "виконано", "анульовано",
)  # fmt: skip


class PoTable(dict[str, PoRecord]):
    """One customer's PO records by canonical number, with the "did you mean" index of their
    numbers built on first use (once per table: a poll judges thousands of messages against it).
    Read-only once built: the index does not follow later changes."""

    @functools.cached_property
    def lookalikes(self) -> Lookalikes:
        return Lookalikes(self.keys())
