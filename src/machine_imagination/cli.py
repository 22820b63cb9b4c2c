"""The `machine-imagination` command: the workshop's hands-on notebooks as commands, on the package code
the pipeline uses.

  sample       BigGAN samples of one class at several noise seeds -> a PNG grid and their latents
  interpolate  (class A, seed A) -> (class B, seed B) in N steps -> a PNG grid or an mp4
  search       one prompt with the pipeline's search settings -> image, latents, history plot, video
  walk         stored latents (.npz, or the notebook's _noise.txt/_class.txt) -> a video
  models fetch the pipeline's weight fetching, for offline compute nodes
  check        every check a run makes before any job, and slower ones: would the project run?
  verify       re-check a results tree against its manifest.json
  repair       set aside files of a results tree that are missing or damaged, to be made again
  status       how far a text's run has come, and about how long the rest takes
  review       a text's takes in the browser: pick, reword, re-roll; save the overrides table
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .schema import defaults
from .worlds.shapes_training import SHAPES_MODELS, SHAPES_RETRAINED, SHAPES_TRAINING


class CommandError(Exception):
    """A problem with the command's input: printed as one line, exit status 2."""


# --------------------------------------------------------------------------- shared options


def load_settings(args) -> dict:
    """The project config (from --config, else config/config.yaml if present, else the defaults),
    with --generator/--clip/--pretrained/--device applied."""
    from .project import load_config, validate_config

    path = Path(args.config) if args.config else Path("config/config.yaml")
    if args.config and not path.is_file():
        raise CommandError(f"config file '{path}' does not exist")
    config = load_config(path) if path.is_file() else validate_config({"texts": {"cli": "-"}})
    if args.generator:
        config["generator"]["model"] = args.generator
    if getattr(args, "clip", None):
        config["clip"]["model"] = args.clip
        config["clip"]["pretrained"] = args.pretrained
    if args.device:
        config["search"]["device"] = config["film"]["device"] = args.device
    return config


def add_model_options(parser, clip: bool = False) -> None:
    parser.add_argument("--config", help="project config YAML for models and settings "
                                         "(default: config/config.yaml if present)")
    parser.add_argument("--generator", help="biggan-deep-128/256/512 or a directory with config.json + "
                                            "pytorch_model.bin (default: the config's)")
    if clip:
        parser.add_argument("--clip", help="open_clip model name or directory (default: the config's)")
        parser.add_argument("--pretrained", help="with --clip: pretrained tag or checkpoint file")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: the config's")


def generator_from(config):
    from .models.device import select_device
    from .models.generator import load_generator

    return load_generator(config["generator"]["model"], select_device(config["search"]["device"]))


def class_logits(name, class_names) -> np.ndarray:
    """Logits whose softmax is (within 1e-13) the one-hot vector of a class of the generator."""
    from .models.classes import resolve_class

    try:
        index = resolve_class(name, class_names)
    except ValueError as err:
        raise CommandError(str(err)) from None
    logits = np.full(len(class_names), -30.0, dtype=np.float32)
    logits[index] = 0.0
    return logits


def noise_for(seed: int, count: int, z_dim: int, truncation: float) -> np.ndarray:
    from .search.starts import truncated_noise

    return truncated_noise(np.random.default_rng(seed), count, z_dim, truncation).astype(np.float32)


def save_grid(frames: list, columns: int, path) -> None:
    """Frames ([H, W, 3] uint8) in a grid, row by row."""
    from PIL import Image

    height, width = frames[0].shape[:2]
    rows = -(-len(frames) // columns)
    grid = np.zeros((rows * height, columns * width, 3), np.uint8)
    for k, frame in enumerate(frames):
        r, c = divmod(k, columns)
        grid[r * height:(r + 1) * height, c * width:(c + 1) * width] = frame
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)


