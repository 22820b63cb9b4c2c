"""Sound and screen: timing files, a film paced to a recording or to an espeak-ng narration, music,
and a widescreen frame with the caption in a band below the image."""
import json
import shutil
import subprocess
import wave

import numpy as np
import pytest
import yaml

from machine_imagination.audio import (SAMPLE_RATE, AudioError, Cue, Reading, check_cues, read_timing,
                                       soundtrack)
from machine_imagination.film.captions import CaptionStyle, burn_caption
from machine_imagination.film.plan import frame_plan
from machine_imagination.film.screen import Screen
from machine_imagination.project import ConfigError, resolve_project, validate_config
from machine_imagination.video import concat_videos, ffmpeg_exe
from test_walk_and_film import decode
from test_workflow import SENTENCES, make_project, small_config

FPS = 10
CUES = [(0.5, 1.5), (2.0, 3.3), (3.5, 4.9), (5.8, 6.9)]  # seconds: one per sentence of test_workflow's text
RECORDING_SECONDS = 7.6
FRAME = [192, 108]
espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                            reason="espeak-ng is not installed (apt-get install espeak-ng); CI installs it")


def write_wav(path, seconds, tones=(), rate=SAMPLE_RATE):
    """A mono WAV: silence with a 220 Hz tone during each (start, end) of `tones`."""
    t = np.arange(round(seconds * rate)) / rate
    signal = np.zeros_like(t)
    for start, end in tones:
        signal[(t >= start) & (t < end)] = 0.4 * np.sin(2 * np.pi * 220 * t[(t >= start) & (t < end)])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((signal * 32767).astype(np.int16).tobytes())


