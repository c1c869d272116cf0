"""A PNG grid of pictures and their reconstructions, for the model card: each cell is an input
and, to its right, what tokenize -> decode gives back."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from PIL import Image

GAP = 2  # px between an input and its reconstruction
CELL_GAP = 10  # px between cells


def pairs_grid(pairs: Sequence[Tuple[np.ndarray, np.ndarray]], columns: int = 4,
               background: Tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """pairs: (input, reconstruction) uint8 (H, W, 3) images of one size, laid out row by row."""
    h, w = pairs[0][0].shape[:2]
    cell_w = 2 * w + GAP
    rows = (len(pairs) + columns - 1) // columns
    canvas = np.empty((rows * h + (rows - 1) * CELL_GAP, columns * cell_w + (columns - 1) * CELL_GAP, 3), np.uint8)
    canvas[:] = background
    for k, (image, rec) in enumerate(pairs):
        r, c = divmod(k, columns)
        y, x = r * (h + CELL_GAP), c * (cell_w + CELL_GAP)
        canvas[y:y + h, x:x + w] = image
        canvas[y:y + h, x + w + GAP:x + cell_w] = rec
    return Image.fromarray(canvas)
