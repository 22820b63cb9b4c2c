import numpy as np
import pytest
import torch

from machine_imagination.latents import Latents, softmax
from machine_imagination.models.classes import INITIAL_CLASS_MODES, imagenet_classes, resolve_class
from machine_imagination.search.augment import jittered_views, random_crop_boxes
from machine_imagination.search.judge import JudgeSettings, judge
from machine_imagination.search.loop import search_prompt
from machine_imagination.search.objective import Objective
from machine_imagination.search.settings import OPTIMIZERS, SearchSettings
from machine_imagination.search.starts import initial_class_vectors, pool_by_class

SMALL = SearchSettings(iterations=4, population=6, crops=4, generator_batch=4, clip_batch=8)


def test_settings_from_config_take_truncation_from_the_generator():
    from machine_imagination.project import validate_config

    config = validate_config({"texts": {"t": "t.txt"}, "generator": {"truncation": 0.4},
                              "search": {"population": 12}, "judge": {"crops": 9}})
    settings = SearchSettings.from_config(config)
    assert (settings.population, settings.truncation, settings.crops) == (12, 0.4, 64)
    assert JudgeSettings.from_config(config) == JudgeSettings(crops=9, model=None, pretrained=None)
    assert (settings.optimizer, settings.initial_class, settings.class_entropy) == ("cma-es", "random-mix", 1e-4)
    assert SearchSettings.from_config(config, {"iterations": 3}).iterations == 3


def test_crop_boxes_are_squares_inside_the_image_within_the_size_range():
    gen = torch.Generator().manual_seed(0)
    boxes = random_crop_boxes(5, 64, 128, 0.7, 0.98, gen)
    assert boxes.shape == (5 * 64, 5)
    index, x1, y1, x2, y2 = boxes.T
    assert torch.equal(index, torch.arange(5).repeat_interleave(64).float())
    side = x2 - x1
    assert torch.allclose(side, y2 - y1, atol=1e-4)
    assert side.min() >= 0.7 * 128 - 1e-3 and side.max() <= 0.98 * 128 + 1e-3
    assert x1.min() >= 0 and y1.min() >= 0 and x2.max() <= 128 and y2.max() <= 128


def notebook_logits(p):
    """The notebook's logits of class probabilities: log(p + 1e-8) less their mean."""
    logs = np.log(p + 1e-8)
    return logs - logs.mean(axis=-1, keepdims=True)


def test_initial_class_modes_draw_as_the_notebook_does(generator):
    # A random mix: U(0, 1) per class, normalised to sum 1, as centred log-probabilities.
    mix = initial_class_vectors("random-mix", 2, generator, np.random.default_rng(0), SMALL)
    u = np.random.default_rng(0).uniform(0, 1, (2, 1000))
    assert mix.shape == (2, 1000) and np.allclose(mix, notebook_logits(u / u.sum(axis=1, keepdims=True)))
    assert np.allclose(mix.mean(axis=1), 0) and np.allclose(softmax(mix[0]), u[0] / u[0].sum(), rtol=1e-4)
    # One class: 1 - 0.1 for the class, 0.1/999 for each of the others.
    rng = np.random.default_rng(0)
    one = softmax(initial_class_vectors("random-class", 1, generator, rng, SMALL)[0])
    assert one.max() == pytest.approx(0.9, abs=2e-5) and np.allclose(np.sort(one)[:-1], 0.1 / 999, rtol=1e-4)
    named = initial_class_vectors("red fox", 1, generator, rng, SMALL)[0]
    assert named.argmax() == 277 and initial_class_vectors("277", 1, generator, rng, SMALL)[0].argmax() == 277
    assert softmax(named).max() == pytest.approx(0.9, abs=2e-5)
    dirichlet = initial_class_vectors("random-dirichlet", 1, generator, rng, SMALL)[0]
    assert softmax(dirichlet).sum() == pytest.approx(1) and dirichlet.mean() == pytest.approx(0, abs=1e-9)
    # Random embeddings: N(0, 1) vectors (the generator gets them times 0.067).
    embeddings = initial_class_vectors("random-embeddings", 2000, generator, rng, SMALL)
    assert embeddings.shape == (2000, 128)
    assert abs(embeddings.mean()) < 0.01 and embeddings.std() == pytest.approx(1, abs=0.01)


