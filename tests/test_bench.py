"""Smoke test of the speed harness (numbers are reported by the harness, never asserted here)."""
import json
import sys

from conftest import REPO


def test_search_speed_harness_runs_and_writes_its_json(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from search_speed import biggan_deep_config, main

    result = main(["--case", "tiny", "--repeats", "1", "--warmup", "0", "--render-frames", "8",
                   "--out", str(tmp_path / "r.json")])
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["case"] == "tiny" and saved["population"] == 4
    for name in ("notebook", "engine"):
        assert saved[name]["ms_per_iteration"] > 0 and len(saved[name]["times_s"]) == 1
    flops = saved["flops_per_image"]
    assert flops["biggan_3_channel_rgb_conv"] < flops["biggan_full_rgb_conv"]
    assert saved["film"]["frames"] == 8 and result["speedup"] > 0
    # The benchmark's BigGAN-deep architectures are the published ones (10/12/14 blocks).
    assert [len(biggan_deep_config(r)["layers"]) for r in (128, 256, 512)] == [10, 12, 14]


def test_search_quality_benchmark_runs_and_writes_its_json_and_grid(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from search_quality import main

    report = main(["--settings", "sampled-cma-es", "random-image", "--prompts", "2", "--out", str(tmp_path / "q.json")])
    saved = json.loads((tmp_path / "q.json").read_text())
    assert saved["summary"].keys() == {"sampled-cma-es", "random-image"} == report["summary"].keys()
    assert len(saved["results"]["sampled-cma-es"]) == 2 and saved["summary"]["random-image"]["prompts"] == 2
    assert {"shape", "colour", "size", "all", "seconds_mean"} <= saved["summary"]["sampled-cma-es"].keys()
    assert (tmp_path / "q.png").read_bytes()[:4] == b"\x89PNG"


def test_the_demo_searches_with_the_benchmarks_best_setting():
    import yaml

    sys.path.insert(0, str(REPO / "bench"))
    from search_quality import settings_for

    from machine_imagination.config import validate_config
    from machine_imagination.search import SearchSettings

    demo = SearchSettings.from_config(validate_config(yaml.safe_load((REPO / "config" / "demo.yaml").read_text())))
    best = settings_for("sampled-cma-es")
    # what a CMA-ES search uses (gradient steps and their rate do not apply)
    unused = {"terminal_iterations", "learning_rate", "momentum"}
    assert {k: v for k, v in vars(demo).items() if k not in unused} == \
        {k: v for k, v in vars(best).items() if k not in unused}
