"""Which captions describe which scenes: the positives of the contrastive loss.

A caption is a list of shape phrases, each with a colour and a shape and optionally a size and a
position ("a [size] colour [outlined] shape [position]"); "outlined" is stated for every outlined
shape and only for those. It describes a scene when it has one phrase per shape of the scene and
the phrases can be matched one-to-one to the scene's shapes (stated attributes equal). Two different scenes
in a batch can share a description ("a red circle"), so targets are multi-positive.
"""
from __future__ import annotations

from itertools import permutations
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .scenes import COLOURS, POSITIONS, SHAPES, SIZES, Scene

Phrase = Tuple[str, str, Optional[str], Optional[str], bool]  # colour, shape, size, position, outlined
OUTLINED = "outlined"


def parse_caption(text: str) -> List[Phrase]:
    phrases = []
    for part in text.split(" and "):
        words = part.split()
        if not words or words[0] != "a":
            raise ValueError(f"not a scene caption: {text!r}")
        words = words[1:]
        size = words.pop(0) if words and words[0] in SIZES else None
        outlined = len(words) > 1 and words[1] == OUTLINED
        if outlined:
            del words[1]
        if len(words) < 2 or words[0] not in COLOURS or words[1] not in SHAPES:
            raise ValueError(f"not a scene caption: {text!r}")
        position = " ".join(words[2:]) or None
        if position is not None and position not in POSITIONS:
            raise ValueError(f"not a scene caption: {text!r}")
        phrases.append((words[0], words[1], size, position, outlined))
    return phrases


def _matches(phrase: Phrase, attributes: Tuple[str, str, str, str, bool]) -> bool:
    return all(p is None or p == a for p, a in zip(phrase, attributes))


def describes(phrases: Sequence[Phrase], scene: Scene) -> bool:
    shapes = [s.caption_attributes for s in scene.shapes]
    if len(phrases) != len(shapes):
        return False
    return any(all(_matches(p, shapes[j]) for p, j in zip(phrases, order))
               for order in permutations(range(len(shapes))))


def format_caption(phrases: Sequence[Phrase]) -> str:
    """The inverse of parse_caption."""
    def one(p: Phrase) -> str:
        colour, shape, size, position, outlined = p
        return " ".join(["a"] + ([size] if size else []) + [colour] + ([OUTLINED] if outlined else []) + [shape]
                        + ([position] if position else []))
    return " and ".join(one(p) for p in phrases)


SWAPPABLE = {"colour": (0, tuple(COLOURS)), "shape": (1, SHAPES)}


def swap_attribute(caption: str, attribute: str, rng: np.random.Generator) -> str:
    """The caption with the colour or shape of one of its phrases replaced by another value: a
    hard negative that differs from a true description in exactly that attribute."""
    slot, values = SWAPPABLE[attribute]
    phrases = [list(p) for p in parse_caption(caption)]
    target = phrases[int(rng.integers(len(phrases)))]
    others = [v for v in values if v != target[slot]]
    target[slot] = others[int(rng.integers(len(others)))]
    return format_caption([tuple(p) for p in phrases])  # type: ignore[misc]


def positives(captions: Sequence[str], scenes: Sequence[Scene]) -> np.ndarray:
    """(len(scenes), len(captions)) bool matrix: caption j describes scene i."""
    parsed = [parse_caption(c) for c in captions]
    return np.array([[describes(p, s) for p in parsed] for s in scenes], dtype=bool)


def without_position(caption: str) -> str:
    """The caption with its position phrases dropped: what still holds of a scene drawn elsewhere."""
    return format_caption([(colour, shape, size, None, outlined)
                           for colour, shape, size, _, outlined in parse_caption(caption)])
