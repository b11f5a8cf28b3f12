"""Small frames as markdown: for Dagster metadata in the UI and for `energy status`.

Kept outside ``assets/`` so the warehouse module (and the API that reads through it) can use it
without importing Dagster."""

from __future__ import annotations

import pandas as pd


def markdown_preview(frame: pd.DataFrame, empty: str = "(no rows)") -> str:
    """A markdown table of a small frame (pandas' own needs the optional `tabulate`)."""
    if frame.empty:
        return empty
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
