"""The README stays true: its configuration reference is the one the code generates, and the
example configuration it shows loads."""

from __future__ import annotations

from pathlib import Path

from inbox_watcher.config import config_reference_markdown, load_config

REPO = Path(__file__).resolve().parents[1]


def test_readme_configuration_reference_is_current() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ref = config_reference_markdown().replace("### ", "#### ").replace("\n#### [", "\n##### [")
    assert ref.strip() in readme, (
        "README's configuration reference is stale: regenerate it from "
        "inbox_watcher.config.config_reference_markdown()"
    )


def test_readme_names_the_test_command_ci_runs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "**Test it**" in readme
    assert "README.md" in ci  # .ci/run reads the command from the README itself
    block = readme.split("**Test it**", 1)[1].split("```sh\n", 1)[1].split("\n", 1)[0]
    assert "pytest" in block
    assert "apt-get install" in block


def test_example_configuration_loads() -> None:
    config = load_config(REPO / "config" / "watcher.toml")
    assert {c.id for c in config.customers} == {"westside", "acme", "nordwind"}
