"""TokLIP networks (PyTorch) and their export to an ONNX model bundle (docs/bundle-format.md).

    from toklip_export.config import PRESETS, small_config
    from toklip_export.model import build_model
    model = build_model(small_config(128), seed=0)   # state_dict() has the official key names
    emb = model.encode_image(pixels)                 # pixels (B,3,R,R) in [-1,1]
"""
__version__ = "0.1.0"