def render_rows(generator, noise, logits, truncation, batch: int = 8, desc: str = "rendering"):
    import torch
    from tqdm import tqdm

    from .render import render_latents

    frames = []
    batches = render_latents(generator, torch.as_tensor(noise), torch.as_tensor(logits), truncation, None, batch)
    for chunk in tqdm(batches, total=-(-len(noise) // batch), desc=desc, unit="batch", file=sys.stderr):
        frames.extend(chunk)
    return frames


# --------------------------------------------------------------------------- commands


def cmd_sample(args) -> int:
    from .latents import Latents

    config = load_settings(args)
    generator = generator_from(config)
    logits = class_logits(args.class_name, generator.class_names)
    noise = np.concatenate([noise_for(seed, args.samples, generator.z_dim, args.truncation) for seed in args.seeds])
    frames = render_rows(generator, noise, np.repeat(logits[None], len(noise), axis=0), args.truncation)
    save_grid(frames, args.samples, args.out)
    if args.latents_dir:
        for k, z in enumerate(noise):
            seed, sample = args.seeds[k // args.samples], k % args.samples
            Latents(noise=z, class_vector=logits, truncation=args.truncation, seed=seed,
                    generator=generator.name).save(Path(args.latents_dir) / f"seed{seed}_{sample:02d}.npz")
    print(f"{len(frames)} samples of class {args.class_name!r} -> {args.out}")
    return 0


def interpolation_path(a, b, steps: int, mode: str):
    import torch

    from .film.walk import slerp

    t = torch.linspace(0, 1, steps, dtype=torch.float64)
    if mode == "slerp":
        return slerp(torch.as_tensor(a), torch.as_tensor(b), t)
    return ((1 - t)[:, None] * torch.as_tensor(a, dtype=torch.float64) + t[:, None] * torch.as_tensor(b, dtype=torch.float64)).float()


def parse_endpoint(text: str) -> tuple[str, int]:
    name, sep, seed = text.rpartition(":")
    if not sep or not seed.strip().isdigit():
        raise CommandError(f"endpoint {text!r} must be CLASS:SEED, e.g. 'cheeseburger:1' or '933:1'")
    return name, int(seed)


def cmd_interpolate(args) -> int:
    from .latents import softmax
    from .video import Encoding, VideoWriter

    if args.steps < 2:
        raise CommandError("--steps must be at least 2")
    config = load_settings(args)
    generator = generator_from(config)
    (class_a, seed_a), (class_b, seed_b) = parse_endpoint(args.start), parse_endpoint(args.end)
    za, zb = (noise_for(s, 1, generator.z_dim, args.truncation)[0] for s in (seed_a, seed_b))
    ca, cb = class_logits(class_a, generator.class_names), class_logits(class_b, generator.class_names)
    if args.mode == "linear":  # the notebook interpolated the class *vectors* linearly: mix probabilities
        ca, cb = softmax(ca), softmax(cb)
    noise, classes = interpolation_path(za, zb, args.steps, args.mode), interpolation_path(ca, cb, args.steps, args.mode)
    if args.mode == "linear":
        classes = classes.clamp_min(1e-12).log()
    frames = render_rows(generator, noise.numpy(), classes.float().numpy(), args.truncation)
    if str(args.out).endswith(".mp4"):
        side = frames[0].shape[0]
        with VideoWriter(args.out, side, side, Encoding(fps=args.fps, preset="medium")) as writer:
            for frame in frames:
                writer.write(frame)
    else:
        save_grid(frames, min(args.steps, 10), args.out)
    print(f"{args.steps} steps from {args.start} to {args.end} ({args.mode}) -> {args.out}")
    return 0


def cmd_search(args) -> int:
    from .latents import Latents
    from .report.candidates_sheet import CandidateRow, candidates_sheet
    from .search.candidates import SearchFiles, keep_candidate
    from .search.job import search_job
    from .search.judge import judge_block_job
    from .search.progress import SentenceProgress, progress_block_job
    from .text import fill_prompt

    config = load_settings(args)
    for key in ("iterations", "population", "optimizer", "initial_class", "candidates"):
        if getattr(args, key) is not None:
            config["search"][key] = getattr(args, key)
    if config["search"]["candidates"] < 1:
        raise CommandError(f"--candidates {config['search']['candidates']}: give 1 or more")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = fill_prompt(config["text"]["template"], args.prompt, config["text"]["style"])
    video, threads, count = not args.no_video, config["search"]["threads"], config["search"]["candidates"]
    say = lambda message: print(message, file=sys.stderr)  # noqa: E731
    # 1. the searches, as the pipeline's jobs make them: each candidate under candidates/, then judged
    files = [SearchFiles.of_candidate(out / "candidates", k, progress=video) for k in range(count)]
    search_job(config, text_name="cli", index=0, sentence=args.prompt, prompt_parts=parts, seed=args.seed,
               candidates=files, checkpoint_path=out / "checkpoint.pkl", threads=threads, log=say)
    judge_block_job(config, [[f.latents for f in files]], threads=threads, log=say)
    # 2. the best judge score kept as the result (with its progress video), and the sheet of several
    kept = SearchFiles(out / "latents.npz", out / "image.png", out / "history.tsv", out / "history.png",
                       progress=out / "progress.mp4" if video else None)
    choice = keep_candidate(files, kept, log=say)
    if video:
        progress_block_job(config, [SentenceProgress(0, files, kept)], threads=threads, log=say)
    if count > 1:
        candidates_sheet([CandidateRow(0, args.prompt, [f.image for f in files], choice)], out / "candidates.png",
                         font=config["film"]["caption"]["font"])
        print(f"kept candidate {choice.kept} of {count} -> {out}/candidates.png")
    latents = Latents.load(kept.latents)
    print(f"similarity {latents.search.similarity:.4f} (judge {latents.search.judge_similarity:.4f}) "
          f"-> {out}/image.png")
    return 0


def load_walk_latents(path: str, generator):
    """A latents file of the pipeline (.npz) or a notebook pair given by its _noise.txt (or _class.txt)."""
    from .latents import Latents, LatentsError, from_notebook

    try:
        if path.endswith(".npz"):
            latents = Latents.load(path)
        elif path.endswith("_noise.txt") or path.endswith("_class.txt"):
            prefix = path.rsplit("_", 1)[0]
            latents = from_notebook(f"{prefix}_noise.txt", f"{prefix}_class.txt", z_dim=generator.z_dim,
                                    num_classes=generator.num_classes)
        else:
            raise CommandError(f"'{path}': give a .npz latents file or a notebook *_noise.txt / *_class.txt file")
    except LatentsError as err:
        raise CommandError(str(err)) from None
    if np.asarray(latents.noise).shape != (generator.z_dim,):
        raise CommandError(f"'{path}': noise has {np.asarray(latents.noise).size} values, "
                           f"the generator takes {generator.z_dim}")
    expected = generator.num_classes if latents.class_mode == "logits" else generator.class_embeddings().shape[1]
    if np.asarray(latents.class_vector).shape != (expected,):
        raise CommandError(f"'{path}': class vector has {np.asarray(latents.class_vector).size} values, "
                           f"the generator takes {expected}")
    return latents


def cmd_walk(args) -> int:
    from tqdm import tqdm

    from .film.captions import CaptionStyle
    from .film.walk import segment_frames
    from .video import Encoding, VideoWriter

    if len(args.latents) < 2:
        raise CommandError("walk needs at least two latents files")
    if args.caption and len(args.caption) != len(args.latents):
        raise CommandError(f"{len(args.caption)} --caption given for {len(args.latents)} latents files")
    config = load_settings(args)
    generator = generator_from(config)
    records = [load_walk_latents(p, generator) for p in args.latents]
    if args.truncation is not None:
        records = [r.with_truncation(args.truncation) for r in records]
    captions = args.caption or ([r.sentence.sentence if r.sentence else "" for r in records]
                                if args.captions_from_latents else None)
    side = args.size or generator.resolution
    with VideoWriter(args.out, side, side, Encoding(fps=args.fps)) as writer:
        for i in tqdm(range(len(records)), desc="walking", unit="image", file=sys.stderr):
            following = records[(i + 1) % len(records)] if args.loop or i < len(records) - 1 else None
            caption = captions[i] if captions else ""
            for frames in segment_frames(generator, records[i], following, hold=args.hold, steps=args.steps,
                                         size=args.size, batch=10, caption=caption,
                                         style=CaptionStyle() if caption else None):
                writer.write(frames)
    print(f"{writer.frames} frames ({writer.frames / args.fps:.1f} s) -> {args.out}")
    return 0


def cmd_fetch(args) -> int:
    """The pipeline's weight fetching (fetch.py, as the local rules use it), from the command line."""
    from .models.fetch import FetchError, fetch, weights_plan

    config = load_settings(args)
    if args.cache:
        config["weights"]["cache"] = args.cache
    if not config["weights"]["cache"]:
        raise CommandError("no cache directory: give --cache DIR or set weights.cache in the config")
    plan = weights_plan(config)
    if not plan:
        print("nothing to fetch: the configured models are local paths already")
    for item in plan:
        try:
            directory = fetch(item, log=lambda message: print(message, file=sys.stderr))
        except FetchError as err:
            raise CommandError(str(err)) from None
        print(f"{item.model}{'/' + item.pretrained if item.pretrained else ''} -> {directory}")
    return 0


def cmd_check(args) -> int:
    """The project's input checked as a run checks it before any job, and more (check.py); exit 0 only
    when the project would run."""
    from .check import ConfigFileError, check_project

    try:
        report = check_project(args.configfile)
    except ConfigFileError as err:
        raise CommandError(str(err)) from None
    for message in report.notes:
        print(f"note: {message}")
    for message in report.warnings:
        print(f"warning: {message}")
    prompts = report.project.prompts
    texts = ", ".join(f"{name} ({len(found)} sentences)" for name, found in prompts.items())
    print(f"OK: the project would run: {texts}" + (f"; {len(report.warnings)} warnings" if report.warnings else ""))
    return 0


def cmd_verify(args) -> int:
    from .report.manifest import environment_changes, verify_manifest

    failed = False
    for root in args.results:
        problems = verify_manifest(root)
        failed |= bool(problems)
        print(f"{root}: " + ("OK, every file matches its manifest" if not problems else "MISMATCH"))
        for problem in problems:
            print(f"  {problem}")
        # what made it, against what runs here: reported, not a failure (the files are what they are)
        changes = environment_changes(root)
        if changes is None:
            print("  its manifest records no environment (made before manifests recorded one)")
            continue
        if changes:
            print("  made in another environment than this one: " + "; ".join(changes.named()))
        if changes.commit:
            now = changes.commit[1] or "unknown"
            print(f"  made by the pipeline at commit {changes.commit[0]} (this checkout: {now})")
        command = changes.reinstall_command()
        if command:
            print(f"  to reinstall what made it:\n    {command}")
    return 1 if failed else 0


def cmd_repair(args) -> int:
    """Set aside what earlier jobs made and is now missing or damaged, so that the next run makes it
    again: each damaged file renamed to <name>.damaged, each receipt that lists such a file removed."""
    from .receipts import repair

    for root in args.results:
        if not (Path(root) / "receipts").is_dir():
            raise CommandError(f"'{root}' holds no receipts/: give a results/<text> directory of a run")
        done = repair(root)
        print(f"{root}: " + ("nothing to repair" if not done else f"{len(done)} job(s) to run again"))
        for message in done:
            print(f"  {message}")
    return 0


def cmd_status(args) -> int:
    from .status import text_status

    for root in args.results:
        if not (Path(root) / "prompts.tsv").is_file():
            raise CommandError(f"'{root}' holds no prompts.tsv: give a results/<text> directory of a run")
        print(text_status(root).describe())
    return 0


def cmd_review(args) -> int:
    from .review_server import open_project, serve

    files, text = list(args.configfile or ()), args.text
    if text is None and files and not files[-1].endswith((".yaml", ".yml", ".json")) and not Path(files[-1]).is_file():
        text = files.pop()  # `--configfile FILE … TEXT`: the text after the files, as with snakemake's targets
    project = open_project(files, text, args.snakefile)
    serve(project, port=args.port, open_browser=False if args.no_browser else None)
    return 0


def cmd_shapes_train(args) -> int:
    from .worlds.shapes_training import TrainingPlan, compare_models, train_models

    plan = TrainingPlan(seed=args.seed, threads=args.threads, generator_steps=args.generator_steps,
                        clip_steps=args.clip_steps, judge_seed=args.judge_seed, judge_steps=args.judge_steps,
                        judge_boundary_steps=args.judge_boundary_steps)
    result = train_models(args.out, plan, log=lambda message: print(message, file=sys.stderr))
    print(json.dumps(result, indent=1))
    if args.compare:
        different = compare_models(args.out, args.compare)
        if different:
            print(f"differs from {args.compare} in: {', '.join(different)}")
            return 1
        print(f"byte-identical to {args.compare}")
    return 0


def cmd_shapes_evaluate(args) -> int:
    from .worlds.shapes_training import evaluate_models

    root = Path(args.models)
    for name in ("biggan-shapes", "clip-shapes"):
        if not (root / name).is_dir():
            raise CommandError(f"{root / name} does not exist: --models names a directory holding "
                               "biggan-shapes/ and clip-shapes/ (and clip-judge/)")
    judge = root / "clip-judge" if (root / "clip-judge").is_dir() else None
    print(json.dumps(evaluate_models(root / "biggan-shapes", root / "clip-shapes", judge_dir=judge), indent=1))
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="machine-imagination", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sample = commands.add_parser("sample", help="BigGAN samples of one class -> a PNG grid and latents")
    sample.add_argument("class_name", metavar="CLASS", help="ImageNet class name ('cheeseburger') or index (933)")
    sample.add_argument("--seeds", type=int, nargs="+", default=[1], help="noise seeds, one grid row each")
    sample.add_argument("--samples", type=int, default=4, help="samples per seed (grid columns)")
    sample.add_argument("--truncation", type=float, default=0.4, help="truncation in (0, 1] (notebook: 0.4)")
    sample.add_argument("--out", default="sample.png", help="the grid PNG")
    sample.add_argument("--latents-dir", help="also write each sample's latents (.npz) here")
    add_model_options(sample)
    sample.set_defaults(run=cmd_sample)

    interpolate = commands.add_parser("interpolate", help="(class A, seed A) -> (class B, seed B) as a grid or mp4")
    interpolate.add_argument("start", metavar="CLASS:SEED", help="e.g. 'cheeseburger:1'")
    interpolate.add_argument("end", metavar="CLASS:SEED", help="e.g. 'red fox:2'")
    interpolate.add_argument("--steps", type=int, default=8, help="images along the way, end points included")
    interpolate.add_argument("--mode", choices=("linear", "slerp"), default="linear")
    interpolate.add_argument("--truncation", type=float, default=0.4)
    interpolate.add_argument("--fps", type=int, default=10, help="for an .mp4 output")
    interpolate.add_argument("--out", default="interpolation.png", help="a .png grid or an .mp4")
    add_model_options(interpolate)
    interpolate.set_defaults(run=cmd_interpolate)

    search = commands.add_parser("search", help="one prompt -> image, latents, history plot, progress video")
    search.add_argument("prompt", help="the prompt ('a red fox:1 | blurry:-0.5' for weights)")
    search.add_argument("--seed", type=int, default=1)
    search.add_argument("--iterations", type=int)
    search.add_argument("--population", type=int)
    search.add_argument("--optimizer")
    search.add_argument("--initial-class", dest="initial_class")
    search.add_argument("--candidates", type=int, help="search K times (seeds derived from --seed), keep the best "
                                                      "judge score; writes candidates/ and candidates.png")
    search.add_argument("--no-video", action="store_true", help="skip the progress video")
    search.add_argument("--out", default="search", help="output directory")
    add_model_options(search, clip=True)
    search.set_defaults(run=cmd_search)

    walk = commands.add_parser("walk", help="stored latents -> a latent-walk video")
    walk.add_argument("latents", nargs="+", help=".npz files, or the notebook's *_noise.txt (with *_class.txt)")
    film = defaults("film")  # the pipeline's (the notebook's)
    walk.add_argument("--hold", type=int, default=film["hold"], help=f"frames each image holds ({film['hold']})")
    walk.add_argument("--steps", type=int, default=film["steps"], help=f"transition frames ({film['steps']})")
    walk.add_argument("--fps", type=int, default=film["fps"])
    walk.add_argument("--truncation", type=float, help="override the stored truncation (notebook: 1.0)")
    walk.add_argument("--no-loop", dest="loop", action="store_false", help="do not walk back to the first image")
    walk.add_argument("--caption", action="append", help="a caption per latents file, in order")
    walk.add_argument("--captions-from-latents", action="store_true", help="caption with each file's sentence")
    walk.add_argument("--size", type=int, help="output side in pixels (default: the generator's)")
    walk.add_argument("--out", default="walk.mp4")
    add_model_options(walk)
    walk.set_defaults(run=cmd_walk)

    models = commands.add_parser("models", help="model weights")
    model_commands = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    fetch = model_commands.add_parser("fetch", help="fetch the configured models once, for offline nodes")
    fetch.add_argument("--cache", help="directory to fetch into (default: the config's)")
    add_model_options(fetch, clip=True)
    fetch.set_defaults(run=cmd_fetch)

    world = commands.add_parser("shapes", help=f"the shapes world's models (trained here, shipped in {SHAPES_MODELS})")
    world_commands = world.add_subparsers(dest="shapes_command", required=True, metavar="ACTION")
    train = world_commands.add_parser("train", help="retrain the three models from fixed seeds (byte-identical "
                                                    "for the same seeds, steps and threads)")
    train.add_argument("--out", default=SHAPES_RETRAINED,
                       help="directory for biggan-shapes/, clip-shapes/ and clip-judge/")
    train.add_argument("--compare", metavar="DIR", help=f"then check that every file is byte-identical to the "
                                                         f"models in DIR (e.g. {SHAPES_MODELS}); exit 1 if not")
    train.add_argument("--generator-steps", type=int, default=SHAPES_TRAINING.generator_steps)
    train.add_argument("--clip-steps", type=int, default=SHAPES_TRAINING.clip_steps)
    train.add_argument("--seed", type=int, default=SHAPES_TRAINING.seed, help="the generator's and the guiding CLIP's")
    train.add_argument("--judge-steps", type=int, default=SHAPES_TRAINING.judge_steps)
    train.add_argument("--judge-seed", type=int, default=SHAPES_TRAINING.judge_seed,
                       help="the judge CLIP's (another seed than --seed, so that it errs apart)")
    train.add_argument("--judge-boundary-steps", type=int, default=SHAPES_TRAINING.judge_boundary_steps,
                       help="then the judge's further steps with in-between shapes in every batch (0: none)")
    train.add_argument("--threads", type=int, default=SHAPES_TRAINING.threads,
                       help="torch threads (the result depends on it)")
    train.set_defaults(run=cmd_shapes_train)
    evaluate = world_commands.add_parser("evaluate", help="CLIP zero-shot and judge accuracy of the models")
    evaluate.add_argument("--models", default=SHAPES_MODELS,
                          help="directory holding biggan-shapes/ and clip-shapes/ (and clip-judge/)")
    evaluate.set_defaults(run=cmd_shapes_evaluate)

    check = commands.add_parser("check", help="every check a run makes before any job, and slower ones (glyphs, "
                                              "audio decoding, model files loaded): exit 0 only if it would run")
    check.add_argument("--configfile", nargs="+", metavar="FILE",
                       help="config files, layered as Snakemake layers them: a later one's keys override an "
                            "earlier one's (default: config/config.yaml, as the Snakefile reads it)")
    check.set_defaults(run=cmd_check)

    verify = commands.add_parser("verify", help="re-check a results tree against its manifest.json")
    verify.add_argument("results", nargs="+", help="a results/<text> directory (holding manifest.json)")
    verify.set_defaults(run=cmd_verify)

    repair = commands.add_parser("repair", help="set aside a results tree's missing or damaged files, to be made "
                                                "again by the next run")
    repair.add_argument("results", nargs="+", help="a results/<text> directory")
    repair.set_defaults(run=cmd_repair)

    status = commands.add_parser("status", help="how far a text's run has come, and about how long the rest takes")
    status.add_argument("results", nargs="+", help="a results/<text> directory (of a run going on or done)")
    status.set_defaults(run=cmd_status)

    review = commands.add_parser("review", help="a text's takes in the browser: pick, reword, re-roll, and save the "
                                                "overrides table the next run applies")
    review.add_argument("text", metavar="TEXT", nargs="?", help="the text's name under 'texts:' (or its only one)")
    review.add_argument("--configfile", nargs="+", metavar="FILE", help="the project's config files, layered as "
                                                                        "Snakemake layers them (config/config.yaml)")
    review.add_argument("--snakefile", help="for the plan's dry run (default: ./Snakefile, else the package's)")
    review.add_argument("--port", type=int, default=0, help="the port on 127.0.0.1 (default: a free one)")
    review.add_argument("--no-browser", action="store_true", help="only print the address")
    review.set_defaults(run=cmd_review)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .models import ModelError
    from .project import ConfigError
    from .receipts import ReceiptError
    from .search.state import SearchError
    from .text import TextError
    from .video import FilmError

    try:
        return args.run(args)
    except (CommandError, ConfigError, FilmError, ModelError, ReceiptError, SearchError, TextError) as err:
        print(f"machine-imagination {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