def srt(cues, texts):
    def t(s):
        ms = round(s * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"
    return "\n".join(f"{i + 1}\n{t(a)} --> {t(b)}\n{text}\n" for i, ((a, b), text) in enumerate(zip(cues, texts)))


def film_audio(path, rate=SAMPLE_RATE):
    """The film's audio track decoded: mono float samples."""
    pcm = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a", "-ac", "1", "-ar", str(rate),
                          "-f", "s16le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(pcm, np.int16).astype(float) / 32767


def film_config(**film):
    return validate_config({"texts": {"t": "t.txt"}, "film": {"fps": FPS, "steps": 6, **film}})["film"]


# ------------------------------------------------------------------------------------------ timing files

def test_srt_and_audacity_labels_give_the_same_cues(tmp_path):
    (tmp_path / "a.srt").write_text("\ufeff" + srt(CUES, SENTENCES).replace("\n", "\r\n"), encoding="utf-8")
    labels = "".join(f"{a:.6f}\t{b:.6f}\t{text}\n" for (a, b), text in zip(CUES, SENTENCES))
    (tmp_path / "labels.txt").write_text(labels + "\\\t0.000000\t20000.000000\n")
    from_srt, from_labels = read_timing(tmp_path / "a.srt"), read_timing(tmp_path / "labels.txt")
    assert [(c.start, c.end, c.text) for c in from_srt] == [(a, b, s) for (a, b), s in zip(CUES, SENTENCES)]
    assert [(c.start, c.end) for c in from_labels] == CUES
    (tmp_path / "points.txt").write_text("0.5\t0.5\tone\n2.0\t2.0\ttwo\n")
    assert [c.end for c in read_timing(tmp_path / "points.txt")] == [None, None]  # point labels: end unknown


def test_bad_timing_files_name_the_file_line_and_sentence(tmp_path):
    (tmp_path / "bad.txt").write_text("0.5\t1.0\tone\nsoon\tlater\ttwo\n")
    with pytest.raises(AudioError, match=r"bad.txt, line 2: 'soon\tlater\ttwo' is neither an SRT cue"):
        read_timing(tmp_path / "bad.txt")
    for times in ("-1.5\t-0.5", "nan\tnan", "0.5\tinf"):  # a recording's time never is
        (tmp_path / "bad.txt").write_text(f"0.2\t0.4\tone\n{times}\ttwo\n")
        with pytest.raises(AudioError, match=r"bad.txt, line 2: the label's times .* must be finite seconds from the "
                                             r"recording's start, 0 or more"):
            read_timing(tmp_path / "bad.txt")
    (tmp_path / "bad.txt").write_text("0.2\t0.4\tone\n0.5\t0.7\ttw\x00o\n")
    with pytest.raises(AudioError, match=r"bad.txt, line 2: control character U\+0000 \(NUL\)"):
        read_timing(tmp_path / "bad.txt")
    (tmp_path / "bad.srt").write_text("1\n00:00:01 --> 00:00:02,000\nOne.\n")
    with pytest.raises(AudioError, match="bad.srt, line 2: .* is not an SRT time line"):
        read_timing(tmp_path / "bad.srt")
    cues = [Cue(a, b) for a, b in CUES]
    with pytest.raises(AudioError, match=r"'x.srt' has 3 cues but the text has 4 sentences; the first sentence "
                                         r"without a cue is 3: 'At dawn a fox trots along the wet sand.'"):
        check_cues("x.srt", cues[:3], SENTENCES, FPS, 9.0)
    with pytest.raises(AudioError, match="has 4 cues but the text has 3 sentences; cue 4 has no sentence"):
        check_cues("x.srt", cues, SENTENCES[:3], FPS, 9.0)
    with pytest.raises(AudioError, match=r"cue 3 \(sentence 2: 'The sea turns violet.*'\) starts at 1.000 s, not "
                                         r"a frame after cue 2"):
        check_cues("x.srt", [cues[0], cues[1], Cue(1.0, 1.2), cues[3]], SENTENCES, FPS, 9.0)
    with pytest.raises(AudioError, match="the last cue starts at 5.800 s, but the recording lasts 5.000 s"):
        check_cues("x.srt", cues, SENTENCES, FPS, 5.0)
    check_cues("x.srt", cues, SENTENCES, FPS, RECORDING_SECONDS)


# ------------------------------------------------------------------------------------------ the plan

def test_audio_pacing_follows_the_cues_and_shortens_only_the_walk():
    reading = Reading(tuple(Cue(a, b) for a, b in CUES), RECORDING_SECONDS)
    plan = frame_plan(film_config(pacing="audio", title_card=True, card_seconds=0.5), SENTENCES, reading)
    assert (plan.title, plan.lead) == (5, 5)
    # Each image shows from its cue's first frame: recording time t is film frame 5 + floor(10 t).
    assert [plan.start_frame(i) for i in range(4)] == [5 + 5, 5 + 20, 5 + 35, 5 + 58]
    # Walks fill the silences (5, 2 and 9 frames), at most steps = 6; the last image holds to the end.
    assert plan.transitions == (5, 2, 6, 0)
    assert plan.holds == (10, 13, 17, 76 - 58)
    assert plan.total_frames == 5 + 76 + 0
    for i, (start, end) in enumerate(CUES):  # every hold lasts at least as long as its cue
        assert plan.holds[i] >= (end - start) * FPS
    points = Reading((Cue(0.0, None), Cue(2.0, None)), 4.0)
    assert frame_plan(film_config(pacing="audio"), ["a", "b"], points).transitions == (6, 0)
    assert frame_plan(film_config(pacing="audio", steps=30), ["a", "b"], points).transitions == (10, 0)


# ------------------------------------------------------------------------------------------ the frame

def test_screen_layouts():
    square = Screen.from_config(film_config(), 128)
    assert (square.width, square.height, square.image, square.plain) == (128, 128, 128, True)
    wide = Screen.from_config(film_config(frame=[1920, 1080]), 128)
    assert (wide.image, wide.left, wide.top, wide.band) == (1080, 420, 0, None)
    below = Screen.from_config(film_config(frame=[1920, 1080], caption={"position": "below"}), 128)
    assert below.band == (1080 - below.band[1] + below.band[0], 1080) and below.top + below.image <= below.band[0]
    assert below.image % 2 == 0 and below.left == (1920 - below.image) // 2
    portrait = Screen.from_config(film_config(frame=[720, 1280]), 128)
    assert (portrait.image, portrait.left, portrait.top) == (720, 0, 280)


def test_caption_below_stays_in_its_band_even_when_long():
    screen = Screen.from_config(film_config(frame=[320, 180], caption={"position": "below"}), 64)
    image = np.full((1, screen.image, screen.image, 3), 90, np.uint8)
    placed = screen.place(image)[0]
    style = CaptionStyle(size=0.06)
    for text in ("Short.", " ".join(["A rather long sentence that needs several lines"] * 2)):
        framed = burn_caption(placed, text, style, screen.band)
        changed = np.argwhere(np.any(framed != placed, axis=2))
        assert len(changed) > 50, text
        assert changed[:, 0].min() >= screen.band[0], "no caption pixel over the image"


def test_a_1920x1080_segment_decodes_at_that_size_with_its_caption_in_the_band(tmp_path, generator):
    from machine_imagination.film.walk import render_segment
    from machine_imagination.latents import Latents
    from machine_imagination.render import render_still
    from machine_imagination.video import Encoding

    screen = Screen.from_config(film_config(frame=[1920, 1080], caption={"position": "below"}), generator.resolution)
    rng = np.random.default_rng(0)
    a, b = (Latents(noise=rng.standard_normal(128).astype(np.float32),
                    class_vector=rng.standard_normal(1000).astype(np.float32)) for _ in range(2))
    frames = render_segment(generator, a, b, "A keeper climbs the spiral stairs.", tmp_path / "wide.mp4", hold=2,
                            steps=2, size=None, batch=2, style=CaptionStyle(), encoding=Encoding(fps=FPS,
                            preset="ultrafast"), screen=screen)
    meta, decoded = decode(tmp_path / "wide.mp4")
    assert frames == 4 and meta["size"] == (1920, 1080) and decoded.shape == (4, 1080, 1920, 3)
    box = (slice(screen.top, screen.top + screen.image), slice(screen.left, screen.left + screen.image))
    still = render_still(generator, a, screen.image)
    assert np.abs(decoded[0][box].astype(int) - still.astype(int)).mean() < 6  # the image, scaled, uncovered
    band = decoded[:, screen.band[0]:]
    assert band[0].max() > 200 and band[3].max() < 30  # the caption while the image holds, not in the walk
    assert decoded[0][:, :screen.left].max() < 30  # black beside the image


# ------------------------------------------------------------------------------------------ validation

@pytest.fixture
def sound_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.txt").write_text(" ".join(SENTENCES[1:]))
    write_wav(tmp_path / "reading.wav", RECORDING_SECONDS, CUES)
    (tmp_path / "timing.srt").write_text(srt(CUES[:3], SENTENCES[1:]))
    (tmp_path / "music.wav").write_text("not audio")

    def config(film=None, **sound):
        return {"texts": {"t": "t.txt"}, "film": {"pacing": "audio", **(film or {})},
                "audio": {"t": {"reading": "reading.wav", "timing": "timing.srt", **sound}},
                "generator": {"model": "biggan-deep-128"}, "clip": {"model": "ViT-B-32", "pretrained": None}}
    return config


@pytest.mark.parametrize("change, message", [
    (dict(reading="nope.wav"), "config key 'audio.t': the audio file 'nope.wav' does not exist"),
    (dict(reading="t.txt"), "config key 'audio.t': cannot read the audio file 't.txt'"),
    (dict(music="music.wav"), "config key 'audio.t': cannot read the audio file 'music.wav'"),
    (dict(timing="missing.srt"), "the timing file 'missing.srt' does not exist"),
    (dict(film={"pacing": "fixed"}), "config key 'audio.t.reading': a recorded reading paces the film only with "
                                     "film.pacing: audio"),
    (dict(film={"frame": [1921, 1080]}), "config key 'film.frame': 1921x1080 has an odd side"),
    (dict(film={"frame": [32, 18]}), "config key 'film.frame': 32x18 is out of range"),
    (dict(film={"frame": [640, 360], "size": 256}), "config keys 'film.size' and 'film.frame' do not go together"),
])
def test_bad_sound_and_frame_settings_are_clear_errors(sound_project, change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_project(sound_project(**change))


def test_a_good_reading_passes_and_pacing_without_one_says_what_to_give(sound_project):
    resolve_project(sound_project(), models=False)
    config = sound_project()
    del config["audio"]
    with pytest.raises(ConfigError, match="text 't' has none: give audio.t.reading and audio.t.timing, or set "
                                          "film.narration: espeak"):
        resolve_project(config, models=False)
    config = sound_project()
    del config["audio"]["t"]["timing"]
    with pytest.raises(ConfigError, match="'audio.t.reading' needs 'audio.t.timing'"):
        resolve_project(config, models=False)


def test_missing_espeak_is_a_clear_error(sound_project, monkeypatch):
    config = sound_project(film={"narration": "espeak"})
    del config["audio"]
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="espeak-ng is not installed: install it with 'apt-get install espeak-ng'"):
        resolve_project(config)


def test_a_timing_file_that_misses_a_sentence_stops_snakemake_before_any_job(tmp_path, snakemake_run):
    config = small_config(audio={"four": {"reading": "reading.wav", "timing": "timing.srt"}},
                          **{"film.pacing": "audio"})
    project = make_project(tmp_path, config)
    write_wav(project / "reading.wav", RECORDING_SECONDS, CUES)
    (project / "timing.srt").write_text(srt(CUES[:3], SENTENCES))
    run = snakemake_run(project, "--configfile", "config.yaml")
    assert run.returncode != 0
    assert ("config key 'audio.four': the timing file 'timing.srt' has 3 cues but the text has 4 sentences; the "
            "first sentence without a cue is 3: 'At dawn a fox trots along the wet sand.'") in run.stdout + run.stderr
    assert not (project / "logs").exists() and not (project / "results").exists(), "no job may start"


# ------------------------------------------------------------------------------------------ soundtrack

def test_music_alone_is_looped_faded_and_cut_to_the_film(tmp_path):
    from machine_imagination.video import Encoding, VideoWriter

    with VideoWriter(tmp_path / "v.mp4", 64, 64, Encoding(fps=FPS, preset="ultrafast")) as writer:
        writer.write(np.zeros((45, 64, 64, 3), np.uint8))
    write_wav(tmp_path / "music.wav", 1.0, [(0.0, 1.0)], rate=44100)
    track = soundtrack(4.5, music=tmp_path / "music.wav", music_volume=1.0, music_fade=0.5)
    concat_videos([tmp_path / "v.mp4"], tmp_path / "film.mp4", audio=track)
    audio = film_audio(tmp_path / "film.mp4")
    assert abs(len(audio) / SAMPLE_RATE - 4.5) <= 1 / FPS
    second = SAMPLE_RATE
    rms = [np.sqrt(np.mean(audio[k * second // 4:(k + 1) * second // 4] ** 2)) for k in range(18)]
    assert rms[0] < rms[4] and rms[-1] < rms[-5]  # faded in and out
    assert min(rms[4:14]) > 0.1  # looped: the 1 s of music plays on through 4.5 s
    concat_videos([tmp_path / "v.mp4"], tmp_path / "again.mp4", audio=track)
    assert (tmp_path / "again.mp4").read_bytes() == (tmp_path / "film.mp4").read_bytes(), "the same bytes again"
    cut = soundtrack(0.5, music=tmp_path / "music.wav", music_loop=False)
    assert "stream_loop" not in sum(cut.inputs, ())


# ------------------------------------------------------------------------------------------ films, end to end

def held_frame_starts(frames, stills, screen):
    """For each still, the first film frame whose image area shows it (as closely as any frame does)."""
    box = (slice(screen.top, screen.top + screen.image), slice(screen.left, screen.left + screen.image))
    firsts = []
    for still in stills:
        error = np.abs(frames[(slice(None), *box)].astype(int) - still[box].astype(int)).mean(axis=(1, 2, 3))
        firsts.append(int(np.flatnonzero(error <= error.min() + 1.0)[0]))
    return firsts


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, snakemake_run):
    """The 4-sentence text paced to a recording (tones during the cues), with music under it, in a
    192x108 frame with the captions in a band below the image."""
    config = small_config(audio={"four": {"reading": "reading.mp3", "timing": "timing.srt", "music": "music.wav",
                                          "music_volume": 0.2, "music_fade": 0.2}},
                          **{"film.pacing": "audio", "film.fps": FPS, "film.steps": 6, "film.frame": FRAME,
                             "film.size": None, "film.caption": {"position": "below", "size": 0.08}})
    project = make_project(tmp_path_factory.mktemp("recorded"), config)
    write_wav(project / "reading.wav", RECORDING_SECONDS, CUES)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(project / "reading.wav"), str(project / "reading.mp3")],
                   check=True)
    write_wav(project / "music.wav", 2.0, [(0.0, 2.0)])
    (project / "timing.srt").write_text(srt(CUES, SENTENCES))
    run = snakemake_run(project, "results/four/film.mp4", "--configfile", "config.yaml")  # the film, no report
    assert run.returncode == 0, run.stdout + run.stderr
    return project


def test_a_recorded_reading_paces_the_film_and_its_captions(recorded):
    from machine_imagination.latents import Latents
    from machine_imagination.models.generator import load_generator
    from machine_imagination.render import render_still

    out = recorded / "results" / "four"
    config = validate_config(yaml.safe_load((recorded / "config.yaml").read_text()))
    film = config["film"]
    title = round(film["card_seconds"] * FPS)
    meta, frames = decode(out / "film.mp4")
    assert meta["size"] == tuple(FRAME) and meta["fps"] == FPS
    record = json.loads((out / "film.json").read_text())
    assert len(frames) == record["frames"] == title + round(RECORDING_SECONDS * FPS) + title

    # Every caption cue in film.srt starts within one frame of the given cue (shifted by the title card).
    given = [title / FPS + a for a, _ in CUES]
    written = [c.start for c in read_timing(out / "film.srt")]
    assert np.allclose(written, given, atol=1 / FPS), (written, given)

    # Every sentence's image first shows within one frame of its cue; before the first, the screen is black.
    generator = load_generator(str(recorded / "resources/tiny-models/biggan-tiny"))
    screen = Screen.from_config(film, generator.resolution)
    stills = [screen.place(render_still(generator, Latents.load(out / "latents" / f"{i:04d}.npz"),
                                        screen.image)[None])[0] for i in range(4)]
    firsts = held_frame_starts(frames, stills, screen)
    assert all(abs(f - (title + a * FPS)) <= 1 for f, (a, _) in zip(firsts, CUES)), firsts
    assert frames[title + 1:title + round(CUES[0][0] * FPS) - 1].max() < 20

    # The caption band holds the caption while an image holds, and no caption pixel covers the image.
    band = frames[:, screen.band[0]:]
    box = frames[:, screen.top:screen.top + screen.image, screen.left:screen.left + screen.image]
    for i, first in enumerate(firsts):
        held = range(first, first + 3)
        assert band[held].max() > 150, f"sentence {i}: no caption in the band"
        still_box = stills[i][screen.top:screen.top + screen.image, screen.left:screen.left + screen.image]
        assert np.abs(box[held].astype(int) - still_box.astype(int)).mean() < 15  # the image, uncovered
    walk = firsts[1] - 2  # a frame of the walk from image 0 to image 1: the band is empty
    assert band[walk].max() < 20

    # The audio track lasts as long as the video (within one frame): the recording, music under it.
    audio = film_audio(out / "film.mp4")
    assert abs(len(audio) / SAMPLE_RATE - len(frames) / FPS) <= 1 / FPS
    def rms(a, b):  # noqa: E306
        return np.sqrt(np.mean(audio[round(a * SAMPLE_RATE):round(b * SAMPLE_RATE)] ** 2))
    speech = rms(title / FPS + CUES[1][0] + 0.1, title / FPS + CUES[1][1] - 0.1)
    music_only = rms(title / FPS + 0.1, title / FPS + CUES[0][0] - 0.1)
    assert speech > 0.1 and 0.01 < music_only < speech / 2
    assert record["audio"]["reading"]["cues"] == [list(c) for c in CUES]
    assert record["audio"]["music"]["music_volume"] == 0.2


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed (apt-get install ffmpeg); "
                                                            "CI installs it")
def test_the_film_with_sound_decodes_with_ffprobe(recorded):
    out = recorded / "results" / "four" / "film.mp4"
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)],
                                      capture_output=True, text=True, check=True).stdout)
    streams = {s["codec_type"]: s for s in probe["streams"]}
    assert streams["video"]["width"] == FRAME[0] and streams["video"]["height"] == FRAME[1]
    assert streams["audio"]["codec_name"] == "aac"
    assert abs(float(streams["audio"]["duration"]) - float(streams["video"]["duration"])) <= 1 / FPS
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "null", "-"], check=True)


