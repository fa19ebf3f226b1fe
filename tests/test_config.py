"""Loading and checking watcher.toml and the customer files: real files in a temp folder."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox_watcher.config import (
    Config,
    ConfigError,
    ConfigProblem,
    check_config,
    config_reference_markdown,
    format_duration,
    format_size,
    load_config,
    parse_clock,
    parse_duration,
    parse_size,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "watcher.toml"

BASE = """\
[imap]
host = "imap.example.com"
username = "po@example.com"
password_file = "imap-password"

[database]
url = "sqlite:///state/po.db"

[schedule]
poll_every = "5m"
digest_at = "07:00"

[digest]
to = ["ap@example.com"]
smtp_host = "smtp.example.com"

[customers]
dir = "customers"
"""

WESTSIDE = r"""
name = "Westside Tools Ltd"
senders = ["*@westside-tools.example", "purchasing@ws-group.example"]

[po]
pattern = '(?<![\w/])(?P<year>20\d{2})[-/ ]?(?P<seq>\d{3,5})[-/ ]?(?P<dept>[A-Za-z]{2})(?![\w/])'
format = "{year}-{seq:0>5}-{dept:upper}"
valid = '20\d{2}-\d{5}-[A-Z]{2}'
labels = ["PO", "P.O.", "Purchase Order", "Order Ref", "Your ref"]
"""


def tree(
    root: Path,
    watcher: str = BASE,
    customers: dict[str, str] | None = None,
    credential: str = "s3cret-imap\n",
) -> Path:
    """A config folder: watcher.toml, the IMAP password file, state/ and the customer files."""
    (root / "state").mkdir(exist_ok=True)
    (root / "imap-password").write_text(credential)
    (root / "customers").mkdir(exist_ok=True)
    for stem, text in (customers if customers is not None else {"westside": WESTSIDE}).items():
        (root / "customers" / f"{stem}.toml").write_text(textwrap.dedent(text))
    path = root / "watcher.toml"
    path.write_text(watcher)
    return path


def problems_of(path: Path) -> list[ConfigProblem]:
    problems = check_config(path)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == problems
    return problems


def only(problems: list[ConfigProblem], key: str) -> ConfigProblem:
    matching = [p for p in problems if p.key == key]
    assert len(matching) == 1, f"expected one problem at {key!r}, got {problems}"
    return matching[0]


# --- the example ----------------------------------------------------------------------------------


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert isinstance(config, Config)
    assert config.path == EXAMPLE
    assert (config.imap.host, config.imap.port, config.imap.security) == (
        "127.0.0.1",
        10143,
        "none",
    )
    assert config.imap.account == "po@example.com@127.0.0.1"
    assert config.imap.password() == (REPO / "config" / "demo-imap-password").read_text().strip()
    assert config.database.url == f"sqlite:///{REPO / 'config' / 'po-watcher.db'}"
    assert config.schedule.poll_every == 300.0
    assert config.schedule.digest_at == dt.time(7, 0)
    assert config.digest.sender == "po@example.com"
    assert (config.digest.smtp_host, config.digest.smtp_port) == ("127.0.0.1", 10025)
    assert config.limits.pdf_max_bytes == 20 * 1024 * 1024
    assert config.limits.pattern_timeout == 0.5
    assert config.limits.worker_count >= 1
    assert [c.id for c in config.customers] == ["acme", "nordwind", "westside"]


@pytest.mark.parametrize(
    ("customer", "written", "canonical"),
    [
        ("westside", "PO 2024/815/mt", "2024-00815-MT"),
        ("westside", "Order Ref: 202400815MT", "2024-00815-MT"),
        ("acme", "ACME-PO-123456", "ACME-123456"),
        ("acme", "PO 123456", "ACME-123456"),
        ("nordwind", "Bestellnummer: BN-2024-0815", "BN-2024-0815"),
        ("nordwind", "Ihre Bestellung BN 2024/0815", "BN-2024-0815"),
    ],
)
def test_example_customers_normalize_their_formats(
    customer: str, written: str, canonical: str
) -> None:
    rules = load_config(EXAMPLE).customer(customer)
    assert rules is not None
    match = rules.pattern.search(written)
    assert match is not None
    assert rules.normalize(match) == canonical
    assert rules.is_valid(canonical)


def test_example_nordwind_labels_are_german() -> None:
    rules = load_config(EXAMPLE).customer("nordwind")
    assert rules is not None
    assert rules.label_pattern.search("Bestell-Nr. BN-2024-0815") is not None
    assert rules.sender_matches("Einkauf@Nordwind.example")


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(tree(tmp_path))
    assert config.imap.port == 993
    assert config.imap.security == "ssl"
    assert config.imap.folders == ("INBOX",)
    assert config.imap.timeout == 30.0
    assert config.imap.batch_size == 200
    assert config.imap.max_message_size == 25 * 1024**2
    assert config.digest.smtp_port == 587
    assert config.digest.security == "starttls"
    assert config.digest.silent_after_days == 14
    assert config.limits.pdf_memory_limit == 512 * 1024**2
    assert config.limits.pdf_time_limit == 20.0
    assert config.limits.max_attempts == 3
    assert config.schedule.timezone is None
    assert config.schedule.tzinfo is not None
    assert config.customers_dir == tmp_path / "customers"
    assert config.service_port() is None
    assert (config.imap.reconnect_retries, config.imap.reconnect_wait_max) == (4, 30.0)
    assert config.database.busy_timeout == 30.0


def test_reconnects_and_the_busy_timeout_reach_the_poll_and_the_store(tmp_path: Path) -> None:
    from inbox_watcher.runtime import open_store, settings_of

    text = BASE.replace(
        'password_file = "imap-password"',
        'password_file = "imap-password"\nreconnect_retries = 2\nreconnect_wait_max = "5s"',
    ).replace('url = "sqlite:///state/po.db"', 'url = "sqlite:///state/po.db"\nbusy_timeout = "2s"')
    config = load_config(tree(tmp_path, text))
    settings = settings_of(config)
    assert (settings.retries, settings.backoff_max) == (2, 5.0)
    store = open_store(config)
    try:
        with store._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2000
    finally:
        store.close()


def test_health_endpoint_port(tmp_path: Path) -> None:
    config = load_config(tree(tmp_path, BASE + "\n[service]\nhealth_port = 9311\n"))
    assert config.service_port() == 9311
    assert config.service.health_host == "127.0.0.1"


def test_default_ports_follow_security(tmp_path: Path) -> None:
    text = BASE.replace(
        'host = "imap.example.com"', 'host = "imap.example.com"\nsecurity = "starttls"'
    )
    text = text.replace(
        'smtp_host = "smtp.example.com"', 'smtp_host = "smtp.example.com"\nsecurity = "ssl"'
    )
    config = load_config(tree(tmp_path, text))
    assert (config.imap.port, config.digest.smtp_port) == (143, 465)


# --- one problem, one clear message --------------------------------------------------------------


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE.replace("[imap]\n", '[imap]\nhots = "x"\n'))
    problem = only(problems_of(path), "imap.hots")
    assert problem.file == str(path)
    assert problem.message == 'unknown key: did you mean "host"?'


def test_unknown_key_in_an_action_lists_the_action_keys(tmp_path: Path) -> None:
    action = 'actions = [{ folder = "INBOX", on = "linked", move = "Done" }]\n'
    path = tree(tmp_path, BASE.replace("[imap]\n", "[imap]\n" + action))
    problem = only(problems_of(path), "imap.actions[0].move")
    assert problem.message.startswith("unknown key")
    assert "move_to" in problem.message


@pytest.mark.parametrize(
    ("flag", "words"),
    [
        ("\\\\Deleted", "is not allowed: po-watcher never deletes or drafts mail"),
        ("PO checked", "is not an IMAP flag name"),
        ("(x)", "is not an IMAP flag name"),
    ],
)
def test_an_action_refuses_deleting_and_malformed_flags(
    tmp_path: Path, flag: str, words: str
) -> None:
    action = f'actions = [{{ folder = "INBOX", on = "linked", add_flags = ["{flag}"] }}]\n'
    path = tree(tmp_path, BASE.replace("[imap]\n", "[imap]\n" + action))
    assert words in only(problems_of(path), "imap.actions[0].add_flags").message


def test_unknown_section_suggests_the_closest(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE + "\n[limit]\nworkers = 2\n")
    assert only(problems_of(path), "limit").message == 'unknown key: did you mean "limits"?'


def test_key_in_the_wrong_section_says_where_it_belongs(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE.replace("[imap]\n", '[imap]\npoll_every = "1m"\n'))
    assert "belongs in [schedule]" in only(problems_of(path), "imap.poll_every").message


def test_unknown_key_in_a_customer_file(tmp_path: Path) -> None:
    path = tree(tmp_path, customers={"westside": WESTSIDE.replace("format =", "formatt =")})
    problem = only(problems_of(path), "po.formatt")
    assert problem.file == str(tmp_path / "customers" / "westside.toml")
    assert problem.message == 'unknown key: did you mean "format"?'


def test_wrong_type(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE.replace("[imap]\n", '[imap]\nport = "993"\n'))
    assert only(problems_of(path), "imap.port").message == "must be a whole number, not text"


def test_wrong_type_in_a_list(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE.replace("[imap]\n", '[imap]\nfolders = ["INBOX", 7]\n'))
    message = only(problems_of(path), "imap.folders[1]").message
    assert message == "must be text in quotes, not a whole number"


def test_folder_listed_twice(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE.replace("[imap]\n", '[imap]\nfolders = ["INBOX", "INBOX"]\n'))
    assert only(problems_of(path), "imap.folders").message == 'lists "INBOX" more than once'


def test_smtp_login_without_password(tmp_path: Path) -> None:
    text = BASE.replace("[digest]\n", '[digest]\nusername = "po-watcher"\n')
    message = only(problems_of(tree(tmp_path, text)), "digest.username").message
    assert "no password" in message


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE.replace('username = "po@example.com"', "username = po@example"))
    (problem,) = problems_of(path)
    assert problem.file == str(path)
    assert problem.message.startswith("is not valid TOML: line 3, column")
    assert str(problem).startswith(f"{path}: is not valid TOML: line 3")


def test_toml_syntax_error_in_a_customer_file(tmp_path: Path) -> None:
    path = tree(tmp_path, customers={"westside": WESTSIDE, "acme": 'name = "Acme\n'})
    (problem,) = problems_of(path)
    assert problem.file == str(tmp_path / "customers" / "acme.toml")
    assert "is not valid TOML: line 1" in problem.message


def test_a_regex_in_double_quotes_gets_the_toml_hint(tmp_path: Path) -> None:
    """The usual first mistake: a pattern in "..." where TOML reads \\d as an escape."""
    text = WESTSIDE.replace("pattern = '(?<![\\w/])", 'pattern = "(?<![\\w/])', 1)
    text = text.replace("(?![\\w/])'", '(?![\\w/])"', 1)
    path = tree(tmp_path, customers={"westside": text})
    (problem,) = problems_of(path)
    assert "Unescaped" in problem.message
    assert "write it in single quotes" in problem.message


def test_pattern_that_does_not_compile(tmp_path: Path) -> None:
    broken = WESTSIDE.replace("pattern = '(?<![\\w/])", "pattern = '(?<![\\w/])(")
    path = tree(tmp_path, customers={"westside": broken})
    (problem,) = problems_of(path)
    assert problem.key == "po.pattern"
    assert problem.message.startswith("does not compile: missing )")
    assert str(problem).startswith(f"{tmp_path}/customers/westside.toml: po.pattern: does not")


def test_format_naming_a_group_the_pattern_lacks(tmp_path: Path) -> None:
    path = tree(tmp_path, customers={"westside": WESTSIDE.replace("{dept:upper}", "{depot}")})
    message = only(problems_of(path), "po.format").message
    assert "'depot'" in message
    assert "dept, seq, year" in message


def test_pattern_matching_the_empty_string(tmp_path: Path) -> None:
    text = 'name = "E"\nsenders = ["*@e.example"]\n[po]\npattern = \'\\d*\'\n'
    path = tree(tmp_path, customers={"empty": text})
    assert "matches the empty string" in only(problems_of(path), "po.pattern").message


def test_empty_senders(tmp_path: Path) -> None:
    text = WESTSIDE.replace(
        'senders = ["*@westside-tools.example", "purchasing@ws-group.example"]', "senders = []"
    )
    path = tree(tmp_path, customers={"westside": text})
    assert "is empty" in only(problems_of(path), "senders").message


def test_customer_file_name_must_be_an_id(tmp_path: Path) -> None:
    path = tree(tmp_path, customers={"West Side": WESTSIDE})
    (problem,) = problems_of(path)
    assert problem.file.endswith("West Side.toml")
    assert "customer's id" in problem.message


def test_password_env_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PO_WATCHER_TEST_UNSET", raising=False)
    text = BASE.replace('password_file = "imap-password"', 'password_env = "PO_WATCHER_TEST_UNSET"')
    message = only(problems_of(tree(tmp_path, text)), "imap.password_env").message
    assert message == "the environment variable PO_WATCHER_TEST_UNSET is not set"


def test_password_env_unset_is_reported_only_when_the_password_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`flagged`, `messages`, `pos`, `try` and `digest --dry-run` need no IMAP password: an unset
    variable must not stop them (as a missing password file does not)."""
    monkeypatch.delenv("PO_WATCHER_TEST_UNSET", raising=False)
    text = BASE.replace('password_file = "imap-password"', 'password_env = "PO_WATCHER_TEST_UNSET"')
    config = load_config(tree(tmp_path, text), defer_secrets=True)
    with pytest.raises(ConfigError) as raised:
        config.imap.password()
    (problem,) = raised.value.problems
    assert (problem.key, problem.message) == (
        "imap.password_env",
        "the environment variable PO_WATCHER_TEST_UNSET is not set",
    )


