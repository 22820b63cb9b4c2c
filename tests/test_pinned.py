"""The comparison the golden tests make (tests/pinned.py), on the committed pins themselves: differences
inside the tolerances pass, differences outside fail naming the file and the size of the difference."""
import copy
import json
import re

import numpy as np
import pytest

import pinned
from conftest import REPO

GOLDEN = json.loads((REPO / "tests" / "golden" / "offline.json").read_text())


def changed(change) -> dict:
    values = copy.deepcopy(GOLDEN)
    change(values)
    return values


def with_thumbnails(values: dict, part: str, change) -> None:
    thumbnails = pinned.unpack(values[part]["thumbnails"], values[part]["shape"]).astype(np.int16)
    change(thumbnails)
    values[part]["thumbnails"] = pinned.pack(np.clip(thumbnails, 0, 255).astype(np.uint8))


def test_the_pins_equal_themselves_and_survive_packing():
    assert pinned.compare(GOLDEN, GOLDEN) == []
    frames = pinned.unpack(GOLDEN["film"]["thumbnails"], GOLDEN["film"]["shape"])
    assert frames.shape == (GOLDEN["film"]["frames"], 16, 16, 3)
    assert np.array_equal(pinned.unpack(pinned.pack(frames), frames.shape), frames)


def score_change(factor):
    def change(values):
        loss = values["latents"]["0003.npz"]["scores"]["loss"]
        tolerance = pinned.SCORE_ATOL + pinned.SCORE_RTOL * abs(loss)
        values["latents"]["0003.npz"]["scores"]["loss"] = loss + factor * tolerance
    return change


def block_change(part, where, levels):
    """One block of one thumbnail (`where`: image or frame, row, column, channel) moved by `levels`."""
    def change(values):
        def bump(thumbnails):
            thumbnails[where] += levels if thumbnails[where] < 128 else -levels
        with_thumbnails(values, part, bump)
    return change


def frame_shift(levels):
    """Every block of frame 12 moved by `levels` (towards the middle grey)."""
    def change(values):
        def shift(frames):
            frames[12] = np.where(frames[12] < 128, frames[12] + levels, frames[12] - levels)
        with_thumbnails(values, "film", shift)
    return change


def frame_block_change(levels):
    return block_change("film", (7, 3, 4, 1), levels)


def image_block_change(levels):
    return block_change("images", (2, 5, 5, 0), levels)


@pytest.mark.parametrize("change", [score_change(0.9), frame_block_change(pinned.FRAME_TOLERANCE.max),
                                    frame_shift(1), image_block_change(pinned.IMAGE_TOLERANCE.max)],
                         ids=["score", "frame-block", "frame-shift", "image-block"])
def test_differences_inside_the_tolerances_pass(change):
    assert pinned.compare(GOLDEN, changed(change)) == []


@pytest.mark.parametrize("change, message", [
    (score_change(1.5), r"latents/0003\.npz: loss differs by [0-9.e-]+ \(.*tolerance 1e-05 \+ 1e-05 x \|pinned\|\)"),
    (frame_block_change(pinned.FRAME_TOLERANCE.max + 1),
     r"film\.mp4 frame 7: pixels differ by up to 17 levels, 0\.0\d\d on average"),
    (frame_shift(2), r"film\.mp4 frame 12: pixels differ by up to 2 levels, 2\.000 on average"),
    (image_block_change(3), r"images/0002\.png: pixels differ by up to 3 levels"),
    (lambda v: v["latents"]["0005.npz"]["exact"].update(noise="0" * 64),
     r"latents/0005\.npz: noise differ from the pinned values \(pinned exactly\)"),
    (lambda v: v["provenance"][0]["search"]["settings"].update(iterations=9),
     r"latents/0000\.npz: its provenance differs .*--record-provenance"),
    (lambda v: v["files"].remove("film.srt"), r"the files differ: missing \['film\.srt'\], not pinned \[\]"),
    (lambda v: v["digests"].update({"film.srt": "0" * 64}), r"film\.srt: differs from the pinned SHA-256"),
    (lambda v: v["film"]["timing"]["caption_frames"][3].__setitem__(1, 175),
     r"film\.json: caption_frames is \[.*\[138, 175\].*\], pinned \[.*\[138, 174\]"),
    (lambda v: v["film"].update(frames=527), r"film\.mp4: 527 frames of \[256, 256, 3\], pinned 528"),
], ids=["score", "frame-block", "frame-shift", "image-block", "noise", "provenance", "files", "film.srt",
        "caption-frames", "frame-count"])
def test_differences_outside_the_tolerances_fail_naming_the_file_and_size(change, message):
    problems = pinned.compare(GOLDEN, changed(change))
    assert problems and any(re.search(message, p) for p in problems), problems


def test_the_provenance_is_re_recorded_alone_and_only_when_nothing_else_differs():
    def new_provenance(values):
        values["provenance"][0]["search"]["settings"]["iterations"] = 9
    found = changed(new_provenance)
    assert pinned.compare(pinned.with_provenance_of(GOLDEN, found), found) == []
    with pytest.raises(SystemExit, match="loss differs"):
        pinned.with_provenance_of(GOLDEN, changed(lambda v: (new_provenance(v), score_change(2)(v))))
