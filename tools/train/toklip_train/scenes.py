"""Deterministic generator of captioned 128 px scenes: one or two coloured shapes on a plain,
gradient or textured background, with a caption that states colour, shape, size and position.

Every scene is a pure function of (split, index, dataset seed): `scene(split, i, seed)` always
gives the same shapes, background and caption, on any machine (numpy's PCG64 streams, PIL
drawing, float32 maths).

Held-out design. A single shape is described by the attribute tuple (colour, shape, size,
position). For every (colour, shape) pair, 3 of its 27 (size, position) combinations are held
out (HELD_OUT_TUPLES, fixed by HELD_OUT_SEED). Training scenes never contain a held-out tuple,
in any of their shapes; every held-out scene contains at least one. So a held-out scene is new
as a combination, while each colour, shape, size and position, and each (colour, shape) pair,
is still seen in training (which keeps the zero-shot colour/shape test fair). The two splits
also draw from separate random streams, so backgrounds and jitter never repeat either.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Iterator, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 128
SUPERSAMPLE = 4  # shapes are drawn at 4x and box-filtered down: antialiased edges

# Saturated, well separated colours (RGB 0-255). Backgrounds come from a palette of muted,
# mid-bright tones (BACKGROUND_PALETTE) so that no background reads as one of these.
COLOURS = {
    "red": (220, 30, 35),
    "yellow": (245, 210, 25),
    "green": (30, 165, 55),
    "cyan": (25, 200, 215),
    "blue": (35, 70, 220),
    "purple": (145, 50, 195),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
SHAPES = ("circle", "square", "triangle", "star", "ring")
# Half-extent of the shape's bounding box in pixels, before jitter.
SIZES = {"small": 11.0, "medium": 17.0, "large": 24.0}
# 3x3 grid: (row, col) -> caption phrase. Cell centres at 28, 64, 100 px.
POSITIONS = (
    "at the top left", "at the top", "at the top right",
    "on the left", "in the center", "on the right",
    "at the bottom left", "at the bottom", "at the bottom right",
)
GRID_CENTRES = (28.0, 64.0, 100.0)
POSITION_JITTER = 3.0  # pixels, uniform in [-j, j] on each axis
# A wider jitter that stage B's training scenes may use (Recipe.train_position_jitter): half a 16 px
# token, so each shape is seen at every offset to the token grid, not only at its cell's (the cell
# centres sit at offsets 12, 0 and 4 px). Positions stay inside their cells, so captions hold.
WIDE_POSITION_JITTER = 8.0
SIZE_JITTER = 0.06  # relative, uniform in [-j, j]
COLOUR_JITTER = 10  # per channel, uniform integer in [-j, j]
BACKGROUNDS = ("plain", "gradient", "textured")
# Muted background tones (RGB 0-1). A discrete palette, not a continuum: the VQ decoder ends in
# a GroupNorm, which normalises away an image's absolute level, so every background colour must
# be learnt as a pattern; a few tones are learnt in a CPU budget, a continuum is not. Gradients
# and textures blend two different tones.
BACKGROUND_PALETTE = (
    (0.55, 0.55, 0.55), (0.72, 0.72, 0.70), (0.42, 0.42, 0.44), (0.74, 0.69, 0.58),
    (0.58, 0.66, 0.56), (0.50, 0.56, 0.66), (0.64, 0.55, 0.64), (0.70, 0.62, 0.50),
    (0.48, 0.60, 0.60), (0.70, 0.58, 0.58),
)

SPLITS = {"train": 1, "heldout": 2}
HELD_OUT_SEED = 20250529
HELD_OUT_PER_PAIR = 3
TWO_SHAPE_FRACTION = 0.5


def _held_out_tuples() -> frozenset:
    rng = np.random.default_rng(HELD_OUT_SEED)
    held = set()
    for colour in COLOURS:
        for shape in SHAPES:
            picks = rng.choice(len(SIZES) * len(POSITIONS), HELD_OUT_PER_PAIR, replace=False)
            for p in sorted(int(x) for x in picks):
                size = list(SIZES)[p // len(POSITIONS)]
                held.add((colour, shape, size, POSITIONS[p % len(POSITIONS)]))
    return frozenset(held)


HELD_OUT_TUPLES = _held_out_tuples()


@dataclass(frozen=True)
class ShapeSpec:
    colour: str
    shape: str
    size: str
    position: str
    cx: float
    cy: float
    radius: float  # half the side of the shape's bounding box, in pixels
    rgb: Tuple[int, int, int]
    # The broad generator's variations (broad_scenes.py); the defaults draw the classic shapes.
    outlined: bool = False  # drawn as an outline of `stroke` px instead of filled (never a ring)
    stroke: float = 0.0
    # Square: half side / radius; triangle: height / width; star and ring: inner / outer radius.
    # 0: the classic proportion (PROPORTIONS).
    proportion: float = 0.0
    antialias: bool = True  # supersampled edges, or hard ones

    @property
    def attributes(self) -> Tuple[str, str, str, str]:
        """(colour, shape, size, position): what the held-out split is defined on."""
        return (self.colour, self.shape, self.size, self.position)

    @property
    def caption_attributes(self) -> Tuple[str, str, str, str, bool]:
        """What a caption phrase states: the attributes and whether the shape is outlined."""
        return (*self.attributes, self.outlined)

    def phrase(self, *, size: bool = True, position: bool = True) -> str:
        words = ["a"] + ([self.size] if size else []) + [self.colour] + (["outlined"] if self.outlined else [])
        words.append(self.shape)
        if position:
            words.append(self.position)
        return " ".join(words)


@dataclass(frozen=True)
class BackgroundSpec:
    kind: str
    colour_a: Tuple[float, float, float]
    colour_b: Tuple[float, float, float]
    angle: float
    texture_seed: int


@dataclass(frozen=True)
class Scene:
    split: str
    index: int
    shapes: Tuple[ShapeSpec, ...]
    background: BackgroundSpec
    jpeg_quality: int = 0  # > 0: the rendered scene is a JPEG copy at this quality (broad generator)

    @property
    def states_positions(self) -> bool:
        """Captions of scenes with more than MAX_POSITIONED_SHAPES shapes leave positions out
        (they would not fit the text context)."""
        return len(self.shapes) <= MAX_POSITIONED_SHAPES

    @property
    def caption(self) -> str:
        """Canonical caption: shapes in raster order of their grid cells."""
        return " and ".join(s.phrase(position=self.states_positions) for s in _raster_order(self.shapes))

    def caption_variant(self, rng: np.random.Generator) -> str:
        """A training caption: random shape order, size and position phrases sometimes dropped."""
        shapes = list(self.shapes)
        rng.shuffle(shapes)
        keep_size = rng.random() >= 0.3
        keep_position = rng.random() >= 0.3 and self.states_positions
        return " and ".join(s.phrase(size=keep_size, position=keep_position) for s in shapes)

    def render(self) -> np.ndarray:
        """uint8 array (IMAGE_SIZE, IMAGE_SIZE, 3)."""
        img = _render_background(self.background)
        for s in self.shapes:
            alpha = shape_mask(s)[..., None]
            img = img * (1.0 - alpha) + (np.asarray(s.rgb, np.float32) / 255.0) * alpha
        pixels = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
        return jpeg_copy(pixels, self.jpeg_quality) if self.jpeg_quality else pixels

    def image(self) -> Image.Image:
        return Image.fromarray(self.render(), "RGB")


def _raster_order(shapes: Sequence[ShapeSpec]) -> List[ShapeSpec]:
    return sorted(shapes, key=lambda s: POSITIONS.index(s.position))


def _rng(split: str, index: int, seed: int) -> np.random.Generator:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLITS)}")
    if index < 0:
        raise ValueError("scene index must be >= 0")
    return np.random.default_rng([seed, SPLITS[split], index])


def scene(split: str, index: int, seed: int = 0, *, num_shapes: int | None = None,
          position_jitter: float = POSITION_JITTER) -> Scene:
    """Scene `index` of `split`. num_shapes forces 1 or 2 shapes (default: 50/50 by the rng);
    position_jitter widens the shapes' jitter about their cell centres (pixels, on each axis)."""
    rng = _rng(split, index, seed)
    n = num_shapes if num_shapes is not None else (2 if rng.random() < TWO_SHAPE_FRACTION else 1)
    if n not in (1, 2):
        raise ValueError("num_shapes must be 1 or 2")
    held = split == "heldout"
    for _ in range(1000):
        tuples = [_draw_tuple(rng) for _ in range(n)]
        if held:
            # the first shape carries the held-out combination; a second shape may be anything
            tuples[0] = _draw_held_out_tuple(rng)
        elif any(t in HELD_OUT_TUPLES for t in tuples):
            continue
        if n == 2 and tuples[0][3] == tuples[1][3]:
            continue
        shapes = tuple(_place(t, rng, position_jitter) for t in tuples)
        if n == 2 and not _separated(shapes[0], shapes[1]):
            continue
        return Scene(split, index, shapes, _draw_background(rng))
    raise RuntimeError("could not place shapes")  # pragma: no cover - 1000 draws always suffice


