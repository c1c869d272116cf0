"""Uncaptioned pictures for the VQ only: content no scene holds, so that arbitrary pictures
(photos among them) degrade gracefully instead of collapsing onto a few codes.

Kinds (KINDS, with their shares): "dead leaves" (many occluding discs, boxes and triangles of
random sizes, a classic model of natural-image statistics), fractal noise (1/f^beta fields in
random colours), smooth photo-like fields (a few bicubic blobs of colour with a vignette, lighting
and sensor noise), gratings and checkerboards, dots on dark or light ground (stars, cells,
speckle), plain or graded ground under pixel noise, and blends of two of these. Palettes are
often desaturated, 15 % of the pictures are grey and a fifth are JPEG copies. Every picture is a pure function of (index, seed); none is used for captions or
for the towers, and none comes from a photo.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .scenes import IMAGE_SIZE, ShapeSpec, jpeg_copy

PICTURE_STREAM = 11
JPEG_SHARE = 0.2
GREY_SHARE = 0.15
N = IMAGE_SIZE


@dataclass(frozen=True)
class Picture:
    """One uncaptioned picture. `shapes` is empty: no caption, mask or shape label."""
    index: int
    seed: int
    shapes: Tuple[ShapeSpec, ...] = ()

    @property
    def kind(self) -> str:
        return _kind(self._rng())

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, PICTURE_STREAM, self.index])

    def render(self) -> np.ndarray:
        """uint8 array (IMAGE_SIZE, IMAGE_SIZE, 3)."""
        rng = self._rng()
        img = KINDS_BY_NAME[_kind(rng)](rng)
        if rng.random() < GREY_SHARE:
            img = np.repeat(img @ np.asarray([0.299, 0.587, 0.114], np.float32)[:, None], 3, axis=-1)
        pixels = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
        if rng.random() < JPEG_SHARE:
            pixels = jpeg_copy(pixels, int(rng.integers(30, 96)))
        return pixels


def picture(index: int, seed: int = 0) -> Picture:
    return Picture(index, seed)


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 1.0, 3)


def _palette(rng: np.random.Generator) -> np.ndarray:
    """3-8 colours: random, or shades around one hue (as in many photos)."""
    k = int(rng.integers(3, 9))
    if rng.random() < 0.5:
        colours = rng.uniform(0.0, 1.0, (k, 3))
    else:
        colours = np.clip(_colour(rng) * rng.uniform(0.3, 1.4, (k, 1)) + rng.normal(0, 0.08, (k, 3)), 0, 1)
    grey = colours.mean(axis=1, keepdims=True)
    return grey + (colours - grey) * rng.uniform(0.15, 1.0)  # photos are seldom fully saturated


def _coords() -> Tuple[np.ndarray, np.ndarray]:
    c = (np.arange(N, dtype=np.float32) + 0.5) / N
    return np.meshgrid(c, c)


def dead_leaves(rng: np.random.Generator) -> np.ndarray:
    k = 2  # drawn at 2x, box-filtered down
    palette = _palette(rng)
    img = Image.new("RGB", (N * k, N * k), tuple(int(255 * v) for v in palette[0]))
    draw = ImageDraw.Draw(img)
    r_min, r_max = rng.uniform(1.5, 4.0), rng.uniform(20.0, 70.0)
    for _ in range(int(rng.integers(30, 300))):
        r = r_min * (r_max / r_min) ** (rng.random() ** 2.0) * k  # many small, few large
        x, y = rng.uniform(-r, N * k + r, 2)
        colour = np.clip(palette[rng.integers(len(palette))] + rng.normal(0, 0.05, 3), 0, 1)
        fill = tuple(int(255 * v) for v in colour)
        form = rng.integers(3)
        if form == 0:
            draw.ellipse([x - r, y - r * rng.uniform(0.5, 1.5), x + r, y + r], fill=fill)
        elif form == 1:
            draw.rectangle([x - r, y - r * rng.uniform(0.3, 1.0), x + r * rng.uniform(0.3, 1.0), y + r], fill=fill)
        else:
            pts = [(x + r * math.cos(a), y + r * math.sin(a)) for a in rng.uniform(0, 2 * math.pi, 3)]
            draw.polygon(pts, fill=fill)
    img = img.resize((N, N), Image.BOX)
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.5))))
    return np.asarray(img, np.float32) / 255.0


def _fractal_field(rng: np.random.Generator, beta: float) -> np.ndarray:
    """A zero-mean, unit-std field with a 1/f^beta power spectrum."""
    fy, fx = np.meshgrid(np.fft.fftfreq(N), np.fft.fftfreq(N), indexing="ij")
    f = np.sqrt(fx ** 2 + fy ** 2)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=(N, N)) + 1j * rng.normal(size=(N, N))) / f ** (beta / 2.0)
    spectrum[0, 0] = 0.0
    field = np.real(np.fft.ifft2(spectrum))
    return ((field - field.mean()) / (field.std() + 1e-8)).astype(np.float32)


def fractal(rng: np.random.Generator) -> np.ndarray:
    beta = rng.uniform(1.6, 3.2)
    fields = np.stack([_fractal_field(rng, beta) for _ in range(3)], axis=-1)
    mix = rng.normal(0, 1, (3, 3)) * rng.uniform(0.02, 0.15) + np.eye(3) * rng.uniform(0.0, 0.12)
    lum = _fractal_field(rng, beta)[..., None] * rng.uniform(0.05, 0.25)
    return np.clip(_colour(rng) + fields @ mix + lum, 0, 1)


def smooth(rng: np.random.Generator) -> np.ndarray:
    """Photo-like: a few blobs of colour, a light direction, a vignette, sensor noise."""
    g = int(rng.integers(2, 7))
    lattice = np.clip(_colour(rng) + rng.normal(0, rng.uniform(0.1, 0.35), (g, g, 3)), 0, 1).astype(np.float32)
    img = np.stack([np.asarray(Image.fromarray(lattice[..., c], "F").resize((N, N), Image.BICUBIC))
                    for c in range(3)], axis=-1)
    x, y = _coords()
    angle = rng.uniform(0, 2 * math.pi)
    light = 1.0 + rng.uniform(0, 0.4) * ((x - 0.5) * math.cos(angle) + (y - 0.5) * math.sin(angle))
    vignette = 1.0 - rng.uniform(0, 0.6) * ((x - 0.5) ** 2 + (y - 0.5) ** 2) * 2
    img = img * (light * vignette)[..., None]
    return np.clip(img + rng.normal(0, rng.uniform(0, 0.03), img.shape), 0, 1)


def pattern(rng: np.random.Generator) -> np.ndarray:
    """Sine or square gratings, or a checkerboard, in two colours."""
    x, y = _coords()
    a, b = _colour(rng), _colour(rng)
    period = rng.uniform(3.0, 40.0) / N
    angle = rng.uniform(0, math.pi)
    u = (x * math.cos(angle) + y * math.sin(angle)) / period
    form = rng.integers(3)
    if form == 0:
        t = 0.5 + 0.5 * np.sin(2 * math.pi * u)
    elif form == 1:
        t = (np.floor(u) % 2).astype(np.float32)
    else:
        v = (-x * math.sin(angle) + y * math.cos(angle)) / period
        t = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
    img = a * (1 - t[..., None]) + b * t[..., None]
    if rng.random() < 0.4:
        img = np.asarray(Image.fromarray(np.uint8(img * 255)).filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.0)))),
                         np.float32) / 255.0
    return img


def dots(rng: np.random.Generator) -> np.ndarray:
    """Points and small blobs on dark or light ground: star fields, cells, speckle."""
    dark = rng.random() < 0.6
    ground = rng.uniform(0.0, 0.12, 3) if dark else rng.uniform(0.7, 1.0, 3)
    img = np.broadcast_to(ground, (N, N, 3)).astype(np.float32).copy()
    for _ in range(int(rng.integers(10, 300))):
        cx, cy = rng.uniform(0, N, 2)
        sigma = rng.uniform(0.4, 1.5) if rng.random() < 0.85 else rng.uniform(2.0, 8.0)
        colour = rng.uniform(0.5, 1.0, 3) if dark else rng.uniform(0.0, 0.6, 3)
        strength = rng.uniform(0.3, 1.0)
        # the blob within 4 sigma of its centre, where it is not negligible
        x0, x1 = max(0, int(cx - 4 * sigma)), min(N, int(cx + 4 * sigma) + 2)
        y0, y1 = max(0, int(cy - 4 * sigma)), min(N, int(cy + 4 * sigma) + 2)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.meshgrid(np.arange(y0, y1) + 0.5, np.arange(x0, x1) + 0.5, indexing="ij")
        weight = (np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2)) * strength)[..., None]
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - weight) + colour * weight
    return np.clip(img + rng.normal(0, rng.uniform(0, 0.02), img.shape), 0, 1)


def noise(rng: np.random.Generator) -> np.ndarray:
    """Plain or graded ground under pixel noise (per channel or in luminance)."""
    x, y = _coords()
    a, b = _colour(rng), _colour(rng)
    t = (x if rng.random() < 0.5 else y)[..., None] * rng.uniform(0, 1)
    sigma = rng.uniform(0.02, 0.2)
    shape = (N, N, 3) if rng.random() < 0.5 else (N, N, 1)
    return np.clip(a * (1 - t) + b * t + rng.normal(0, sigma, shape), 0, 1)


def blend(rng: np.random.Generator) -> np.ndarray:
    """Two pictures of the other kinds mixed through a smooth random mask."""
    first, second = (KINDS_BY_NAME[_pick_kind(rng, exclude="blend")](rng) for _ in range(2))
    lattice = rng.uniform(0, 1, (3, 3)).astype(np.float32)
    mask = np.clip(np.asarray(Image.fromarray(lattice, "F").resize((N, N), Image.BICUBIC)), 0, 1)[..., None]
    return first * (1 - mask) + second * mask


KINDS: Tuple[Tuple[str, float], ...] = (("dead_leaves", 0.25), ("fractal", 0.15), ("smooth", 0.15),
                                         ("pattern", 0.10), ("dots", 0.10), ("noise", 0.10), ("blend", 0.15))
KINDS_BY_NAME: Dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "dead_leaves": dead_leaves, "fractal": fractal, "smooth": smooth, "pattern": pattern, "dots": dots,
    "noise": noise, "blend": blend}


def _pick_kind(rng: np.random.Generator, exclude: str = "") -> str:
    names = [n for n, _ in KINDS if n != exclude]
    weights = np.asarray([w for n, w in KINDS if n != exclude])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _kind(rng: np.random.Generator) -> str:
    return _pick_kind(rng)
