"""Search speed: the workshop notebook's loop against our batched engine, in one process on one device.

    python bench/search_speed.py --case cpu            # 128 px, population 8, 8 crops (CI-sized)
    python bench/search_speed.py --case notebook --engine fp32 bf16 bf16+channels_last bf16+compile
    python bench/search_speed.py --case tiny           # the tiny offline models (a smoke test)

Models are the real architectures (BigGAN-deep at the case's resolution, CLIP ViT-B/32) with random
weights: speed does not depend on the weights, and none can be downloaded here. One CMA-ES iteration is
timed: (a) as the notebook ran it, each candidate alone (the library's BigGAN as published, at batch 1:
spectral norm recomputed on every call, the full 128-channel last conv; then CLIP on that candidate's
crops), and (b) as our engine runs it, for each `--engine` variant (the population in batched BigGAN
calls with the weights folded and the 3-channel last conv, all crops through CLIP in large chunks;
`bf16` autocast, `+channels_last`, `+compile` as the search settings of those names). Both run with
the jobs' determinism settings (`models.device.deterministic`) unless `--nondeterministic`. On a GPU a
large bf16 matrix product is timed too, the device's attainable rate to compare with. Whole CMA-ES
generations of the engine (sample, evaluate, update, at 128 + 1000 dimensions) are timed with numpy's
BLAS on one thread, as the jobs run it, and on all the machine's threads, as they ran before. Rendering
and encoding of film frames are timed separately. Prints a table and writes JSON.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from bench_json import write_json  # noqa: E402

from machine_imagination.models.clip import OPENAI_MEAN, OPENAI_STD, Clip, load_clip  # noqa: E402
from machine_imagination.models.device import PRECISIONS, deterministic, tune_for_speed  # noqa: E402
from machine_imagination.models.generator import Generator, load_generator, prepare_for_inference  # noqa: E402
from machine_imagination.search.augment import random_crop_boxes  # noqa: E402
from machine_imagination.search.objective import Objective  # noqa: E402
from machine_imagination.search.settings import SearchSettings  # noqa: E402
from machine_imagination.worlds.full_size import biggan_deep_config, random_biggan, random_clip_model  # noqa: E402,F401

CASES = {
    "tiny": {"resolution": 128, "population": 4, "crops": 4},
    "cpu": {"resolution": 128, "population": 8, "crops": 8},
    "notebook": {"resolution": 512, "population": 50, "crops": 64},
}
TINY_DIR = Path("/tmp/machine-imagination-bench")


def random_clip(device) -> Clip:
    import open_clip

    model = random_clip_model("ViT-B-32").to(device)
    return Clip(model, open_clip.get_tokenizer("ViT-B-32"), "random ViT-B-32", 224, OPENAI_MEAN, OPENAI_STD)


def notebook_models(case: str, device):
    """(generator as the notebook ran it, CLIP) for a case."""
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    if case == "tiny":
        write_tiny_models()
        original = BigGAN(BigGANConfig.from_json_file(TINY_DIR / "g" / "config.json"))
        original.load_state_dict(torch.load(TINY_DIR / "g" / "pytorch_model.bin", weights_only=True))
        generator = Generator(original.eval().requires_grad_(False).to(device), name="tiny, as published")
        return generator, load_clip(str(TINY_DIR / "c"), None, device)
    resolution = CASES[case]["resolution"]
    return Generator(random_biggan(resolution).to(device), name=f"random biggan-deep-{resolution}, as published"), \
        random_clip(device)


def engine_models(case: str, device, variant: dict):
    """Fresh (generator, CLIP) as a search job has them for a variant (tune_for_speed changes modules in place)."""
    if case == "tiny":
        write_tiny_models()
        generator, clip = load_generator(str(TINY_DIR / "g"), device), load_clip(str(TINY_DIR / "c"), None, device)
    else:
        resolution = CASES[case]["resolution"]
        generator = Generator(prepare_for_inference(random_biggan(resolution)).to(device),
                              name=f"random biggan-deep-{resolution}")
        clip = random_clip(device)
    tune_for_speed(generator, clip, channels_last=variant["channels_last"], compiled=variant["compile"])
    return generator, clip


def write_tiny_models() -> None:
    from machine_imagination.worlds.tiny import write_tiny_clip, write_tiny_generator

    if not (TINY_DIR / "c" / "open_clip_pytorch_model.bin").is_file():
        write_tiny_generator(TINY_DIR / "g")
        write_tiny_clip(TINY_DIR / "c")


def parse_variant(text: str) -> dict:
    """'bf16+channels_last+compile' -> the search settings it stands for."""
    precision, *extras = text.split("+")
    if precision not in PRECISIONS or not set(extras) <= {"channels_last", "compile"}:
        raise argparse.ArgumentTypeError(f"engine variant '{text}': fp32, bf16 or fp16, optionally followed by "
                                         f"+channels_last and/or +compile")
    return {"name": text, "precision": precision, "channels_last": "channels_last" in extras,
            "compile": "compile" in extras}


def notebook_iteration(generator, clip, text, x, settings, gen):
    """The notebook's inner loop: each candidate alone through BigGAN, then its crops through CLIP."""
    import torch.nn.functional as F

    losses = []
    for candidate in x:
        z, logits = candidate[None, :128], candidate[None, 128:]
        image = generator.render(z, logits, settings.truncation)
        side, size = image.shape[-1], clip.image_size
        views = []
        for box in random_crop_boxes(1, settings.crops, side, settings.crop_min, settings.crop_max, gen):
            x1, y1, x2, y2 = (int(v) for v in box[1:].round())
            views.append(F.interpolate(image[:, :, y1:y2, x1:x2], size=(size, size), mode="bilinear",
                                       align_corners=False, antialias=True))
        similarity = (clip.encode_images(torch.cat(views)) @ text.T).mean()
        losses.append(100 * (1 - similarity))
    return torch.stack(losses)


