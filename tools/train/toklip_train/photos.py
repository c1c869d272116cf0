"""The natural-photo evaluation set: the photographs among scikit-image's sample images (Debian's
python3-skimage, installed by scripts/ensure-python-deps.sh), read as files. Evaluation only:
never train on them.

Every photograph in skimage/data is used (people, animals, objects, scenes, astronomy,
microscopy, and the texture close-ups); drawings, documents, synthetic and binary images are not
photographs and are left out. Each is brought to 128 px as the service does: the shortest side
resized to 128 (bicubic), then the centre crop; grey photos become RGB.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np
from PIL import Image

SKIMAGE_DATA = Path("/usr/lib/python3/dist-packages/skimage/data")
PHOTOS = ("astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png",
          "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png", "retina.jpg",
          "rocket.jpg")


def data_folder() -> Path:
    """Where python3-skimage keeps its sample images (asks the package when it is importable)."""
    try:
        import skimage.data

        return Path(skimage.data.__file__).parent
    except ImportError:
        return SKIMAGE_DATA


def to_frame(img: Image.Image, size: int = 128) -> np.ndarray:
    """uint8 (size, size, 3): shortest side to `size` (bicubic), centre crop."""
    img = img.convert("RGB")
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)))


def photos(folder: Optional[Path] = None) -> Dict[str, np.ndarray]:
    """name -> uint8 (128, 128, 3); fails naming the package when the files are missing."""
    folder = folder or data_folder()
    missing = [name for name in PHOTOS if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(f"scikit-image sample photos missing in {folder}: {missing} "
                                "(apt-get install python3-skimage, or bash scripts/ensure-python-deps.sh)")
    return {Path(name).stem: to_frame(Image.open(folder / name)) for name in PHOTOS}