class DirichletRecorder:
    def dirichlet(self, alpha, n):
        self.alpha = alpha
        return np.full((n, len(alpha)), 1 / len(alpha))


@pytest.mark.parametrize("optimizer, population, alpha", [("cma-es", 50, 0.05), ("cma-es", 6, 0.006),
                                                          ("adam", 50, 0.001), ("sgd", 50, 0.001)])
def test_the_dirichlet_start_has_the_notebooks_alpha(generator, optimizer, population, alpha):
    """α = population / classes; Adam and SGD search one candidate: α = 1/1000."""
    recorder = DirichletRecorder()
    settings = SearchSettings(optimizer=optimizer, population=population)
    initial_class_vectors("random-dirichlet", 1, generator, recorder, settings)
    assert np.allclose(recorder.alpha, alpha) and len(recorder.alpha) == 1000


@pytest.mark.parametrize("mode", ["random-mix", "random-embeddings", "random-class", "random-dirichlet",
                                  "cheeseburger"])
def test_cma_es_starts_from_the_notebooks_mean(generator, clip, mode):
    from machine_imagination.search.state import SearchState

    settings = SearchSettings(initial_class=mode, iterations=1, population=4, crops=2)
    state = SearchState.fresh(1, Objective(generator, clip, [("x", 1.0)], settings), settings, log=lambda m: None)
    mean = np.asarray(state.es.mean)
    assert np.array_equal(mean, state.start[0]) and (mean[:128] == 0).all()  # zero noise
    if mode in ("random-mix", "random-embeddings"):  # the notebook multiplies the first draw by 0
        assert (mean[128:] == 0).all()
    else:  # the first draw is the mean: one class, or a Dirichlet draw (α = 4/1000)
        assert mean[128:].std() > 0 and mean[128:].mean() == pytest.approx(0, abs=1e-9)
    if mode in ("random-class", "cheeseburger"):
        assert softmax(mean[128:]).max() == pytest.approx(0.9, abs=2e-5)
    if mode == "cheeseburger":
        assert mean[128:].argmax() == 933


def test_adam_starts_from_the_drawn_class_vector(generator, clip):
    from machine_imagination.search.state import SearchState

    settings = SearchSettings(optimizer="adam", initial_class="random-mix", iterations=1, crops=2)
    from machine_imagination.search.starts import truncated_noise

    state = SearchState.fresh(1, Objective(generator, clip, [("x", 1.0)], settings), settings, log=lambda m: None)
    rng = np.random.default_rng(1)  # the search's stream: the noise draw, then the class draw
    noise, logits = truncated_noise(rng, 1, 128, 1.0), initial_class_vectors("random-mix", 1, generator, rng, settings)
    assert np.array_equal(state.start, np.concatenate([noise, logits], axis=1))
    assert state.start[0, 128:].mean() == pytest.approx(0, abs=1e-9) and state.start[0, 128:].std() > 0.2


def test_searched_embeddings_reach_the_generator_times_the_embedding_factor(generator, clip):
    from machine_imagination.search.state import Best, SearchState

    settings = SearchSettings(initial_class="random-embeddings", crops=2)
    z, v = torch.randn(2, 128) * 0.5, torch.randn(2, 128)
    with torch.inference_mode():
        images = Objective(generator, clip, [("x", 1.0)], settings).images(torch.cat([z, v], dim=1))
        expected = generator.render(z, 0.067 * v, 1.0, class_mode="embedding")
    assert torch.equal(images, expected)
    # ... and a search's result holds what the generator was given.
    state = SearchState(z_dim=128, rng=None, crop_rng=None, fixed_class=None)
    state.best = Best(1.0, 0.5, torch.cat([z[0], v[0]]).double().numpy(), 0)
    result = state.result(settings)
    assert np.allclose(result.class_vector, 0.067 * v[0].numpy()) and result.class_mode == "embedding"


