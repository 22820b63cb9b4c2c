"""Where the networks run and how: the device, deterministic torch, precision advice for a GPU, and the
optional speed settings (channels-last memory, torch.compile)."""
from __future__ import annotations

import contextlib
import os

from . import ModelError

PRECISIONS = ("fp32", "bf16", "fp16")


def select_device(name: str = "auto"):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' was asked for, but torch sees no CUDA GPU on this machine")
    return torch.device(name)


@contextlib.contextmanager
def deterministic(threads: int | None = None, *, seed: int | None = None, strict: bool = False):
    """Same inputs, same device and thread count -> the same bits, inside the block: deterministic
    algorithms (with `strict`, an op that has none raises instead of warning), no cuDNN autotuning,
    `threads` torch CPU threads, numpy's BLAS on one thread, torch's global generator seeded if `seed`
    is given. Everything is put back afterwards. Enter it before any GPU work starts.

    numpy's BLAS runs CMA-ES's eigendecompositions; with more threads than one, its idle threads keep
    spinning afterwards and take the cores from torch's (bench/search_speed.py measures it), and its
    sums' order would depend on the machine's cores."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch
    from threadpoolctl import threadpool_limits

    blas = threadpool_limits(limits=1, user_api="blas")
    cudnn = torch.backends.cudnn
    previous = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(), cudnn.benchmark, cudnn.deterministic)
    if seed is not None:
        torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    cudnn.benchmark, cudnn.deterministic = False, True
    torch.use_deterministic_algorithms(True, warn_only=not strict)
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1], warn_only=previous[2])
        cudnn.benchmark, cudnn.deterministic = previous[3], previous[4]
        blas.restore_original_limits()


def thread_counts() -> dict:
    """The CPU threads torch and numpy's BLAS run on now (what a search's provenance records)."""
    import torch
    from threadpoolctl import threadpool_info

    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return {"torch": torch.get_num_threads(), "blas": max(blas, default=None)}


def precision_warning(precision: str, gpu: str, capability: tuple[int, int]) -> str | None:
    """What to tell a user whose GPU runs `precision` slowly, or None. bf16 tensor cores came with
    compute capability 8.0 (Ampere: A30, A100; H100); HCC's T4 (7.5) and V100 (7.0) have fp16 ones only,
    and emulate bf16, slower than fp32."""
    if precision == "bf16" and capability < (8, 0):
        return (f"search.precision bf16: {gpu} (compute capability {capability[0]}.{capability[1]}) has no bf16 "
                f"tensor cores and emulates it, slower than fp32; use fp16 on this GPU")
    if precision == "fp16" and capability < (7, 0):
        return (f"search.precision fp16: {gpu} (compute capability {capability[0]}.{capability[1]}) has no "
                f"tensor cores; fp16 gains little there")
    return None


def tune_for_speed(generator, clip, *, channels_last: bool = False,
                   compiled: bool = False) -> None:
    """The optional speed settings (search.channels_last, search.compile), applied to loaded models.
    Both compute the same functions, up to the summation order of the kernels they pick (last bits):
    channels_last stores conv weights (and so activations) as NHWC, which tensor-core convs prefer;
    `compiled` hands BigGAN's generator and CLIP's image tower to torch.compile (compiled on first
    use, again for each new batch size)."""
    import torch

    if channels_last:
        generator.biggan.to(memory_format=torch.channels_last)
        clip.model.visual.to(memory_format=torch.channels_last)
    if compiled:
        generator.biggan.generator = torch.compile(generator.biggan.generator)
        clip.model.visual = torch.compile(clip.model.visual)