def scenes(split: str, start: int, count: int, seed: int = 0, **kw) -> Iterator[Scene]:
    for i in range(start, start + count):
        yield scene(split, i, seed, **kw)


def _draw_tuple(rng: np.random.Generator) -> Tuple[str, str, str, str]:
    return (
        list(COLOURS)[rng.integers(len(COLOURS))],
        SHAPES[rng.integers(len(SHAPES))],
        list(SIZES)[rng.integers(len(SIZES))],
        POSITIONS[rng.integers(len(POSITIONS))],
    )


_HELD_OUT_SORTED = sorted(HELD_OUT_TUPLES)


def _draw_held_out_tuple(rng: np.random.Generator) -> Tuple[str, str, str, str]:
    return _HELD_OUT_SORTED[rng.integers(len(_HELD_OUT_SORTED))]


def _place(t: Tuple[str, str, str, str], rng: np.random.Generator, jitter: float = POSITION_JITTER) -> ShapeSpec:
    colour, shape, size, position = t
    cell = POSITIONS.index(position)
    row, col = divmod(cell, 3)
    offsets = rng.uniform(-jitter, jitter, 2)  # the same draws as uniform(-j, j) twice
    radius = SIZES[size] * (1.0 + rng.uniform(-SIZE_JITTER, SIZE_JITTER))
    cx, cy = (_jittered(GRID_CENTRES[i], d, radius) for i, d in zip((col, row), offsets))
    base = np.asarray(COLOURS[colour])
    rgb = np.clip(base + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, 3), 0, 255)
    return ShapeSpec(colour, shape, size, position, float(cx), float(cy), float(radius),
                     tuple(int(v) for v in rgb))


