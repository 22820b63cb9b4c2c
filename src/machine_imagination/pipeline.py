"""The pipeline's jobs as functions: what each Snakemake script calls (and what tests can call directly).

Each job takes the validated config and explicit paths, loads what it needs once, and writes its
outputs atomically. Every output records what made it (settings, seed, models, package versions).
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback

import numpy as np

from .latents import atomic_write_bytes, load_latents, package_versions, save_latents


@contextlib.contextmanager
def job_log(path):
    """Send a job's output, warnings and any traceback to its log file, and put the streams back
    afterwards, so an error (an interrupted search, say) is both in the log and reported by Snakemake."""
    stdout, stderr = sys.stdout, sys.stderr
    with open(path, "w", buffering=1) as log:
        sys.stdout = sys.stderr = log
        try:
            yield log
        except BaseException:
            traceback.print_exc(file=log)
            raise
        finally:
            sys.stdout, sys.stderr = stdout, stderr


def reproducible_torch(threads: int | None = None) -> None:
    """Make torch deterministic (same inputs, same device -> same bits) before any GPU work starts."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def search_provenance(config: dict) -> dict:
    """The settings that determine a search's result, plus package versions, for the outputs' metadata."""
    return {
        "settings": {key: config[key] for key in ("seed", "text", "generator", "clip", "search")},
        "packages": package_versions(),
    }


def write_prompts(config: dict, text_name: str, path) -> list:
    """Split one text, fit each prompt to CLIP's context and write `prompts.tsv`."""
    from .config import text_prompts
    from .models import load_tokenizer
    from .text import fit_prompt, write_prompts_tsv

    prompts = text_prompts(config, text_name)
    tokenizer = load_tokenizer(config["clip"]["model"])
    fits = [fit_prompt(tokenizer, p.parts) for p in prompts]
    write_prompts_tsv(prompts, fits, path)
    for p, f in zip(prompts, fits):
        if f.truncated:
            print(f"sentence {p.index}: prompt needs {f.tokens} tokens, more than CLIP's "
                  f"{tokenizer.context_length}; CLIP sees only: {f.clip_prompt!r}")
    return prompts


def save_png(image_hwc: np.ndarray, path) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image_hwc).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def search_job(config: dict, *, text_name: str, index: int, sentence: str, prompt_parts, seed: int,
               latents_path, image_path, history_path, plot_path, progress_path=None, previous_latents=None,
               search_overrides=None, checkpoint_path=None, threads: int = 1, log=print) -> dict:
    """Search one sentence's latents; write its latents, image, history table and plot (and progress
    video if asked). With `checkpoint_path`, the search saves its state there as it goes and on
    SIGTERM/SIGUSR1, and a rerun resumes from it."""
    reproducible_torch(threads)
    from .history import plot_history, write_history_tsv
    from .models import load_clip, load_generator, select_device, tune_for_speed
    from .search import SearchSettings, judge, search_prompt
    from .text import fit_prompt, format_weighted_prompt
    from .walk import render_still

    parts = [(text, float(weight)) for text, weight in prompt_parts]
    device = select_device(config["search"]["device"])
    generator = load_generator(config["generator"]["model"], device)
    clip = load_clip(config["clip"]["model"], config["clip"]["pretrained"], device)
    fit = fit_prompt(clip.tokenizer, parts)
    if fit.truncated:
        log(f"a prompt part needs {fit.tokens} tokens; CLIP sees only: {fit.clip_prompt!r}")
    settings = SearchSettings.from_config(config, search_overrides)
    tune_for_speed(generator, clip, channels_last=settings.channels_last, compiled=settings.compile)
    start = load_latents(previous_latents) if previous_latents else None
    prompt = format_weighted_prompt(parts)
    log(f"searching sentence {index} of '{text_name}' on {device} with {settings.optimizer}: {prompt!r} "
        f"(seed {seed}{', starting from the previous sentence' if start else ''})")
    checkpoint = None
    if checkpoint_path:
        from dataclasses import asdict

        from .checkpoint import Checkpointer, search_key

        key = search_key(parts=parts, seed=seed, settings=asdict(settings), generator=generator.name, clip=clip.name,
                         device=str(device), start=None if start is None else
                         {k: np.asarray(v).tolist() for k, v in start.items() if k in ("noise", "class_logits",
                                                                                       "class_embedding")})
        checkpoint = Checkpointer(checkpoint_path, key, every=config["search"]["checkpoint_every"], log=log)
        checkpoint.install_signal_handlers()
    try:
        result = search_prompt(parts, seed=seed, generator=generator, clip=clip, settings=settings, start=start,
                               checkpoint=checkpoint, log=log)
    finally:
        if checkpoint:
            checkpoint.restore_signal_handlers()
    judge_clip = None
    if config["judge"]["model"]:
        judge_clip = load_clip(config["judge"]["model"], config["judge"]["pretrained"], device)
    scores = judge(generator, clip, result, parts, settings, seed, judge_clip)
    numeric = [k for k, v in result.history[0].items() if isinstance(v, float)]
    record = {
        **result.latents,
        "truncation": np.float64(settings.truncation),
        "grayscale": np.bool_(settings.grayscale),
        "loss": np.float64(result.loss),
        "similarity": np.float64(result.similarity),
        "start_loss": np.float64(result.start_loss),
        "best_iteration": np.int64(result.iteration),
        **{key: np.float64(value) for key, value in scores.items()},
        "index": np.int64(index),
        "text": text_name,
        "sentence": sentence,
        "prompt": prompt,
        "clip_prompt": fit.clip_prompt,
        "prompt_truncated": np.bool_(fit.truncated),
        "seed": np.int64(seed),
        "optimizer": settings.optimizer,
        "initial_class": str(settings.initial_class),
        "generator": generator.name,
        "clip": clip.name,
        "provenance": {**search_provenance(config), "overrides": dict(search_overrides or {})},
        **{f"history_{key}": np.array([row[key] for row in result.history]) for key in numeric},
    }
    save_latents(latents_path, record)
    save_png(render_still(generator, record, None), image_path)
    write_history_tsv(result.history, history_path)
    plot_history(result.history, plot_path, title=f"{index}: {prompt}")
    if progress_path:
        write_progress_video(generator, result, settings, progress_path)
    if checkpoint:
        checkpoint.clear()  # the outputs are complete: nothing left to resume
    log(f"best loss {result.loss:.4f}, CLIP similarity {result.similarity:.4f} (iteration {result.iteration + 1}); "
        f"judge: {', '.join(f'{k} {v:.4f}' for k, v in scores.items())}")
    return record


