"""Realistic order mail written by reviewers who never read the extraction code, with the verdict
a careful accounts-payable clerk gave each message before the tool was run.

Eighty-nine sets under ``tests/realistic/``, each with its own customer files and PO records:

- ``reviewer1``: 60 German, English and French order mails for three SAP-, prefix- and
  letter-style customers (replies, forwards, auto-replies, newsletters, PDFs, decoys);
- ``reviewer2``: 63 mails heavy on PDFs (header cells, footers, key/value blocks, scans), mail
  clients (Outlook, Gmail, Apple Mail, quoted-printable, legacy charsets) and PO spellings;
- ``false-positives``: 105 mails full of numbers that are not our POs (carriers, shops,
  invoices, quantities, newsletters) and a few with one real PO among them;
- ``reviewer3``: 58 mails from procurement platforms and ERP systems (Ariba, Coupa, Jaggaer,
  Oracle, EDI gateways): change orders, acknowledgments, remittance advices, PDF tables, POs in
  attachment names, bank and customer numbers beside them;
- ``reviewer4``: 57 mails with hard spellings and scripts: full-width and Arabic-Indic digits,
  Japanese, Chinese, Polish, Turkish, Italian, Spanish, Dutch labels (with and without their
  accents), OCR slips, legacy charsets, HTML table cells, invisible direction marks;
- ``false-positives2``: 80 mails full of numbers in tables, file names, other scripts and
  languages that are not our POs (remittances, statements, bank and carrier notices, the
  supplier's own order confirmations), and a few with one real PO among them;
- ``reviewer5``: 88 ordinary order mails written by people (prose, signatures, typos, replaced
  and cancelled POs, two orders in one mail, replies and forwards in English, German, French,
  Office attachments named after the PO);
- ``ap-invoices``: 54 supplier mails to an accounts-payable mailbox (one company's own SAP and
  second-plant POs, every supplier routed by ``senders = ["*"]``): PDF invoices in six
  languages, credit notes, reminders, statements, scans, an XML e-invoice;
- ``examples``: 74 order mails for the three example customers exactly as shipped in
  ``config/customers/`` (a copy, so that editing the examples does not change this set);
- ``admin-formats``: 66 mails for four customer files an admin wrote from the README alone
  (SAP numbers with line items and EDI padding, revisions and blanket releases, slashed and
  dotted numbers, site codes);
- ``pdf-documents``: 65 mails whose PO is mostly only in a PDF (header boxes, line-item tables,
  page 2 and footers, four languages, scans, rotated and tiny pages, two columns, two PDFs);
- ``order-desk-numeric``: 88 mails of an order desk whose customers write purely numeric POs
  (10-digit SAP, 7 digits, "P" and 6 digits) among invoice, delivery-note, tracking, phone,
  bank, meeting and article numbers, and suppliers quoting the desk's own orders;
- ``e-invoices``: 64 supplier mails to an accounts-payable mailbox of two plants on "*":
  XRechnung and Peppol UBL, Factur-X/ZUGFeRD PDFs, CII, credit notes, statements, reminders,
  order references in free text and CDATA, buyer references, cut-off, mis-encoded, hostile and
  non-invoice XML (the reviewer's two files of 8 and 6 MB are left out of the repository; the
  size limit is tested in ``tests/test_einvoice.py``);
- ``small-shops``: 52 mails to a wholesale distributor from cafés, bakeries, restaurants and two
  bigger customers with short, informal order numbers ("#1234", "bb412", date codes) among
  quantities, prices, times, phone, card and street numbers, price lists and run sheets;
- ``international``: 61 mails in five languages and eleven charsets, broken charset declarations;
- ``procurement-platforms``: 104 Ariba, Coupa, Oracle and Dynamics notifications and the mail
  around them;
- ``remittances-statements``: 90 accounts-payable mails naming many POs or none: remittances,
  statements, dunning, deductions, bank and payment-platform notices, CSV remittances;
- ``threads``: 67 replies and forwards in Outlook, Gmail, Apple Mail, Notes and mobile styles;
- ``logistics``: 68 shipping mails (advance ship notices, delivery notes, carrier and forwarder
  notices, customs invoices, claims) with waybill, container, SSCC and booking numbers;
- ``manufacturing-changes``: 60 industrial buyers' PO revisions, change orders, call-offs
  against outline agreements, item references, quality notices;
- ``shops-forms-phones``: 62 web-shop notifications, web forms, fax gateways, voicemail
  transcripts, mails from phones, bounces, calendar invitations, text attachments;
- ``shared-mailbox``: 63 mails to one mailbox of eight customers with look-alike formats, a
  reseller ordering for two of them, private addresses, another customer's PO quoted;
- ``food-distribution``: 74 supermarket, wholesaler and hospital-kitchen orders among GTINs,
  lot numbers, slot bookings, EDI gateway notices and credit requests;
- ``public-sector``: 66 NHS, council, university and French hospital orders from e-procurement
  portals, framework call-offs, invoice rejections, P-card orders;
- ``nordic-iberian``: 71 Swedish, Danish, Norwegian, Finnish, Spanish and Portuguese mails,
  with their mail clients' reply and forward headers and legacy charsets;
- ``construction-fm``: 64 contractors', housing associations' and facilities firms' orders among
  job, site, work-order, ticket and quote numbers;
- ``it-reseller``: 73 POs against quotes, renewals, licence, serial, agreement, RMA and
  distributor numbers;
- ``medical-lab``: 74 hospital, lab and clinic orders among lot, REF, PZN and tender numbers,
  recalls, backorders and controlled-drug forms;
- ``car-parts``: 69 garage, fleet and dealer orders among VINs, registrations, job cards and
  part numbers;
- ``us-b2b``: 62 QuickBooks, NetSuite, Xero, Amazon Business and EDI orders with US addresses,
  card receipts, tracking and invoice numbers;
- ``hospitality``: 60 hotel-platform, chef, caterer and residence orders among BEO, event, room
  and cover numbers;
- ``print-packaging``: 62 print-run orders, proofs and artwork approvals among Pantone, gsm,
  job and quote numbers, agencies ordering for brands;
- ``ap-bills``: 70 utility, telecom, SaaS and facilities bills to an accounts-payable mailbox on
  ``senders = ["*"]``, among account, meter, subscription and invoice numbers;
- ``chemicals-pharma``: 70 lab, formulator, contract-manufacturer and hospital-pharmacy orders
  among CAS, lot, UN and catalogue numbers, CoA and SDS requests, blanket call-offs;
- ``electronics``: 70 component orders, schedule changes and shortage lists among MPNs, date
  codes, quotes, RMAs and pasted BOMs, broker offers and trade-show mail;
- ``aerospace``: 81 aerospace and precision-engineering POs, revisions and amendments, FAI and
  CoC paperwork, NCRs, drawing, NSN and CAGE numbers, supplier-portal mail;
- ``fashion-sourcing``: 77 factory and agent mails about a brand's POs (two formats on
  ``senders = ["*"]``), style, season, colour, carton, container and L/C numbers, long threads;
- ``energy-services``: 74 Ariba, Coupa and field mails of oil, gas and wind operators with AFE,
  well, ticket, SES, blanket and release numbers;
- ``universities``: 96 university, institute and hospital orders from e-procurement systems
  among requisition, grant, cost-centre and P-card numbers, invoice rejections;
- ``marine-chandlery``: 71 shipowners', masters' and agents' orders among vessel, IMO, port-call,
  requisition and maker part numbers, revised as the schedule changes;
- ``aviation-mro``: 93 airline, MRO and business-jet orders, AOG and exchange orders among part,
  serial, tail, work-order and certificate numbers;
- ``automotive-calloffs``: 69 tier-1 scheduling agreements, call-offs, change notices and claims
  in German, Czech, Polish and Spanish, a DELFOR schedule;
- ``professional-services``: 79 consultancy POs, change orders, timesheets, invoice rejections
  and remittances among SOW, project, cost-centre and requisition numbers;
- ``farm-coop``: 71 farmers', estates' and feed mills' orders from phones and farm software
  among field, holding, herd, lot and account numbers, WhatsApp text, a photo of an order slip;
- ``us-retail-vendor``: 67 US retailers' EDI 850/860 mail, portal notices, routing, chargebacks,
  deductions and remittances among store, DC, department, UPC, BOL and PRO numbers;
- ``contract-furniture``: 77 hotel, office and university fit-out orders, variation orders,
  deposits, room schedules and snagging lists among project, room, FF&E and quote numbers;
- ``exporter-ch-in-gulf``: 76 Swiss, Austrian, Indian and Gulf orders, amendments, LCs and
  inspection calls (Swiss and Indian number formats, Arabic text and Arabic-Indic digits);
- ``mining-supplies``: 62 Chilean, Peruvian, Australian and South African mine orders in
  English and Spanish among site, equipment-tag, work-order, reservation and requisition numbers;
- ``av-rental``: 66 event agencies', venues' and broadcasters' rental orders, quotes, kit and
  date changes, damage claims, agencies ordering for clients;
- ``cee-orders``: 62 Polish, Czech, Slovak, Hungarian and Romanian orders in ISO-8859-2,
  windows-1250 and UTF-8 with local number, date and tax-number formats;
- ``cjk-orders``: 84 Japanese, Chinese, Taiwanese and Korean orders in ISO-2022-JP, Shift_JIS
  (one undeclared), GB2312/GBK, GB18030, Big5, EUC-KR and UTF-8, CJK PDFs, ROC years;
- ``federal-defence``: 72 US federal and defence orders (PIINs, delivery orders under IDIQ
  contracts, primes' SAP and Oracle POs) among CAGE codes, NSNs, CLINs, mods and DFAS remittances;
- ``books-education``: 73 bookshop, library, school-district and university orders among
  ISBNs, EANs, requisitions, EDItEUR text, title lists, returns and backorder reports;
- ``fr-be-nl-it``: 67 French, Belgian, Dutch and Italian orders (Chorus Pro engagements,
  bestelbonnen, ordini) among SIRET, TVA, KvK, CIG/CUP numbers in Latin-1 and UTF-8;
- ``builders-merchant``: 76 house builders', contractors' and tradespeople's orders from
  purchasing systems and phones among plot, job, quote and delivery-ticket numbers;
- ``telecom-utility``: 71 network operators' and utilities' call-offs, SAP POs with service
  entry sheets, work orders, NTE uplifts, valuations and self-billing statements;
- ``latin-america``: 68 Mexican, Colombian, Chilean, Argentine and Brazilian orders among RFC,
  RUT, CUIT, NIT, CNPJ numbers, CFDI folios and NF-e keys;
- ``german-mittelstand``: 70 German, Austrian and Swiss orders, call-offs and dunning letters
  among Kundennummer, Lieferschein, Kostenstelle and HRB numbers, SAP and DATEV PDFs;
- ``hospital-devices``: 71 hospital and health-system orders, bill-only and replenishment POs
  among case, lot, serial, UDI and GPO contract numbers;
- ``tr-gr-il-eg``: 68 Turkish, Greek, Hebrew and Arabic orders in their charsets, right-to-left
  HTML and Arabic-Indic digits among tax, customs and letter-of-credit numbers;
- ``au-nz-ca``: 79 Australian, New Zealand and Canadian orders (English and French) among ABN,
  GST and job numbers, "PO to follow" and credit-card orders;
- ``marketplaces``: 93 online retailers' and marketplaces' portal notices, EDI and CSV POs,
  drop-ship orders, chargebacks and remittances among ASINs, SKUs and consumer order numbers;
- ``india-domestic``: 71 Indian utilities', distributors', EPC contractors' and PSUs' POs, work
  orders and amendments among GSTINs, e-way bills, IRNs, LR numbers and lakh-grouped amounts;
- ``nordic-baltic``: 81 Finnish, Swedish, Norwegian, Danish, Estonian, Latvian and Lithuanian
  orders among payment references, OCR and KID numbers, Finvoice and EHF e-invoices;
- ``colleague-forwards``: 66 orders reaching the desk through colleagues: reps' forwards from
  phones, retyped POs, threads, forwarded .eml files, screenshots;
- ``southeast-asia``: 70 Vietnamese, Thai, Indonesian, Malaysian and Philippine orders in
  windows-1258, TIS-620 and UTF-8, Buddhist-era years, Roman-numeral months;
- ``hard-english``: 82 ordinary English mails that trip people up: self-corrections, two
  orders, signature refs, forwarded chains, look-alike numbers, PDFs that differ from the body;
- ``sign-print``: 60 sign and print orders from businesses, councils, schools, agencies, web
  forms and shop notifications among job, proof and quote numbers;
- ``machine-shop``: 72 machine-shop orders, releases and change orders among drawing, revision,
  NCR, RMA, heat and lot numbers;
- ``africa``: 61 Nigerian, Kenyan, South African, Ghanaian, Moroccan and Senegalese orders
  (LPOs, bons de commande) among proformas, LC, Form M, tender and mobile-money references;
- ``cyrillic-orders``: 62 Russian, Ukrainian, Kazakh, Uzbek, Georgian and Armenian orders in
  KOI8-R, KOI8-U, windows-1251 and UTF-8 ("Заказ № …", УПД, ТТН, БИН/ИНН);
- ``dental-vet``: 75 dental and veterinary clinic orders from phones, groups' procurement and
  practice software among SKUs, lot numbers, patients' names and controlled-drug forms;
- ``fresh-produce``: 71 fresh-produce and flower orders: standing orders, depot POs, chefs'
  phone mails, spoilage claims, GTINs, PLUs, crate and route numbers;
- ``rail-transit``: 64 rail, tram and bus maintenance orders: framework call-offs, fleet and
  vehicle numbers, Maximo/SAP PM work orders, repair exchanges, English and German;
- ``events-exhibitions``: 76 exhibition-stand and event orders from marketing teams, agencies,
  fair organisers and venues among stand, hall, booking and quote numbers;
- ``office-orders``: 64 orders sent as Excel order forms, ERP exports and weekly sheets, and as
  Word purchase orders (headers, tables), with protected, old-binary and damaged files;
- ``wine-spirits``: 68 wine and spirits orders among excise, bond, ARC, LWIN, vintage and case
  numbers, from hotels, supermarkets, duty-free, wholesalers and restaurants;
- ``steel-metals``: 82 steel service-centre orders among grades, dimensions, heat, cast and coil
  numbers, mill certificates, cutting lists and frame-contract call-offs;
- ``commodity-trading``: 80 coffee, cocoa, grain and sugar contracts and orders among ICO marks,
  lots, containers, bills of lading, letters of credit and price fixations;
- ``body-repair``: 72 accident-repair parts orders from garages, insurers and fleets among claim,
  estimate, authorisation, VIN and registration numbers;
- ``shared-service-languages``: 60 threads of a shared-service centre in eleven languages, the PO
  in the newest mail, only in the quoted history, or changed along the thread;
- ``pharma-wholesale``: 71 German and Austrian pharmacy, hospital-pharmacy and care-home orders
  among PZN, batch, BtM, IK and BSNR numbers;
- ``import-factories``: 70 retailers' orders beside Asian factories' PIs, packing lists, QC
  reports and bills of lading quoting the importer's own POs;
- ``order-fraud``: 65 real orders and fake ones from look-alike domains, free-mail and hijacked
  threads, with forged PO PDFs;
- ``fax-scans``: 62 orders by fax-to-email and copier scans, with noisy OCR text layers and
  image-only pages;
- ``cjk-office-forms``: 71 Japanese, Chinese, Taiwanese and Korean orders as Excel and Word
  forms (merged cells, Excel dates, full-width digits, hidden sheets, ROC years);
- ``hvac-plumbing``: 72 plumbing and HVAC orders from contractors' job systems, foremen's
  phones, facilities portals and councils among model, serial and job numbers;
- ``agri-machinery``: 75 German, French, Polish and UK dealers' parts orders among serial
  numbers, supersessions, warranty claims and harvest-season breakdowns;
- ``security-systems``: 75 CCTV, access and alarm orders from installers and integrators among
  camera model numbers, MAC addresses, licence keys and project codes.

Each message is read as a poll reads it (``pipeline.analyse``, PDFs included) and judged
against its set's records (``triage.judge``; threads are not looked up, as in ``try``). The
verdict must be the clerk's, or one the clerk marked acceptable. Where the tool still
disagrees, the case is listed in ``DISAGREE`` with the reason, as a strict xfail: fixing it
makes the test fail until the entry is removed.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from extractors.rules import CustomerRules
from inbox_watcher.model import PoTable
from inbox_watcher.pipeline import Analysis, Limits, MessageTask, analyse
from inbox_watcher.po_import import import_pos_csv
from inbox_watcher.records import normalizer
from inbox_watcher.triage import judge
from tests.mailgen import load_customers

ROOT = Path(__file__).resolve().parent / "realistic"
SETS = (
    "reviewer1",
    "reviewer2",
    "false-positives",
    "reviewer3",
    "reviewer4",
    "false-positives2",
    "reviewer5",
    "ap-invoices",
    "examples",
    "admin-formats",
    "pdf-documents",
    "order-desk-numeric",
    "e-invoices",
    "small-shops",
    "international",
    "procurement-platforms",
    "remittances-statements",
    "threads",
    "logistics",
    "manufacturing-changes",
    "shops-forms-phones",
    "shared-mailbox",
    "food-distribution",
    "public-sector",
    "nordic-iberian",
    "construction-fm",
    "it-reseller",
    "medical-lab",
    "car-parts",
    "us-b2b",
    "hospitality",
    "print-packaging",
    "ap-bills",
    "chemicals-pharma",
    "electronics",
    "aerospace",
    "fashion-sourcing",
    "energy-services",
    "universities",
    "marine-chandlery",
    "aviation-mro",
    "automotive-calloffs",
    "professional-services",
    "farm-coop",
    "us-retail-vendor",
    "contract-furniture",
    "exporter-ch-in-gulf",
    "mining-supplies",
    "av-rental",
    "cee-orders",
    "cjk-orders",
    "federal-defence",
    "books-education",
    "fr-be-nl-it",
    "builders-merchant",
    "telecom-utility",
    "latin-america",
    "german-mittelstand",
    "hospital-devices",
    "tr-gr-il-eg",
    "au-nz-ca",
    "marketplaces",
    "india-domestic",
    "nordic-baltic",
    "colleague-forwards",
    "southeast-asia",
    "hard-english",
    "sign-print",
    "machine-shop",
    "africa",
    "cyrillic-orders",
    "dental-vet",
    "fresh-produce",
    "rail-transit",
    "events-exhibitions",
    "office-orders",
    "wine-spirits",
    "steel-metals",
    "commodity-trading",
    "body-repair",
    "shared-service-languages",
    "pharma-wholesale",
    "import-factories",
    "order-fraud",
    "fax-scans",
    "cjk-office-forms",
    "hvac-plumbing",
    "agri-machinery",
    "security-systems",
)

DISAGREE: dict[tuple[str, str], str] = {
    ("hvac-plumbing", "p05_new_pad_number.eml"): (
        "'PH 423' (a new pad number written with a space, from the customer's own address): "
        "read as weak evidence ('no PO label and several words'), so not unknown but missing"
    ),
    ("hvac-plumbing", "t10_po_with_line.eml"): (
        "'our ref 118734/2': the customer's pattern refuses a '/' after the number, so the known "
        "PO with its line number is not found unlabelled (missing)"
    ),
    ("fax-scans", "03_fax_hartley_ocr_spacing.eml"): (
        "OCR spaced the labelled PO apart ('H S/2025/01 60'): a number broken by spaces inside "
        "its letters and digits is not put together (missing)"
    ),
    ("fax-scans", "20_fax_number_spaced.eml"): (
        "'KB - 25 - 04 20' (spaces around every dash and inside the digits) is not read as one "
        "number (missing)"
    ),
    ("fax-scans", "21_fax_tx_report_ok.eml"): (
        "the PO joined by '_' in a file name ('..._KB-25-0412.pdf') is refused by the customer's "
        "pattern boundary; the near-miss pass calls it mistyped (malformed)"
    ),
    ("fax-scans", "33_own_copier_scan_driver_docket.eml"): (
        "OCR wrote the label 'P0 No' (zero for O) and the number '1184l5': a two-letter label "
        "with a zero is no label (a 'P0' before digits is an ID's start), so nothing is found"
    ),
    ("body-repair", "p01_garage_chases_insurer_auth.eml"): (
        "a garage (another customer) writes 'their authorisation is NGI-25-004425', a known "
        "insurer's PO without a PO label: another customer's number counts only with a label, "
        "so nothing is found (missing)"
    ),
    ("africa", "K05.eml"): (
        "'the LPO No. for the batteries is 1830' (a digit short): a label, words and a verb "
        "keep only a number in the customer's format, so the short one is not found (missing)"
    ),
    ("dental-vet", "75_rv_grouped_digits.eml"): (
        "'the PO for the Form 222 order is 4700 219 288': words with digits and a number "
        "grouped by spaces after them are no sentence gap; found nothing (missing)"
    ),
    **{
        ("federal-defence", name): (
            "a known PO under a 'Contract Number' column is dropped (a decoy header): the "
            "customer file lacks the 'Contract Number' label the reference says to list"
        )
        for name in (
            "a17_delinquency_table.eml",
            "d13_dla_delinquency_list.eml",
            "x04_dfas_remit_single.eml",
            "x05_dfas_remit_csv.eml",
        )
    },
    ("german-mittelstand", "l09_lieferplan_pdf.eml"): (
        "a delivery schedule PDF names its blanket order (7100050) in the header beside the three "
        "call-offs: the blanket is one of the POs (a blanket beside its releases is documented)"
    ),
    ("tr-gr-il-eg", "e09_rfq_arabic.eml"): (
        "the reviewer's customer lists the Arabic 'request number' as a PO label; 'RFQ-25-077' "
        "after it is read as a malformed PO: a configuration ambiguity"
    ),
    ("tr-gr-il-eg", "g06_mixed_script_number.eml"): (
        "'\u03a0AP-000345' types a Greek Pi beside Latin A and P: letters of two scripts that look "
        "alike are not read as one"
    ),
    ("au-nz-ca", "y06_spaced_po.eml"): (
        "'PC 104 701': the digits of a lettered PO grouped by spaces are not read as the PO"
    ),
    ("au-nz-ca", "y10_repeat_of_old_po.eml"): (
        "'repeat what we ordered on PO 4500718820 ... A new PO will follow': a repeat order naming "
        "the old PO as its template is linked to it"
    ),
    ("marketplaces", "b04_slash_pair.eml"): (
        "'PO# 1840273371/1840273388': the customer's pattern excludes a number right after a "
        "slash, so the second full number is not read"
    ),
    ("nordic-baltic", "D13.eml"): (
        "'jeres ordrenr. 250377' (your order no.: our own sales order) fits the customer's format "
        "after a label the reviewer's customer lists: read as a new PO beside the real one"
    ),
    ("colleague-forwards", "k26_rep_short_sequence.eml"): (
        "'PO KM 25 0455', a lettered PO written in spaced groups, is not read at all"
    ),
    ("colleague-forwards", "x64_body_and_pdf_disagree.eml"): (
        "in a colleague's forward the customer's text counts as quoted history, so its PO does "
        "not disagree with the PDF's: linked to the PDF's PO"
    ),
    ("southeast-asia", "x2-ph-disregard-correct-po.eml"): (
        "'Please disregard PO# 2025-00362 ... the correct PO is 2025-00377': the customer's "
        "pattern needs 'PO' inside the number, so the correct one is malformed and the one to "
        "disregard, named alone, links (h22)"
    ),
    ("hard-english", "x04_crestline_two_pos_sorry.eml"): (
        "'Sorry, the fittings one should read 4500719210 - 4500718822 is last month's': a "
        "correction by 'should read' is not read, so the wrong PO stays among the POs"
    ),
    ("sign-print", "pat05_closed_and_new.eml"): (
        "'PAT002740 was for the summer term signage and is now closed': the closed words stand "
        "too far after the number to be read with it"
    ),
    ("books-education", "S06.eml"): (
        "'the PO number shown on it, 25-004521, does not exist': a label across words and a "
        "comma is not read, so the unknown number counts as unlabelled: missing"
    ),
    ("reviewer2", "v11-kestrel-decoy-sales-order-only.eml"): (
        "the reviewer's own customer lists 'Your order' as a label, and the supplier's 'Your "
        "Order No. 30045566' fits its format: a configuration ambiguity, flagged unknown"
    ),
    ("order-desk-numeric", "n20_lieferant_abwesend_eigene_bestellung.eml"): (
        "a supplier's auto-reply 'Automatische Antwort: Bestellung 4500098812' (the desk's own "
        "order) from an unlisted address: labelled and well-formed for a customer, so unknown; "
        "in a poll its flag is closed at once ([ignore] auto_replies, on by default)"
    ),
    ("print-packaging", "b17.eml"): (
        "an agency, itself a customer, asks about the end client's PO 4500413845 (another "
        "customer's, known): malformed with the owner named; the README asks to list such an "
        "agency under each customer it orders for, which links it"
    ),
    ("ap-bills", "f70_marketplace_dispatch_no_po.eml"): (
        "a marketplace's 'your order #202-4417823-5500123' to an AP mailbox on senders = ['*']: "
        "every sender is routed, so a labelled value that fits no format is malformed (a "
        "stranger's would count only near a known PO)"
    ),
    ("chemicals-pharma", "a09_calloff_own_number.eml"): (
        "a call-off gives its own new order number BE-24-0445 after 'Bestellnummer für diesen "
        "Abruf:' under the known blanket order RA-24-0005: those words keep the label from the "
        "number, so it links to the blanket order and names the new number"
    ),
    ("aerospace", "n15_annual_replacement.eml"): (
        "'commande annuelle CDE-2026-00012 … remplace la commande CDE-2025-00022' (still open): "
        "the new number has no PO label right before it, so the known one links and the new "
        "one is named"
    ),
    ("energy-services", "l10_stranger_short_po.eml"): (
        "a field supervisor's Gmail 'PO# 241883' fits another customer's format (unknown there); "
        "the clerk saw a digit missing from OP-2418830 of a third customer: no hint across "
        "customers"
    ),
    ("automotive-calloffs", "n04_pedido_sin_ceros.eml"): (
        "'pedido NCA 24 3401' for NCA/24/03401, written with spaces and without the zero: "
        "neither the pattern nor the near-miss search (letters joined to digits) sees it"
    ),
    ("farm-coop", "h08_wrong_ordrenr_reply.eml"): (
        "the reviewer's own pattern refuses a number before a comma ('skal være 71911, ikke "
        "71845'), so 71911 is never read: `check` now notes such a pattern"
    ),
    ("contract-furniture", "lum05_bc_complementaire.eml"): (
        "'nouveau bon de commande BC-LUM-24-01371 en complément du BC-LUM-24-01187': the new "
        "number's 'BC' is part of the number, so it is not labelled, and a new PO beside a known "
        "one counts as new only with a label: linked to the known one, the new one named"
    ),
    ("av-rental", "ngm06-remittance-pdf.eml"): (
        "the reviewer's PDF prints the PO and a date in touching cells ('450021873402.10.2026'): "
        "read as one malformed value; the same remittance laid out with a gap links (ngm12)"
    ),
    ("procurement-platforms", "b03_reply_moves_items_to_new_po.eml"): (
        "a reply on PO 4500232301's thread moves a line to 4500232503: linked to the PO its own "
        "text names, with a reason that the thread's PO may change too (the clerk wanted both)"
    ),
}


@cache
def setup(name: str) -> tuple[tuple[CustomerRules, ...], dict[str, PoTable]]:
    customers = load_customers(ROOT / name / "customers")
    result = import_pos_csv(
        ROOT / name / "pos.csv",
        normalize=normalizer(customers),
        known_customers={c.id for c in customers},
        customer_names={c.name: c.id for c in customers},  # as `pos import` does
    )
    assert result.errors == (), result.errors
    pos: dict[str, PoTable] = {}
    for record in result.records:
        pos.setdefault(record.customer, PoTable())[record.po_number] = record
    return customers, pos


def cases() -> list[Any]:
    out = []
    for name in SETS:
        expected = json.loads((ROOT / name / "expected.json").read_text(encoding="utf-8"))
        for file, want in sorted(expected.items()):
            marks = []
            if (name, file) in DISAGREE:
                marks.append(pytest.mark.xfail(strict=True, reason=DISAGREE[(name, file)]))
            out.append(pytest.param(name, file, want, id=f"{name}/{file}", marks=marks))
    return out


@pytest.mark.parametrize(("name", "file", "want"), cases())
def test_the_clerks_verdict(name: str, file: str, want: dict[str, Any]) -> None:
    customers, pos = setup(name)
    raw = (ROOT / name / "mail" / file).read_bytes()
    analysis = analyse(MessageTask(raw, customers, Limits()))
    assert isinstance(analysis, Analysis), analysis
    out = judge(
        analysis.extraction,
        pos,
        rules={c.id: c for c in customers},
        names={c.id: c.name for c in customers},
    )
    got = out.status.value
    why = f"{want.get('note', '')} | got {got} {out.po_numbers}: {out.reasons}"
    # An "also" of "linked:PO" (or "ambiguous:PO,PO") accepts that status with exactly those POs.
    also = want.get("also", [])
    named = {(a.split(":")[0], frozenset(a.split(":")[1].split(","))) for a in also if ":" in a}
    assert got == want["status"] or got in also or (got, frozenset(out.po_numbers)) in named, why
    if got == want["status"] and got in ("linked", "ambiguous"):
        assert sorted(out.po_numbers) == sorted(want["pos"]), why


def test_every_set_is_there() -> None:
    for name in SETS:
        expected = json.loads((ROOT / name / "expected.json").read_text(encoding="utf-8"))
        mails = sorted(p.name for p in (ROOT / name / "mail").glob("*.eml"))
        assert mails == sorted(expected), name
