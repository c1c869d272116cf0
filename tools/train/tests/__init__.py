"""Trainer tests: `tools/python -m unittest discover -s tools/train/tests -t .` (npm run test:python);
tools/python makes toklip_train and toklip_export importable."""
