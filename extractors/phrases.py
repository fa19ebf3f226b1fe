"""The words around a number: what names another number (decoys), and what may stand between
a PO label and its value. Shared by the text scan (``extractors.text``) and the reading of tables
written as text (``extractors.tables``)."""

from __future__ import annotations

import regex

# A decoy label names another number: what follows it is not a PO ("Invoice No.", "Tel", "IBAN").
DECOY_WORDS = r"""(?<![\w])(?:
        invoices?|inv|rechnung|rechnungs-?(?:nummer|nr)|facture|bill|credit\s+note|gutschrift
      | factuur(?:nummer|nr)?|fattura|factura|faktura(?:nummer|nr)?|fakturanr
      | pakbon|bon\s+de\s+livraison|albar[aá]n|bolla|ddt|f[øo]lgeseddel|f[öo]ljesedel
      | tracking|track|awb|waybill|consignment|shipment|delivery\s+note|lieferschein(?:nummer|nr)?
      | sendungs(?:nummer|nr)|paketnummer|auftragsbest[äa]tigung
      | phone|tel|telephone|telefon|fax|mobile|mob|cell|call
      | iban|bic|swift|account|acct|a/c|sort\s+code|routing|bank|bankleitzahl|blz
      | check\s*(?:\#|no\b|nr\b|number)|cheque|ch[eè]que|scheck
      | konto(?:nummer|-?nr)?|kto\.?-?nr|rekening(?:nummer)?|compte|conto|cuenta
      | vat|ust-?id(?:nr)?|tax\s*id|tax|ein|duns|reg(?:istration)?|steuer-?nr|st\.-?nr
      | hrb|hra|handelsregister|amtsgericht
      | company\s+(?:no|number|reg)|registered\s+(?:no|number|in)
      | zip|postcode|post\s+code|plz
      | customer\s+(?:no|number|id|\#)|kundennummer|kunden-?nr|client\s+(?:no|number|id)
      | (?:n[°º]|no|num[eé]ro|code)\.?\s*(?:de\s+)?client|klantnummer|klant-?nr
      | debitor(?:en)?(?:nummer|-?nr)?|debiteur(?:nummer)?
      | (?:numero|codice|c[oó]digo)\s+(?:de\s+)?cliente
      | quote|quotation|angebot|case|ticket|rma|serial|s/n|sku|part|article|item
      | artikel(?:nummer|-?nr)?
      | art\.?[\s-]*(?:nr|no)|catalog(?:ue)?|cat\.?\s*no|material(?:nummer|nr)?|mat\.?-?nr
      | confirmation\s+de\s+commande|conferma\s+(?:d['\u2019]\s*|dell['\u2019]\s*)?ordine
      | confirmaci[oó]n\s+de(?:l)?\s+pedido|orderbevestiging|bevestiging\s+van\s+(?:de\s+)?order
      | sales\s+order|order\s+confirmation|confirmation
      | accus[ée]\s+de\s+r[ée]ception(?:\s+de\s+(?:la\s+)?commande)?
      | (?:work|production|service|repair|transfer|return)\s+order
      | (?:fertigungs|arbeits|werkstatt|service|reparatur)auftrag
      | p\.?\s*o\.?[\s-]*box|postfach
      | date|datum|due
      | booking|reservation|requisition|req|rfq|project|contract|lot|batch|charge
      | solicitud\s+de\s+(?:pedido|compra)|solped|requisici[óo]n|requisi[çc][ãa]o
      | drawing|zeichnung(?:snummer|s-?nr)?|dessin|plano|disegno|tekening
      | ending\s+(?:in|with)|ends\s+(?:in|with)|last\s+(?:4|four)(?:\s+digits)?|card|visa
      | mastercard|amex|endet\s+auf|endend\s+auf|se\s+terminant\s+par|terminada\s+en
      | e\.\s?g|for\s+(?:example|instance)|such\s+as|example|z\.\s?b|zum\s+beispiel|beispiel
      | par\s+exemple|p\.\s?ex|por\s+ejemplo|p\.\s?ej|ad\s+esempio|per\s+esempio|bijvoorbeeld
    )(?![^\W\d_])\.?"""
DECOY = regex.compile(DECOY_WORDS, regex.IGNORECASE | regex.VERBOSE)
# What may stand between a label and its value: separators and "No."/"#" words.
# "Our PO is 45099999", "Bestellnummer lautet 4500123456": a verb may stand there too.
# "Buyer's Order No. & Date: 4500128410 dt. 06.05.2024", "Ihre Bestell-Nr./Datum: 4500128410 /
# 06.05.2024": the label names the date that follows the number as well.
GAP = regex.compile(
    r"[\s:#.\-=(\[|°º]*"
    r"(?:(?:number|nummer|num[eé]ro|num|nr|no|n[°º]|n(?=\.)|reference|ref|id|č|číslo|száma|szám|numer|număr(?:ul)?|رقم)(?![^\W\d_])\.?"
    r"[\s:#.\-=|]*)?"
    r"(?:(?:&|/|and|und|et|y)\s*(?:date|datum|fecha|data)\b[\s:#.\-=|]*)?"
    # "PO-Line: P7-104522-3", "PO/Item: 4500123456/00010": the number with its line after it
    r"(?:/?\s*(?:line|item|pos(?:ition)?)\s*(?:[:|]|(?=\d{5}))[\s:#.\-=|]*)?"
    # "Purchase order number not found: 2026-04630": a platform rejecting the number names it
    r"(?:(?:not\s+found|invalid|unknown|not\s+valid|onbekend|ongeldig|nicht\s+gefunden"
    r"|ung[üu]ltig|unbekannt|introuvable|inconnu|invalide)\b[\s:#.\-=|]*)?"
    # "The PO number for it is 305611"
    r"(?:for\s+(?:it|this|that|them)\s+(?=(?:is|was)\b))?"
    r"(?:(?P<verb>is|was|ist|war|lautet|est)\b[\s:#]*)?",
    regex.IGNORECASE,
)
LABEL_REACH = 24  # characters between the end of a label and the start of its value
# "the PO number for the Hartley Road chamber rebuild is 4500716001", "le numéro d'engagement à
# indiquer est 2100046015": a few words and a verb on the label's line, for a number written
# in the customer's format only (``text._adjacent``); no digits among the words.
SENTENCE_GAP = regex.compile(
    r"(?:[ \t]*(?:number|nummer|num[eé]ro|no\.|nr\.))?"
    r"[ \t]+(?:[^\W\d_]+(?:['\u2019-][^\W\d_]+)*[ \t]+){1,7}?"
    r"(?:is|was|will[ \t]+be|est|sera|ist|lautet|wird|es|será|è|é|sarà|era)[ \t]*:?[ \t]*",
    regex.IGNORECASE,
)
SENTENCE_REACH = 80  # characters of such a gap
