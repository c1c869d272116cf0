"""The independent drawn test set: one shape per picture, drawn with plain PIL calls by this file
alone (it shares no code, colour table or random stream with the training generators), for the
evaluation only. Never train on it.

Each item: one of 5 shapes in one of 8 colour words (a colour picked from a short list of common
values for the word, e.g. pure red or crimson), 30-90 % of the 128 px frame (bounding-box side),
centred or anywhere it fits, on white, light grey, mid grey, black or a random plain background
(a background too close to the shape's colour is skipped), drawn with hard edges or antialiased
(drawn at 4x, then reduced); every item is kept as a PNG and as a JPEG (quality 85).
"""
from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from typing import Dict, List, Tuple

from PIL import Image, ImageDraw

SEED = 20261207
SIZE = 128
SHAPES = ("circle", "square", "triangle", "star", "ring")
COLOURS: Dict[str, List[Tuple[int, int, int]]] = {
    "red": [(255, 0, 0), (220, 20, 60), (200, 30, 30), (178, 34, 34)],
    "yellow": [(255, 255, 0), (255, 215, 0), (240, 220, 40)],
    "green": [(0, 128, 0), (0, 200, 0), (34, 139, 34), (50, 205, 50)],
    "cyan": [(0, 255, 255), (0, 206, 209), (64, 224, 208)],
    "blue": [(0, 0, 255), (65, 105, 225), (30, 60, 200), (0, 0, 205)],
    "purple": [(128, 0, 128), (148, 0, 211), (160, 32, 240), (138, 43, 226)],
    "white": [(255, 255, 255), (250, 250, 245)],
    "black": [(0, 0, 0), (20, 20, 20), (10, 10, 30)],
}
BACKGROUNDS = ("white", "light grey", "mid grey", "black", "random")
FIXED_BACKGROUNDS = {"white": (255, 255, 255), "light grey": (211, 211, 211), "mid grey": (128, 128, 128),
                     "black": (0, 0, 0)}
MIN_DISTANCE = 100.0  # RGB distance between shape and background
JPEG_QUALITY = 85


@dataclass(frozen=True)
class Drawn:
    name: str
    colour: str
    shape: str
    background: str
    extent: float  # bounding-box side / frame side
    centred: bool
    antialiased: bool
    data: bytes  # the encoded file
    format: str  # "png" | "jpeg"

    def image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.data)).convert("RGB")


def _distance(a, b) -> float:
    return math.dist(a, b)


def draw(shape: str, colour, background, extent: float, cx: float, cy: float, antialiased: bool) -> Image.Image:
    """One picture: `shape` in `colour` (RGB) on `background` (RGB), its bounding box `extent` of
    the frame centred at (cx, cy) px; antialiased: drawn at 4x and reduced (Lanczos)."""
    return _draw(shape, colour, background, extent, cx, cy, 4 if antialiased else 1)


def _draw(shape: str, colour, background, extent: float, cx: float, cy: float, scale: int) -> Image.Image:
    size = SIZE * scale
    img = Image.new("RGB", (size, size), background)
    d = ImageDraw.Draw(img)
    r = extent * size / 2
    x, y = cx * scale, cy * scale
    box = [x - r, y - r, x + r, y + r]
    if shape == "circle":
        d.ellipse(box, fill=colour)
    elif shape == "square":
        d.rectangle(box, fill=colour)
    elif shape == "triangle":
        d.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=colour)
    elif shape == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else 0.4 * r
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((x + radius * math.cos(angle), y + radius * math.sin(angle)))
        d.polygon(points, fill=colour)
    elif shape == "ring":
        d.ellipse(box, outline=colour, width=max(1, round(0.22 * 2 * r)))
    else:
        raise ValueError(shape)
    return img.resize((SIZE, SIZE), Image.LANCZOS) if scale > 1 else img


def encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, format="PNG")
    else:
        img.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def drawn_set(seed: int = SEED) -> List[Drawn]:
    """Every shape x colour x background (200 pictures, fewer the skipped too-close backgrounds),
    each as PNG and as JPEG."""
    rng = random.Random(seed)
    items = []
    for shape in SHAPES:
        for colour_word, choices in COLOURS.items():
            for background in BACKGROUNDS:
                colour = rng.choice(choices)
                if background == "random":
                    bg = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
                    while _distance(bg, colour) < MIN_DISTANCE:
                        bg = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
                else:
                    bg = FIXED_BACKGROUNDS[background]
                    if _distance(bg, colour) < MIN_DISTANCE:
                        continue
                extent = rng.uniform(0.3, 0.9)
                r = extent * SIZE / 2
                centred = rng.random() < 0.5
                cx, cy = (SIZE / 2, SIZE / 2) if centred else (rng.uniform(r, SIZE - r), rng.uniform(r, SIZE - r))
                antialiased = rng.random() < 0.5
                img = draw(shape, colour, bg, extent, cx, cy, antialiased)
                stem = f"{colour_word}-{shape}-{background.replace(' ', '')}"
                for fmt in ("png", "jpeg"):
                    items.append(Drawn(f"{stem}.{fmt}", colour_word, shape, background, extent, centred,
                                       antialiased, encode(img, fmt), fmt))
    return items
