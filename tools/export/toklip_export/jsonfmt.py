"""The JSON layout of the bundle's manifests (manifest.json, golden/manifest.json)."""
from __future__ import annotations

import json


def render_json(value) -> str:
    """Indented JSON with short lists of numbers/strings on one line (shapes, mean/std)."""
    def render(v, indent):
        pad, inner = "  " * indent, "  " * (indent + 1)
        if isinstance(v, dict):
            if not v:
                return "{}"
            items = [f"{inner}{json.dumps(k)}: {render(x, indent + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(v, list) and v and any(isinstance(x, (dict, list)) for x in v):
            return "[\n" + ",\n".join(inner + render(x, indent + 1) for x in v) + "\n" + pad + "]"
        return json.dumps(v)
    return render(value, 0) + "\n"


def write_json(path: str, value: dict) -> None:
    with open(path, "w") as f:
        f.write(render_json(value))
