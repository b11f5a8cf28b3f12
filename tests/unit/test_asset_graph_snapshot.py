"""The whole asset graph as a reviewed snapshot: a lineage change must be deliberate.

After an intended change: `UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_asset_graph_snapshot.py`
and review the diff of tests/snapshots/asset_graph.json.
"""

import json
import os
from pathlib import Path

from energy_orchestration.definitions import defs

SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "asset_graph.json"


def describe_graph() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "materializable": node.is_materializable,
            "partitions": type(partitions).__name__ if partitions else None,
            "checks": sorted(c.name for c in node.check_keys),
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "sensors": sorted(s.name for s in defs.sensors or []),
        "schedules": sorted(s.name for s in defs.schedules or []),
    }


def test_asset_graph_matches_the_snapshot():
    current = describe_graph()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert SNAPSHOT.exists(), "no snapshot yet: run with UPDATE_SNAPSHOTS=1 and commit it"
    assert current == json.loads(SNAPSHOT.read_text())