def timed(fn, device, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def cma_es_generations(objective, n: int, device, generations: int, blas_threads: int) -> list[float]:
    """Seconds of each of `generations` CMA-ES generations of the engine over 128 + 1000 dimensions
    (sample, evaluate, update: the eigendecompositions in numpy's BLAS), with that BLAS on
    `blas_threads` threads: the search jobs' 1, or the machine's default as before."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from machine_imagination.search.state import new_cma_es

    es = new_cma_es(np.zeros(1128), 0, np.random.default_rng(0), SearchSettings(population=n, iterations=10**6))
    gen = torch.Generator().manual_seed(0)

    def generation():
        candidates = np.asarray(es.ask(), dtype=np.float64)
        loss = objective(torch.as_tensor(candidates, dtype=torch.float32, device=device), gen).loss
        es.tell(list(candidates), loss.double().cpu().tolist())

    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return timed(generation, device, generations, warmup=1)


def count_flops(fn) -> int:
    """FLOPs of fn() (multiply-adds count 2). Attention's fused fast path is switched off meanwhile:
    the counter does not see inside it."""
    from torch.utils.flop_counter import FlopCounterMode

    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)
    return counter.get_total_flops()


def render_and_encode(generator, device, frames: int, batch: int) -> dict:
    """Film frames per second: rendering (BigGAN on the device, to uint8) and H.264 encoding, apart.
    Encoding is skipped (and says so) where no ffmpeg can be found."""
    import tempfile

    from machine_imagination.render import render_latents
    from machine_imagination.video import Encoding, VideoWriter, ffmpeg_exe

    noise = torch.randn(frames, 128) * 0.5
    logits = torch.randn(frames, 1000)
    rendered = []
    start = time.perf_counter()
    for chunk in render_latents(generator, noise, logits, 1.0, None, batch):
        rendered.append(chunk)
    render_seconds = time.perf_counter() - start
    side = rendered[0].shape[1]
    film = {"frames": frames, "side": side, "render_batch": batch, "render_fps": frames / render_seconds}
    try:
        ffmpeg_exe()
    except (ImportError, RuntimeError) as err:
        if not shutil.which("ffmpeg"):
            return {**film, "encode_fps": None, "encode_skipped": f"no ffmpeg ({err})"}
        os.environ["FFMPEG_BINARY"] = shutil.which("ffmpeg")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with VideoWriter(Path(tmp) / "x.mp4", side, side, Encoding(fps=30, crf=18, preset="medium")) as writer:
            for chunk in rendered:
                writer.write(chunk)
        encode_seconds = time.perf_counter() - start
    return {**film, "encode_fps": frames / encode_seconds}


def bf16_matmul_tflops(device, n: int = 8192, repeats: int = 10) -> float | None:
    """The device's attainable bf16 rate: an n*n*n matrix product (GPU only; None on CPU)."""
    if device.type != "cuda":
        return None
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    times = timed(lambda: a @ b, device, repeats, 3)
    return 2 * n ** 3 / statistics.median(times) / 1e12


def run_stats(times, n, flops, peak) -> dict:
    ms = statistics.median(times) * 1e3
    return {"ms_per_iteration": ms, "times_s": times, "images_per_s": n / (ms / 1e3),
            "tflop_per_s": flops / (ms / 1e3) / 1e12, "peak_gpu_memory_gib": peak / 2**30 if peak else None}


def peak_memory(device, reset: bool = False):
    if device.type != "cuda":
        return None
    if reset:
        torch.cuda.reset_peak_memory_stats()
        return None
    return torch.cuda.max_memory_allocated()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=CASES, default="cpu")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed iterations after the first call (which compiles a compiled variant)")
    parser.add_argument("--engine", nargs="+", type=parse_variant, default=None, metavar="VARIANT",
                        help="engine variants to time: fp32, bf16 or fp16, +channels_last, +compile (default: fp32)")
    parser.add_argument("--precision", choices=PRECISIONS, help="shorthand for --engine with one precision")
    parser.add_argument("--nondeterministic", action="store_true",
                        help="let cuDNN pick its fastest (nondeterministic) kernels: what reproducibility costs")
    parser.add_argument("--render-frames", type=int, default=None, help="film frames to time (default by case)")
    parser.add_argument("--generations", type=int, default=10,
                        help="whole CMA-ES generations to time, with numpy's BLAS on 1 and on all threads")
    parser.add_argument("--out", help="JSON file (default: bench/results/search_speed-<case>-<device>.json)")
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    if args.nondeterministic:  # cuDNN may pick its fastest kernels
        torch.backends.cudnn.benchmark = True
        return measure(args, argv)
    with deterministic():
        return measure(args, argv)