def _jittered(centre: float, offset: float, radius: float) -> float:
    """centre + offset, kept from pushing the shape further out of the image than the default
    jitter can (a no-op for offsets within POSITION_JITTER)."""
    low = min(radius, centre - POSITION_JITTER)
    high = max(IMAGE_SIZE - radius, centre + POSITION_JITTER)
    return float(np.clip(centre + offset, low, high))


def _separated(a: ShapeSpec, b: ShapeSpec, gap: float = 3.0) -> bool:
    """Bounding boxes (half-extent = radius) apart by at least `gap` pixels on some axis."""
    return max(abs(a.cx - b.cx), abs(a.cy - b.cy)) >= a.radius + b.radius + gap


def _draw_background(rng: np.random.Generator) -> BackgroundSpec:
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    i = int(rng.integers(len(BACKGROUND_PALETTE)))
    j = (i + 1 + int(rng.integers(len(BACKGROUND_PALETTE) - 1))) % len(BACKGROUND_PALETTE)  # j != i
    a, b = BACKGROUND_PALETTE[i], BACKGROUND_PALETTE[j]
    return BackgroundSpec(kind, a, b, float(rng.uniform(0, 2 * math.pi)),
                          int(rng.integers(0, 2**31 - 1)))


_COORDS = (np.arange(IMAGE_SIZE, dtype=np.float32) + 0.5) / IMAGE_SIZE


