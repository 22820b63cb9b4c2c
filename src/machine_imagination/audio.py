"""Sound: a reading's timing (an SRT file or an Audacity label track: when each sentence is spoken),
the recording decoded to one WAV, a narration synthesized with espeak-ng, and the film's soundtrack
(the reading, music under it) as an ffmpeg filter graph for `video.concat_videos`.

A `Reading` is what the film stage needs of either kind of voice: one cue per sentence (start and,
where known, end, in seconds from the recording's start) and the recording's length. It is written
next to the decoded recording as `timing.json`."""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import AtomicFile, sha256_file, write_json
from .inputs import SHOWN, control_character, file_problem, shown
from .video import AudioTrack, ffmpeg_exe

SAMPLE_RATE = 48_000  # the decoded reading and the film's audio track
ESPEAK_INSTALL = ("espeak-ng is not installed: install it with 'apt-get install espeak-ng' (Debian, Ubuntu) "
                  "or 'conda install -c conda-forge espeak-ng', or set film.narration: none")


class AudioError(ValueError):
    """An audio or timing file cannot be used; the message names the file (and line) at fault."""


@dataclass(frozen=True)
class Cue:
    start: float  # seconds from the recording's start
    end: float | None  # None: not known (an Audacity point label)
    text: str = ""


@dataclass(frozen=True)
class Reading:
    cues: tuple  # one Cue per sentence, in order
    duration: float  # seconds of recording
    source: dict = field(default_factory=dict)  # what made it: the files and their SHA-256, or the voice

    def save(self, path) -> None:
        write_json(path, {"cues": [[c.start, c.end, c.text] for c in self.cues], "duration": self.duration,
                          "source": self.source})

    @classmethod
    def load(cls, path) -> "Reading":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(tuple(Cue(start, end, text) for start, end, text in data["cues"]), data["duration"],
                   data.get("source", {}))


def start_frame(seconds: float, fps: int) -> int:
    """The frame a moment of the recording falls in (a cue's image shows from there)."""
    return math.floor(seconds * fps + 1e-6)


def end_frame(seconds: float, fps: int) -> int:
    """The first frame wholly after a moment (speech or recording that ends there is over by then)."""
    return math.ceil(seconds * fps - 1e-6)


# ---------------------------------------------------------------------------------------------- timing files

_SRT_TIME = r"(\d+):(\d\d):(\d\d)[,.](\d{1,3})"
_SRT_CUE = re.compile(rf"^\s*{_SRT_TIME}\s*-->\s*{_SRT_TIME}")