def test_imagenet_classes_ship_with_the_project_and_resolve_by_name_or_index():
    names = imagenet_classes()
    assert len(names) == 1000 and names[933] == "cheeseburger"
    assert resolve_class("Cheeseburger") == 933 and resolve_class(933) == 933
    with pytest.raises(ValueError, match="unknown ImageNet class 'cheeseburgr'; did you mean: cheeseburger"):
        resolve_class("cheeseburgr")
    with pytest.raises(ValueError, match="out of range"):
        resolve_class(1000)


def test_batched_generator_call_matches_one_by_one(generator, clip):
    objective = Objective(generator, clip, [("x", 1.0)], SMALL)
    x = torch.randn(5, 1128) * 0.5
    with torch.inference_mode():
        batched = objective.images(x)
        single = torch.cat([objective.images(x[i:i + 1]) for i in range(5)])
    assert torch.allclose(batched, single, atol=1e-5)


def test_batched_crop_scoring_matches_scoring_each_crop_alone(generator, clip):
    """The batched roi_align + chunked CLIP path equals cropping and scoring crop by crop."""
    from torchvision.ops import roi_align

    settings = SearchSettings(crops=3, clip_batch=4)
    with torch.inference_mode():
        objective = Objective(generator, clip, [("a lighthouse", 1.0)], settings)
        text = objective.text
        images = generator.render(torch.randn(2, 128) * 0.5, torch.rand(2, 1000), 1.0)
        batched = objective.similarities(images, torch.Generator().manual_seed(3))[:, 0]
        boxes = random_crop_boxes(2, 3, 128, 0.7, 0.98, torch.Generator().manual_seed(3))
        sims = []
        for box in boxes:
            view = roi_align(images, box.unsqueeze(0), output_size=64, sampling_ratio=-1, aligned=True)
            sims.append((clip.encode_images(view) @ text.T).item())
    assert torch.allclose(batched, torch.tensor(sims).view(2, 3).mean(1), atol=1e-5)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_improves_on_its_starting_point(generator, clip, optimizer):
    settings = SearchSettings(optimizer=optimizer, iterations=5, terminal_iterations=4, population=6, crops=4,
                              learning_rate=0.05)
    result = search_prompt("a red fox in the snow", seed=3, generator=generator, clip=clip, settings=settings)
    assert result.loss < result.start_loss
    phases = {row["phase"] for row in result.history}
    expected = {"cma-es": {"cma-es"}, "adam": {"adam"}, "sgd": {"sgd"}}.get(optimizer, {"cma-es", optimizer[-4:].strip("-")})
    assert phases == expected
    if "terminal" in optimizer:
        assert len(result.history) == 5 + 4
    again = search_prompt("a red fox in the snow", seed=3, generator=generator, clip=clip, settings=settings)
    assert np.array_equal(result.noise, again.noise) and np.array_equal(result.class_vector, again.class_vector)


@pytest.mark.parametrize("initial_class", INITIAL_CLASS_MODES + ("cheeseburger",))
def test_every_initial_class_mode_improves_on_its_starting_point(generator, clip, initial_class):
    settings = SearchSettings(initial_class=initial_class, iterations=5, population=6, crops=4)
    result = search_prompt("a lighthouse at dusk", seed=4, generator=generator, clip=clip, settings=settings)
    assert result.loss < result.start_loss
    assert result.class_mode == ("embedding" if initial_class == "random-embeddings" else "logits")
    assert result.class_vector.shape == ((128,) if initial_class == "random-embeddings" else (1000,))


def test_fixed_class_searches_noise_only(generator, clip):
    settings = SearchSettings(initial_class="cheeseburger", optimize_class=False, iterations=3, population=4, crops=2)
    result = search_prompt("a burger", seed=1, generator=generator, clip=clip, settings=settings)
    assert result.class_vector.argmax() == 933
    assert all(row["top_classes"].startswith("933:0.90") for row in result.history)