def test_a_password_typed_into_password_env_is_not_echoed(tmp_path: Path) -> None:
    text = BASE.replace('password_file = "imap-password"', 'password_env = "hunter2!secret"')
    message = only(problems_of(tree(tmp_path, text)), "imap.password_env").message
    assert "hunter2" not in message
    assert message.startswith("is not an environment variable name")


def test_password_file_missing(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE.replace('"imap-password"', '"no-such-file"'))
    message = only(problems_of(path), "imap.password_file").message
    assert message == f"the file {tmp_path / 'no-such-file'} does not exist"


def test_password_file_unreadable(tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    path = tree(tmp_path, BASE.replace('"imap-password"', '"a-folder"'))
    assert "is not a regular file" in only(problems_of(path), "imap.password_file").message


def test_password_file_empty(tmp_path: Path) -> None:
    path = tree(tmp_path, credential="\n")
    assert only(problems_of(path), "imap.password_file").message.endswith("is empty")


def test_inline_password_refused_without_the_flag(tmp_path: Path) -> None:
    text = BASE.replace('password_file = "imap-password"', 'password = "hunter2"')
    problem = only(problems_of(tree(tmp_path, text)), "imap.password")
    assert "inline password is refused" in problem.message
    assert "allow_inline_secrets = true" in problem.message
    assert "hunter2" not in str(problem)


def test_no_password_source(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE.replace('password_file = "imap-password"\n', ""))
    assert "needs a password" in only(problems_of(path), "imap").message


def test_two_password_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PO_WATCHER_TEST_PW", "x")
    text = BASE.replace("[imap]\n", '[imap]\npassword_env = "PO_WATCHER_TEST_PW"\n')
    message = only(problems_of(tree(tmp_path, text)), "imap.password_file").message
    assert message == "give one password source, not password_env and password_file"


def test_database_url_with_a_password_refused(tmp_path: Path) -> None:
    text = BASE.replace("sqlite:///state/po.db", "postgresql://po:hunter2@db.example/po")
    problem = only(problems_of(tree(tmp_path, text)), "database.url")
    assert "holds a password" in problem.message
    assert "hunter2" not in str(problem)


def test_missing_customers_dir(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE.replace('dir = "customers"', 'dir = "clients"'))
    (problem,) = problems_of(path)
    assert problem.key == "customers.dir"
    assert problem.message == f"the folder {tmp_path / 'clients'} does not exist"


def test_no_customer_files(tmp_path: Path) -> None:
    path = tree(tmp_path, customers={})
    (problem,) = problems_of(path)
    assert problem.key == "customers.dir"
    assert problem.message.startswith("holds no customer files (*.toml)")


@pytest.mark.parametrize("written", ['"5 minutes"', '"0s"', '"-5s"', '""', '"5x"', "true", "0"])
def test_bad_duration(tmp_path: Path, written: str) -> None:
    path = tree(tmp_path, BASE.replace('poll_every = "5m"', f"poll_every = {written}"))
    message = only(problems_of(path), "schedule.poll_every").message
    assert '"30s", "5m", "1h", "1d", or plain seconds' in message


@pytest.mark.parametrize("written", ['"25:00"', '"7:60"', '"seven"', "7"])
def test_bad_digest_at(tmp_path: Path, written: str) -> None:
    path = tree(tmp_path, BASE.replace('digest_at = "07:00"', f"digest_at = {written}"))
    message = only(problems_of(path), "schedule.digest_at").message
    assert '"07:00"' in message


def test_bad_size(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE + '\n[limits]\npdf_max_bytes = "20 parsecs"\n')
    message = only(problems_of(path), "limits.pdf_max_bytes").message
    assert message.startswith('"20 parsecs" is not a size')


def test_unknown_timezone_suggests_one(tmp_path: Path) -> None:
    text = BASE.replace('digest_at = "07:00"', 'digest_at = "07:00"\ntimezone = "Europe/Berln"')
    message = only(problems_of(tree(tmp_path, text)), "schedule.timezone").message
    assert message.startswith('unknown time zone "Europe/Berln"')
    assert 'did you mean "Europe/Berlin"?' in message


def test_known_timezone(tmp_path: Path) -> None:
    text = BASE.replace('digest_at = "07:00"', 'digest_at = "07:00"\ntimezone = "Europe/Berlin"')
    config = load_config(tree(tmp_path, text))
    assert config.schedule.tzinfo.utcoffset(dt.datetime(2024, 1, 15)) == dt.timedelta(hours=1)


def test_security_not_one_of_three(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE.replace("[imap]\n", '[imap]\nsecurity = "tls"\n'))
    message = only(problems_of(path), "imap.security").message
    assert message == 'must be one of "ssl", "starttls" or "none", not "tls"'


def test_plaintext_to_a_remote_host_needs_the_flag(tmp_path: Path) -> None:
    text = BASE.replace("[imap]\n", '[imap]\nsecurity = "none"\n')
    message = only(problems_of(tree(tmp_path, text)), "imap.security").message
    assert "in clear to imap.example.com" in message
    allowed = text.replace("[imap]\n", "[imap]\nallow_plaintext = true\n")
    assert load_config(tree(tmp_path, allowed)).imap.port == 143


def test_plaintext_to_loopback_needs_no_flag(tmp_path: Path) -> None:
    text = BASE.replace('host = "imap.example.com"', 'host = "127.0.0.1"\nsecurity = "none"')
    assert load_config(tree(tmp_path, text)).imap.security == "none"


def test_missing_section(tmp_path: Path) -> None:
    text = BASE.split("[digest]", maxsplit=1)[0] + '[customers]\ndir = "customers"\n'
    assert only(problems_of(tree(tmp_path, text)), "digest").message == (
        "is missing: add a [digest] table"
    )


def test_digest_subject_placeholders(tmp_path: Path) -> None:
    text = BASE.replace("[digest]\n", '[digest]\nsubject = "{count} flagged for {customer}"\n')
    message = only(problems_of(tree(tmp_path, text)), "digest.subject").message
    assert "{customer}" in message


def test_missing_config_file(tmp_path: Path) -> None:
    (problem,) = check_config(tmp_path / "nope.toml")
    assert str(problem) == f"{tmp_path / 'nope.toml'}: does not exist"


# --- together -------------------------------------------------------------------------------------


def test_several_problems_reported_together(tmp_path: Path) -> None:
    text = (
        BASE.replace("[imap]\n", '[imap]\nport = "x"\nhots = "y"\n')
        .replace('poll_every = "5m"', 'poll_every = "5 minutes"')
        .replace('digest_at = "07:00"', 'digest_at = "25:00"')
    )
    broken = WESTSIDE.replace("{dept:upper}", "{depot}").replace(
        'senders = ["*@westside-tools.example", "purchasing@ws-group.example"]', "senders = []"
    )
    acme = 'name = "Acme"\nsenders = ["*@acme.example"]\n[po]\npattern = "(ACME"\n'
    path = tree(tmp_path, text, customers={"westside": broken, "acme": acme})
    problems = problems_of(path)
    where = {(Path(p.file).name, p.key) for p in problems}
    assert where == {
        ("watcher.toml", "imap.port"),
        ("watcher.toml", "imap.hots"),
        ("watcher.toml", "schedule.poll_every"),
        ("watcher.toml", "schedule.digest_at"),
        ("westside.toml", "po.format"),
        ("westside.toml", "senders"),
        ("acme.toml", "po.pattern"),
    }
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert len(lines) == len(problems)
    assert all(line.count(": ") >= 2 for line in lines)


def test_customer_pattern_checked_even_when_other_keys_are_wrong(tmp_path: Path) -> None:
    text = 'name = 5\nsenders = ["*@a.example"]\n[po]\npattern = "(x"\nlabels = "PO"\n'
    problems = problems_of(tree(tmp_path, customers={"acme": text}))
    assert {p.key for p in problems} == {"name", "po.labels", "po.pattern"}


# --- paths ----------------------------------------------------------------------------------------


def test_relative_sqlite_path_resolves_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tree(tmp_path)
    monkeypatch.chdir(tmp_path / "customers")  # the working folder plays no part
    config = load_config(Path(os.path.relpath(path)))
    assert config.database.url == f"sqlite:///{tmp_path / 'state' / 'po.db'}"
    assert config.database.url.startswith("sqlite:////")
    assert config.path == path


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "postgresql+psycopg://po@db.example/po"],
)
def test_other_database_urls_kept(tmp_path: Path, url: str) -> None:
    path = tree(tmp_path, BASE.replace("sqlite:///state/po.db", url))
    assert load_config(path).database.url == url