def _srt_seconds(h, m, s, frac) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def read_timing(path) -> list[Cue]:
    """The cues of a timing file: SRT (cue i is sentence i) or an Audacity label track (tab-separated
    start, end, label per line; a point label, start = end, has no end)."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise AudioError(f"the timing file '{path}' {problem}")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise AudioError(f"cannot read the timing file '{path}': {err}") from None
    found = control_character("\n".join(lines))
    if found:
        raise AudioError(f"{path}, line {found[0]}: control character {found[1]}; a timing file may hold only "
                         "printable characters, tabs and line breaks")
    if any("-->" in line for line in lines):
        return _srt_cues(path, lines)
    return _label_cues(path, lines)


def _srt_cues(path: Path, lines: list[str]) -> list[Cue]:
    cues = []
    for number, line in enumerate(lines, 1):
        if "-->" not in line:
            continue
        match = _SRT_CUE.match(line)
        if not match:
            raise AudioError(f"{path}, line {number}: '{line.strip()[:SHOWN]}' is not an SRT time line "
                             "(HH:MM:SS,mmm --> HH:MM:SS,mmm)")
        start, end = _srt_seconds(*match.groups()[:4]), _srt_seconds(*match.groups()[4:])
        text = []
        for following in lines[number:]:
            if not following.strip():
                break
            text.append(following.strip())
        cues.append(Cue(start, end if end > start else None, " ".join(text)))
    return cues


def _label_cues(path: Path, lines: list[str]) -> list[Cue]:
    cues = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("\\"):  # '\' lines: a label's frequency range
            continue
        fields = line.split("\t")
        try:
            start, end = float(fields[0]), float(fields[1])
        except (IndexError, ValueError):
            raise AudioError(f"{path}, line {number}: '{line.strip()[:SHOWN]}' is neither an SRT cue nor an Audacity "
                             "label (start<TAB>end<TAB>label, in seconds)") from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < 0:
            raise AudioError(f"{path}, line {number}: the label's times {shown(fields[0].strip())} and "
                             f"{shown(fields[1].strip())} must be finite seconds from the recording's start, 0 or more")
        cues.append(Cue(start, end if end > start else None, fields[2].strip() if len(fields) > 2 else ""))
    return cues


def check_cues(path, cues: list[Cue], sentences: list[str], fps: int, duration: float) -> None:
    """One cue per sentence, in order, each at least a frame after the one before, all within the
    recording; raise AudioError naming the file, the counts and the sentence at fault otherwise."""
    if len(cues) != len(sentences):
        if len(cues) < len(sentences):
            missing = f"; the first sentence without a cue is {len(cues)}: {sentences[len(cues)]!r}"
        else:
            missing = f"; cue {len(sentences) + 1} has no sentence ({cues[len(sentences)].text!r})"
        raise AudioError(f"the timing file '{path}' has {len(cues)} cues but the text has {len(sentences)} "
                         f"sentences{missing}")
    for i in range(1, len(cues)):
        if start_frame(cues[i].start, fps) <= start_frame(cues[i - 1].start, fps):
            raise AudioError(f"the timing file '{path}': cue {i + 1} (sentence {i}: {sentences[i]!r}) starts at "
                             f"{cues[i].start:.3f} s, not a frame after cue {i} ({cues[i - 1].start:.3f} s): "
                             "cues must be in the order of the sentences")
    if cues and start_frame(cues[-1].start, fps) >= end_frame(duration, fps):
        raise AudioError(f"the timing file '{path}': the last cue starts at {cues[-1].start:.3f} s, but the "
                         f"recording lasts {duration:.3f} s")


# ---------------------------------------------------------------------------------------------- recordings

def decode_audio(path, out_wav) -> float:
    """Decode any audio file ffmpeg reads into a 48 kHz stereo 16-bit WAV (atomically); its seconds."""
    with AtomicFile(out_wav) as tmp:
        result = subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(path), "-vn", "-map", "0:a:0",
                                 "-ac", "2", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", "-map_metadata", "-1",
                                 "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "wav", str(tmp)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise AudioError(f"cannot read the audio file '{path}': {result.stderr.strip() or 'ffmpeg failed'}")
    return wav_seconds(out_wav)


def wav_seconds(path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def probe_seconds(path) -> float:
    """Seconds of audio in a file ffmpeg reads (decoded in full: exact for any format)."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise AudioError(f"the audio file '{path}' {problem}")
    # The samples are counted as they stream by, not kept: an hour of recording is 345 MB of them.
    # (ffmpeg's messages go to a file: a full stderr pipe would stall it while we read stdout.)
    with tempfile.TemporaryFile() as messages, subprocess.Popen(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(path), "-vn", "-map", "0:a:0", "-ac", "1",
             "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"], stdout=subprocess.PIPE, stderr=messages) as decoder:
        size = sum(len(block) for block in iter(lambda: decoder.stdout.read(1 << 20), b""))
        decoder.wait()
        messages.seek(0)
        err = messages.read().decode(errors="replace").strip()
    if decoder.returncode != 0 or not size:
        raise AudioError(f"cannot read the audio file '{path}': {err or 'no audio stream'}")
    return size / 2 / SAMPLE_RATE


def prepare_reading(recording, timing, out_wav, out_timing) -> Reading:
    """A recorded reading for the film: the recording decoded to `out_wav`, its cues to `out_timing`."""
    duration = decode_audio(recording, out_wav)
    source = {"recording": str(recording), "recording_sha256": sha256_file(recording), "timing": str(timing),
              "timing_sha256": sha256_file(timing)}
    reading = Reading(tuple(read_timing(timing)), duration, source)
    reading.save(out_timing)
    return reading


# ---------------------------------------------------------------------------------------------- narration

def espeak_exe() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise AudioError(ESPEAK_INSTALL)
    return exe


