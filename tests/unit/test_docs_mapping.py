"""docs/sources.md names every provider column the parsers map (regenerate the tables if not)."""

from pathlib import Path

from energy_orchestration.sources import DATASETS

DOC = (Path(__file__).parents[2] / "docs" / "sources.md").read_text()


def test_every_mapped_column_is_documented():
    missing = []
    for name, spec in DATASETS.items():
        assert f"`{name}`" in DOC, name
        for mapping in spec.mappings:
            column = getattr(mapping, "column", None) or mapping.field
            if f"`{column}`" not in DOC:
                missing.append(f"{name}.{column}")
    assert missing == []