def write_progress_video(generator, result, settings, path, fps: int = 2) -> None:
    """The notebook's search video: the best candidate of every iteration, 2 frames per second."""
    import torch

    from .film import Encoding, SegmentWriter
    from .walk import render_latents

    noise = torch.as_tensor(np.stack([z for z, _ in result.progress]))
    classes = torch.as_tensor(np.stack([c for _, c in result.progress]))
    side = generator.resolution + generator.resolution % 2
    with SegmentWriter(path, side, side, Encoding(fps=fps, crf=18, preset="veryfast")) as writer:
        for frames in render_latents(generator, noise, classes, settings.truncation, side, 8,
                                     settings.class_mode, settings.grayscale):
            writer.write(frames)


def burned_captions(config: dict) -> bool:
    return config["film"]["captions"] in ("burned", "both")


def segment_job(config: dict, *, latents_path, next_latents_path, caption: str, hold: int, segment_path,
                threads: int = 1) -> int:
    """Render and encode one film segment: sentence image held (with its caption, if burned in),
    then the transition to the next image."""
    reproducible_torch(threads)
    from .film import CaptionStyle, Encoding, render_segment
    from .models import load_generator, select_device

    film = config["film"]
    generator = load_generator(config["generator"]["model"], select_device(film["device"]))
    current = load_latents(latents_path)
    following = load_latents(next_latents_path) if next_latents_path else None
    style = CaptionStyle.from_config(config) if burned_captions(config) else None
    return render_segment(generator, current, following, caption, segment_path, hold=hold, steps=film["steps"],
                          size=film["size"], batch=film["render_batch"], style=style,
                          encoding=Encoding.from_config(config), easing=film["easing"])


def card_job(config: dict, *, text: str, frames: int, segment_path) -> int:
    """Encode a title or end card with the same settings as the sentence segments."""
    from .film import CaptionStyle, Encoding, render_card_segment
    from .models import generator_resolution

    side = config["film"]["size"] or generator_resolution(config["generator"]["model"])
    return render_card_segment(text, segment_path, frames=frames, width=side, height=side,
                               style=CaptionStyle.from_config(config), encoding=Encoding.from_config(config))


def subtitles_job(config: dict, captions: list[str], path) -> None:
    from .film import write_srt
    from .walk import frame_plan

    write_srt(captions, frame_plan(config["film"], captions), path)


def film_job(config: dict, segments: list, captions: list[str], film_path, record_path, subtitles=None) -> None:
    """Join the segments into `film.mp4` (with a soft subtitle track if asked) and record what made it."""
    from .film import concat_segments
    from .walk import frame_plan

    concat_segments(segments, film_path, subtitles if config["film"]["captions"] in ("soft", "both") else None)
    plan = frame_plan(config["film"], captions)
    record = {
        "frames": plan.total_frames,
        "fps": plan.fps,
        "seconds": plan.total_frames / plan.fps,
        "caption_frames": [[r.start, r.stop] for r in map(plan.caption_frames, range(plan.sentences))],
        "film": config["film"],
        **search_provenance(config),
    }
    atomic_write_bytes(record_path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())


def contact_sheet_job(config: dict, images: list, captions: list[str], path) -> None:
    from .report import contact_sheet

    contact_sheet(images, captions, path, font=config["film"]["caption"]["font"])


def summary_job(latents: list, path) -> None:
    from .report import summary_table

    summary_table(latents, path)


def manifest_job(config: dict, text_name: str, root) -> None:
    from .config import text_prompts
    from .manifest import write_manifest

    write_manifest(root, config, text_name, text_prompts(config, text_name))


def tiny_models_job(generator_dir, clip_dir, seed: int = 0) -> None:
    from .tiny_models import write_tiny_clip, write_tiny_generator

    reproducible_torch(1)
    write_tiny_generator(generator_dir, seed)
    write_tiny_clip(clip_dir, seed)

