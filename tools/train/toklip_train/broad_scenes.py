"""The broad scene generator: the classic scenes' shapes, colours and captions (scenes.py), drawn
across the obvious variations of their domain, so that the model learns shapes and colours rather
than one generator's habits.

* Backgrounds: plain of any colour (white, black and greys often), gradients and textures between
  any two colours, and the classic muted tones (a fifth of the scenes).
* Shapes: one to three, from 8 % to 90 % of the frame (a shape's size is the side of its bounding
  box as a share of the frame's), anywhere in the frame; filled or outlined; antialiased or with
  hard edges; proportions varied (triangle height, star and ring inner radius).
* Colours: each of the 8 words covers a range of hue, saturation and value (COLOUR_RANGES, written
  in the model card); every shape keeps a minimum contrast to its background.
* A quarter of the scenes are JPEG copies (quality 30-95).

Captions keep the classic grammar ("a large red outlined circle at the top left"): the size word
names the shape's size range (SIZE_RANGES), the position word the third of the frame its centre
lies in. The held-out split is the classic one: the same (colour, shape, size, position) tuples
never occur in a broad training scene, and every broad held-out scene holds one.

Every scene is a pure function of (split, index, seed), on a random stream of its own
(BROAD_STREAM), so it never shares draws with the classic scenes of the same index.
"""
from __future__ import annotations

import colorsys
import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import scenes as S

BROAD_STREAM = 7
# Bounding-box side as a share of the frame side, per size word.
SIZE_RANGES: Dict[str, Tuple[float, float]] = {"small": (0.08, 0.22), "medium": (0.22, 0.34), "large": (0.34, 0.90)}
# The largest shape of a scene with this many shapes (so that they fit side by side).
MAX_SIZE_BY_COUNT = {1: 0.90, 2: 0.50, 3: 0.42}
SHAPE_COUNTS = ((1, 0.5), (2, 0.3), (3, 0.2))
# Each colour word: hue range in degrees (lo > hi wraps through 0; None: any hue), saturation and
# value ranges (HSV, 0-1). The classic colours (scenes.COLOURS) lie inside.
COLOUR_RANGES: Dict[str, Tuple[Optional[Tuple[float, float]], Tuple[float, float], Tuple[float, float]]] = {
    "red": ((345.0, 15.0), (0.65, 1.0), (0.55, 1.0)),
    "yellow": ((45.0, 65.0), (0.60, 1.0), (0.75, 1.0)),
    "green": ((90.0, 150.0), (0.55, 1.0), (0.35, 1.0)),
    "cyan": ((170.0, 195.0), (0.55, 1.0), (0.60, 1.0)),
    "blue": ((210.0, 245.0), (0.60, 1.0), (0.45, 1.0)),
    "purple": ((265.0, 305.0), (0.50, 1.0), (0.35, 0.95)),
    "white": (None, (0.0, 0.08), (0.90, 1.0)),
    "black": (None, (0.0, 1.0), (0.0, 0.14)),
}
MIN_CONTRAST = 60.0  # RGB distance (0-255) between a shape's colour and each background tone
OUTLINED_SHARE = 0.2  # of circles, squares, triangles and stars
STROKE_RANGE = (0.05, 0.14)  # outline width as a share of the shape's size (at least 1.5 px)
PROPORTION_RANGES = {"square": (1.0, 1.0), "triangle": (0.8, 1.0), "star": (0.38, 0.55), "ring": (0.45, 0.72)}
HARD_EDGE_SHARE = 0.25
JPEG_SHARE = 0.25
JPEG_QUALITY = (30, 95)
# Background kinds and their shares; "classic": the classic generator's muted tones.
BACKGROUND_KINDS = (("plain", 0.55), ("gradient", 0.15), ("textured", 0.10), ("classic", 0.20))
# Where a background tone comes from: near white, near black, a grey, any colour.
TONE_KINDS = (("white", 0.20), ("black", 0.12), ("grey", 0.23), ("any", 0.45))
THIRD = S.IMAGE_SIZE / 3.0


def colour_rgb(word: str, rng: np.random.Generator) -> Tuple[int, int, int]:
    """A random colour that the word names (COLOUR_RANGES), as 0-255 RGB."""
    hues, (s_lo, s_hi), (v_lo, v_hi) = COLOUR_RANGES[word]
    if hues is None:
        hue = rng.uniform(0.0, 360.0)
    else:
        lo, hi = hues
        hue = rng.uniform(lo, hi + 360.0 if hi < lo else hi) % 360.0
    r, g, b = colorsys.hsv_to_rgb(hue / 360.0, rng.uniform(s_lo, s_hi), rng.uniform(v_lo, v_hi))
    return tuple(int(round(255 * c)) for c in (r, g, b))  # type: ignore[return-value]


def names_colour(word: str, rgb: Tuple[int, int, int], slack: float = 1e-6) -> bool:
    """Whether `rgb` lies in the word's range (COLOUR_RANGES), give or take `slack` (in saturation
    and value; in hue, that share of the circle)."""
    hue, sat, val = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
    hues, (s_lo, s_hi), (v_lo, v_hi) = COLOUR_RANGES[word]
    eps = slack
    if not (s_lo - eps <= sat <= s_hi + eps and v_lo - eps <= val <= v_hi + eps):
        return False
    if hues is None:
        return True
    lo, hi = hues
    deg = hue * 360.0
    eps = 360.0 * slack
    return (lo - eps <= deg <= hi + eps) if lo <= hi else (deg >= lo - eps or deg <= hi + eps)