def test_sampled_initialisation_starts_from_the_best_draw(generator, clip):
    plain = search_prompt("a storm", seed=2, generator=generator, clip=clip,
                          settings=SearchSettings(iterations=1, population=4, crops=4))
    sampled = search_prompt("a storm", seed=2, generator=generator, clip=clip,
                            settings=SearchSettings(iterations=1, population=4, crops=4, init_samples=40))
    # The best of 40 draws (the plain start among them) is at least as good as the plain start.
    assert sampled.start_loss <= plain.start_loss
    adam = search_prompt("a storm", seed=2, generator=generator, clip=clip,
                         settings=SearchSettings(optimizer="adam", iterations=2, crops=4, init_samples=20, init_top=3))
    assert len(adam.history) == 2 and np.isfinite(adam.loss)


def test_a_given_start_is_the_search_start_in_place_of_its_own_draws(generator, clip):
    """A pool's draw given as the start: the CMA-ES mean is that draw, not the best of the seed's own."""
    from machine_imagination.search.state import SearchState

    settings = SearchSettings(iterations=1, population=4, crops=4, init_samples=40, init_top=3)
    objective = Objective(generator, clip, [("a storm", 1.0)], settings)
    pool = SearchState.fresh(2, objective, settings, log=lambda m: None).start  # the 3 best of 41 draws
    given = SearchState.fresh(5, objective, settings, start=pool[1], log=lambda m: None)
    own = SearchState.fresh(5, objective, settings, log=lambda m: None)
    np.testing.assert_array_equal(given.start, pool[1:2])
    np.testing.assert_array_equal(np.asarray(given.es.mean), pool[1])
    assert not np.array_equal(own.start[:1], given.start)


def test_a_pool_by_class_hedges_with_another_class_then_keeps_to_the_best_class():
    """The draws a race's other candidates start from, chosen by class: another class's best draw first,
    then the best draw's class in the order of the losses, then the rest; by loss alone without classes."""
    z_dim, classes = 2, np.array([0, 0, 1, 0, 2, 1])
    samples = np.zeros((6, z_dim + 3))
    samples[np.arange(6), z_dim + classes] = 1.0
    ranked = np.argsort([0.5, 0.1, 0.3, 0.2, 0.4, 0.6])  # draws 1 (class 0), 3 (0), 2 (1), 4 (2), 0 (0), 5 (1)
    # the first candidate takes draw 1; class 1's best (2) hedges; then class 0's next (3, 0); then 4, 5
    assert pool_by_class(samples, ranked, 1, 4, z_dim).tolist() == [2, 3, 0, 4]
    assert pool_by_class(samples, ranked, 1, 5, z_dim).tolist() == [2, 3, 0, 4, 5]
    assert pool_by_class(samples, ranked, 2, 2, z_dim).tolist() == [2, 0]  # init_top 2: draws 1 and 3 taken
    one_class = samples.copy()
    one_class[:, z_dim:] = [1.0, 0.0, 0.0]  # no other class to hedge with: the order of the losses
    assert pool_by_class(one_class, ranked, 1, 3, z_dim).tolist() == [3, 2, 4]
    assert pool_by_class(samples[:, :z_dim], ranked, 1, 3, z_dim).tolist() == [3, 2, 4]  # a fixed class


def test_a_search_keeps_its_pool_by_class_for_the_race(generator, clip):
    """`SearchState.fresh(pool=n, by_class=True)` keeps the draws `pool_by_class` chooses, and the
    search itself (its start) is the same as with the pool by loss."""
    from machine_imagination.search.state import SearchState

    settings = SearchSettings(iterations=1, population=4, crops=4, init_samples=40)
    objective = Objective(generator, clip, [("a storm", 1.0)], settings)
    every = SearchState.fresh(2, objective, settings, pool=40, log=lambda m: None)  # all 41 draws, best first
    by_class = SearchState.fresh(2, objective, settings, pool=5, by_class=True, log=lambda m: None)
    np.testing.assert_array_equal(by_class.start, every.start)
    drawn = np.concatenate([every.start, every.pool])
    chosen = pool_by_class(drawn, np.arange(len(drawn)), 1, 5, generator.z_dim)
    np.testing.assert_array_equal(by_class.pool, drawn[chosen])
    top = np.argmax(drawn[:, generator.z_dim:], axis=1)
    assert top[chosen[0]] != top[0]  # (the tiny generator's 1000 classes: the best class's next is rarely drawn)