def test_a_postgresql_driver_not_shipped_is_refused_with_the_one_to_write(tmp_path: Path) -> None:
    """ "postgresql+psycopg2://" (copied from another tool) would fail at the first connection
    with a traceback; `check` names the key and the URL to write."""
    url = "postgresql+psycopg2://po@db.example/po"
    with pytest.raises(ConfigError) as refused:
        load_config(tree(tmp_path, BASE.replace("sqlite:///state/po.db", url)))
    text = str(refused.value)
    assert "database.url" in text
    assert "names the driver 'psycopg2', which po-watcher does not ship" in text
    assert "postgresql+psycopg://po@db.example/po" in text
    bare = "postgresql://po@db.example/po"  # the driver we ship is taken for it
    assert (
        load_config(tree(tmp_path, BASE.replace("sqlite:///state/po.db", bare))).database.url
        == bare
    )


def test_absolute_sqlite_path_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'abs.db'}"
    assert (
        load_config(tree(tmp_path, BASE.replace("sqlite:///state/po.db", url))).database.url == url
    )


def test_sqlite_folder_must_exist(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE.replace("state/po.db", "nowhere/po.db"))
    message = only(problems_of(path), "database.url").message
    assert message == f"the folder {tmp_path / 'nowhere'} for the database does not exist"