def _pick(options, rng: np.random.Generator):
    values, weights = zip(*options)
    return values[int(rng.choice(len(values), p=np.asarray(weights) / sum(weights)))]


def _tone(rng: np.random.Generator) -> Tuple[float, float, float]:
    """A background tone (RGB 0-1)."""
    kind = _pick(TONE_KINDS, rng)
    if kind == "any":
        return tuple(float(v) for v in rng.uniform(0.0, 1.0, 3))  # type: ignore[return-value]
    level = {"white": (0.92, 1.0), "black": (0.0, 0.10), "grey": (0.10, 0.92)}[kind]
    base = rng.uniform(*level)
    tint = rng.uniform(-0.02, 0.02, 3)
    return tuple(float(v) for v in np.clip(base + tint, 0.0, 1.0))  # type: ignore[return-value]


def _background(rng: np.random.Generator) -> S.BackgroundSpec:
    kind = _pick(BACKGROUND_KINDS, rng)
    if kind == "classic":
        return S._draw_background(rng)
    a, b = _tone(rng), _tone(rng)
    return S.BackgroundSpec(kind, a, b, float(rng.uniform(0, 2 * math.pi)), int(rng.integers(0, 2**31 - 1)))


def _tones(bg: S.BackgroundSpec) -> List[np.ndarray]:
    tones = [bg.colour_a] if bg.kind == "plain" else [bg.colour_a, bg.colour_b]
    return [255.0 * np.asarray(t, np.float64) for t in tones]


def _contrasts(rgb: Tuple[int, int, int], bg: S.BackgroundSpec) -> bool:
    return all(np.linalg.norm(np.asarray(rgb, np.float64) - t) >= MIN_CONTRAST for t in _tones(bg))


def _centre_range(cell: int, radius: float) -> Optional[Tuple[float, float]]:
    """The centres along one axis that lie in third `cell` and keep the shape inside the frame."""
    lo, hi = max(cell * THIRD, radius), min((cell + 1) * THIRD, S.IMAGE_SIZE - radius)
    return (lo, hi) if lo < hi else None


def _place(t: Tuple[str, str, str, str], count: int, bg: S.BackgroundSpec,
           rng: np.random.Generator) -> Optional[S.ShapeSpec]:
    """A shape with attributes `t`, or None when they cannot be drawn in this scene."""
    colour, shape, size, position = t
    row, col = divmod(S.POSITIONS.index(position), 3)
    lo, hi = SIZE_RANGES[size]
    # The largest radius that fits this cell: the shape stays inside the frame.
    fits = min(min((c + 1) * THIRD, S.IMAGE_SIZE - c * THIRD, S.IMAGE_SIZE / 2) for c in (row, col))
    hi = min(hi, MAX_SIZE_BY_COUNT[count], 2 * fits / S.IMAGE_SIZE)
    if hi <= lo:
        return None
    radius = rng.uniform(lo, hi) * S.IMAGE_SIZE / 2
    xs, ys = _centre_range(col, radius), _centre_range(row, radius)
    if xs is None or ys is None:
        return None
    cx, cy = rng.uniform(*xs), rng.uniform(*ys)
    for _ in range(20):
        rgb = colour_rgb(colour, rng)
        if _contrasts(rgb, bg):
            break
    else:
        return None
    outlined = shape != "ring" and rng.random() < OUTLINED_SHARE
    stroke = max(1.5, 2 * radius * rng.uniform(*STROKE_RANGE)) if outlined else 0.0
    proportion = float(rng.uniform(*PROPORTION_RANGES[shape])) if shape in PROPORTION_RANGES else 0.0
    return S.ShapeSpec(colour, shape, size, position, float(cx), float(cy), float(radius), rgb,
                       outlined=outlined, stroke=float(stroke), proportion=proportion,
                       antialias=bool(rng.random() >= HARD_EDGE_SHARE))


def broad_scene(split: str, index: int, seed: int = 0, *, num_shapes: Optional[int] = None) -> S.Scene:
    """Broad scene `index` of `split` (see the module's docstring). num_shapes forces 1, 2 or 3."""
    if split not in S.SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(S.SPLITS)}")
    if index < 0:
        raise ValueError("scene index must be >= 0")
    rng = np.random.default_rng([seed, S.SPLITS[split], index, BROAD_STREAM])
    n = num_shapes if num_shapes is not None else _pick(SHAPE_COUNTS, rng)
    if n not in MAX_SIZE_BY_COUNT:
        raise ValueError("num_shapes must be 1, 2 or 3")
    held = split == "heldout"
    for _ in range(1000):
        bg = _background(rng)
        tuples = [S._draw_tuple(rng) for _ in range(n)]
        if held:
            tuples[0] = S._draw_held_out_tuple(rng)
        elif any(t in S.HELD_OUT_TUPLES for t in tuples):
            continue
        if len({t[3] for t in tuples}) < n:  # one shape per third of the frame
            continue
        shapes = [_place(t, n, bg, rng) for t in tuples]
        if any(s is None for s in shapes):
            continue
        if any(not S._separated(a, b) for i, a in enumerate(shapes) for b in shapes[i + 1:]):
            continue
        quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)) if rng.random() < JPEG_SHARE else 0
        return S.Scene(split, index, tuple(shapes), bg, jpeg_quality=quality)
    raise RuntimeError("could not place shapes")  # pragma: no cover - 1000 draws always suffice