def test_negative_prompt_lowers_similarity_to_the_negative_text(generator, clip):
    settings = SearchSettings(iterations=8, population=8, crops=4, class_entropy=0.0)
    negative_text = "a bright green meadow"
    plain = search_prompt("a dark stormy sea", seed=6, generator=generator, clip=clip, settings=settings)
    negative = search_prompt("a dark stormy sea:1 | a bright green meadow:-1", seed=6, generator=generator,
                             clip=clip, settings=settings)
    with torch.inference_mode():
        objective = Objective(generator, clip, [(negative_text, 1.0)], settings)
        x = torch.as_tensor(np.stack([np.concatenate([r.noise, r.class_vector]) for r in (plain, negative)]))
        sims = objective.similarities(objective.images(x), torch.Generator().manual_seed(0), crops=32)[:, 0]
    assert sims[1] < sims[0]


def test_regularisers_and_augmentations_change_the_objective(generator, clip):
    x = torch.randn(3, 1128)
    base = SearchSettings(crops=4, class_entropy=0.0)
    with torch.inference_mode():
        plain = Objective(generator, clip, [("x", 1.0)], base)(x, torch.Generator().manual_seed(0))[0]
        regular = Objective(generator, clip, [("x", 1.0)], SearchSettings(crops=4, noise_normality=10.0,
                            embedding_normality=10.0, class_entropy=1.0))(x, torch.Generator().manual_seed(0))
        rich = Objective(generator, clip, [("x", 1.0)], SearchSettings(crops=4, augmentation="rich",
                         class_entropy=0.0))(x, torch.Generator().manual_seed(0))[0]
    loss, _, terms, regularisation = regular
    # the notebook multiplies the weighted regularisers by the loss factor 100, as the similarity
    expected = plain + 100 * (10 * terms["noise_normality"] + 10 * terms["embedding_normality"] + terms["class_entropy"])
    assert torch.allclose(loss, expected, atol=1e-3) and torch.allclose(loss - plain, regularisation, atol=1e-3)
    assert (terms["noise_normality"] > 0).all() and (terms["class_entropy"] > 0).all()
    assert not torch.allclose(rich, plain)


def test_the_regulariser_share_of_the_loss_for_a_fixed_candidate_is_the_notebooks(generator, clip):
    """Uniform class logits: entropy log(1000); the target is the smoothed one-hot's entropy (0.9 on
    one class, 0.1/999 on each other); the default weight 1e-4 weighs 1e-2 of the difference."""
    x = torch.cat([torch.zeros(1, 128), torch.zeros(1, 1000)], dim=1)
    target = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1 / 999))
    with torch.inference_mode():
        evaluation = Objective(generator, clip, [("x", 1.0)], SearchSettings(crops=2))(x, torch.Generator())
    assert evaluation.terms["class_entropy"].item() == pytest.approx(np.log(1000) - target, rel=1e-5)
    assert evaluation.regularisation.item() == pytest.approx(1e-2 * (np.log(1000) - target), rel=1e-5)
    assert evaluation.loss.item() == pytest.approx(100 * (1 - evaluation.similarity.item())
                                                   + 1e-2 * (np.log(1000) - target), rel=1e-6)


def test_grayscale_and_stochastic_truncation(generator, clip):
    settings = SearchSettings(iterations=2, population=4, crops=2, grayscale=True, stochastic_truncation=True,
                              truncation=0.5)
    result = search_prompt("fog", seed=1, generator=generator, clip=clip, settings=settings)
    assert np.abs(result.noise).max() <= 1.0  # re-drawn inside ±2·truncation, not clamped at render
    with torch.inference_mode():
        image = generator.render(torch.as_tensor(result.noise)[None], torch.as_tensor(result.class_vector)[None],
                                 0.5, grayscale=True)
    assert torch.equal(image[:, 0], image[:, 1]) and torch.equal(image[:, 1], image[:, 2])


