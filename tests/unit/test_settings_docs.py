"""The README's configuration table and .env.example are generated from settings.SETTINGS."""

from pathlib import Path

from energy_orchestration import settings

ROOT = Path(__file__).resolve().parents[2]


def test_readme_documents_every_setting_exactly():
    readme = (ROOT / "README.md").read_text()
    assert settings.markdown_table() in readme, "regenerate the table with `energy settings`"


def test_env_example_lists_every_setting():
    assert (ROOT / ".env.example").read_text() == settings.env_example(), \
        "regenerate with `energy settings --env-example > .env.example`"


def test_undeclared_settings_are_refused():
    import pytest

    with pytest.raises(KeyError, match="undeclared"):
        settings.get("ENERGY_NOT_A_SETTING")