def test_an_absolute_path_written_with_three_slashes_gets_a_hint(tmp_path: Path) -> None:
    """ "sqlite:///var/lib/po-watcher/po.db" is relative to the config's folder; the admin meant
    /var/lib/...: the message says how to write that."""
    path = tree(tmp_path, BASE.replace("sqlite:///state/po.db", "sqlite:///tmp/po-watcher/po.db"))
    message = only(problems_of(path), "database.url").message
    assert message.endswith(
        " (an absolute path takes four slashes: sqlite:////tmp/po-watcher/po.db)"
    )


def test_database_password_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PO_WATCHER_TEST_DB", "p@ss word")
    text = BASE.replace(
        'url = "sqlite:///state/po.db"',
        'url = "postgresql+psycopg://po@db.example:5433/po"\npassword_env = "PO_WATCHER_TEST_DB"',
    )
    database = load_config(tree(tmp_path, text)).database
    assert database.url == "postgresql+psycopg://po@db.example:5433/po"
    assert (
        database.url_with_password() == "postgresql+psycopg://po:p%40ss%20word@db.example:5433/po"
    )
    assert "p@ss" not in repr(database)


# --- secrets --------------------------------------------------------------------------------------


def test_secret_never_in_repr(tmp_path: Path) -> None:
    text = BASE.replace(
        'password_file = "imap-password"', 'password = "hunter2"\nallow_inline_secrets = true'
    ).replace(
        'url = "sqlite:///state/po.db"',
        'url = "postgresql://po:dbsecret@db.example/po"\nallow_inline_secrets = true',
    )
    config = load_config(tree(tmp_path, text))
    assert config.imap.password() == "hunter2"
    for shown in (repr(config), str(config), repr(config.imap), str(config.database)):
        assert "hunter2" not in shown
        assert "dbsecret" not in shown