def measure(args, argv) -> dict:
    variants = args.engine or [parse_variant(args.precision or "fp32")]
    device = torch.device(args.device)
    case = CASES[args.case]
    n, crops = case["population"], case["crops"]
    prompt = "a lighthouse in a storm"
    x = torch.randn(n, 1128, device=device) * 0.5
    z, logits = x[:1, :128], x[:1, 128:]

    with torch.inference_mode():
        notebook_generator, clip = notebook_models(args.case, device)
        settings = SearchSettings(population=n, crops=crops)
        text = clip.encode_text([prompt])
        gen = torch.Generator().manual_seed(0)
        peak_memory(device, reset=True)
        notebook_times = timed(lambda: notebook_iteration(notebook_generator, clip, text, x, settings, gen), device,
                               args.repeats, args.warmup)
        notebook_peak = peak_memory(device)
        flops_full = count_flops(lambda: notebook_generator.render(z, logits, 1.0))
        views = torch.rand(1, 3, clip.image_size, clip.image_size, device=device)
        flops_clip = count_flops(lambda: clip.encode_images(views))
        del notebook_generator, clip
        plain, _ = engine_models(args.case, device, parse_variant("fp32"))  # FLOPs and film: the plain engine
        flops_trimmed = count_flops(lambda: plain.render(z, logits, 1.0))
        film = render_and_encode(plain, device, args.render_frames or (60 if args.case != "notebook" else 300),
                                 batch=10 if args.case != "notebook" else 30)
        del plain
        engines = {}
        for variant in variants:
            generator, clip = engine_models(args.case, device, variant)
            # chunk sizes: the search's defaults, what a job gets unless its config says otherwise
            settings = SearchSettings(population=n, crops=crops, precision=variant["precision"],
                                      channels_last=variant["channels_last"], compile=variant["compile"])
            objective = Objective(generator, clip, [(prompt, 1.0)], settings)
            gen = torch.Generator().manual_seed(0)
            first = time.perf_counter()
            objective(x, gen)  # compiles a compiled variant
            if device.type == "cuda":
                torch.cuda.synchronize()
            first = time.perf_counter() - first
            peak_memory(device, reset=True)
            times = timed(lambda: objective(x, gen), device, args.repeats, args.warmup)
            peak = peak_memory(device)
            engines[variant["name"]] = {**variant, "generator_batch": settings.generator_batch,
                                        "clip_batch": settings.clip_batch, "first_call_s": first,
                                        **run_stats(times, n, n * (flops_trimmed + crops * flops_clip), peak)}
            del generator, clip, objective
            if device.type == "cuda":
                torch.cuda.empty_cache()
        # A whole CMA-ES generation, numpy's BLAS on one thread (as the jobs run) and on the machine's
        # default (as they ran before): its idle threads spin against torch's.
        generator, clip = engine_models(args.case, device, parse_variant("fp32"))
        objective = Objective(generator, clip, [(prompt, 1.0)], SearchSettings(population=n, crops=crops))
        cma_es = {"generations": args.generations, "blas_default_threads": os.cpu_count()}
        for name, blas in (("blas_1", 1), ("blas_default", os.cpu_count())):
            seconds = cma_es_generations(objective, n, device, args.generations, blas)
            cma_es[f"ms_per_generation_{name}"] = 1000 * statistics.median(seconds)
            cma_es[f"times_s_{name}"] = seconds
        del generator, clip, objective
        matmul = bf16_matmul_tflops(device)

    notebook = run_stats(notebook_times, n, n * (flops_full + crops * flops_clip), notebook_peak)
    for stats in engines.values():
        stats["speedup"] = notebook["ms_per_iteration"] / stats["ms_per_iteration"]
        stats["share_of_bf16_matmul_rate"] = stats["tflop_per_s"] / matmul if matmul else None
    result = {
        "case": args.case, **case, "device": torch.cuda.get_device_name(device) if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "torch": torch.__version__, "repeats": args.repeats, "deterministic": not args.nondeterministic,
        "command": "python bench/search_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "flops_per_image": {"biggan_full_rgb_conv": flops_full, "biggan_3_channel_rgb_conv": flops_trimmed,
                            "clip_per_crop": flops_clip},
        "bf16_matmul_tflop_per_s": matmul,
        "notebook": notebook,
        "engines": engines,
        "cma_es": cma_es,
        "film": film,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    out = write_json(args.out or ROOT / "bench" / "results" / f"search_speed-{args.case}-{device.type}.json", result,
                     indent=2)
    print(f"{args.case} on {result['device']}: {n} candidates x {crops} crops at {case['resolution']} px"
          + (f"; bf16 matmul {matmul:.0f} TFLOP/s" if matmul else ""))
    print(f"{'':28} {'ms/iter':>10} {'images/s':>10} {'TFLOP/s':>9} {'speed-up':>9} {'1st call s':>10}")
    print(f"{'notebook':28} {notebook['ms_per_iteration']:10.1f} {notebook['images_per_s']:10.2f} "
          f"{notebook['tflop_per_s']:9.3f}")
    for name, r in engines.items():
        print(f"{'engine ' + name:28} {r['ms_per_iteration']:10.1f} {r['images_per_s']:10.2f} "
              f"{r['tflop_per_s']:9.3f} {r['speedup']:8.2f}x {r['first_call_s']:10.1f}")
    print(f"{'CMA-ES generation, BLAS 1':28} {cma_es['ms_per_generation_blas_1']:10.1f}  "
          f"(BLAS on {os.cpu_count()} threads: {cma_es['ms_per_generation_blas_default']:.1f})")
    encode = f"{film['encode_fps']:.1f} frames/s" if film["encode_fps"] else film.get("encode_skipped")
    print(f"film: render {film['render_fps']:.1f} frames/s, encode {encode} at {film['side']} px -> {out}")
    return result


if __name__ == "__main__":
    main()
