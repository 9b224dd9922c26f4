"""Rewrite inception_export/catalogue.json from the model specs (needs torch).

The device role has no torch, so it cannot import the model files; `models` there reads this
catalogue. Run after changing a ModelSpec; tests/test_models_catalogue.py fails until then.
"""

from __future__ import annotations

import json

from inception_export.registry import CATALOGUE, list_specs


def render() -> str:
    return json.dumps([s.to_dict() for s in list_specs()], indent=1) + "\n"


if __name__ == "__main__":
    CATALOGUE.write_text(render(), encoding="utf-8")
    print(f"wrote {CATALOGUE}")
