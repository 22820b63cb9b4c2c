"""Smoke test of the speed harness (numbers are reported by the harness, never asserted here)."""
import json
import sys

import pytest

from conftest import REPO


def test_search_speed_harness_runs_and_writes_its_json(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from search_speed import biggan_deep_config, main

    result = main(["--case", "tiny", "--repeats", "1", "--warmup", "0", "--render-frames", "8", "--generations", "2",
                   "--engine", "fp32", "bf16+channels_last", "--out", str(tmp_path / "r.json")])
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["case"] == "tiny" and saved["population"] == 4 and saved["deterministic"]
    assert list(saved["engines"]) == ["fp32", "bf16+channels_last"]
    assert saved["engines"]["bf16+channels_last"]["precision"] == "bf16"
    assert saved["engines"]["bf16+channels_last"]["channels_last"] and not saved["engines"]["fp32"]["compile"]
    for run in (saved["notebook"], *saved["engines"].values()):
        assert run["ms_per_iteration"] > 0 and len(run["times_s"]) == 1
    flops = saved["flops_per_image"]
    assert flops["biggan_3_channel_rgb_conv"] < flops["biggan_full_rgb_conv"]
    assert saved["film"]["frames"] == 8 and result["engines"]["fp32"]["speedup"] > 0
    assert len(saved["cma_es"]["times_s_blas_1"]) == len(saved["cma_es"]["times_s_blas_default"]) == 2
    assert saved["bf16_matmul_tflop_per_s"] is None  # measured on GPUs only
    # The benchmark's BigGAN-deep architectures are the published ones (10/12/14 blocks).
    assert [len(biggan_deep_config(r)["layers"]) for r in (128, 256, 512)] == [10, 12, 14]


def test_random_real_size_generator_makes_finite_well_spread_images():
    """Straight from the constructor, BigGAN-deep overflows; the benchmarks' random one must not (a
    search on NaN scores measures nothing)."""
    import torch

    sys.path.insert(0, str(REPO / "bench"))
    from search_speed import random_biggan

    from machine_imagination.models.generator import Generator, prepare_for_inference

    generator = Generator(prepare_for_inference(random_biggan(128)), name="random")
    with torch.inference_mode():
        images = generator.render(torch.randn(2, 128) * 0.5, torch.randn(2, 1000), 1.0)
    assert torch.isfinite(images).all() and images.std() > 0.1


def test_precision_check_runs_and_compares_fp32_with_bf16_and_fp16(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from precision_check import main

    main(["--prompts", "1", "--real-size", "1", "--case", "tiny", "--iterations", "2", "--precisions", "bf16", "fp16",
          "--out", str(tmp_path / "p.json")])
    saved = json.loads((tmp_path / "p.json").read_text())
    for check in ("shapes", "real_size"):
        assert list(saved[check]["similarity"]) == ["bf16", "fp16"]
        for comparison in saved[check]["similarity"].values():
            assert {"fp32_mean", "mean", "worst_difference", "same_or_better"} <= comparison.keys()
        assert len(saved[check]["results"]) == 1
        row = saved[check]["results"][0]
        assert all(-1 <= row[f"similarity_{p}"] <= 1 for p in ("fp32", "bf16", "fp16"))
    assert set(saved["shapes"]["judged_right"]) == {"fp32", "bf16", "fp16"}


def test_text_speed_runs_a_search_job_per_sentence(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from text_speed import main

    result = main(["--case", "tiny", "--device", "cpu", "--sentences", "2", "--iterations", "2",
                   "--precision", "fp32", "--out", str(tmp_path / "t.json")])
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["sentences"] == 2 and [job["index"] for job in saved["jobs"]] == [0, 1]
    assert all(-1 <= job["similarity"] <= 1 for job in saved["jobs"])
    assert saved["total_s"] == sum(job["seconds"] for job in saved["jobs"]) == result["total_s"]


def test_search_quality_benchmark_runs_and_writes_its_json_and_grid(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from search_quality import main

    report = main(["--settings", "sampled-cma-es", "random-image", "--prompts", "2", "--out", str(tmp_path / "q.json")])
    saved = json.loads((tmp_path / "q.json").read_text())
    assert saved["summary"].keys() == {"sampled-cma-es", "random-image"} == report["summary"].keys()
    assert len(saved["results"]["sampled-cma-es"]) == 2 and saved["summary"]["random-image"]["prompts"] == 2
    assert {"shape", "colour", "size", "all", "seconds_mean"} <= saved["summary"]["sampled-cma-es"].keys()
    assert (tmp_path / "q.png").read_bytes()[:4] == b"\x89PNG"


def test_the_race_benchmark_traces_simulates_and_races(tmp_path):
    """--race-trace writes every candidate's points, --simulate replays schedules on them (a plain row and
    races), --rejudge-trace judges a trace's saved images again, --race searches plain candidates and races
    side by side and sums them up."""
    import numpy as np

    sys.path.insert(0, str(REPO / "bench"))
    from search_quality import main

    trace = tmp_path / "trace.json"
    main(["--race-trace", "2", "--prompts", "1", "--threads", "1", "--init-samples", "8", "--trace-at", "1", "5",
          "--out", str(trace)])
    [row] = json.loads(trace.read_text())["results"]
    assert len(row["candidates"]) == 2 and set(row["candidates"][0]["points"]) == {"1", "5", "20"}
    assert len(row["candidates"][0]["iteration_s"]) == 20
    found = main(["--simulate", str(trace), "--max-ratio", "10"])
    assert found["plain-1"]["ratio_to_one_take"] == pytest.approx(1.0)
    assert found["K=2 rounds=[1] keep=[1]"]["ratio_to_one_take"] < found["plain-2"]["ratio_to_one_take"]
    # candidates sharing one pool of draws: the first is the plain take, the second starts from its pool
    pooled = tmp_path / "pooled.json"
    main(["--race-trace", "2", "--pool", "--prompts", "1", "--threads", "1", "--init-samples", "8", "--trace-at",
          "1", "5", "--out", str(pooled)])
    saved = json.loads(pooled.read_text())
    assert saved["pool"] is True
    [shared] = saved["results"]
    assert shared["candidates"][0]["points"] == row["candidates"][0]["points"]
    assert shared["candidates"][1]["points"] != row["candidates"][1]["points"]
    assert main(["--simulate", str(pooled), "--max-ratio", "10"])["plain-1"]["ratio_to_one_take"] == pytest.approx(1.0)
    with pytest.raises(SystemExit, match="with and without --pool"):
        main(["--simulate", str(trace), str(pooled)])
    # schedules chosen on some traces, counted on others: counted on the same traces, the same outcomes
    crossed = main(["--simulate", str(trace), "--count-on", str(trace), "--max-ratio", "10"])
    assert crossed["counted_on"] == crossed["chosen_on"] and "K=2 rounds=[1] keep=[1]" in crossed["counted_on"]
    with pytest.raises(SystemExit, match="--count-on"):
        main(["--simulate", str(trace), "--count-on", str(pooled)])
    # own starts (search.race.own_starts): the pooled trace's candidate 0, then the own-start trace's
    # candidate 1 (from its own draws) races as the trace without a pool (the seconds: test below)
    owned = main(["--simulate", str(pooled), "--own", str(trace), "--max-ratio", "10"])
    assert owned["K=2 rounds=[1] keep=[1] own=1"]["right"] == main(
        ["--simulate", str(trace), "--max-ratio", "10"])["K=2 rounds=[1] keep=[1]"]["right"]
    assert owned["K=2 rounds=[1] keep=[1]"] == main(["--simulate", str(pooled), "--max-ratio", "10"])[
        "K=2 rounds=[1] keep=[1]"]
    for simulated, own in ((pooled, pooled), (trace, trace)):  # own starts beside a pool, not without one
        with pytest.raises(SystemExit, match="--own: one trace without --pool"):
            main(["--simulate", str(simulated), "--own", str(own)])
    with pytest.raises(SystemExit, match="--own and --own-count-on go together"):
        main(["--simulate", str(pooled), "--own", str(trace), "--count-on", str(pooled)])
    # the traced images judged again from their saved latents: by the trace's judge (none: the guiding CLIP
    # on fresh views) the same scores, by the judge CLIP others; the pixel judge's verdicts are the search's
    latents = np.load(trace.with_suffix(".npz"))
    assert latents["noise"].shape[:3] == (1, 2, 3) and latents["class_vector"].shape[:3] == (1, 2, 3)
    again = main(["--rejudge-trace", str(trace), "--threads", "1", "--out", str(tmp_path / "again.json")])
    judged = main(["--rejudge-trace", str(trace), "--threads", "1", "--judge", str(REPO / "models/shapes/clip-judge"),
                   "--out", str(tmp_path / "judged.json")])
    for before, same, other in zip(row["candidates"], again["results"][0]["candidates"],
                                   judged["results"][0]["candidates"]):
        assert [p["score"] for p in same["points"].values()] == pytest.approx(
            [p["score"] for p in before["points"].values()], abs=1e-6)
        assert [p["score"] for p in other["points"].values()] != pytest.approx(
            [p["score"] for p in before["points"].values()], abs=1e-3)
        assert [p["all"] for p in other["points"].values()] == [p["all"] for p in before["points"].values()]
    assert judged["judge"].endswith("clip-judge") and main(["--simulate", str(tmp_path / "judged.json"),
                                                            "--max-ratio", "10"])["plain-1"]["right"] in (0, 1)
    with pytest.raises(SystemExit, match="no latents beside it"):  # a rejudged trace has none of its own
        main(["--rejudge-trace", str(tmp_path / "judged.json"), "--out", str(tmp_path / "twice.json")])
    raced = main(["--race", "1", "--keep", "1", "--candidates", "2", "--plain", "1", "--prompts", "1", "--threads",
                  "1", "--init-samples", "8", "--out", str(tmp_path / "race.json")])
    assert raced["summary"].keys() == {"plain-1", "race"}
    assert raced["pool"] is True  # --init-samples 8: the race's candidates share candidate 0's draws
    assert raced["results"][0]["race"]["reached"] in ([20, 1], [1, 20])
    race = raced["results"][0]["race"]
    assert race["kept_at"][race["kept"]] in (1, 20) and race["kept_at"][1 - race["kept"]] == 1
    # candidate 1 from draws of its own (--own-starts 1): not candidate 1 of the race sharing a pool
    own = main(["--race", "1", "--keep", "1", "--candidates", "2", "--own-starts", "1", "--plain", "1", "--prompts",
                "1", "--threads", "1", "--init-samples", "8", "--out", str(tmp_path / "race-own.json")])
    assert own["race"]["own_starts"] == 1 and raced["race"]["own_starts"] == 0
    assert own["results"][0]["race"]["scores"][0][0] == race["scores"][0][0], "candidate 0 is the same search"
    assert own["results"][0]["race"]["scores"][0][1] != race["scores"][0][1]


def test_a_simulated_race_keeps_each_candidate_as_its_best_judged_image():
    """As search.race does: candidate 0 goes on after iteration 1 (0.7 against 0.5) and ends at 0.6, so it
    is kept as its image after iteration 1, right (`kept` 'judged'); as its last image, wrong ('last').
    Equal once rounded, its last image is kept (the later of equals)."""
    sys.path.insert(0, str(REPO / "bench"))
    from search_quality import simulate_race

    from machine_imagination.search.race import RaceSchedule

    def candidate(points):
        return {"start_s": 1.0, "iteration_s": [0.1] * 4, "judge_s": 0.1,
                "points": {t: {"score": score, "rounded": round(score, 3), "all": right}
                           for t, (score, right) in points.items()}}

    def right(at_the_end, kept):
        rows = [{"candidates": [candidate({1: (0.7, True), 4: at_the_end}),
                                candidate({1: (0.5, True), 4: (0.55, True)})]}]
        return simulate_race(rows, RaceSchedule((1,), (1,)), 2, 4, kept=kept)["right"]

    assert right((0.6, False), "judged") == 1 and right((0.6, False), "last") == 0
    assert right((0.70004, False), "judged") == 0, "equal once rounded: the later image is kept"


def test_a_simulated_own_start_races_the_own_start_candidate_at_a_starts_cost():
    """search.race.own_starts 1 of 2: candidate 1 is the own-start trace's (right here, where the pooled
    trace's is wrong) and its start costs a start (1 s) where a pooled one costs an evaluation (0.01 s)."""
    sys.path.insert(0, str(REPO / "bench"))
    from search_quality import simulate_race

    from machine_imagination.search.race import RaceSchedule

    def candidate(start_s, score, right):
        return {"start_s": start_s, "iteration_s": [0.1] * 4, "judge_s": 0.1,
                "points": {t: {"score": score, "rounded": round(score, 3), "all": right} for t in (1, 4)}}

    rows = [{"candidates": [candidate(1.0, 0.5, False), candidate(0.01, 0.6, False)],
             "own": [candidate(1.0, 0.5, False), candidate(1.0, 0.7, True)]}]
    schedule = RaceSchedule((1,), (1,))
    pooled, own = (simulate_race(rows, schedule, 2, 4, pool=True, own_starts=n) for n in (0, 1))
    assert (pooled["right"], own["right"]) == (0, 1)
    # starts, then 1 + 4 iterations of 0.1 s, then 3 judgings of 0.1 s (two in the round, the finisher's end)
    assert pooled["seconds_per_sentence"] == pytest.approx(1.0 + 0.01 + 0.5 + 0.3)
    assert own["seconds_per_sentence"] == pytest.approx(2 * 1.0 + 0.5 + 0.3)
    assert own["ratio_to_one_take"] == pytest.approx((2 * 1.0 + 0.5 + 0.3) / (1.0 + 0.4 + 0.1))
    with pytest.raises(ValueError, match="2 own starts simulated, but the own-start trace has 1"):
        simulate_race(rows, schedule, 3, 4, pool=True, own_starts=2)


def test_the_demo_searches_with_the_benchmarks_best_setting():
    import yaml

    sys.path.insert(0, str(REPO / "bench"))
    from search_quality import settings_for

    from machine_imagination.project import validate_config
    from machine_imagination.search.settings import SearchSettings

    demo = SearchSettings.from_config(validate_config(yaml.safe_load((REPO / "config" / "demo.yaml").read_text())))
    best = settings_for("sampled-cma-es")
    # what a CMA-ES search uses (gradient steps and their rate do not apply)
    unused = {"terminal_iterations", "learning_rate", "momentum"}
    assert {k: v for k, v in vars(demo).items() if k not in unused} == \
        {k: v for k, v in vars(best).items() if k not in unused}


def test_the_device_script_is_valid_bash_and_its_commands_parse():
    """A GPU session has minutes: bench/device_check.sh must not fail on a typo there."""
    import importlib
    import re
    import shlex
    import subprocess

    script = REPO / "bench" / "device_check.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text().replace("\\\n", " ")
    commands = re.findall(r"python3 bench/(\w+)\.py (.*?) 2>&1", text)
    assert {name for name, _ in commands} == {"search_speed", "precision_check", "text_speed", "search_quality"}
    sys.path.insert(0, str(REPO / "bench"))
    for name, args in commands:
        args = args.replace('"$out', '"out').replace('"$together"', "yes")
        parsed = importlib.import_module(name).build_parser().parse_args(shlex.split(args))
        assert parsed.out.startswith("out/")
        if name == "search_speed":
            assert parsed.case == "notebook" and len(parsed.engine) == 5
        if name == "search_quality":
            assert parsed.race and parsed.device == "cuda" and parsed.together == "yes"


def test_judge_scores_counts_the_prompts_each_score_picks_right_per_number_of_candidates():
    sys.path.insert(0, str(REPO / "bench"))
    from judge_scores import summarise

    def candidate(right, a, b):
        return {"seed": 0, "seconds": 1.0, "all": right, "a": a, "b": b}

    rows = [{"prompt": "p0", "candidates": [candidate(True, 0.1, 0.9), candidate(False, 0.5, 0.1),
                                            candidate(True, 0.2, 0.0)]},
            {"prompt": "p1", "candidates": [candidate(False, 0.3, 0.2), candidate(True, 0.1, 0.8),
                                            candidate(False, 0.9, 0.1)]}]
    table = summarise(rows)
    assert table[1] == {"oracle": 1, "a": 1, "b": 1}
    assert table[2] == {"oracle": 2, "a": 0, "b": 2}  # a: p0 -> 1 (wrong), p1 -> 0 (wrong); b: 0 and 1
    assert table[3] == {"oracle": 2, "a": 0, "b": 2}


def test_judge_views_picks_by_the_judge_clips_score_on_each_number_of_views():
    sys.path.insert(0, str(REPO / "bench"))
    from judge_scores import views_right

    def candidate(right, on16, on64):
        return {"seed": 0, "loss": 1.0, "all": right, "views": {16: on16, 64: on64}, "guide_views": {16: 0.0, 64: 0.0}}

    rows = [{"candidates": [candidate(False, 0.80, 0.70), candidate(True, 0.79, 0.75), candidate(False, 0.10, 0.10)]},
            {"candidates": [candidate(True, 0.50, 0.50), candidate(False, 0.60, 0.40), candidate(True, 0.70, 0.30)]}]
    right = views_right(rows, [16, 64], always=5, count=3)
    # 16 views: row 0 picks 0 (wrong) at every K; row 1 picks 0 (right), then 1 (wrong), then 2 (right)
    assert right[16] == {1: 6, 2: 5, 3: 6}
    # 64 views: row 0 picks 1 (right) from K = 2; row 1 keeps 0 (right)
    assert right[64] == {1: 6, 2: 7, 3: 7}


def test_rejudge_judges_saved_candidates_again_as_their_search_judged_them(tmp_path):
    """A --judge-views run's candidates, from the latents saved beside it, judged again without searching:
    by the same CLIP the scores recorded, by another CLIP other scores. (The run's judge CLIP was the one
    shipped before the judge was trained further, ea07348; its guiding CLIP is still the shipped one.)"""
    import numpy as np

    sys.path.insert(0, str(REPO / "bench"))
    from judge_scores import rejudge

    from machine_imagination.models.clip import load_clip
    from machine_imagination.models.generator import load_generator

    saved = json.loads((REPO / "bench/results/judge_candidates-seed3000.json").read_text())
    latents = np.load(REPO / "bench/results/judge_candidates-seed3000.npz")
    first = {**saved, "results": saved["results"][:1]}
    (tmp_path / "run.json").write_text(json.dumps(first))
    np.savez(tmp_path / "run.npz", **{name: latents[name][:1] for name in ("noise", "class_vector")})
    generator = load_generator(str(REPO / "models/shapes/biggan-shapes"))
    clip, judge = (load_clip(str(REPO / "models/shapes" / name), None) for name in ("clip-shapes", "clip-judge"))
    again = rejudge(tmp_path / "run.json", [16], generator, clip, judge, lambda m: None)
    recorded = {name: [c[name]["16"] for c in first["results"][0]["candidates"]] for name in ("views", "guide_views")}
    # the guiding CLIP scores as it did in the run; the judge CLIP shipped now, otherwise than the run's
    assert [c["guide_views"][16] for c in again["results"][0]["candidates"]] == \
        pytest.approx(recorded["guide_views"], rel=1e-5)
    assert [c["views"][16] for c in again["results"][0]["candidates"]] != pytest.approx(recorded["views"], rel=1e-3)
    assert [c["all"] for c in again["results"][0]["candidates"]] == [c["all"] for c in first["results"][0]["candidates"]]
    # the guiding CLIP as the judge: the judge's scores are the guide's recorded ones (the same views)
    other = rejudge(tmp_path / "run.json", [16], generator, clip, clip, lambda m: None)
    assert [c["views"][16] for c in other["results"][0]["candidates"]] == pytest.approx(recorded["guide_views"],
                                                                                      rel=1e-5)


def test_parse_checks_times_a_jobs_and_the_main_processs_parse(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from parse_checks import main

    assert main(["--copies", "2", "--repeats", "1", "--out", str(tmp_path / "p.json")]) == 0
    saved = json.loads((tmp_path / "p.json").read_text())
    assert saved["sentences"] == 22 and saved["repeats"] == 1
    assert all(saved[key] > 0 for key in ("job_parse_s", "main_parse_s", "caption_warnings_s"))
