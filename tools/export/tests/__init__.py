"""Exporter tests (unittest), run from the repository root with toklip_export importable:
`tools/python -m unittest discover -s tools/export/tests -t .` (npm run test:python)."""
import os

import torch

EXPORT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(os.path.dirname(EXPORT_DIR))

torch.set_num_threads(2)


SPEC_COPY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "statedict")


def spec_statedict_path(name: str) -> str:
    """<name>.json of shared/spec/statedict: every key and shape of the official checkpoints.
    A copy lives in tests/data/statedict so that a clone runs the tests on its own; when the
    shared folder is beside the checkout (../shared, or ../../shared from a worktree), it is the
    reference and the copy must equal it (test_spec_copy)."""
    return os.path.join(SPEC_COPY, f"{name}.json")


def shared_statedict_path(name: str):
    for shared in (os.path.join(REPO_ROOT, "..", "shared"), os.path.join(REPO_ROOT, "..", "..", "shared")):
        path = os.path.join(shared, "spec", "statedict", f"{name}.json")
        if os.path.isfile(path):
            return os.path.normpath(path)
    return None
