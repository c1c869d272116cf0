"""The networks come from the exporter's package (tools/export/toklip_export): training and
export use the very same modules, so a trained checkpoint exports without any translation."""
from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
_EXPORT_DIR = REPO_ROOT / "tools" / "export"
if (_EXPORT_DIR / "toklip_export").is_dir() and str(_EXPORT_DIR) not in sys.path:
    sys.path.insert(0, str(_EXPORT_DIR))

from toklip_export.config import TextConfig, TokLIPConfig, VisionConfig, VQConfig  # noqa: E402
from toklip_export.model import TokLIP  # noqa: E402
from toklip_export.vq import VQModel, l2_normalize  # noqa: E402

__all__ = ["REPO_ROOT", "TextConfig", "TokLIP", "TokLIPConfig", "VisionConfig", "VQConfig",
           "VQModel", "l2_normalize"]