@espeak
def test_an_espeak_narration_paces_the_film(recorded, snakemake_run):
    # The recorded project again, narrated instead (its searches are done: only the film is made again).
    config = yaml.safe_load((recorded / "config.yaml").read_text())
    del config["audio"]
    config["film"].update(narration="espeak", steps=4, words_per_minute=220, title_card=False, end_card=False,
                          frame=None, caption={})
    (recorded / "narrated.yaml").write_text(yaml.safe_dump(config))
    project = recorded
    run = snakemake_run(project, "results/four/film.mp4", "--configfile", "narrated.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "search_prompt" not in run.stdout + run.stderr
    out = project / "results" / "four"
    reading = Reading.load(out / "audio" / "timing.json")
    assert [c.text for c in reading.cues] == SENTENCES
    plan = frame_plan(validate_config(config)["film"], SENTENCES, reading)
    for i, cue in enumerate(reading.cues):
        assert cue.end - cue.start > 0.5, "espeak spoke the sentence"
        assert plan.holds[i] / FPS >= cue.end - cue.start, f"sentence {i} is cut short"
    audio = film_audio(out / "film.mp4")
    _, frames = decode(out / "film.mp4")
    assert abs(len(audio) / SAMPLE_RATE - len(frames) / FPS) <= 1 / FPS
    spoken = audio[round(reading.cues[1].start * SAMPLE_RATE):round(reading.cues[1].end * SAMPLE_RATE)]
    assert np.sqrt(np.mean(spoken ** 2)) > 0.02, "the narration is not silent"
    assert [c.start for c in read_timing(out / "film.srt")] == pytest.approx(
        [plan.start_frame(i) / FPS for i in range(4)], abs=1e-3)


@espeak
def test_a_sentence_that_looks_like_an_option_is_spoken_not_obeyed(tmp_path):
    """espeak-ng takes a sentence as data: '-f<file>' as a command-line argument would make it read that
    file aloud (and other options could redirect its output). The narration of such a sentence is the
    speech of its letters, exactly as espeak-ng reads them from a file, and nothing like the speech
    of the file it names."""
    from machine_imagination.audio import narrate

    secret = tmp_path / "secret.txt"
    secret.write_text("This file must never be read aloud, " * 24)  # far longer than its path spelled out
    sentence = f"-f{secret}"

    def spoken(text_file):  # espeak-ng reading a file: the sentence's text as data, for comparison
        wav = subprocess.run(["espeak-ng", "-v", "en", "-s", "220", "--stdout", "-f", str(text_file)],
                             capture_output=True, check=True).stdout
        rate = int.from_bytes(wav[24:28], "little")  # a streamed WAV: its header does not count the samples
        return (len(wav) - 44) / 2 / rate

    literal = tmp_path / "literal.txt"
    literal.write_text(sentence)
    reading = narrate([sentence], voice="en", words_per_minute=220, pause=0.1, tail=0.1,
                      out_wav=tmp_path / "r.wav", out_timing=tmp_path / "r.json")
    seconds = reading.cues[0].end - reading.cues[0].start
    assert seconds == pytest.approx(spoken(literal), abs=0.01)
    assert seconds < spoken(secret) / 2, "the narration read the file the sentence names"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["literal.txt", "r.json", "r.wav", "secret.txt"]
