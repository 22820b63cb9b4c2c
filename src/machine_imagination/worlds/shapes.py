"""The shapes world: a miniature world in which search quality can be measured without pretrained weights.

A scene is one shape (circle, square, triangle, diamond) in one of six saturated colours on a plain
mid-grey background, 64x64 px, with a position and a size. This module holds everything the world
*is*: the rendering of scenes, the captions that are true of them, the held-out prompt set, how a
scene follows from BigGAN's inputs (class = shape x colour; z[0], z[1], z[2] = x, y, size; the rest of
z is ignored), and an independent judge that reads shape, colour, size and position back from the
pixels without any learned model. Training the models on it is in `shapes_training`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

SIDE = 64
BACKGROUND = 128  # mid-grey, exactly representable in 8 bits
SHAPES = ("circle", "square", "triangle", "diamond")
COLOURS = {
    "red": (225, 35, 35),
    "green": (30, 175, 55),
    "blue": (35, 75, 230),
    "yellow": (240, 220, 30),
    "purple": (150, 45, 200),
    "orange": (250, 140, 20),
}
COLOUR_NAMES = tuple(COLOURS)
# BigGAN's classes: shape-major, so class = shape index * 6 + colour index.
CLASS_NAMES = tuple(f"{colour} {shape}" for shape in SHAPES for colour in COLOUR_NAMES)

# z -> scene: linear, so interpolating z moves and grows the shape smoothly. With BigGAN's noise in
# [-2, 2] the centre stays in 18..46 px and the side in 16..32 px: the shape is always whole.
CENTRE, TRAVEL = 32.0, 7.0  # centre = CENTRE + TRAVEL * z
SIZE_MID, SIZE_SLOPE = 24.0, 4.0  # side = SIZE_MID + SIZE_SLOPE * z

# What the words mean (the judge decides by these bounds) ...
LEFT_BELOW, RIGHT_ABOVE = 28.0, 36.0  # centre x (and y: top / bottom) in px
SMALL_BELOW, BIG_ABOVE = 22.0, 26.0  # side in px
# ... and captions use a word only when it is true with this margin to spare.
MARGIN = 2.0

SIZE_WORDS = ("small", "big")
POSITIONS = {  # phrase -> (horizontal, vertical) words it asserts
    "on the left": ("left", None),
    "on the right": ("right", None),
    "at the top": (None, "top"),
    "at the bottom": (None, "bottom"),
    "at the top left": ("left", "top"),
    "at the top right": ("right", "top"),
    "at the bottom left": ("left", "bottom"),
    "at the bottom right": ("right", "bottom"),
}
PREFIXES = ("", "a photo of ", "a picture of ")


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    x: float  # centre, px from the left
    y: float  # centre, px from the top
    size: float  # side of the bounding square, px

    @property
    def class_index(self) -> int:
        return SHAPES.index(self.shape) * len(COLOUR_NAMES) + COLOUR_NAMES.index(self.colour)


@dataclass(frozen=True)
class Description:
    """What a prompt asserts: None where it says nothing about an attribute."""

    shape: str | None = None
    colour: str | None = None
    size: str | None = None  # small / big
    horizontal: str | None = None  # left / right
    vertical: str | None = None  # top / bottom

    ATTRIBUTES = ("shape", "colour", "size", "horizontal", "vertical")

    def text(self, prefix: str = "") -> str:
        words = [w for w in (self.size, self.colour, self.shape) if w]
        phrase = next((p for p, hv in POSITIONS.items() if hv == (self.horizontal, self.vertical)), None)
        body = " ".join(words + ([phrase] if phrase else []))
        return f"{prefix}{'an' if body[:1] in 'aeiou' else 'a'} {body}"


def scene_from_latents(class_index: int, z) -> Scene:
    """The scene the generator is trained to draw for a class and noise vector (z[0:3] used)."""
    shape = SHAPES[class_index // len(COLOUR_NAMES)]
    colour = COLOUR_NAMES[class_index % len(COLOUR_NAMES)]
    return Scene(shape, colour, CENTRE + TRAVEL * float(z[0]), CENTRE + TRAVEL * float(z[1]),
                 SIZE_MID + SIZE_SLOPE * float(z[2]))


def latents_for_scene(scene: Scene) -> tuple[int, np.ndarray]:
    """Inverse of `scene_from_latents` on z[0:3]: (class index, z[0:3])."""
    z = np.array([(scene.x - CENTRE) / TRAVEL, (scene.y - CENTRE) / TRAVEL, (scene.size - SIZE_MID) / SIZE_SLOPE])
    return scene.class_index, z


# --------------------------------------------------------------------------- rendering


def render(scenes):
    """Scenes -> float32 torch tensor [N, 3, 64, 64] in [0, 1]. Anti-aliased: each pixel is covered by
    0.5 - (signed distance of its centre to the outline), clamped to [0, 1], so edges move continuously
    with position and size (the generator's regression needs that) and an edge's area is exact."""
    import torch

    n = len(scenes)
    coords = torch.arange(SIDE, dtype=torch.float32) + 0.5  # pixel centres
    x = torch.tensor([s.x for s in scenes]).view(n, 1, 1)
    y = torch.tensor([s.y for s in scenes]).view(n, 1, 1)
    h = torch.tensor([s.size / 2 for s in scenes]).view(n, 1, 1)
    dx = (coords.view(1, 1, -1) - x).abs()
    dy = coords.view(1, -1, 1) - y
    distances = {
        "circle": torch.sqrt(dx ** 2 + dy ** 2) - h,
        "square": torch.maximum(dx, dy.abs()) - h,
        "diamond": (dx + dy.abs() - h) / 2 ** 0.5,
        # apex up at dy = -h, base at dy = h: the sides are |dx| = (dy + h) / 2
        "triangle": torch.maximum(dy - h, (2 * dx - dy - h) / 5 ** 0.5),
    }
    shape_index = torch.tensor([SHAPES.index(s.shape) for s in scenes]).view(n, 1, 1)
    distance = torch.zeros(n, SIDE, SIDE)
    for i, name in enumerate(SHAPES):
        distance = torch.where(shape_index == i, distances[name], distance)
    coverage = (0.5 - distance).clamp(0, 1).unsqueeze(1)
    colour = torch.tensor([COLOURS[s.colour] for s in scenes], dtype=torch.float32).view(n, 3, 1, 1) / 255
    return BACKGROUND / 255 + coverage * (colour - BACKGROUND / 255)


def to_uint8(images) -> np.ndarray:
    """[N, 3, H, W] in [0, 1] (torch) -> [N, H, W, 3] uint8, rounded as a PNG stores it."""
    return (images.clamp(0, 1) * 255).round().to(dtype=__import__("torch").uint8).permute(0, 2, 3, 1).cpu().numpy()


def random_scenes(rng: np.random.Generator, n: int, class_index: int | None = None) -> list[Scene]:
    """Scenes of a uniform class (or the given one) with z[0:3] uniform in [-2, 2]: every position
    and size the generator can draw equally often, the extremes included (where a search for 'small'
    or 'on the left' ends up)."""
    classes = rng.integers(0, len(CLASS_NAMES), n) if class_index is None else np.full(n, class_index)
    z = rng.uniform(-2, 2, (n, 3))
    return [scene_from_latents(int(c), zi) for c, zi in zip(classes, z)]


# --------------------------------------------------------------------------- words


def true_words(scene: Scene, margin: float = 0.0) -> Description:
    """The size and position words true of a scene (with `margin` px to spare), shape and colour."""
    def word(value, low_word, high_word, low, high):
        if value < low - margin:
            return low_word
        if value > high + margin:
            return high_word
        return None

    return Description(
        shape=scene.shape, colour=scene.colour,
        size=word(scene.size, "small", "big", SMALL_BELOW, BIG_ABOVE),
        horizontal=word(scene.x, "left", "right", LEFT_BELOW, RIGHT_ABOVE),
        vertical=word(scene.y, "top", "bottom", LEFT_BELOW, RIGHT_ABOVE),
    )


def clear_of_bounds(scene: Scene, margin: float) -> bool:
    """True when no size or position lies within `margin` px of a bound between two words."""
    pairs = ((scene.size, (SMALL_BELOW, BIG_ABOVE)), (scene.x, (LEFT_BELOW, RIGHT_ABOVE)),
             (scene.y, (LEFT_BELOW, RIGHT_ABOVE)))
    return all(abs(value - bound) >= margin for value, bounds in pairs for bound in bounds)


def holds(description: Description, scene_words: Description) -> dict:
    """Per attribute the prompt asserts: whether `scene_words` (what is true) agrees."""
    return {a: getattr(scene_words, a) == getattr(description, a)
            for a in Description.ATTRIBUTES if getattr(description, a) is not None}


VOCABULARY = {"shape": SHAPES, "colour": COLOUR_NAMES, "size": SIZE_WORDS, "horizontal": ("left", "right"),
              "vertical": ("top", "bottom")}


def attribute_codes(descriptions) -> np.ndarray:
    """[N, 5] int: each attribute's word as its index in VOCABULARY, -1 where nothing is said."""
    return np.array([[VOCABULARY[a].index(w) if (w := getattr(d, a)) is not None else -1
                      for a in Description.ATTRIBUTES] for d in descriptions], dtype=np.int64).reshape(-1, 5)


def match_matrix(truths, captions) -> np.ndarray:
    """[len(truths), len(captions)] bool: caption j says nothing that contradicts truth i (`holds`, batched)."""
    said, true = attribute_codes(captions)[None], attribute_codes(truths)[:, None]
    return ((said == -1) | (said == true)).all(axis=-1)


def random_caption(scene: Scene, rng: np.random.Generator, exclude=frozenset()) -> Description:
    """A caption true of the scene: its colour and shape, plus a random subset of the size and position
    words that are clearly true of it. Descriptions in `exclude` (the held-out prompts) are never used."""
    clear = true_words(scene, margin=MARGIN)
    for _ in range(20):
        keep = rng.random(3) < 0.6
        d = Description(shape=scene.shape, colour=scene.colour,
                        size=clear.size if keep[0] else None,
                        horizontal=clear.horizontal if keep[1] else None,
                        vertical=clear.vertical if keep[2] else None)
        if d not in exclude:
            return d
    return Description(shape=scene.shape, colour=scene.colour)  # held-out prompts all carry more words


def parse_description(prompt: str) -> Description:
    """The attributes a prompt of this world's vocabulary asserts ('a small red circle on the left')."""
    text = prompt.lower()

    def find(words):
        found = [w for w in words if re.search(rf"\b{w}\b", text)]
        return found[0] if len(found) == 1 else None

    return Description(shape=find(SHAPES), colour=find(COLOUR_NAMES), size=find(SIZE_WORDS),
                       horizontal=find(("left", "right")), vertical=find(("top", "bottom")))


def benchmark_prompts(count: int = 48, seed: int = 2026) -> list[Description]:
    """The held-out prompt set: every class equally often, each with a size word and a position phrase.
    No training caption is one of these (random_caption excludes them)."""
    rng = np.random.default_rng(seed)
    phrases = list(POSITIONS.values())
    prompts = []
    while len(prompts) < count:
        for class_index in rng.permutation(len(CLASS_NAMES)):
            shape, colour = CLASS_NAMES[class_index].split()[::-1]
            h, v = phrases[rng.integers(len(phrases))]
            d = Description(shape=shape, colour=colour, size=SIZE_WORDS[rng.integers(2)], horizontal=h, vertical=v)
            if d not in prompts and len(prompts) < count:
                prompts.append(d)
    return prompts


# --------------------------------------------------------------------------- the judge


@dataclass(frozen=True)
class Verdict:
    """What the judge reads from an image; `found` is False when no shape stands out of the background."""

    found: bool
    shape: str | None = None
    colour: str | None = None
    x: float = float("nan")
    y: float = float("nan")
    size: float = float("nan")
    fill: float = float("nan")  # area / bounding-box area
    offset: float = float("nan")  # (centroid y - box centre y) / box height
    kurtosis: float = float("nan")  # of the shape's projections on the x and y axes, averaged

    def words(self) -> Description:
        if not self.found:
            return Description()
        return true_words(Scene(self.shape, self.colour, self.x, self.y, self.size))


FOREGROUND = 50.0  # RGB distance from the background above which a pixel belongs to a shape
FAINT = 6.0  # below this a pixel next to a shape counts as background (8-bit rounding, generator noise)
# Shape decisions (ideal values: fill square 1, circle 0.79, triangle and diamond 0.5; offset triangle
# 1/6, others 0; kurtosis square 1.8, circle 2.0, diamond and triangle 2.4). Measured on 2400 samples
# of the shipped generator (uniform position and size), whose soft edges and rounded corners pull
# every shape towards the circle: triangle offset >= 0.087, others <= 0.034; square fill >= 0.856,
# circle <= 0.835; circle kurtosis <= 2.139, diamond >= 2.141 (1st/99th percentiles 2.127 / 2.172).
TRIANGLE_OFFSET, SQUARE_FILL, DIAMOND_KURTOSIS = 0.06, 0.845, 2.15


def judge_image(image: np.ndarray) -> Verdict:
    """Read one image ([H, W, 3] uint8, any H = W; scaled to this world's 64 px units) without any
    learned model. The foreground is what differs from the grey background; the shape is its largest
    connected region, with partly covered edge pixels counted in part; the colour is the named colour
    nearest to that region's core. The shape: a triangle's centroid lies a sixth of its height below
    its box's centre; a square fills its bounding box; a circle and a diamond fill their boxes
    alike once edges are soft, but their projections on the axes differ (a half-disc profile against
    a tent: kurtosis 2.0 against 2.4)."""
    from scipy import ndimage

    pixels = np.asarray(image, dtype=np.float64)
    scale = SIDE / pixels.shape[1]
    distance = np.sqrt(((pixels - BACKGROUND) ** 2).sum(axis=-1))
    labels, count = ndimage.label(distance > FOREGROUND)
    if count == 0:
        return Verdict(found=False)
    areas = ndimage.sum_labels(np.ones_like(distance), labels, index=np.arange(1, count + 1))
    region = labels == (1 + int(np.argmax(areas)))
    if region.sum() < 4:
        return Verdict(found=False)
    # Anti-aliased edges mix colour and grey: take the colour from the region's most saturated half.
    core = distance[region] >= np.median(distance[region])
    mean = pixels[region][core].mean(axis=0)
    colour = min(COLOURS, key=lambda name: float(((np.array(COLOURS[name]) - mean) ** 2).sum()))
    # Fractional coverage (blended edge pixels count in part) gives sub-pixel measurements.
    # The region holds the pixels at least ~40 % covered; its 2-px neighbourhood holds the rest.
    around = ndimage.binary_dilation(region, iterations=2)
    coverage = np.clip(distance / _colour_distance(colour), 0, 1) * around * (distance > FAINT)
    area = float(coverage.sum())
    columns, rows = coverage.sum(axis=0), coverage.sum(axis=1)
    centroid_x, _, kurtosis_x = _moments(columns)
    centroid_y, _, kurtosis_y = _moments(rows)
    # The bounding box's extent is the sum of the largest coverage in each column (row): a soft edge
    # spreads outwards as much as it fades inwards, so the sum stays the sharp shape's extent.
    box_width, box_height = coverage.max(axis=0).sum(), coverage.max(axis=1).sum()
    box_centre = _moments(coverage.max(axis=1))[0]
    fill = area / (box_width * box_height)
    offset = (centroid_y - box_centre) / box_height
    kurtosis = (kurtosis_x + kurtosis_y) / 2
    if offset > TRIANGLE_OFFSET:
        shape = "triangle"
    elif fill > SQUARE_FILL:
        shape = "square"
    else:
        shape = "diamond" if kurtosis > DIAMOND_KURTOSIS else "circle"
    # Size and centre from the area and the centroid: the side of a shape of this kind with this area,
    # and a triangle's centroid lies side/6 below its box's centre.
    size = float(np.sqrt(area / SHAPE_FILL[shape]))
    y = centroid_y - (size / 6 if shape == "triangle" else 0.0)
    return Verdict(found=True, shape=shape, colour=colour, x=centroid_x * scale, y=y * scale,
                   size=size * scale, fill=fill, offset=offset, kurtosis=kurtosis)


def judge_prompt(image: np.ndarray, wanted: Description) -> dict:
    """Whether an image shows what a prompt says: per asserted attribute, and 'all' of them."""
    hits = holds(wanted, judge_image(image).words())
    return {**hits, "all": all(hits.values())}


SHAPE_FILL = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5, "diamond": 0.5}


def _colour_distance(name: str) -> float:
    return float(np.sqrt(((np.array(COLOURS[name], dtype=np.float64) - BACKGROUND) ** 2).sum()))


def _moments(profile: np.ndarray) -> tuple[float, float, float]:
    """(mean, variance, kurtosis) of a non-negative profile along one axis (pixel centres at k + 0.5)."""
    position = np.arange(len(profile)) + 0.5
    weight = profile / profile.sum()
    mean = float((weight * position).sum())
    variance = float((weight * (position - mean) ** 2).sum())
    return mean, variance, float((weight * (position - mean) ** 4).sum() / variance ** 2)
