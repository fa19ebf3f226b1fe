"""The verdict on one message: candidates + the PO records -> status, links and plain reasons.

Pure: no database, no clock. The rules, in order:

* Candidates of the message's own text count first; quoted reply text and forwarded messages
  count only when the message's own text has no well-formed number.
* ``ambiguous``: two or more different known POs (linked to all); ``linked``: exactly one;
  ``unknown``: well-formed numbers none of which is known (or every known one is closed and the
  message's own text names a new one: a replacement); ``malformed``: only labelled values that
  are not well-formed, or near misses written with the customer's prefix letters that are close
  to a known PO; then a reply whose thread is linked inherits that thread's POs;
  ``unreadable``: nothing found and a source could not be read; else ``missing``.
* Reasons say in plain words what was found where, what is wrong and what to do next: "did you
  mean", a number that belongs to another customer, parts that disagree, a closed PO.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence

import regex

from extractors.message import Extraction, one_per_raw
from extractors.phrases import DECOY
from extractors.rules import CustomerRules
from extractors.suggest import Lookalikes, distance, fold
from extractors.types import Candidate, Unreadable, source_words
from inbox_watcher.model import (
    CLOSED_STATUSES,
    JudgedCandidate,
    LinkHow,
    Outcome,
    PoRecord,
    PoTable,
    Status,
)

PoIndex = Mapping[str, Mapping[str, PoRecord]]  # customer -> canonical number -> record


def _where(c: Candidate) -> str:
    where = source_words(c.source, c.page)
    if c.quoted and c.source == "subject":
        return "the subject of this reply or forward"
    return f"quoted text in {where}" if c.quoted and c.source == "body" else where


def judge(
    extraction: Extraction,
    pos: PoIndex,
    *,
    rules: Mapping[str, CustomerRules] | None = None,
    thread_pos: Sequence[tuple[str, str]] = (),
    names: Mapping[str, str] | None = None,
    ignored: str | None = None,
    sender: str = "",
) -> Outcome:
    """Judge one message. ``thread_pos``: (customer, number) links of the messages it replies to;
    ``ignored``: the [ignore] rule the message matches, in words (it closes a flag at once);
    ``sender``: its From address (a look-alike of a customer's domain is named)."""
    names = names or {}
    rules = rules or {}
    routed = extraction.customer
    cands = extraction.candidates if routed else _settle_customer(extraction.candidates, pos, rules)
    settled = cands
    cands = tuple(_as_known(c, routed or c.customer, pos, rules) for c in settled)
    read_as = [c for c, was in zip(cands, settled, strict=True) if c is not was]

    def is_known(c: Candidate) -> bool:
        cust = routed or c.customer
        return c.valid and cust is not None and c.normalized in pos.get(cust, {})

    # A sender no customer's globs match (a web shop, a carrier, a colleague forwarding): a
    # number it writes without a PO label is its own unless it is a known PO of ours (a booking
    # reference that happens to fit a format); a labelled value that fits no format counts only
    # when it is near a known PO (a typo of ours).
    stranger = extraction.routed_by != "sender"
    # A number a stranger calls the reader's own order somewhere ("Your order 204517") is that
    # everywhere in the message.
    ours = {c.normalized for c in cands if stranger and c.valid and _reader_s(c)}

    def counts(c: Candidate) -> bool:
        """Weak evidence (``Candidate.weak``), and a stranger's unlabelled number or the number
        of the order it says is ours ("your order"), counts only when it is a known PO: it is
        never flagged as unknown."""
        if stranger and (not c.labelled or c.normalized in ours or _known_only(c, rules)):
            return is_known(c) and not _short_and_bare(c)
        return not c.weak or is_known(c)

    judged = tuple(JudgedCandidate(c, is_known(c)) for c in cands)
    # A token with the customer's prefix letters that its pattern does not take ("PLB-10019",
    # "Best-000466"; unlabelled and malformed): a typo when it is near a known PO, else noise,
    # named in a `missing` verdict when it has the customer's very letters.
    near_misses = [c for c in cands if not c.valid and not c.labelled]
    if near_misses:
        typos = [
            c
            for c in near_misses
            if _suggest(c.raw, routed or c.customer, pos, rules, limit=_ANY_NUMBER)
        ]
        cands = tuple(c for c in cands if c.valid or c.labelled or c in typos)
        near_misses = [c for c in near_misses if c not in typos and _same_letters(c, rules)]
    own_valid = [c for c in cands if c.valid and not c.quoted and counts(c)]
    # A reply naming, of its own, only an earlier order ("our broker asked for them on the last
    # one (KRC-PO-24540)") is about the thread's PO its subject names, not that one.
    earlier = [c for c in own_valid if _words_before(c, _EARLIER, 48) is not None]
    thread_subject = [
        c
        for c in cands
        if c.source == "subject" and c.quoted and c.valid and counts(c) and is_known(c)
    ]
    if (
        earlier
        and len(earlier) == len(own_valid)
        and any(t.normalized not in {e.normalized for e in earlier} for t in thread_subject)
    ):
        own_valid = []
        cands = tuple(c for c in cands if c not in earlier)
    else:
        earlier = []
    valid = own_valid or [c for c in cands if c.valid and counts(c)]
    # A value well-formed for one customer is no typo under another customer's rules.
    # A value inside a number well-formed for a customer is not mistyped under another's rules:
    # "2024-00530" that one customer reads after its label "PO" in "PO-2024-00530".
    valid_raws = {c.raw for c in cands if c.valid}
    inside = {c.raw for c in cands if not c.valid and any(c.raw in v for v in valid_raws)}
    valid_raws |= inside
    own_bad = [c for c in cands if not c.valid and not c.quoted and c.raw not in valid_raws]
    malformed = own_bad or (
        [c for c in cands if not c.valid and c.raw not in valid_raws] if not own_valid else []
    )
    set_aside: list[Candidate] = []
    if stranger:
        set_aside = [c for c in cands if c.valid and not c.weak and not counts(c)]
        near = [c for c in malformed if _suggest(c.raw, routed or c.customer, pos, rules)]
        set_aside += [c for c in malformed if c not in near]
        malformed = near
    customer = routed
    if stranger and not valid:
        # A stranger's own numbers say nothing about whose message it is; a typo of a known PO
        # does (it is near that customer's PO).
        customer = malformed[0].customer if malformed and not routed else None
    if not customer and valid:
        known_first = [c for c in valid if is_known(c)] or valid
        customer = known_first[0].customer

    # A reply whose only numbers are in the quoted text ("RE: PO 2024-0O815"): the thread's
    # links (found, or made by hand) say more than a quoted typo or an unknown quoted number.
    if thread_pos and not own_valid and not own_bad and not any(is_known(c) for c in valid):
        valid, malformed = [], []
    reasons: list[str] = []
    for c in _one_per_number(earlier):
        reasons.append(
            f"{_po(c.normalized)} is named as an earlier order ({_said_with(c, _EARLIER, '')}), "
            "not as this message's PO: it is about the PO of the mail it answers."
        )
    suggestions: list[str] = []
    blocking = [p for p in extraction.problems if p.blocking]
    partial = [p for p in extraction.problems if not p.blocking]

    link_how: LinkHow = "found"
    known_nums = _unique(c.normalized for c in valid if is_known(c))
    unknown_nums = _unique(c.normalized for c in valid if not is_known(c))
    # "4500012388 cancelled, replaced by 4500012608": every known PO named is closed and the
    # writer's own text names a new one: the new order is what needs a person.
    replacing = [
        n
        for n in unknown_nums
        if any(c.normalized == n and not c.quoted and not c.weak for c in valid)
    ]
    replaced = bool(known_nums and replacing and all(_closed(n, customer, pos) for n in known_nums))
    # "PO TW-2026-0426 cancelled - replaced by TW-2026-0445": the one known PO named, called
    # cancelled or replaced by the writer, the new one not in the records yet, and the records
    # not caught up either (the known one still open): the new order needs a person too.
    said_replaced = (
        not replaced
        and len(known_nums) == 1
        and any(
            c.normalized == known_nums[0] and not c.quoted and _CLOSED_SAID.search(c.context)
            for c in valid
        )
        and any(c.normalized in replacing and not c.quoted and _called_new(c) for c in valid)
    )
    replaced = replaced or said_replaced
    # "The correct PO is 4500998877, not 4500123456": a known PO the writer's own text names only
    # as the one not to use gives way to the other PO named (a correction is about that one).
    gave_way = False  # one PO gave way to another, as the message says: no disagreement
    ruled_out = [
        n
        for n in known_nums
        if (
            mine := [
                c for c in valid if c.normalized == n and not c.quoted and c.source != "subject"
            ]
        )
        and all(_ruled_out(c) for c in mine)
    ]
    if ruled_out and (len(ruled_out) < len(known_nums) or replacing or _only_ruled_out(valid)):
        for number in ruled_out:
            said = _and(
                _unique(_ruling_words(c) for c in valid if c.normalized == number and _ruled_out(c))
            )
            reasons.append(f"{_po(number)} is named as the PO not to use ({said}).")
        known_nums = [n for n in known_nums if n not in ruled_out]
        replaced = not known_nums
        gave_way = True
    # "Please accept PO NGF/PO/20375 (same price as NGF/PO/20371)": beside one known PO, the
    # writer labels a new one as the PO (not their own order, nor a slip of the known one where
    # that is labelled too): the new order needs a person, not a silent link to the known one.
    # "the PO I gave you was wrong, it should be 4800012348": the known PO the writer corrects
    # to is the message's, the number it corrects (not in the records) no new order.
    corrected = (
        next(
            (
                c
                for c in valid
                if c.normalized == known_nums[0] and not c.quoted and _corrected_to(c)
            ),
            None,
        )
        if len(known_nums) == 1 and replacing and not replaced
        else None
    )
    if corrected is not None:
        reasons.append(
            f"The message corrects {_and([_po(n) for n in replacing])} to {_po(known_nums[0])} "
            f"({_correcting_words(corrected)}): linked to {_po(known_nums[0])}."
        )
        gave_way = True
    new_order = next(
        (
            n
            for n in replacing
            if len(known_nums) == 1
            and corrected is None
            and not replaced
            and any(
                c.normalized == n
                and c.labelled
                and not c.quoted
                and not (stranger and _writers_own(c))
                and not _ruled_out(c)  # "die falsche Bestellnummer 4500719630"
                for c in valid
            )
            and (
                not any(c.labelled for c in valid if c.normalized == known_nums[0])
                or any(c.normalized == n and _called_new(c) for c in valid)
                or not _suggest(n, customer, pos, rules, max_edits=1)
            )
        ),
        None,
    )
    # "PO204402 is closed; the new order is PO205062": of two known POs, the writer says the one
    # the records also call closed is closed (or replaced): the message is about the open one.
    closed_said = [
        n
        for n in known_nums
        if len(known_nums) == 2
        and not replaced
        and new_order is None
        and _closed(n, customer, pos)
        and any(_CLOSED_SAID.search(c.context) for c in valid if c.normalized == n)
    ]
    if len(closed_said) == 1 and not _closed(
        next(n for n in known_nums if n != closed_said[0]), customer, pos
    ):
        number = closed_said[0]
        reasons.append(
            f"{_po(number)} is {_closed_word(number, customer, pos)} in the PO records, as the "
            "message says: linked to the open PO it also names."
        )
        known_nums = [n for n in known_nums if n != number]
        gave_way = True
    # "BF-25-00140 ist storniert, bitte stattdessen BF-25-00141": of two known POs, both open
    # in the records, the writer calls one cancelled or replaced and the other the new one (the
    # records have not caught up): the message is about the new one.
    if len(known_nums) == 2 and not replaced and new_order is None and not gave_way:
        own = [c for c in valid if not c.quoted]  # the subject too: "CANCELLED - PO …"
        new_ones = [n for n in known_nums if any(c.normalized == n and _called_new(c) for c in own)]
        if len(new_ones) == 1 and not any(_closed(n, customer, pos) for n in known_nums):
            old = next(n for n in known_nums if n != new_ones[0])
            if any(c.normalized == old and _CLOSED_SAID.search(c.context) for c in own):
                reasons.append(
                    f"The message calls {_po(old)} cancelled or replaced and {_po(new_ones[0])} "
                    f"the new PO: linked to {_po(new_ones[0])}. The PO records still have "
                    f"{_po(old)} open."
                )
                known_nums = [new_ones[0]]
                gave_way = True
    # "PO HEL-PO-40252 ... Sorry, that should read HEL-PO-40266": of two known POs, the writer
    # corrects one to the other: the message is about the corrected one.
    if len(known_nums) == 2 and not replaced and new_order is None and not gave_way:
        own = [c for c in valid if not c.quoted]
        right = [n for n in known_nums if any(c.normalized == n and _corrected_to(c) for c in own)]
        if len(right) == 1:
            mistaken = next(n for n in known_nums if n != right[0])
            said = next(
                _correcting_words(c) for c in own if c.normalized == right[0] and _corrected_to(c)
            )
            reasons.append(
                f"The message corrects {_po(mistaken)} to {_po(right[0])} ({said}): linked to "
                f"{_po(right[0])}."
            )
            known_nums = [right[0]]
            gave_way = True
    if new_order is not None:
        reasons.append(
            f"{_po(known_nums[0])} from the PO records is named too (a reference, an earlier "
            f"order, or one to cancel?), but the PO the message gives is {_po(new_order)}."
        )
        known_nums = []
        replaced = True
    if replaced:
        for number in known_nums:
            reasons.append(
                f"The message calls {_po(number)} cancelled or replaced, and names "
                f"{_po(replacing[0])}, which is not in the PO records yet: a replacement order? "
                f"(The PO records still have {_po(number)} open.)"
                if said_replaced
                else f"{_po(number)} is {_closed_word(number, customer, pos)} in the PO records, "
                f"and the message also names {_po(replacing[0])}, which is not in them yet: a "
                "replacement order?"
            )
        known_nums = []

    if known_nums:
        status = Status.AMBIGUOUS if len(known_nums) > 1 else Status.LINKED
        po_numbers = tuple(known_nums)
        if status is Status.AMBIGUOUS and not (_disagreements(valid) and not replaced):
            reasons.append(
                f"Linked to {len(known_nums)} POs from the PO records: {', '.join(known_nums)}. "
                "If the message is about only one of them (a correction, a replacement, a PO "
                "named in passing), resolve it with that PO; if it is about all of them (a "
                "remittance, a statement, one delivery for several orders), resolve it with all "
                "of them."
            )
        for number in known_nums:
            if _closed(number, customer, pos):
                reasons.append(
                    f"{_po(number)} is {_closed_word(number, customer, pos)} in the PO records."
                )
            elif (
                status is Status.LINKED
                and not gave_way
                and any(
                    c.normalized == number and not c.quoted and _CLOSED_SAID.search(c.context)
                    for c in valid
                )
            ):
                # "Please cancel PO 4500716020": the records have not caught up; said, as a
                # linked message reaches no digest
                reasons.append(
                    f"The message may cancel or close {_po(number)}; the PO records still have "
                    "it open."
                )
        for number in unknown_nums:
            wrong = [c for c in valid if c.normalized == number and _ruled_out(c)]
            reasons.append(
                f"{_po(number)} is named as the PO not to use ({_ruling_words(wrong[0])}) and is "
                "not in the PO records."
                if wrong
                else f"{_po(number)} is also named but is not in the PO records."
            )
        # "RE: ... Purchase Order A" answered with "moved to the new order B": linked to B, but
        # the clerk should see that A, the thread's PO, may change too.
        thread_known = _unique(
            c.normalized
            for c in cands
            if c.source == "subject"
            and c.quoted
            and c.valid
            and is_known(c)
            and c.normalized not in known_nums
        )
        if own_valid and thread_known:
            reasons.append(
                f"Linked to {_po(', '.join(known_nums))}, the PO written in this message; its "
                f"subject still names {_po(', '.join(thread_known))} from the earlier mail. If "
                "the message is about both, link it to both (`resolve` with `--force` and both "
                "POs)."
            )
    elif unknown_nums:
        status = Status.UNKNOWN
        po_numbers = ()
        for number in unknown_nums:
            where = _and(_unique(_where(c) for c in _but_file_names(valid, number)))
            reasons.append(
                f"{_po(number)} (in {where}) has the form of a PO"
                f"{' of ' + _name(customer, names) if customer else ''} but is not in the PO "
                "records yet: if it is a new order, it links by itself after the next import of "
                "the PO records; if not, check it for a typo."
            )
            if stranger and number == unknown_nums[0]:
                reasons.append(
                    "The mail is not from a known customer address: the customer was chosen by "
                    "how the number is written."
                )
            other = _other_owner(number, customer, pos)
            if other:
                reasons.append(
                    f"{_po(number)} belongs to {_name(other, names)}, not to "
                    f"{_name(customer, names)}: ask the sender which of their own POs they meant."
                )
            # A well-formed number two edits from a known PO is more likely a new PO, and so is
            # one written the same in two independent parts (the text and a PDF, the body and a
            # file name): a typo is seldom made twice. The subject and the body are one part:
            # their writer copies the number from one to the other, slips and all.
            places = {
                "text" if c.source in ("subject", "body") else c.source
                for c in valid
                if c.normalized == number
            }
            called_new = number == new_order or any(
                c.normalized == number and _called_new(c) for c in valid
            )
            hints = (
                [h for h in _suggest(number, customer, pos, rules, max_edits=1) if h != number]
                if len(places) < 2 and not called_new
                else []
            )
            if hints:
                suggestions.extend(hints)
                reasons.append(_did_you_mean(hints))
    elif malformed:
        status = Status.MALFORMED
        po_numbers = ()
        named = _by_raw(malformed)
        if len(named) > _MAX_NAMED:  # a table of noise: a person reads the first few
            reasons.append(
                f"{len(named)} values are labelled as a PO but are not written like PO numbers; "
                f"the first {_MAX_NAMED} follow."
            )
        for c, where in named[:_MAX_NAMED]:  # the subject and the body: said once
            owner_number = _known_elsewhere(_as_written(c), customer or c.customer, pos, rules)
            if owner_number is not None:
                other, number = owner_number
                reasons.append(
                    f"'{c.raw}' in {where} is {_po(number)} of {_name(other, names)}, not of "
                    f"{_name(customer or c.customer, names)}: ask the sender which of their own "
                    "POs they meant."
                )
                continue
            hints = _suggest(c.raw, customer or c.customer, pos, rules)
            # Without a "did you mean", a known number shows what the customer's POs look like.
            table = pos.get(customer or "", {})
            example = None if hints else next((n for n, r in table.items() if not r.closed), None)
            like = (
                f"; its PO numbers are written like {example} (one of its POs, for the form only)"
                if example
                else ""
            )
            owner = customer or (None if c.labelled else c.customer)
            whose = f" of {_name(owner, names)}" if owner else ""
            reasons.append(
                f"'{c.raw}' in {where} is labelled as a PO but is not written like a PO number"
                f"{whose}{like}."
                if c.labelled
                else f"'{c.raw}' in {where} looks like a mistyped PO number{whose}."
            )
            if hints:
                suggestions.extend(hints)
                reasons.append(_did_you_mean(hints))
    elif thread_pos:
        inherited = _unique(num for _, num in thread_pos)
        status = Status.AMBIGUOUS if len(inherited) > 1 else Status.LINKED
        po_numbers = tuple(inherited)
        customer = customer or thread_pos[0][0]
        link_how = "thread"
        reasons.append(
            f"No PO in this message; it replies to or forwards a message linked to PO "
            f"{', '.join(inherited)}, so it is linked to the same."
        )
    elif blocking:
        status = Status.UNREADABLE
        po_numbers = ()
    else:
        status = Status.MISSING
        po_numbers = ()
        # Numbers of a PO's shape without a label, named as set aside ("Invoice No. ..." is set
        # aside as what it says, a bare year as a year).
        weak = [
            c
            for c in cands
            if c.valid
            and c.weak
            and not is_known(c)
            and not _a_year(c.raw)
            and not DECOY.match(c.raw)
        ]
        weak = [c for c in weak if not (stranger and _short_and_bare(c))]
        if customer is None and stranger:
            if any(not c.weak for c in set_aside):
                # "New Purchase Order 4500875110" from a platform's address on no list, with
                # strangers = "known": not a newsletter to dismiss.
                reasons.append(
                    "No PO from the PO records was found, and the mail is not from a known "
                    "customer address, so the numbers below do not count by themselves. If it "
                    "is an order (a customer's purchasing "
                    "platform, a web form, a new customer; or a forgery quoting a made-up PO), "
                    "handle it by hand; if not, dismiss it."
                )
            elif extraction.not_read or blocking:
                # An attachment left unread (a photo, an Office file) may hold the order: no
                # "usually a newsletter" before the line that says to open it.
                reasons.append(
                    "No PO number was found in what could be read, and the mail is not from a "
                    "known customer address: look at what was not read (below) before "
                    "dismissing it."
                )
            else:
                reasons.append(
                    "No PO number was found, and the mail is not from a known customer address: "
                    "usually a carrier, bank, supplier or newsletter mail (dismiss it); if it is "
                    "an order (a web shop, a web form, a new customer, a colleague passing one "
                    "on), handle it by hand."
                )
            # What was set aside, labelled first; then numbers of a PO's shape without a label
            # (a carrier's waybill in SAP's 45... range).
            aside = _one_per_number(set_aside)
            aside_numbers = {c.normalized for c in aside}  # set aside with its label: once
            for c in (
                aside + [c for c in _one_per_number(weak) if c.normalized not in aside_numbers]
            )[:3]:
                whose = f" of {_name(c.customer, names)}" if c.valid and c.customer else ""
                what = (
                    f"looks like a PO number{whose} but is not in the PO records"
                    if c.valid
                    else "follows a PO label but fits no customer's PO format"
                )
                if c.valid and c.weak:
                    what = f"has the shape of a PO number{whose} but no PO label"
                if c.valid and c.normalized in ours:
                    what = (
                        f"follows '{_reader_words(c)}' (as a supplier names our own order) and "
                        "is not in the PO records"
                    )
                where = _and(_unique(_where(x) for x in cands if x.normalized == c.normalized))
                reasons.append(f"'{c.raw}' in {where} {what}: not counted from this sender.")
        else:
            where = f"the subject, the message body or {_attachments_read(extraction)}"
            if not extraction.pdf_count + extraction.xml_count + extraction.text_count:
                where = "the subject or the message body"
            if not weak:
                reasons.append(f"No PO number was found in {where}.")
            else:
                reasons.append(f"No labelled or known PO number was found in {where}.")
            for c in _one_per_number(weak)[:3]:
                what = (
                    "may be the writer's own reference"  # the scan keeps "our ref" in the raw
                    if c.raw.lower().startswith("our ref")
                    else "has the shape of a PO number but no PO label"
                )
                reasons.append(
                    f"'{c.raw}' in {_where(c)} {what} and is not in the PO records: not counted."
                )
            for c, where in _by_raw(near_misses)[:3]:
                reasons.append(
                    f"'{c.raw}' in {where} starts like a PO number of "
                    f"{_name(c.customer, names)} but is not written like one and is close to "
                    "no PO in the PO records: not counted."
                )

    if status is Status.MISSING and extraction.not_read:
        shown = [f"'{n}'" for n in extraction.not_read[:_MAX_NAMED]]
        more = len(extraction.not_read) - len(shown)
        listed = _and(shown + ([f"{more} more"] if more > 0 else []))
        several = len(extraction.not_read) > 1
        kind = "files of a kind not read" if several else "a file of a kind not read"
        if not several and _file_kind(extraction.not_read[0]):
            kind = _file_kind(extraction.not_read[0])
        reasons.append(
            f"Not read: the attachment{'s' if len(extraction.not_read) > 1 else ''} {listed} "
            f"({kind}): open {'them' if len(extraction.not_read) > 1 else 'it'} to look for a PO."
        )
    if status in (Status.LINKED, Status.AMBIGUOUS):
        for c in _one_per_number(read_as):
            how = (
                ", with a revision number added"
                if _REVISION.search(c.raw)
                else ": the same digits, written in groups"
                if _GROUPING.search(c.raw)
                else ", with a line or amendment number added"
            )
            reasons.append(f"'{c.raw}' in {_where(c)} is read as {_po(c.normalized)}{how}.")
    if status in (Status.LINKED, Status.AMBIGUOUS) and malformed:
        # Beside a PO that links, a value that is near no known PO ("wk13-14" after "order") is
        # noise; one near a known PO is named with it.
        for c, where in _by_raw(malformed)[:_MAX_NAMED]:
            meant = _suggest(c.raw, customer or c.customer, pos, rules)
            if meant == [n for n in po_numbers if n in meant] and _written_apart(c.raw, meant):
                continue  # "AT_PO_2024_0590.pdf": the linked PO written another way, no slip
            if meant:
                reasons.append(
                    f"'{c.raw}' in {where} looks like a mistyped "
                    f"{' or '.join(_po(n) for n in meant)}."
                )
    if not (replaced or gave_way):  # an old PO and its replacement are meant to differ
        reasons.extend(_disagreements(valid))
    if status is Status.LINKED:
        # Linked by a number written without a label (a carrier's "Reference: 004523"): said.
        for number in po_numbers:
            found_as = [c for c in valid if c.normalized == number]
            if found_as and all(c.weak for c in found_as):
                raw, words = _after_words(found_as[0].raw)
                after = f" (after '{words}')" if words else ""
                reasons.append(
                    f"'{raw}' in {_where(found_as[0])}{after} is {_po(number)} in the PO "
                    "records: linked by the number alone, without a PO label."
                )
    for p in (*blocking, *partial):
        text = p.describe()
        if p.kind in _NOT_READ_WORDS and status in (Status.LINKED, Status.AMBIGUOUS):
            # Linked by what else the message says: nothing to ask for or look up.
            text = f"{source_words(p.source)}: {_NOT_READ_WORDS[p.kind]} (not read)"
        reasons.append(text[:1].upper() + text[1:] + ".")
    if stranger and sender:
        look = lookalike_domain(sender, rules.values())
        if look is not None:
            reasons.insert(
                0,
                f"The sender {sender} is on no customer's list, but its domain looks like "
                f"{look[0]}'s ({look[1]}): check that the mail really comes from them before "
                "acting on it (look-alike addresses are a common purchase-order fraud).",
            )
    return Outcome(
        status=status,
        po_numbers=po_numbers,
        reasons=tuple(_unique(_one_stop(r) for r in reasons)),
        customer=customer,
        candidates=judged,
        suggestions=tuple(_unique(suggestions)),
        link_how=link_how,
        owners=tuple(thread_pos) if link_how == "thread" else (),
        ignored=ignored if status.flagged else None,
        unknown=tuple(unknown_nums) if status is Status.UNKNOWN else (),
    )


_HOST_WORDS = frozenset({"mail", "email", "smtp", "mx", "post", "info", "www", "web", "my", "mx1"})


def lookalike_domain(sender: str, customers: Iterable[CustomerRules]) -> tuple[str, str] | None:
    """(customer name, domain) of a customer whose sender domain the address's domain is a
    slip of ("kestrel-engg.example" beside "kestrel-eng.example") or extends ("nfu.edu-mail
    .example" beside "nfu.example", "acme-billing.example" beside "acme.example"), or None.
    Only whole-domain globs ("*@nfu.example") count: a customer's one free-mail address
    says nothing about others at that provider."""
    domain = sender.rpartition("@")[2].lower()
    if not domain or "." not in domain:
        return None
    for rules in customers:
        for glob in rules.senders:
            if not glob.startswith("*@"):
                continue  # one person's address (perhaps at a free-mail provider)
            theirs = glob.rpartition("@")[2].lower().lstrip("*.")
            if not theirs or "*" in theirs or "?" in theirs or theirs == domain:
                continue
            if domain.endswith("." + theirs):
                continue  # a subdomain of theirs
            first, own_first = theirs.split(".", 1)[0], domain.split(".", 1)[0]
            rest, own_rest = theirs[len(first) :], domain[len(own_first) :]
            # "staldric-heath" for "staldric-health", "kestrel-engg" for "kestrel-eng": a slip
            # in a long enough name, the rest of the domain the same
            slip = 1 if len(first) < 8 else 2
            near = rest == own_rest and len(first) >= 5 and distance(own_first, first, slip) <= slip
            # "nfu.edu-mail.example" for "nfu.example", "acme-billing.example" for "acme.example"
            extended = (own_first == first and first not in _HOST_WORDS) or (
                len(first) >= 4 and own_first.startswith(first + "-")
            )
            if near or extended:
                return (rules.name or rules.id, theirs)
    return None


_MAX_NAMED = 5  # values named one by one in the reasons; more are counted
_FILE_KINDS = {
    "xlsx": "a spreadsheet", "xls": "a spreadsheet", "xlsm": "a spreadsheet",
    "ods": "a spreadsheet", "docx": "a Word document", "doc": "a Word document",
    "odt": "a text document", "rtf": "a text document", "png": "an image", "jpg": "an image",
    "jpeg": "an image", "gif": "an image", "tif": "an image", "tiff": "an image",
    "heic": "an image", "bmp": "an image", "zip": "a ZIP archive", "7z": "an archive",
    "rar": "an archive", "msg": "an Outlook item", "mp3": "audio", "wav": "audio",
    "m4a": "audio", "amr": "audio",
}  # fmt: skip


def _file_kind(name: str) -> str:
    """What kind of file an unread attachment is, by its name ("a spreadsheet"), or ""."""
    return _FILE_KINDS.get(name.rsplit(".", 1)[-1].lower(), "") if "." in name else ""


# A PDF not read, in a message linked by what else it says.
_NOT_READ_WORDS = {
    Unreadable.NO_TEXT: "the PDF is a scanned picture without text",
    Unreadable.ENCRYPTED: "the PDF is password-protected",
    Unreadable.CORRUPT: "the PDF is damaged",
}


def _attachments_read(extraction: Extraction) -> str:
    kinds = [
        words
        for count, words in (
            (extraction.pdf_count, "the PDF attachments"),
            (extraction.xml_count, "the e-invoice or EDI attachments"),
            (extraction.text_count, "the attachments read as text"),
        )
        if count
    ]
    return kinds[0] if len(kinds) == 1 else "the attachments"


def _settle_customer(
    cands: Sequence[Candidate], pos: PoIndex, rules: Mapping[str, CustomerRules]
) -> tuple[Candidate, ...]:
    """A message no sender glob decided (or that several customers' globs claim alike) was
    read with each candidate customer's rules. When the PO records of exactly one of them hold a
    number found, the message is that customer's: its reading alone counts. Else each written
    number is listed once, a malformed one as read by a customer it is a near miss for (so
    that "did you mean" finds that customer's PO)."""
    owners = {
        c.customer
        for c in cands
        if c.valid and c.customer is not None and c.normalized in pos.get(c.customer, {})
    }
    if len(owners) == 1:
        owner = owners.pop()
        return tuple(c for c in cands if c.customer in (owner, None))
    near = {
        i for i, c in enumerate(cands) if not c.valid and _suggest(c.raw, c.customer, pos, rules)
    }
    ranked = sorted(range(len(cands)), key=lambda i: i not in near)
    return tuple(one_per_raw([cands[i] for i in ranked]))


def _disagreements(valid: Sequence[Candidate]) -> list[str]:
    """'The subject says PO A but the attachment x.pdf says PO B', for sources that differ.
    Sources naming the same POs speak together ("the subject and the message body say ...")."""
    by_source: dict[str, set[str]] = {}
    first: dict[str, Candidate] = {}
    for c in valid:
        if c.quoted:
            continue
        by_source.setdefault(c.source, set()).add(c.normalized)
        first.setdefault(c.source, c)
    groups: dict[frozenset[str], list[str]] = {}
    for source, numbers in by_source.items():
        groups.setdefault(frozenset(numbers), []).append(source)
    sets = list(groups)
    out = []
    for i, a in enumerate(sets):
        for b in sets[i + 1 :]:
            if not a.isdisjoint(b):
                continue
            said_a = _say([_where(first[src]) for src in groups[a]])
            said_b = _say([_where(first[src]) for src in groups[b]])
            files_a, files_b = _files(groups[a]), _files(groups[b])
            if files_a and files_b and files_a.isdisjoint(files_b):
                # Two invoices in one mail, each for its own PO: that may well be right.
                out.append(
                    f"Each attachment names its own PO: {said_a} {_pos(a)} and {said_b} "
                    f"{_pos(b)} (one mail for several orders?)."
                )
                continue
            out.append(f"The parts disagree: {said_a} {_pos(a)} but {said_b} {_pos(b)}.")
    return out


def _files(sources: Sequence[str]) -> set[str] | None:
    """The attached files that ``sources`` are parts of (its text, its name, the e-invoice
    inside it), or None when one of them is no attachment (the subject, the body)."""
    files = set()
    for source in sources:
        kind, _, name = source.partition(":")
        if kind not in ("attachment", "filename", "embedded"):
            return None
        files.add(name)
    return files


def _say(wheres: Sequence[str]) -> str:
    """'the subject says', 'the subject and the message body say'."""
    return f"{_and(wheres)} {'says' if len(wheres) == 1 else 'say'}"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


_ANY_NUMBER = 1_000_000  # a near miss of many known POs alike is still a slip: no hint, a flag


def _closed(number: str, customer: str | None, pos: PoIndex) -> bool:
    record = pos.get(customer, {}).get(number) if customer else None
    return record is not None and record.closed


def _closed_word(number: str, customer: str | None, pos: PoIndex) -> str:
    """How the records say a closed PO is closed: "closed", "cancelled", "completed"; a word of
    another language with the English one ("closed (uzavřeno)")."""
    record = pos.get(customer, {}).get(number) if customer else None
    if record is None:
        return "closed"
    status = record.status.strip().lower()
    return status if status in CLOSED_STATUSES else f"closed ({status})"


def _same_letters(c: Candidate, rules: Mapping[str, CustomerRules]) -> bool:
    """Whether an unlabelled malformed token starts with its customer's very prefix letters."""
    rule = rules.get(c.customer or "")
    letters = "".join(itertools.takewhile(str.isalpha, c.raw)).upper()
    return rule is not None and letters in rule.prefixes


def _by_raw(cands: Sequence[Candidate]) -> list[tuple[Candidate, str]]:
    """Each value as written once, with every place it stands ("the subject and the message
    body")."""
    places: dict[str, tuple[Candidate, list[str]]] = {}
    for c in cands:
        _, wheres = places.setdefault(c.raw, (c, []))
        if _where(c) not in wheres:
            wheres.append(_where(c))
    return [(c, _and(wheres)) for c, wheres in places.values()]


def _suggest(
    text: str,
    customer: str | None,
    pos: PoIndex,
    rules: Mapping[str, CustomerRules],
    *,
    max_edits: int = 2,
    limit: int = 3,
) -> list[str]:
    """The known POs closest to ``text`` (several when equally close, none when more than
    ``limit`` are), or none. ``max_edits``: how far a suggestion may be (look-alike letters
    folded)."""
    if customer is None:
        return []
    known = pos.get(customer, {})
    if not known:
        return []
    rule = rules.get(customer)
    if rule is not None:
        # Look-alike letters folded to digits may make the text a valid, known number.
        folded = _refold(text)
        try:
            m = rule.pattern.search(folded, timeout=0.5)
        except TimeoutError:
            m = None
        if m is not None:
            number = rule.normalize(m)
            if number is not None and number in known:
                return [number]
    hints = _lookalikes(known).closest_all(text, limit=limit, max_edits=max_edits)
    # Of equally close POs, an open one is the likelier meant: closed ones go when it is there.
    still_open = [h for h in hints if not known[h].closed]
    return still_open or hints


# "Your order 4500345678", "zu Ihrer Bestellung 4500098812": a stranger writing so names the
# reader's own order (a supplier to the mailbox's company), not a customer's PO.
_READER_S = regex.compile(
    r"(?<![^\W\d_])(?:your|ihre?[mnrs]?|deine?[mnrs]?|votre|vos|su|sus|vuestr[ao]s?|vostr[ao]|"
    r"vs\.?|uw|jouw|seu|sua)\s+(?:[^\W\d_][\w.'\u2019/-]*[\s:#]*){1,3}\Z",
    regex.IGNORECASE,
)


def _but_file_names(cands: Sequence[Candidate], number: str) -> list[Candidate]:
    """The candidates of ``number``, without a file name's where the file itself is one."""
    found = [c for c in cands if c.normalized == number]
    read = {c.source.removeprefix("attachment:") for c in found if c.source.startswith("attach")}
    return [
        c
        for c in found
        if not (c.source.startswith("filename:") and c.source.removeprefix("filename:") in read)
    ]


def _after_words(raw: str) -> tuple[str, str]:
    """A weak value as written, apart from the words before it that the scan keeps with it
    ("Order confirmation NKE-PO-242015": a number after a decoy word): (number, words)."""
    words = raw.split()
    if not (DECOY.match(raw) or _HEDGE_WORDS.match(raw)):
        return " ".join(words), ""  # "AJS 2026-219": letters of the number itself
    lead = 0
    while lead < len(words) - 1 and not any(ch.isdigit() for ch in words[lead]):
        lead += 1
    return " ".join(words[lead:]), " ".join(words[:lead]).rstrip(" |:")


_HEDGE_WORDS = regex.compile(r"our\s+ref", regex.IGNORECASE)


_FEW_DIGITS = 6  # a bare number with fewer, from a stranger, is a house, booth or extension number


def _short_and_bare(c: Candidate) -> bool:
    """A number of fewer than ``_FEW_DIGITS`` digits, no letter and no PO label ("booth 4471",
    "1855 S. Grant St"): from a sender on no customer's list it says nothing, even when a
    customer's PO has those digits."""
    return (
        not c.labelled
        and not any(ch.isalpha() for ch in c.raw)
        and sum(ch.isdigit() for ch in c.raw) < _FEW_DIGITS
    )


def _known_only(c: Candidate, rules: Mapping[str, CustomerRules]) -> bool:
    """Whether the customer whose rules read ``c`` counts only its known POs from strangers."""
    rule = rules.get(c.customer or "")
    return rule is not None and rule.strangers == "known"


def _reader_s(c: Candidate) -> bool:
    """Whether the label before the value names the reader's order ("your order", "Ihre
    Bestellung"): the words before the value as the context marks it ("[...]")."""
    return _words_before(c, _READER_S, 48) is not None


_WRITERS_OWN = regex.compile(
    r"(?<![^\W\d_])(?:our|unser(?:e[mnrs]?)?|notre|nos|nuestr[ao]s?|nostr[ao]|onze|v[åa]r|vores"
    r"|nossa|nosso)\s+(?:[^\W\d_][\w.'\u2019/-]*[\s:#]*){1,3}\Z",
    regex.IGNORECASE,
)


def _writers_own(c: Candidate) -> bool:
    """Whether the words before the value call it the writer's own order ("unsere Bestellung")."""
    return _words_before(c, _WRITERS_OWN, 48) is not None


def _called_new(c: Candidate) -> bool:
    """Whether the words around the value call it a new order ("use the new PO P-10315",
    "please use our order no. 71930 instead")."""
    if _words_before(c, _NEW_ORDER, 40) is not None:
        return True
    end = c.context.find("]", max(0, _mark(c)))
    return end >= 0 and _INSTEAD_AFTER.match(c.context, end + 1) is not None


_INSTEAD_AFTER = regex.compile(
    r"[\s,.)]*(?:(?:instead|stattdessen|statt\s+dessen|à\s+la\s+place|en\s+su\s+lugar|i\s+stedet"
    r"|istället|in\s+plaats\s+daarvan|invece)(?![^\W\d_])"
    # Korean and Japanese put the verb after the number: "4500817418로 재발주", "…に変更"
    r"|으?로\s*(?:재발주|변경|대체)|(?:に|へ)(?:変更|差し替え)|で再発注)",
    regex.IGNORECASE,
)


_NEW_ORDER = regex.compile(
    r"(?<![^\W\d_])(?:new|neue[nrs]?|nouvelle|nouveau|nuev[ao]|nuov[ao]|nieuwe|replacement"
    r"|ersatz|will\s+be|wird|re-?issued\s+as|re-?issue\s+(?:it\s+|this\s+)?as"
    r"|re-?raised?\s+(?:it\s+|this\s+)?as|raised\s+a\s+new|sustitu(?:ir|ye|imos)(?:la|lo)?\s+por"
    r"|substitu(?:ir|ímos|imos)(?:-?a|-?o)?\s+pel[oa]"
    # "replaced by", "superseded by", "ersetzt durch", "remplacée par", "en su reemplazo"
    r"|(?:replaced|superseded)\s+by|replace(?:d)?\s+(?:(?:it|this|that|them)\s+)?with"
    r"|ersetzt\s+(?:durch|mit)|remplac[ée]e?s?\s+par"
    r"|reemplazad[oa]\s+por|en\s+su\s+reemplazo|substitu[íi]d[oa]\s+(?:por|pel[oa])"
    r"|sostituit[oa]\s+da|vervangen\s+door|in\s+its\s+place"
    # "bitte stattdessen 4500…": instead, before the number (not "instead of", ruling one out)
    r"|stattdessen|statt\s+dessen|instead(?!\s+of)|à\s+la\s+place(?!\s+de)"
    # Nordic and Baltic: "ersätts av", "erstattes af", "korvaava", "asendatakse", "uusi"
    r"|ersätts\s+av|erstattes\s+a[vf]|korvaava|korvataan|asendatakse|asendab|nya|nytt|uusi"
    r"|uuden|uus|uue|uut|asendame|jauns|naujas"
    r"|thay\s+bằng|thay\s+thế\s+bằng|mới|diganti\s+dengan|digantikan\s+dengan|baru|แทน|ใหม่"
    r"|nowe|nowego|nowy|nową|nowej|nové|nová|nový|nového|nou[ăa]?|új"
    r"|ny(?=\s+(?:ordre|bestilling|indkøbsordre|innkjøpsordre|po\b))"
    # Russian and Ukrainian: "новый заказ", "взамен", "вместо него", "замість нього"
    r"|нов(?:ый|ая|ое|ого|ому|ым|ую|ий|е|а)|взамен|вместо\s+(?:него|нее|неё|этого)"
    r"|замість\s+(?:нього|неї|цього)|заменен[аоы]?\s+на|заменён\s+на|замінен[оеа]?\s+на"
    r"|en\s+su\s+lugar(?!\s+de))(?![^\W\d_])"
    # Chinese, Japanese and Korean: "新订单号", "新しい注文番号", "新規注文", "재발주", "신규 발주"
    r"|新订单|新訂單|新的订单|新采购订单|新しい注文|新規注文|新しい発注|재발주|신규\s*발주|새\s*발주",
    regex.IGNORECASE,
)


def _reader_words(c: Candidate) -> str:
    """The words that call the value the reader's order, as written ("Ihrer Bestellung Nr.")."""
    m = _words_before(c, _READER_S, 48)
    return " ".join(m.group(0).split()).rstrip(":#") if m else "your order"


_NOT_THIS = (
    # the words of a number not to use, right before it: "..., not 4500123456", "(not PO ...)",
    # "instead of", "wrong PO", "don't book it on", "nicht auf", "au lieu de la commande"
    r"(?<![^\W\d_])(?:"
    r"(?:not|nicht|niet|inte|ikke|non|don'?t|do\s+not|never|nie|ne|disregard|ignore)"
    r"(?:\s+(?:[^\W\d_]+\s+){0,2}?(?:on|against|to|under|by|auf|unter|zu|sur|op|på|pa|na))?"
    # "La OC correcta es X, no Y": the Spanish and Portuguese "no" only after a comma
    r"|(?<=[,;]\s{0,2})(?:no|não)"
    r"|instead\s+of|rather\s+than|(?:an)?statt|au\s+lieu\s+de|en\s+(?:lugar|vez)\s+de"
    r"|in\s+plaats\s+van|invece\s+di|i\s+stedet\s+for|ist[äa]llet\s+f[öo]r|m[ií]sto"
    # "the old delivery schedule 5500011980", "der alte Lieferplan": one word may follow
    r"|誤り?|錯誤|错误|而?不是"  # Japanese 誤 (wrong) / 正 (right) corrections, Chinese "wrong"
    # Russian and Ukrainian: "…, а не 4500…", "не 4500…", "вместо заказа …", "замість …"
    r"|а\s+не|не|вместо|замість|ошибочн\w*|неверн\w*|неправильн\w*|помилков\w*|стар(?:ый|ого|ий)"
    r"|(?:wrong|incorrect|falsche[nrs]?|mauvaise?|erron[ée]e?|old|alte[nrs]?|ancienne?)"
    r"(?:\s+[^\W\d_]{3,})?"
    r")[\s(\"'\u201c\u2018\uff1a:]*(?:(?:the|die|der|den|la|le|de|our|your)\s+)?"
    r"(?:(?:po|p\.\s?o\.?|purchase|order|number|no\.?|nr\.?|n[°º]|bestell(?:ung|nummer)|commande"
    r"|pedido|ordine|bestelling|заказ[аеу]?|замовлення|номер|№)[\s:#.]*){0,3}\Z"
)
_RULED_OUT = regex.compile(_NOT_THIS, regex.IGNORECASE)
# Words saying a PO is closed or replaced, near it.
_CLOSED_SAID = regex.compile(
    # "closed", but not a place's ("Reason: Premises closed", "our office is closed on Friday")
    r"(?<![^\W\d_])(?:(?<!(?:premises|office|offices|shop|store|site|warehouse|depot|business"
    r"|gate|road|door|reception|plant|factory|dock|yard)\s{1,3}(?:(?:is|are)\s{1,3})?)closed"
    r"(?!\s+(?:today|tomorrow|until|till|between|from\s+\d|on\s+(?:mon|tue|wed|thu|fri|sat|sun)"
    r"|(?:for|over)\s+(?:the\s+)?(?:holidays?|christmas|easter|weekend|lunch|stocktaking)))"
    r"|cancel(?:l?ed)|replaced|replaces|superseded|expired|exhausted"
    r"|fully\s+(?:receipted|invoiced|used|consumed)|abgeschlossen|geschlossen|storniert|ersetzt"
    r"|abgelaufen|annul[ée]e?|remplac[ée]e?|remplace|cl[ôo]tur[ée]e?|cerrad[oa]|anulad[oa]"
    r"|sustituid[oa]|vencid[oa]|no\s+longer\s+(?:valid|open)|nicht\s+mehr\s+g[üu]ltig"
    # French, Spanish, Portuguese, Italian and Dutch: "est soldé", "anulamos", "en su
    # reemplazo", "cancelado e substituído", "risulta chiuso", "vervangen door"
    r"|sold[ée]e?|clos[e]?|ferm[ée]e?|cancelad[oa]|anulamos|cancelamos|reemplaz(?:ad[oa]|[oa])"
    r"|substitu[íi]d[oa]|encerrad[oa]|fechad[oa]|chius[oa]|annullat[oa]|sostituit[oa]|afgesloten"
    r"|vervangen|geannuleerd|ingetrokken|terminated"
    # Turkish, Greek, Hebrew and Arabic: "iptal edildi", "kapatildi" (dotless i), "ακυρώθηκε",
    # "בוטלה", "ملغى", "تم إلغاء"
    r"|iptal|kapat[\u0131i]ld[\u0131i]|kapand[\u0131i]|ακυρώθηκε|ακυρωμένη|ακυρώνεται"
    r"|έκλεισε|κλειστή"
    r"|בוטל|בוטלה|סגור|סגורה|ملغ[ىي]|ألغي|الغي|إلغاء|الغاء|مغلق"
    # Nordic and Baltic: "makuleras", "kansellert", "perutaan", "tühistatud", "atcelts"
    r"|makuleras|makulerat|kansellert|annullert|perutaan|peruttu|peruutettu|mitätöity|suljettu"
    r"|tühistatud|tühistame|atcelts|atšauktas"
    # "please cancel our PO …", "short-closed"; the nouns: "Cancellation of PO …", "Stornierung
    # Bestellung …", "hiermit stornieren wir …", "annulation", "cancelación", "annullamento"
    r"|cancel|short[\s-]?closed|cancell?ation|stornierung|stornieren|storno|annulation"
    # "NM/24/0388 is now completed": said of the PO (not "delivery completed")
    r"|(?<=\b(?:is|now|been|was)\s{1,3})completed|queda\s+cancelad[oa]"
    r"|cancelaci[óo]n|anulaci[óo]n|cancelamento|annullamento|annulering"
    # Vietnamese, Indonesian and Malay, Thai: "hủy", "dibatalkan", "ยกเลิก"
    r"|hủy|huỷ|đã\s+hủy|dibatalkan|batal|ยกเลิก"
    r"|uzav[řr]en[aáý]?|zamkni[eę]t[ey]|gesloten|vervallen|annuller(?:et|es|er)|erstatte[st]"
    r"|ersatt|makulerad|lukket|avslutt?et|avslutad|uzavret[áéý]|stornovan[áéý]|zrušen[áéýo]"
    r"|lez[áa]r(?:va|t)|t[öo]r[öo]lve|sztorn[óo]|[îi]nchis[ăa]?|anulat[ăa]?|anulowan[aey]"
    # Russian and Ukrainian: "отменяем", "отменён", "аннулирован", "закрыт", "скасовано"
    r"|отмен(?:яем|ить|ён|ен[аоы]?|ены|яется)|аннулир(?:ован[аоы]?|уем)|закрыт[аоы]?|заменён"
    r"|заменен[аоы]?|скасован[оеаі]?|скасовуємо|закрит[оеаі]?|замінен[оеаі]?|анульован[оеа]?)"
    r"(?![^\W\d_])"
    # Chinese, Japanese and Korean words stand between other letters, without spaces
    r"|已取消|已作废|已作廢|已結案|已结案|已关闭|已關閉|キャンセル|取り?消し?|解約|クローズ|취소|종료|마감",
    regex.IGNORECASE,
)


# Words right before a value that name it as an earlier order, not the one written about: "on
# the last one (X)", "as on the previous order X", "same as last time, PO X".
_EARLIER = regex.compile(
    r"(?<![^\W\d_])(?:(?:the\s+)?(?:last|previous|prior|earlier|old)\s+(?:one|order|po|time"
    r"|shipment|delivery|contract|batch|lot)|same\s+as(?:\s+(?:on|for|with))?"
    r"|as\s+(?:on|for|with)\s+(?:the\s+)?(?:last|previous))"
    r"[\s(:,\"'\u201c-]*(?:(?:po|p\.\s?o\.?|order|number|no\.?|#)[\s:#.]*){0,2}\Z",
    regex.IGNORECASE,
)


# Words right before a value that correct an earlier number to it ("that should read …",
# "I meant …", "richtig ist …"); "the correct PO is B, not A" is ruled out through its "not".
_CORRECTING = regex.compile(
    # Chinese, Japanese and Korean stand between other letters: "应该是", "正确的是", "正しくは"
    r"(?:(?:应该是|應該是|正确的是|正確的是|正しくは|올바른\s*(?:발주\s*)?번호는)"
    r"|(?<![^\W\d_])(?:should\s+(?:read|be|have\s+been)|i\s+meant|correct(?:ed)?\s+to"
    r"|sollte\s+(?:lauten|heißen|heissen)|richtig\s+ist|korrekt\s+ist|devrait\s+être"
    r"|debería\s+ser|dovrebbe\s+essere|правильн(?:ый|ий|ое|е)\s+(?:номер\s+)?"
    r"(?:заказа|замовлення)?|следует\s+читать|должно\s+быть|має\s+бути"
    # "the correct PO (number) is", "die richtige Bestellnummer ist", "le bon numéro est",
    # "el número correcto es", "o número correto é", "il numero corretto è", "prawidłowy numer
    # zamówienia to", "správné číslo objednávky je"
    r"|(?:the\s+)?(?:correct|right)\s+(?:po|p\.\s?o\.?|purchase\s+order|order)(?:\s+(?:number|no\.?))?"
    r"\s+(?:is|should\s+be|would\s+be)"
    r"|(?:die\s+)?richtige\s+(?:bestellnummer|bestellung|bestell-?nr\.?)\s+(?:ist|lautet)"
    r"|(?:le\s+)?bon\s+num[ée]ro(?:\s+de\s+commande)?\s+est"
    r"|n[úu]mero\s+(?:de\s+(?:pedido|orden|encomenda)\s+)?corre[c]?to\s+(?:es|é)"
    r"|numero\s+(?:d'ordine\s+)?corretto\s+è"
    r"|prawidłowy\s+numer(?:\s+zamówienia)?\s+to|správné\s+číslo(?:\s+objednávky)?\s+je"
    r"|(?:de\s+)?juiste\s+(?:po|order|bestelling|inkooporder)(?:nummer)?\s+is))"
    r"[\s:(\"'\u201c\uff1a]*(?:(?:the|our|po|p\.\s?o\.?|order|number|no\.?|nr\.?|#|die|der|unsere"
    r"|bestell(?:ung|nummer|-?nr\.?)|la|le|notre|commande|num[ée]ro)[\s:#.]*){0,3}\Z",
    regex.IGNORECASE,
)


def _corrected_to(c: Candidate) -> bool:
    return _words_before(c, _CORRECTING, 40) is not None


def _correcting_words(c: Candidate) -> str:
    """The words that correct to the value, with it, as written ("should read 4500123456")."""
    return _said_with(c, _CORRECTING, "corrected to")


def _only_ruled_out(valid: Sequence[Candidate]) -> bool:
    """Whether every PO the writer's own text names is named as the one not to use ("don't
    book it on 4500…, the new PO follows"): no PO of theirs to link."""
    own = [c for c in valid if not c.quoted and c.source != "subject"]
    return bool(own) and all(
        _ruled_out(c) and _STRONGLY.search(_ruling_words(c)) is not None for c in own
    )


# Named alone, a PO the writer rules out with these words is not the message's PO; with others
# ("do not print under PO …", "the old order …") the message is still about it.
_STRONGLY = regex.compile(
    r"\b(?:disregard|ignore|wrong|incorrect|falsche[nrs]?|mauvaise?|erron[ée]e?"
    r"|(?:don'?t|do\s+not|never)\s+(?:\w+\s+){0,2}?(?:book|charge|invoice|bill|use))\b",
    regex.IGNORECASE,
)


def _ruled_out(c: Candidate) -> bool:
    """Whether the words right before the value name it as the number not to use."""
    return _words_before(c, _RULED_OUT, 40) is not None


def _ruling_words(c: Candidate) -> str:
    """The words that rule the value out with the value, as written ("not 4500123456")."""
    return _said_with(c, _RULED_OUT, "not")


def _said_with(c: Candidate, words: regex.Pattern[str], fallback: str) -> str:
    """``words`` right before the value and the value, quoted as written."""
    m = _words_before(c, words, 48)
    said = " ".join(m.group(0).split()) if m else fallback
    sep = "" if not said or said.endswith(("(", '"', "'", "\u201c")) else " "
    return f'"{said}{sep}{" ".join(c.raw.split())}"'


def _words_before(c: Candidate, words: regex.Pattern[str], reach: int) -> regex.Match[str] | None:
    """The match of ``words`` ending right before the value in its context (within ``reach``
    characters), or None; the context marks the value with "[...]"."""
    mark = _mark(c)
    return words.search(c.context, max(0, mark - reach), mark) if mark > 0 else None


def _mark(c: Candidate) -> int:
    """Where the context's "[" marking the value is (-1 when it is not marked)."""
    end = c.context.find(" ".join(c.raw.split()) + "]")
    return c.context.rfind("[", 0, end + 1) if end >= 0 else -1


_GROUPING = regex.compile(r"(?<=\d)[ .](?=\d)")


def _as_known(
    c: Candidate, customer: str | None, pos: PoIndex, rules: Mapping[str, CustomerRules]
) -> Candidate:
    """A malformed value that is a known PO once the spaces or dots grouping its digits ("PO #:
    410 022", "Bestellung 4500 123 456"), or a revision, line or amendment number written onto
    it ("PO-AW27-40103-R2", "P7-104522-3"), are dropped is that PO. Other separators, missing
    zeros or letters keep it malformed (with its "did you mean"): clerks asked to check those."""
    table = pos.get(customer or "")
    if c.valid or not table:
        return c
    number = _regrouped(c.raw, rules.get(customer or ""), table)
    return c if number is None else dataclasses.replace(c, normalized=number, valid=True)


# A revision written onto the PO number: "PO-AW27-40103-R2", "4500123456 Rev.3", "4500123456/R1".
_REVISION = regex.compile(
    r"[-_/. ]?(?:r|rev|revision|v|ver)\.?[ -]?\d{1,2}\Z|[-_/. ]rev(?:ision)?\.?[ -]?[a-z]\Z",
    regex.IGNORECASE,
)
# A line or amendment number written onto it: "P7-104522-3" (PO line 3), "MDS/24/01187/02".
_LINE = regex.compile(r"[-/.]\d{1,3}\Z")


def _regrouped(raw: str, rule: CustomerRules | None, table: Mapping[str, PoRecord]) -> str | None:
    """The known PO ``raw`` is once the spaces or dots grouping its digits, or a revision number
    written onto it, or else a line or amendment number, are dropped; else None."""
    grouped = _GROUPING.sub("", raw)
    joined = _REVISION.sub("", grouped)
    if rule is None:
        return None
    if joined == raw:
        joined = _LINE.sub("", raw)
        if joined == raw:
            return None
    try:
        m = rule.pattern.search(joined, timeout=0.5)
    except TimeoutError:
        return None
    if m is None or any(ch.isdigit() for ch in joined[: m.start()] + joined[m.end() :]):
        return None
    number = rule.normalize(m)
    return number if number is not None and number in table and rule.is_valid(number) else None


def _lookalikes(table: Mapping[str, PoRecord]) -> Lookalikes:
    return table.lookalikes if isinstance(table, PoTable) else Lookalikes(table.keys())


def _did_you_mean(hints: Sequence[str]) -> str:
    return f"Did you mean {' or '.join(hints)}?"


def _refold(text: str) -> str:
    """Look-alike letters inside digit runs become digits ("2023-00I25" -> "2023-00125")."""
    chars = list(text)
    for i, ch in enumerate(chars):
        left = chars[i - 1] if i else ""
        right = chars[i + 1] if i + 1 < len(chars) else ""
        if ch.upper() in "OQDILSBZG|" and (left.isdigit() or right.isdigit()):
            chars[i] = fold(ch) or ch
    return "".join(chars)


def _as_written(c: Candidate) -> tuple[str, ...]:
    """The value, and the label with the value as the context marks it ("[PO-2024-00123]"): a
    number of another customer may begin with a word that is also a label ("PO-", "BN-")."""
    raw = " ".join(c.raw.split())
    start = _mark(c)
    marked = (
        c.context[start + 1 : c.context.find(raw + "]", start) + len(raw)] if start >= 0 else ""
    )
    return (c.raw, marked) if marked and marked != raw else (c.raw,)


def _known_elsewhere(
    texts: Sequence[str],
    customer: str | None,
    pos: PoIndex,
    rules: Mapping[str, CustomerRules],
) -> tuple[str, str] | None:
    """(other customer, canonical number) when another customer's rules read one of ``texts``
    (the value as written, with or without its label) as one of that customer's known POs."""
    for other, rule in rules.items():
        if other == customer or not pos.get(other):
            continue
        for text in texts:
            try:
                m = rule.pattern.search(text, timeout=0.5)
            except TimeoutError:
                continue
            if m is None:
                continue
            number = rule.normalize(m)
            if number is not None and number in pos[other]:
                return other, number
    return None


def _other_owner(number: str, customer: str | None, pos: PoIndex) -> str | None:
    for other, records in pos.items():
        if other != customer and number in records:
            return other
    return None


def _a_year(raw: str) -> bool:
    """A bare year ("2025"): a number of a short format's shape too, but naming it is noise."""
    return len(raw) == 4 and raw.isdigit() and 1990 <= int(raw) <= 2099


def _one_per_number(cands: Sequence[Candidate]) -> list[Candidate]:
    return list({c.normalized: c for c in reversed(cands)}.values())[::-1]


def _pos(numbers: Iterable[str]) -> str:
    """'PO 2023-00125-WS, PO-2024-00123': each number as ``_po`` says it."""
    return ", ".join(_po(n) for n in sorted(numbers))


def _written_apart(raw: str, meant: Sequence[str]) -> bool:
    """Whether ``raw``'s letters and digits stand, in order and unchanged, in the one PO meant
    ("2024 0590" of a file name AT_PO_2024_0590 for AT-2024-0590): no slip, another spelling."""
    if len(meant) != 1:
        return False
    alnum = "".join(ch for ch in raw.upper() if ch.isalnum())
    return bool(alnum) and alnum in "".join(ch for ch in meant[0].upper() if ch.isalnum())


def _po(number: str) -> str:
    """ "PO 2023-00125-WS", "PO 4500123456": a number of digits is named a PO; one that starts
    with letters ("ACME-123456", "UK-PO-2024-00815", "DG25/0078") names itself, as written."""
    return number if number[:1].isalpha() else f"PO {number}"


def _one_stop(reason: str) -> str:
    """A sentence ending in a name that ends with a dot ("Harbor Inc.") gets one full stop."""
    return reason[:-1] if reason.endswith("..") and not reason.endswith("...") else reason


def _name(customer: str | None, names: Mapping[str, str]) -> str:
    if customer is None:
        return "no customer"
    return names.get(customer, customer)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