def test_story_start_keeps_part_of_the_previous_latents(generator, clip):
    previous = Latents(noise=np.full(128, 1.0, np.float32), class_vector=np.zeros(1000, np.float32))
    settings = SearchSettings(optimizer="adam", iterations=1, crops=2, story_keep=1.0, learning_rate=1e-9)
    result = search_prompt("x", seed=1, generator=generator, clip=clip, settings=settings, start=previous)
    assert np.allclose(result.noise, 1.0, atol=1e-4)


def test_story_start_from_logits_into_an_embedding_search_starts_at_their_class_embedding(generator, clip):
    rng = np.random.default_rng(3)
    previous = Latents(noise=rng.normal(size=128).astype(np.float32),
                       class_vector=rng.normal(size=1000).astype(np.float32))
    settings = SearchSettings(optimizer="adam", iterations=1, crops=2, story_keep=1.0, learning_rate=1e-9,
                              initial_class="random-embeddings")
    result = search_prompt("x", seed=1, generator=generator, clip=clip, settings=settings, start=previous)
    assert result.class_mode == "embedding"
    assert np.allclose(result.class_vector, previous.class_embedding(generator).numpy(), atol=1e-5)
    assert np.allclose(result.noise, previous.noise, atol=1e-5)


def test_judge_uses_fresh_crops(generator, clip):
    result = search_prompt("a fox", seed=1, generator=generator, clip=clip,
                           settings=SearchSettings(iterations=2, population=4, crops=2))
    scores = judge(generator, clip, result, [("a fox", 1.0)], SearchSettings(), seed=1, crops=16)
    assert set(scores) == {"judge_similarity"} and -1 <= scores["judge_similarity"] <= 1
    assert scores["judge_similarity"] != pytest.approx(result.similarity, abs=1e-7)
    two = judge(generator, clip, result, [("a fox", 1.0)], SearchSettings(), seed=1, crops=16, judge_clip=clip)
    assert two["judge2_similarity"] == pytest.approx(two["judge_similarity"])


def test_jittered_views_are_small_shifts_of_each_image_with_noise_from_the_stream():
    images = torch.rand(2, 3, 32, 32)
    views = jittered_views(images, 12, torch.Generator().manual_seed(3), shift=1 / 16, noise=0.0)
    assert views.shape == (24, 3, 32, 32)
    padded = torch.nn.functional.pad(images, (2,) * 4, mode="replicate")
    shifts = set()
    for v, view in enumerate(views):  # each view is its image moved by at most 2 px along each axis
        i = v // 12
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(view, padded[i, :, dy:dy + 32, dx:dx + 32])]
        assert found, f"view {v} is not a shift of image {i}"
        shifts.add(found[0])
    assert len(shifts) > 3
    noisy = jittered_views(images, 12, torch.Generator().manual_seed(3), shift=1 / 16)
    again = jittered_views(images, 12, torch.Generator().manual_seed(3), shift=1 / 16)
    assert torch.equal(noisy, again) and 0.005 < (noisy - views).abs().mean() < 0.05
    assert noisy.min() >= 0 and noisy.max() <= 1


def test_search_is_reproducible_and_seed_dependent(generator, clip):
    a = search_prompt("a red fox", seed=11, generator=generator, clip=clip, settings=SMALL)
    b = search_prompt("a red fox", seed=11, generator=generator, clip=clip, settings=SMALL)
    c = search_prompt("a red fox", seed=12, generator=generator, clip=clip, settings=SMALL)
    assert np.array_equal(a.noise, b.noise) and np.array_equal(a.class_vector, b.class_vector)
    assert a.loss == b.loss
    assert not np.array_equal(a.noise, c.noise)


def test_search_keeps_the_best_candidate_ever_seen(generator, clip):
    result = search_prompt("a storm at sea", seed=5, generator=generator, clip=clip,
                           settings=SearchSettings(iterations=6, population=6, crops=4))
    history = result.history
    assert len(history) == 6
    assert result.loss == pytest.approx(min(row["loss_best"] for row in history))
    assert np.all(np.diff([row["best_ever_loss"] for row in history]) <= 0)
    assert history[result.iteration]["loss_best"] == pytest.approx(result.loss)
    # The default objective, the notebook's: 100·(1 − similarity) + 100·1e-4·class-entropy term.
    entropy = history[result.iteration]["class_entropy"]
    assert result.loss == pytest.approx(100 * (1 - result.similarity) + 100 * 1e-4 * entropy)
    assert history[result.iteration]["regularisation"] == pytest.approx(1e-2 * entropy)
    assert result.noise.shape == (128,) and result.class_vector.shape == (1000,)