def test_password_file_content_never_in_repr(tmp_path: Path) -> None:
    config = load_config(tree(tmp_path, credential="file-secret-42\n"))
    assert config.imap.password() == "file-secret-42"
    assert "file-secret-42" not in repr(config)


def test_password_env_works_and_is_read_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PO_WATCHER_TEST_PW", "first")
    text = BASE.replace('password_file = "imap-password"', 'password_env = "PO_WATCHER_TEST_PW"')
    config = load_config(tree(tmp_path, text))
    assert config.imap.password() == "first"
    assert "first" not in repr(config)
    monkeypatch.setenv("PO_WATCHER_TEST_PW", "rotated")
    assert config.imap.password() == "rotated"
    monkeypatch.delenv("PO_WATCHER_TEST_PW")
    with pytest.raises(ConfigError) as info:
        config.imap.password()
    (problem,) = info.value.problems
    assert (problem.file, problem.key) == (str(tmp_path / "watcher.toml"), "imap.password_env")


def test_password_file_gone_after_loading(tmp_path: Path) -> None:
    config = load_config(tree(tmp_path))
    (tmp_path / "imap-password").unlink()
    with pytest.raises(ConfigError) as info:
        config.imap.password()
    assert "imap.password_file" in str(info.value)


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(tree(tmp_path))
    with pytest.raises(AttributeError):
        config.imap = config.imap  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        config.imap.host = "elsewhere"