def speak(sentence: str, voice: str, words_per_minute: float) -> np.ndarray:
    """One sentence read by espeak-ng: 48 kHz stereo int16 samples [N, 2]. The sentence reaches it as
    data, on its standard input (`--stdin`: read whole, as an argument would be), never on its command
    line, where a sentence such as '-f/etc/hostname' would be an option (read that file aloud)."""
    result = subprocess.run([espeak_exe(), "-v", voice, "-s", str(round(words_per_minute)), "--stdout", "--stdin"],
                            input=sentence.encode("utf-8"), capture_output=True)
    if result.returncode != 0 or not result.stdout:
        raise AudioError(f"espeak-ng could not read {shown(sentence)} with voice '{voice}': "
                         f"{result.stderr.decode(errors='replace').strip()}")
    # espeak-ng writes a WAV at its own rate (22050 Hz mono); ffmpeg resamples it to the film's rate.
    decoded = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "wav", "-i", "pipe:", "-ac", "2", "-ar",
                              str(SAMPLE_RATE), "-f", "s16le", "-fflags", "+bitexact", "-"],
                             input=result.stdout, capture_output=True)
    if decoded.returncode != 0:
        raise AudioError(f"ffmpeg could not decode espeak-ng's speech: {decoded.stderr.decode(errors='replace')}")
    return np.frombuffer(decoded.stdout, np.int16).reshape(-1, 2)


def narrate(sentences: list[str], *, voice: str, words_per_minute: float, pause: float, tail: float,
            out_wav, out_timing) -> Reading:
    """Read every sentence with espeak-ng into one WAV: each sentence followed by `pause` seconds of
    silence (the walk to the next image plays there), the last by `tail`; the cues are where each
    sentence's speech starts and ends."""
    silence = np.zeros((round(pause * SAMPLE_RATE), 2), np.int16)
    pieces, cues, at = [], [], 0
    for i, sentence in enumerate(sentences):
        speech = speak(sentence, voice, words_per_minute)
        cues.append(Cue(at / SAMPLE_RATE, (at + len(speech)) / SAMPLE_RATE, sentence))
        after = silence if i < len(sentences) - 1 else np.zeros((round(tail * SAMPLE_RATE), 2), np.int16)
        pieces += [speech, after]
        at += len(speech) + len(after)
    samples = np.concatenate(pieces)
    with AtomicFile(out_wav) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.tobytes())
    version = subprocess.run([espeak_exe(), "--version"], capture_output=True, text=True).stdout.strip()
    source = {"narration": "espeak", "espeak": version, "voice": voice, "words_per_minute": words_per_minute,
              "pause": pause, "tail": tail}
    reading = Reading(tuple(cues), len(samples) / SAMPLE_RATE, source)
    reading.save(out_timing)
    return reading


# ---------------------------------------------------------------------------------------------- the soundtrack

def soundtrack(seconds: float, *, reading=None, delay: float = 0.0, music=None, music_volume: float = 0.3,
               music_fade: float = 2.0, music_loop: bool = True) -> AudioTrack | None:
    """The film's audio: the reading (a WAV) from `delay` seconds on, and/or music under it (faded in
    and out; looped, or padded with silence, then cut), exactly `seconds` long."""
    if reading is None and music is None:
        return None
    shape = f"aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
    inputs, chains, mixed = [], [], []
    if reading is not None:
        inputs.append(("-i", str(reading)))
        ms = round(delay * 1000)
        chains.append(f"[{{0}}:a]{shape},adelay={ms}|{ms},apad,atrim=duration={seconds:.6f}[voice]")
        mixed.append("[voice]")
    if music is not None:
        inputs.append((("-stream_loop", "-1") if music_loop else ()) + ("-i", str(music)))
        fade = min(music_fade, seconds / 2)
        chain = f"[{{{len(inputs) - 1}}}:a]{shape},apad,atrim=duration={seconds:.6f},volume={music_volume:g}"
        if fade > 0:
            chain += f",afade=t=in:d={fade:.6f},afade=t=out:st={seconds - fade:.6f}:d={fade:.6f}"
        chains.append(chain + "[music]")
        mixed.append("[music]")
    if len(mixed) == 2:
        chains.append("[voice][music]amix=inputs=2:duration=first:normalize=0[audio]")
    else:
        chains[-1] = chains[-1].rsplit("[", 1)[0] + "[audio]"
    return AudioTrack(inputs=tuple(inputs), graph=";".join(chains))
