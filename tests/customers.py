"""Customer rules the unit tests share: Westside, Acme and Nordwind as in `config/customers/`,
compiled in code so the pure tests need no configuration files."""

from __future__ import annotations

from typing import Any

from extractors.rules import CustomerRules


def compiled(customer_id: str, **kwargs: Any) -> CustomerRules:
    """Compile rules that must be sound (a test setup error otherwise)."""
    rules = CustomerRules.compile(customer_id, **kwargs)
    assert isinstance(rules, CustomerRules), rules
    return rules


WESTSIDE = compiled(
    "westside",
    name="Westside Tools Ltd",
    senders=["*@westside-tools.example", "purchasing@ws-group.example"],
    pattern=(
        r"(?<![\w/])(?P<year>20\d{2})[-/ ]?(?P<seq>\d{3,5})[-/ ]?(?P<dept>[A-Za-z]{2})(?![\w/])"
    ),
    format="{year}-{seq:0>5}-{dept:upper}",
    valid=r"20\d{2}-\d{5}-[A-Z]{2}",
    labels=["PO", "P.O.", "Purchase Order", "Order Ref", "Your ref"],
)
ACME = compiled(
    "acme",
    name="Acme Corporation",
    senders=["*@acme-corp.example", "*@*.acme-corp.example"],
    pattern=r"(?<![\w-])(?:ACME[- ]?)?(?:PO[- ]?)?(?P<num>\d{6})(?![\w-])",
    format="ACME-{num}",
    valid=r"ACME-\d{6}",
    labels=["PO", "P.O.", "Purchase Order"],
)
NORDWIND = compiled(
    "nordwind",
    name="Nordwind Handel GmbH",
    senders=["*@nordwind-handel.example", "einkauf@nordwind.example"],
    pattern=r"(?<![\w-])BN[- ]?(?P<year>20\d{2})[-/ ]?(?P<seq>\d{4})(?![\w-])",
    format="BN-{year}-{seq}",
    valid=r"BN-20\d{2}-\d{4}",
    labels=["Bestellnummer", "Bestell-Nr.", "Bestellung", "Ihre Bestellung", "PO"],
)
# A customer whose numbers all start with the letters "BST": near misses ("BST-10019",
# "Best-000466") are read for it.
KESSLER = compiled(
    "kessler",
    name="Kessler Bau-Service GmbH",
    senders=["*@kessler.example"],
    pattern=r"(?<![\w-])BST-?(?P<n>\d{6})(?![\w-])",
    format="BST-{n}",
    labels=["PO", "Bestellung"],
)