# --- units ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("500ms", 0.5),
        ("0.5s", 0.5),
        ("90", 90.0),
        (90, 90.0),
        (2.5, 2.5),
        (" 5 M ", 300.0),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("25MB", 25 * 1024**2),
        ("512KiB", 512 * 1024),
        ("1G", 1024**3),
        ("800B", 800),
        ("1.5MB", 1536 * 1024),
        (4096, 4096),
        ("4096", 4096),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["5 minutes", "", "-1s", "1e999s", "nan", "inf"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_clock_accepts_toml_local_time() -> None:
    assert parse_clock(dt.time(6, 30)) == dt.time(6, 30)
    assert parse_clock("7:05") == dt.time(7, 5)


@given(st.floats(min_value=1e-9, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_duration_round_trip(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=1, max_value=10**7), st.sampled_from(["s", "m", "h", "d"]))
def test_duration_units(count: int, unit: str) -> None:
    seconds = parse_duration(f"{count}{unit}")
    assert seconds == count * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=1, max_value=2**50))
def test_size_round_trip(size: int) -> None:
    assert parse_size(format_size(size)) == size


@given(st.integers(min_value=1, max_value=2**20), st.sampled_from(["B", "KB", "KiB", "mb", "G"]))
def test_size_units(count: int, unit: str) -> None:
    factor = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit[0].lower()]
    assert parse_size(f"{count}{unit}") == count * factor


