"""Exporter tests (unittest). Run from the repository root: npm run test:python."""
import os
import sys

EXPORT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(os.path.dirname(EXPORT_DIR))
if EXPORT_DIR not in sys.path:
    sys.path.insert(0, EXPORT_DIR)

import torch  # noqa: E402

torch.set_num_threads(2)


def spec_statedict_path(name: str) -> str:
    """shared/spec/statedict/<name>.json: ../shared from the project root (CI, main checkout),
    ../../shared from a worktree under wt/."""
    for shared in (os.path.join(REPO_ROOT, "..", "shared"), os.path.join(REPO_ROOT, "..", "..", "shared")):
        path = os.path.join(shared, "spec", "statedict", f"{name}.json")
        if os.path.isfile(path):
            return os.path.normpath(path)
    raise FileNotFoundError(f"spec/statedict/{name}.json not found in ../shared or ../../shared "
                            f"from {REPO_ROOT}; the exporter tests need the shared spec folder")
