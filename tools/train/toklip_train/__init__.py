"""Training of the shipped demonstration TokLIP model (see tools/train/README.md)."""