# --- reference ------------------------------------------------------------------------------------


def test_reference_lists_every_key() -> None:
    reference = config_reference_markdown()
    for key in (
        "host",
        "password_env",
        "ca_file",
        "poll_every",
        "digest_at",
        "timezone",
        "to",
        "from",
        "silent_after_days",
        "pattern_timeout",
        "workers",
        "dir",
        "pattern",
        "format",
        "valid",
        "labels",
        "ignore_case",
        "senders",
    ):
        assert f"| `{key}` |" in reference
    assert '| `timeout` | duration | `"30s"` |' in reference


# --- [ignore] -------------------------------------------------------------------------------


def test_ignore_rules_match_sender_and_subject_globs_without_case(tmp_path: Path) -> None:
    ignore = (
        '\n[ignore]\nsenders = ["Newsletter@*", "*@carrier.example"]\n'
        'subjects = ["*OUT OF OFFICE*"]\n'
    )
    config = load_config(tree(tmp_path, BASE + ignore))
    rule_for = config.ignore.rule_for
    assert rule_for("newsletter@shop.example", "Autumn sale") == (
        "the sender matches 'newsletter@*' in [ignore] senders"
    )
    assert rule_for("Track@Carrier.Example", "Your parcel") == (
        "the sender matches '*@carrier.example' in [ignore] senders"
    )
    assert rule_for("buyer@westside-tools.example", "Re:  Out of  Office\tuntil Monday") == (
        "the subject matches '*out of office*' in [ignore] subjects"
    )
    assert rule_for("buyer@westside-tools.example", "PO 2024-00815-MT") is None
    assert rule_for("", "") is None


