"""The networks come from the exporter's package (tools/export/toklip_export, importable through
tools/python): training and export use the very same modules, so a trained checkpoint exports
without any translation."""
from __future__ import annotations

from pathlib import Path

from toklip_export.config import TextConfig, TokLIPConfig, VisionConfig, VQConfig
from toklip_export.model import TokLIP
from toklip_export.vq import VQModel, l2_normalize

REPO_ROOT = Path(__file__).resolve().parents[3]

__all__ = ["REPO_ROOT", "TextConfig", "TokLIP", "TokLIPConfig", "VisionConfig", "VQConfig",
           "VQModel", "l2_normalize"]
