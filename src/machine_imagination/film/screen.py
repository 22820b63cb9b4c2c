"""The film's frame: where the image sits in it and where its caption goes.

By default the frame is the image itself (a square of `film.size` or the generator's side) and the
caption is drawn over it, as always. With `film.frame: [W, H]` the image is scaled to the frame's
height (bicubic with antialiasing, on the device, as the renderer scales) and centred on black; with
`film.caption.position: below` the image leaves a band under it for the caption, so that no letter
covers the image."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAND_LINES = 2  # caption lines the band below the image is sized for (longer captions get a smaller font)


@dataclass(frozen=True)
class Screen:
    width: int
    height: int
    image: int  # side of the (square) image in the frame
    left: int  # the image's top-left corner
    top: int
    band: tuple | None = None  # (first row, row after the last) of the caption band below the image

    @classmethod
    def square(cls, side: int) -> "Screen":
        """The frame that is the image itself (the default)."""
        return cls(side, side, side, 0, 0)

    @classmethod
    def from_config(cls, film: dict, resolution: int) -> "Screen":
        """The frame of `film` settings for a generator of side `resolution`."""
        below = film["caption"]["position"] == "below"
        if film["frame"] is None and not below:
            return cls.square(film["size"] or resolution)
        width, height = film["frame"] or [film["size"] or resolution] * 2
        band = 0
        if below:
            c = film["caption"]
            band = round(height * (2 * c["margin"] + BAND_LINES * 1.25 * c["size"]))
        image = min(width, height - band) // 2 * 2
        left, top = (width - image) // 2, (height - band - image) // 2
        return cls(width, height, image, left, top, (height - band, height) if below else None)

    @property
    def plain(self) -> bool:
        """The frame is the image (nothing to place)."""
        return self.image == self.width == self.height

    def place(self, images: np.ndarray) -> np.ndarray:
        """Images [N, S, S, 3] (S = self.image) centred on a black [N, H, W, 3] frame."""
        if self.plain:
            return images
        frames = np.zeros((images.shape[0], self.height, self.width, 3), np.uint8)
        frames[:, self.top:self.top + self.image, self.left:self.left + self.image] = images
        return frames