def test_diagonal_covariance_runs(generator, clip):
    settings = SearchSettings(iterations=2, population=4, crops=2, covariance="diagonal", active=False)
    result = search_prompt("a fox", seed=1, generator=generator, clip=clip, settings=settings)
    assert np.isfinite(result.loss)


def test_search_result_does_not_depend_on_numpy_global_random_state(generator, clip):
    settings = SearchSettings(iterations=2, population=4, crops=2)
    np.random.seed(999)
    a = search_prompt("a fox", seed=1, generator=generator, clip=clip, settings=settings)
    np.random.seed(5)
    b = search_prompt("a fox", seed=1, generator=generator, clip=clip, settings=settings)
    assert np.array_equal(a.noise, b.noise) and np.array_equal(a.class_vector, b.class_vector)


def test_rgb_conv_keeping_three_channels_gives_the_same_image(tiny_models):
    """load_generator swaps BigGAN's 128-channel conv_to_rgb for one computing the 3 kept channels."""
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    from machine_imagination.models.generator import load_generator

    original = BigGAN(BigGANConfig.from_json_file(tiny_models[0] / "config.json"))
    original.load_state_dict(torch.load(tiny_models[0] / "pytorch_model.bin", weights_only=True))
    original.eval()
    trimmed = load_generator(str(tiny_models[0]))
    assert trimmed.biggan.generator.conv_to_rgb.out_channels == 3
    # Spectral norm is folded into the weights at load (no per-call hooks left); the images stay the same.
    assert not any(hook for m in trimmed.biggan.modules() for hook in m._forward_pre_hooks.values())
    assert any(hook for m in original.modules() for hook in m._forward_pre_hooks.values())
    assert original.generator.conv_to_rgb.out_channels == 8  # channel_width of the tiny config
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(3, 128, generator=gen) * 0.5
    logits = torch.randn(3, 1000, generator=gen)
    with torch.inference_mode():
        expected = ((original(z.clamp(-1.4, 1.4), torch.softmax(logits, -1), 0.7) + 1) / 2).clamp(0, 1)
        got = trimmed.render(z, logits, 0.7)
    # The same computation per kept channel; only the conv kernel's summation order may differ.
    assert (got - expected).abs().max() < 1e-5


def test_out_of_memory_halves_the_chunks_and_carries_on(generator, clip, monkeypatch):
    settings = SearchSettings(crops=4, generator_batch=8, clip_batch=32)
    x = torch.randn(6, 1128) * 0.5
    with torch.inference_mode():
        expected = Objective(generator, clip, [("x", 1.0)], settings)(x, torch.Generator().manual_seed(0))[0]
    render = generator.render

    def small_gpu(z, *args, **kwargs):
        if len(z) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return render(z, *args, **kwargs)

    monkeypatch.setattr(generator, "render", small_gpu)
    objective = Objective(generator, clip, [("x", 1.0)], settings)
    with pytest.warns(UserWarning, match="generator chunks lowered to 2"), torch.inference_mode():
        loss = objective(x, torch.Generator().manual_seed(0))[0]
    assert objective.chunk["generator"] == 2
    assert torch.allclose(loss, expected, atol=1e-3)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_scores_close_to_fp32(generator, clip, precision):
    x = torch.randn(4, 1128) * 0.5
    with torch.inference_mode():
        fp32 = Objective(generator, clip, [("a fox", 1.0)], SearchSettings(crops=4))(x, torch.Generator().manual_seed(0))
        low = Objective(generator, clip, [("a fox", 1.0)], SearchSettings(crops=4, precision=precision))(
            x, torch.Generator().manual_seed(0))
    assert low[1].dtype == torch.float32
    assert torch.allclose(low[1], fp32[1], atol=0.03)
    result = search_prompt("a fox", seed=1, generator=generator, clip=clip,
                           settings=SearchSettings(iterations=3, population=4, crops=2, precision=precision))
    assert result.loss < result.start_loss


