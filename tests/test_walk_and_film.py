import imageio_ffmpeg
import numpy as np
import pytest
import torch

from machine_imagination.film.captions import CaptionStyle, burn_caption, render_card, srt_time, write_srt
from machine_imagination.film.plan import FramePlan, frame_plan
from machine_imagination.film.walk import render_segment, render_transition, slerp, transition_times
from machine_imagination.latents import Latents
from machine_imagination.video import Encoding, FilmError, VideoWriter, concat_videos


def decode(path):
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    return meta, np.stack([np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader])


def test_slerp_end_points_and_constant_norm_between_equal_norm_vectors():
    a, b = torch.randn(128), torch.randn(128)
    b = b / b.norm() * a.norm()
    out = slerp(a, b, torch.tensor([0.0, 0.25, 0.5, 1.0]))
    assert torch.allclose(out[0], a, atol=1e-5) and torch.allclose(out[-1], b, atol=1e-5)
    assert torch.allclose(out.norm(dim=1), a.norm().expand(4), rtol=1e-4)
    parallel = slerp(a, 2 * a, torch.tensor([0.5]))  # no angle: a straight line
    assert torch.allclose(parallel[0], 1.5 * a, atol=1e-5)


def test_transition_times_exclude_the_held_end_points_and_can_ease():
    assert torch.allclose(transition_times(3), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    assert len(transition_times(0)) == 0
    eased = transition_times(9, "ease-in-out")
    assert eased[4] == pytest.approx(0.5) and eased[0] < 0.1 / 2 and torch.all(eased[1:] > eased[:-1])
    steps = torch.diff(torch.cat([torch.zeros(1, dtype=torch.float64), eased, torch.ones(1, dtype=torch.float64)]))
    assert steps[0] < steps[5] > steps[-1]  # slow at both ends, fastest in the middle


def test_frame_plan_arithmetic():
    plan = FramePlan(holds=(3, 3, 3, 3), steps=5, fps=10)
    assert plan.total_frames == 4 * 3 + 3 * 5
    assert [plan.segment_frames(i) for i in range(4)] == [8, 8, 8, 3]
    assert list(plan.caption_frames(2)) == [16, 17, 18]
    cards = FramePlan(holds=(2, 4, 3), steps=5, fps=10, loop=True, title=6, end=7)
    assert [cards.segment_frames(i) for i in range(3)] == [7, 9, 8]
    assert cards.total_frames == 6 + 7 + 9 + 8 + 7
    assert list(cards.caption_frames(1)) == [6 + 2 + 5 + k for k in range(4)]


def test_reading_pacing_follows_the_words_within_bounds():
    film = {"pacing": "reading", "hold": 30, "words_per_minute": 120, "hold_min": 1.0, "hold_max": 4.0, "fps": 10,
            "steps": 5, "loop": False, "title_card": True, "end_card": False, "card_seconds": 2.5}
    plan = frame_plan(film, ["One.", "Four words are here.", " ".join(["word"] * 6), " ".join(["word"] * 50)])
    assert plan.holds == (10, 20, 30, 40)  # 0.5 s -> 1 s minimum; 2 s; 3 s; 25 s -> 4 s maximum
    assert (plan.title, plan.end) == (25, 0)
    assert frame_plan({**film, "pacing": "fixed"}, ["a", "b c d e f"]).holds == (30, 30)


def test_srt_times_round_down_so_each_cue_starts_on_its_frame():
    assert srt_time(0, 30) == "00:00:00,000"
    assert srt_time(2, 30) == "00:00:00,066"  # 66.67 ms: rounding up would miss frame 2
    assert srt_time(30 * 3725 + 1, 30) == "01:02:05,033"
    for fps in (12, 24, 25, 30, 60):
        for frame in range(200):
            ms = int(srt_time(frame, fps)[-3:]) + 1000 * int(srt_time(frame, fps)[6:8]) + 60_000 * int(srt_time(frame, fps)[3:5])
            assert (frame - 1) / fps < ms / 1000 <= frame / fps


def test_write_srt(tmp_path):
    write_srt(["One.", "Two."], FramePlan((3, 3), 5, 10), tmp_path / "a.srt")
    assert (tmp_path / "a.srt").read_text() == (
        "1\n00:00:00,000 --> 00:00:00,300\nOne.\n\n2\n00:00:00,800 --> 00:00:01,100\nTwo.\n"
    )


def test_caption_is_drawn_only_in_the_bottom_band_and_wraps():
    frame = np.full((256, 256, 3), 128, np.uint8)
    out = burn_caption(frame, "A long sentence that will certainly not fit on one line of a small frame.", CaptionStyle())
    changed = np.any(out != frame, axis=2)
    rows = np.flatnonzero(changed.any(axis=1))
    assert rows.min() > 256 // 2, "the caption stays in the lower part of the frame"
    assert out[rows.min():].max() > 200 and out[rows.min():].min() < 90  # white text on a dark band
    one_line = burn_caption(frame, "Short.", CaptionStyle())
    assert np.flatnonzero(np.any(one_line != frame, axis=2).any(axis=1)).min() > rows.min()


def test_a_caption_longer_than_half_the_frame_is_cut_with_an_ellipsis():
    from machine_imagination.film.captions import layout_caption

    frame = np.full((256, 256, 3), 128, np.uint8)
    sentence = " ".join(f"word{i}" for i in range(2000))
    layout = layout_caption(sentence, CaptionStyle(), 256, 256)
    assert layout.cut and layout.lines[-1].endswith("…") and len(layout.lines) * layout.line_height <= 128
    assert not layout_caption("A short sentence.", CaptionStyle(), 256, 256).cut
    out = burn_caption(frame, sentence, CaptionStyle())
    rows = np.flatnonzero(np.any(out != frame, axis=2).any(axis=1))
    assert rows.min() >= 256 // 2 - 8, "the caption covers at most about half the frame"


def test_captions_the_font_cannot_draw_or_that_are_cut_are_warned_of_naming_the_sentence():
    from machine_imagination.film.captions import caption_warnings
    from machine_imagination.project import validate_config
    from machine_imagination.text import Prompt

    config = validate_config({"texts": {"t": "t.txt"}, "generator": {"model": "biggan-deep-128"},
                              "film": {"title_card": True}, "titles": {"t": "狐の話"}})
    prompts = {"t": [Prompt(0, "A fox.", "", 1), Prompt(1, "A fox 🦊 in the 山.", "", 1),
                     Prompt(2, "fox " * 2000, "", 1)]}
    glyphs, cut = caption_warnings(config, prompts)
    assert glyphs.startswith("texts.t: the caption font (")
    assert "has no glyph for 🦊山狐の話 (U+1F98A, U+5C71, U+72D0, U+306E, … (1 more))" in glyphs
    assert "in sentence 1, the title card; set film.caption.font to a" in glyphs
    assert cut.startswith("texts.t: the burned captions of sentence 2 (8000 characters) need more lines than fit")
    config["film"]["captions"] = "soft"  # nothing burned but the card
    [card] = caption_warnings(config, prompts)
    assert "has no glyph for 狐の話 (U+72D0, U+306E, U+8A71), which it draws as boxes, in the title card;" in card
    config["film"]["caption"]["font"] = "/nonexistent.ttf"
    with pytest.raises(FilmError, match="film.caption.font: cannot load font '/nonexistent.ttf'"):
        caption_warnings(config, prompts)

def test_caption_style_options():
    frame = np.full((200, 200, 3), 128, np.uint8)
    top = burn_caption(frame, "Top.", CaptionStyle(position="top"))
    assert np.flatnonzero(np.any(top != frame, axis=2).any(axis=1)).max() < 100
    plain = burn_caption(frame, "No box.", CaptionStyle(box=False, color="#ff0000"))
    changed = np.any(plain != frame, axis=2)
    assert changed.mean() < 0.05  # only the letters, no band
    assert plain[changed][:, 0].max() > 200 and plain[changed][:, 1].min() < 100  # red letters
    outlined = burn_caption(frame, "Outline.", CaptionStyle(box=False, outline=0.1, outline_color="black"))
    assert np.any(outlined == 0)
    with pytest.raises(FilmError, match="not a colour"):
        burn_caption(frame, "x", CaptionStyle(color="reddish"))


def test_card_is_centred_text_on_black():
    card = render_card("The Lighthouse Keeper", 256, 256, CaptionStyle())
    rows = np.flatnonzero(card.max(axis=(1, 2)) > 0)
    assert card[:20].max() == 0 and card[-20:].max() == 0 and abs((rows.min() + rows.max()) / 2 - 128) < 12


def test_unknown_font_is_a_clear_error():
    with pytest.raises(FilmError, match="film.caption.font.*nope.ttf"):
        burn_caption(np.zeros((64, 64, 3), np.uint8), "x", CaptionStyle(font="/nope.ttf"))


def test_video_writer_refuses_odd_sizes(tmp_path):
    with pytest.raises(FilmError, match="even"):
        VideoWriter(tmp_path / "x.mp4", 65, 64, Encoding())


def test_segments_join_without_lost_or_duplicated_frames(tmp_path):
    """Each segment shows a distinct grey level per frame; the joined film must show them all in order."""
    levels, paths = [], []
    for s, count in enumerate((4, 5, 3)):
        paths.append(tmp_path / f"{s}.mp4")
        with VideoWriter(paths[-1], 32, 32, Encoding(fps=10, crf=0, preset="ultrafast")) as writer:
            for k in range(count):
                level = 20 + 15 * len(levels)
                levels.append(level)
                writer.write(np.full((32, 32, 3), level, np.uint8))
        assert writer.frames == count
    concat_videos(paths, tmp_path / "film.mp4")
    meta, frames = decode(tmp_path / "film.mp4")
    assert meta["fps"] == 10 and meta["size"] == (32, 32)
    assert len(frames) == len(levels)
    assert np.abs(frames.reshape(len(levels), -1).mean(1) - np.array(levels)).max() < 3
    assert not list(tmp_path.glob(".*")), "no temporary files are left behind"


def test_failed_encoding_leaves_no_output(tmp_path):
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "x.mp4", 32, 32, Encoding()) as writer:
            writer.write(np.zeros((2, 32, 32, 3), np.uint8))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_render_segment_frames_follow_the_walk(tmp_path, generator):
    a = Latents(noise=np.zeros(128, np.float32), class_vector=np.zeros(1000, np.float32), truncation=1.0)
    rng = np.random.default_rng(0)
    b = Latents(noise=rng.normal(size=128).astype(np.float32), class_vector=rng.normal(size=1000).astype(np.float32),
                truncation=1.0)
    frames = render_segment(generator, a, b, "Hello.", tmp_path / "seg.mp4", hold=3, steps=4, size=None,
                            batch=3, style=CaptionStyle(), encoding=Encoding(fps=10, crf=10, preset="ultrafast"))
    assert frames == 7
    meta, decoded = decode(tmp_path / "seg.mp4")
    assert decoded.shape == (7, 128, 128, 3)
    expected = np.concatenate(list(render_transition(generator, a, b, 4, None, 3)))
    top = slice(0, 80)  # above the caption band
    # H.264 with 4:2:0 chroma is lossy: each decoded frame must be nearest to its own expected frame.
    errors = np.abs(decoded[3:, None, top].astype(int) - expected[None, :, top]).mean(axis=(2, 3, 4))
    assert list(errors.argmin(axis=1)) == [0, 1, 2, 3]
    assert errors.diagonal().max() < 12
    last = render_segment(generator, b, None, "Bye.", tmp_path / "last.mp4", hold=3, steps=4, size=64, batch=3,
                          style=CaptionStyle(), encoding=Encoding(fps=10))
    assert last == 3 and decode(tmp_path / "last.mp4")[0]["size"] == (64, 64)
