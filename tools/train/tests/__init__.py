"""Trainer tests: `python3 -m unittest discover -s tools/train/tests -t .` (npm run test:python)."""
import os
import sys

_TRAIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _TRAIN_DIR not in sys.path:
    sys.path.insert(0, _TRAIN_DIR)