def fresh_models(tiny_models, **speed):
    from machine_imagination.models.clip import load_clip
    from machine_imagination.models.device import tune_for_speed
    from machine_imagination.models.generator import load_generator

    generator, clip = load_generator(str(tiny_models[0])), load_clip(str(tiny_models[1]), None)
    tune_for_speed(generator, clip, **speed)
    return generator, clip


def same_images_and_scores(tiny_models, **speed):
    """(largest pixel difference, largest similarity difference) of tuned models against plain ones."""
    plain, tuned = fresh_models(tiny_models), fresh_models(tiny_models, **speed)
    gen = torch.Generator().manual_seed(3)
    x = torch.cat([torch.randn(5, 128, generator=gen) * 0.5, torch.randn(5, 1000, generator=gen)], dim=1)
    settings = SearchSettings(crops=4)
    out = []
    with torch.inference_mode():
        for generator, clip in (plain, tuned):
            objective = Objective(generator, clip, [("a fox", 1.0)], settings)
            images = objective.images(x)
            out.append((images, objective.similarities(images, torch.Generator().manual_seed(0))))
    return (out[0][0] - out[1][0]).abs().max(), (out[0][1] - out[1][1]).abs().max(), tuned


def test_channels_last_changes_the_layout_not_the_images_or_scores(tiny_models):
    pixels, scores, (generator, clip) = same_images_and_scores(tiny_models, channels_last=True)
    assert generator.biggan.generator.conv_to_rgb.weight.is_contiguous(memory_format=torch.channels_last)
    assert clip.model.visual.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert pixels < 1e-5 and scores < 1e-5


def test_compiled_networks_give_the_same_images_and_scores(tiny_models):
    pixels, scores, (generator, clip) = same_images_and_scores(tiny_models, compiled=True)
    assert type(generator.biggan.generator).__name__ == "OptimizedModule"
    assert type(clip.model.visual).__name__ == "OptimizedModule"
    assert pixels < 1e-5 and scores < 1e-5


def test_an_objective_that_is_nan_everywhere_stops_the_search_with_a_clear_error(generator, clip, monkeypatch):
    from machine_imagination.search.state import SearchError

    render = generator.render
    monkeypatch.setattr(generator, "render", lambda *a, **k: render(*a, **k) * float("nan"))
    with pytest.raises(SearchError, match="NaN or infinite for every candidate.*try fp32"):
        search_prompt("a fox", seed=1, generator=generator, clip=clip, settings=SMALL)


def test_candidates_with_a_nan_objective_are_never_the_best(generator, clip, monkeypatch):
    render = generator.render

    def some_nan(z, *args, **kwargs):
        images = render(z, *args, **kwargs)
        images[::2] = float("nan")  # every other candidate of each batch
        return images

    monkeypatch.setattr(generator, "render", some_nan)
    result = search_prompt("a fox", seed=1, generator=generator, clip=clip, settings=SMALL)
    assert np.isfinite(result.loss) and np.isfinite(result.similarity)
    assert all(np.isfinite(row["loss_best"]) for row in result.history)


def test_precision_warning_names_the_gpu_and_what_to_use_instead():
    from machine_imagination.models.device import precision_warning

    warning = precision_warning("bf16", "Tesla T4", (7, 5))
    assert "Tesla T4" in warning and "7.5" in warning and "use fp16" in warning
    assert precision_warning("bf16", "NVIDIA A30", (8, 0)) is None
    assert precision_warning("fp16", "Tesla V100", (7, 0)) is None
    assert precision_warning("fp32", "Tesla T4", (7, 5)) is None
    assert "no tensor cores" in precision_warning("fp16", "Tesla P100", (6, 0))


def test_an_unknown_precision_is_refused(generator, clip):
    with pytest.raises(ValueError, match="search.precision: unknown precision 'fp8'"):
        search_prompt("a fox", seed=1, generator=generator, clip=clip, settings=SearchSettings(precision="fp8"))
