"""Search speed: the workshop notebook's loop against our batched engine, in one process on one device.

    python bench/search_speed.py --case cpu            # 128 px, population 8, 8 crops (CI-sized)
    python bench/search_speed.py --case notebook       # 512 px, population 50, 64 crops (a GPU)
    python bench/search_speed.py --case tiny           # the tiny offline models (a smoke test)

Models are the real architectures (BigGAN-deep at the case's resolution, CLIP ViT-B/32) with random
weights: speed does not depend on the weights, and none can be downloaded here. One CMA-ES iteration is
timed: (a) as the notebook ran it, each candidate alone (BigGAN at batch 1 with its full 128-channel
last conv, then CLIP on that candidate's crops), and (b) as our engine runs it (the population in
batched BigGAN calls with the 3-channel last conv, all crops through CLIP in large chunks). Rendering
and encoding of film frames are timed separately. Prints a table and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from machine_imagination.models import Clip, Generator, keep_rgb_channels_only, load_clip, load_generator  # noqa: E402
from machine_imagination.search import Objective, SearchSettings, random_crop_boxes  # noqa: E402

CASES = {
    "tiny": {"resolution": 128, "population": 4, "crops": 4},
    "cpu": {"resolution": 128, "population": 8, "crops": 8},
    "notebook": {"resolution": 512, "population": 50, "crops": 64},
}
# BigGAN-deep: two blocks per resolution (the second upsamples); 10/12/14 blocks at 128/256/512 px.
CHANNELS = {128: [16, 16, 8, 4, 2, 1], 256: [16, 16, 8, 8, 4, 2, 1], 512: [16, 16, 8, 8, 4, 2, 1, 1]}


def biggan_deep_config(resolution: int) -> dict:
    widths = CHANNELS[resolution]
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [(False, a, a), (True, a, b)]
    return {"output_dim": resolution, "z_dim": 128, "class_embed_dim": 128, "channel_width": 128,
            "num_classes": 1000, "layers": layers, "attention_layer_position": 8, "eps": 1e-4, "n_stats": 51}


def random_generator(resolution: int, device, trimmed: bool) -> Generator:
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    torch.manual_seed(0)
    biggan = BigGAN(BigGANConfig.from_dict(biggan_deep_config(resolution)))
    with torch.no_grad():
        biggan.generator.bn.weight.fill_(1.0)
        biggan.generator.bn.bias.zero_()
    biggan.eval().requires_grad_(False)
    if trimmed:
        keep_rgb_channels_only(biggan)
    return Generator(biggan.to(device), name=f"random biggan-deep-{resolution}")


def models(case: str, device):
    if case == "tiny":
        from machine_imagination.tiny_models import write_tiny_clip, write_tiny_generator

        root = Path("/tmp/machine-imagination-bench")
        if not (root / "g" / "pytorch_model.bin").is_file():
            write_tiny_generator(root / "g")
            write_tiny_clip(root / "c")
        from pytorch_pretrained_biggan import BigGAN, BigGANConfig

        engine_generator = load_generator(str(root / "g"), device)
        original = BigGAN(BigGANConfig.from_json_file(root / "g" / "config.json"))  # with its full last conv
        original.load_state_dict(torch.load(root / "g" / "pytorch_model.bin", weights_only=True))
        notebook_generator = Generator(original.eval().requires_grad_(False).to(device), name="tiny")
        return notebook_generator, engine_generator, load_clip(str(root / "c"), None, device)
    import open_clip

    resolution = CASES[case]["resolution"]
    clip_model = open_clip.create_model("ViT-B-32", pretrained=None, device=device).eval().requires_grad_(False)
    clip = Clip(clip_model, open_clip.get_tokenizer("ViT-B-32"), "random ViT-B-32", 224,
                (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
    return (random_generator(resolution, device, trimmed=False), random_generator(resolution, device, trimmed=True),
            clip)


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
    """Film frames per second: rendering (BigGAN on the device, to uint8) and H.264 encoding, apart."""
    import tempfile

    from machine_imagination.film import Encoding, SegmentWriter
    from machine_imagination.walk import render_latents

    noise = torch.randn(frames, 128) * 0.5
    logits = torch.randn(frames, 1000)
    rendered = []
    start = time.perf_counter()
    for chunk in render_latents(generator, noise, logits, 1.0, None, batch):
        rendered.append(chunk)
    render_seconds = time.perf_counter() - start
    side = rendered[0].shape[1]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with SegmentWriter(Path(tmp) / "x.mp4", side, side, Encoding(fps=30, crf=18, preset="medium")) as writer:
            for chunk in rendered:
                writer.write(chunk)
        encode_seconds = time.perf_counter() - start
    return {"frames": frames, "side": side, "render_fps": frames / render_seconds,
            "encode_fps": frames / encode_seconds}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=CASES, default="cpu")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="the engine's precision")
    parser.add_argument("--render-frames", type=int, default=None, help="film frames to time (default by case)")
    parser.add_argument("--out", help="JSON file (default: bench/results/search_speed-<case>-<device>.json)")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    case = CASES[args.case]
    notebook_generator, engine_generator, clip = models(args.case, device)
    settings = SearchSettings(population=case["population"], crops=case["crops"], precision=args.precision,
                              generator_batch=case["population"], clip_batch=case["population"] * case["crops"])
    with torch.inference_mode():
        text = clip.encode_text(["a lighthouse in a storm"])
        objective = Objective(engine_generator, clip, [("a lighthouse in a storm", 1.0)], settings)
        x = torch.randn(case["population"], 1128, device=device) * 0.5
        gen = torch.Generator().manual_seed(0)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        notebook_times = timed(lambda: notebook_iteration(notebook_generator, clip, text, x, settings, gen), device,
                               args.repeats, args.warmup)
        notebook_peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else None
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        engine_times = timed(lambda: objective(x, gen), device, args.repeats, args.warmup)
        engine_peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else None
        z, logits = x[:1, :128], x[:1, 128:]
        flops_full = count_flops(lambda: notebook_generator.render(z, logits, 1.0))
        flops_trimmed = count_flops(lambda: engine_generator.render(z, logits, 1.0))
        views = torch.rand(1, 3, clip.image_size, clip.image_size, device=device)
        flops_clip = count_flops(lambda: clip.encode_images(views))
        film = render_and_encode(engine_generator, device, args.render_frames or (60 if args.case != "notebook" else 300),
                                 batch=10 if args.case != "notebook" else 30)

    n, crops = case["population"], case["crops"]
    engine_flops = n * (flops_trimmed + crops * flops_clip)
    notebook_flops = n * (flops_full + crops * flops_clip)
    notebook_ms, engine_ms = statistics.median(notebook_times) * 1e3, statistics.median(engine_times) * 1e3
    result = {
        "case": args.case, **case, "device": torch.cuda.get_device_name(device) if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "torch": torch.__version__, "precision": args.precision, "repeats": args.repeats,
        "flops_per_image": {"biggan_full_rgb_conv": flops_full, "biggan_3_channel_rgb_conv": flops_trimmed,
                            "clip_per_crop": flops_clip},
        "notebook": {"ms_per_iteration": notebook_ms, "times_s": notebook_times,
                     "images_per_s": n / (notebook_ms / 1e3), "tflop_per_s": notebook_flops / (notebook_ms / 1e3) / 1e12,
                     "peak_gpu_memory_gib": notebook_peak / 2**30 if notebook_peak else None},
        "engine": {"ms_per_iteration": engine_ms, "times_s": engine_times,
                   "images_per_s": n / (engine_ms / 1e3), "tflop_per_s": engine_flops / (engine_ms / 1e3) / 1e12,
                   "peak_gpu_memory_gib": engine_peak / 2**30 if engine_peak else None},
        "speedup": notebook_ms / engine_ms,
        "film": film,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    out = Path(args.out or ROOT / "bench" / "results" / f"search_speed-{args.case}-{device.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.case} on {result['device']}: {n} candidates x {crops} crops at {case['resolution']} px "
          f"({args.precision})")
    print(f"{'':10} {'ms/iter':>10} {'images/s':>10} {'TFLOP/s':>9}")
    for name in ("notebook", "engine"):
        r = result[name]
        print(f"{name:10} {r['ms_per_iteration']:10.1f} {r['images_per_s']:10.2f} {r['tflop_per_s']:9.3f}")
    print(f"speed-up {result['speedup']:.2f}x; film: render {film['render_fps']:.1f} frames/s, "
          f"encode {film['encode_fps']:.1f} frames/s at {film['side']} px -> {out}")
    return result


if __name__ == "__main__":
    main()