def _render_background(bg: BackgroundSpec) -> np.ndarray:
    a = np.asarray(bg.colour_a, np.float32)
    if bg.kind == "plain":
        return np.broadcast_to(a, (IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    b = np.asarray(bg.colour_b, np.float32)
    if bg.kind == "gradient":
        x, y = np.meshgrid(_COORDS, _COORDS)
        d = (x - 0.5) * math.cos(bg.angle) + (y - 0.5) * math.sin(bg.angle)
        t = np.clip(d / math.sqrt(0.5) + 0.5, 0.0, 1.0)[..., None]
        return (a * (1.0 - t) + b * t).astype(np.float32)
    # textured: smooth value noise (a 4x4 lattice, bicubic-upsampled, so blobs of ~40 px)
    # blending the two colours, plus a faint luminance ripple with a period of 48-64 px. Low
    # frequencies only: an 8x8-token VQ has to reconstruct it.
    trng = np.random.default_rng(bg.texture_seed)
    lattice = trng.random((4, 4)).astype(np.float32)
    noise = np.asarray(Image.fromarray(lattice, "F").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC))
    t = np.clip(noise, 0.0, 1.0)[..., None]
    x, y = np.meshgrid(_COORDS, _COORDS)
    period = trng.uniform(48, 64) / IMAGE_SIZE
    ripple = 0.04 * np.sin(2 * math.pi * ((x * math.cos(bg.angle) + y * math.sin(bg.angle)) / period))
    img = a * (1.0 - t) + b * t + ripple[..., None]
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _star_points(cx: float, cy: float, r_out: float, r_in: float) -> List[Tuple[float, float]]:
    pts = []
    for k in range(10):
        r = r_out if k % 2 == 0 else r_in
        ang = -math.pi / 2 + k * math.pi / 5
        pts.append((cx + r * math.cos(ang), cy + r * math.sin(ang)))
    return pts


# The classic shapes' proportions (ShapeSpec.proportion 0): a square's half side / radius, a
# triangle's height / width, a star's and a ring's inner / outer radius.
PROPORTIONS = {"square": 0.86, "triangle": math.sqrt(3.0) / 2.0, "star": 0.45, "ring": 0.55}
MAX_POSITIONED_SHAPES = 2


def shape_mask(s: ShapeSpec) -> np.ndarray:
    """Coverage in [0, 1], float32 (IMAGE_SIZE, IMAGE_SIZE), antialiased by supersampling unless
    the shape asks for hard edges."""
    k = SUPERSAMPLE if s.antialias else 1
    mask = Image.new("L", (IMAGE_SIZE * k, IMAGE_SIZE * k), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy, r = s.cx * k, s.cy * k, s.radius * k
    proportion = s.proportion or PROPORTIONS.get(s.shape, 0.0)
    # Filled: fill 255; outlined: an outline of the stroke's width drawn inside the shape.
    paint = {"outline": 255, "width": max(1, int(round(s.stroke * k)))} if s.outlined else {"fill": 255}

    def ellipse(rad: float, **kw) -> None:
        draw.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], **kw)

    if s.shape == "circle":
        ellipse(r, **paint)
    elif s.shape == "ring":
        if s.outlined:
            raise ValueError("a ring is never outlined")
        ellipse(r, fill=255)
        ellipse(r * proportion, fill=0)
    elif s.shape == "square":
        h = r * proportion
        draw.rectangle([cx - h, cy - h, cx + h, cy + h], **paint)
    elif s.shape == "triangle":
        # pointing up, bounding box centred on (cx, cy) with half-width r
        half_h = r * proportion
        draw.polygon([(cx, cy - half_h), (cx + r, cy + half_h), (cx - r, cy + half_h)], **paint)
    elif s.shape == "star":
        # five-pointed, pointing up; the outer radius is shifted so the box is centred
        r_out = r * 1.05
        dy = r_out * (1 - math.cos(math.pi / 5)) / 2
        draw.polygon(_star_points(cx, cy + dy, r_out, r_out * proportion), **paint)
    else:
        raise ValueError(f"unknown shape {s.shape!r}")
    if k == 1:
        return np.asarray(mask, np.float32) / 255.0
    small = mask.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BOX)
    return np.asarray(small, np.float32) / 255.0


def jpeg_copy(pixels: np.ndarray, quality: int) -> np.ndarray:
    """The uint8 image after a round trip through JPEG at `quality` (PIL's libjpeg, 4:2:0)."""
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
