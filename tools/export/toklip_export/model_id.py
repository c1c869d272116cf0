"""Model ids: the `name` of a bundle's manifest and the id clients send (docs/bundle-format.md).

MODEL_ID_PATTERN is the exporter's one copy of the pattern that the service also enforces."""
from __future__ import annotations

import os
import re

MODEL_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
MODEL_ID_RE = re.compile(MODEL_ID_PATTERN)


class ModelIdError(ValueError):
    pass


def model_id_from_folder(folder: str) -> str:
    """The default model id of a bundle written to `folder`: its name lower-cased, every run of
    other characters replaced by '-', leading separators dropped ('out/Bundle A' -> 'bundle-a').
    Raises ModelIdError, naming --name, when nothing usable is left."""
    base = os.path.basename(os.path.normpath(folder))
    derived = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).lstrip("._-")
    if not MODEL_ID_RE.match(derived):
        raise ModelIdError(f"cannot make a model id from the folder name {base!r}: pass --name "
                           f"with an id matching {MODEL_ID_PATTERN}")
    return derived


def check_model_id(name: str) -> str:
    if not MODEL_ID_RE.match(name):
        raise ModelIdError(f"--name {name!r} is not a model id: it must match {MODEL_ID_PATTERN} "
                           "(lower case letters, digits, '.', '_' and '-', starting with a letter or digit)")
    return name