def test_only_automatic_replies_are_ignored_by_default(tmp_path: Path) -> None:
    rule_for = load_config(tree(tmp_path)).ignore.rule_for
    assert rule_for("newsletter@shop.example", "Autumn sale") is None
    auto = "it is an automatic reply ([ignore] auto_replies)"
    for subject in (
        "Automatic reply: PO 4500123456",
        "[EXTERNAL] Out of Office: back on Monday",
        "Abwesenheitsnotiz: Ihre Bestellung",
        "Réponse automatique : absent",
        "AutoReply",
    ):
        assert rule_for("buyer@westside-tools.example", subject) == auto, subject
    assert rule_for("buyer@westside-tools.example", "Re: out of office plans", True) == auto
    assert rule_for("buyer@westside-tools.example", "Re: out of office plans") is None
    assert rule_for("buyer@westside-tools.example", "Reply to your order") is None
    off = load_config(tree(tmp_path, BASE + "\n[ignore]\nauto_replies = false\n")).ignore
    assert off.rule_for("buyer@westside-tools.example", "Automatic reply: away", True) is None


@pytest.mark.parametrize("glob", ["*", " * ", "*?*"])
def test_an_ignore_glob_matching_everything_is_refused(tmp_path: Path, glob: str) -> None:
    path = tree(tmp_path, BASE + f'\n[ignore]\nsenders = ["{glob}"]\n')
    message = only(problems_of(path), "ignore.senders").message
    assert "would match every message" in message, message


def test_a_customers_strangers_key(tmp_path: Path) -> None:
    strict = WESTSIDE.replace("[po]\n", '[po]\nstrangers = "known"\n')
    config = load_config(tree(tmp_path, customers={"westside": strict}))
    assert config.customers[0].strangers == "known"
    wrong = WESTSIDE.replace("[po]\n", '[po]\nstrangers = "never"\n')
    message = only(problems_of(tree(tmp_path, customers={"westside": wrong})), "po.strangers")
    assert "labelled" in message.message, message
