import re

import pytest
import torch

from machine_imagination.models import CheckpointMismatchError, ModelError, ModelUnavailableError
from machine_imagination.models.clip import check_clip_spec, load_clip
from machine_imagination.models.device import select_device
from machine_imagination.models.generator import check_generator_spec, load_generator


def test_tiny_generator_loads_from_the_real_directory_format(tiny_models, generator):
    assert sorted(p.name for p in tiny_models[0].iterdir()) == ["config.json", "pytorch_model.bin"]
    assert (generator.z_dim, generator.num_classes, generator.resolution) == (128, 1000, 128)
    with torch.inference_mode():
        images = generator.render(torch.randn(3, 128) * 0.5, torch.rand(3, 1000), 1.0)
    assert images.shape == (3, 3, 128, 128)
    assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    assert images.std() > 0.05, "the tiny generator should make visible patterns, not a flat image"


def test_render_clamps_noise_to_twice_the_truncation(generator):
    with torch.inference_mode():
        z = torch.full((1, 128), 0.5)
        big = torch.full((1, 128), 5.0)
        logits = torch.zeros(1, 1000)
        assert torch.equal(generator.render(big, logits, 0.4), generator.render(z * 1.6, logits, 0.4))


def test_tiny_models_are_deterministic(tmp_path, tiny_models):
    from machine_imagination.worlds.tiny import write_tiny_models

    write_tiny_models(tmp_path / "g", tmp_path / "c")
    for name, directory in (("g", tiny_models[0]), ("c", tiny_models[1])):
        for file in directory.iterdir():
            a = torch.load(file, weights_only=True) if file.suffix == ".bin" else file.read_text()
            b = (torch.load(tmp_path / name / file.name, weights_only=True) if file.suffix == ".bin"
                 else (tmp_path / name / file.name).read_text())
            if isinstance(a, dict):
                assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
            else:
                assert a == b


def _copy_generator(tiny_models, tmp_path, edit):
    directory = tmp_path / "edited"
    directory.mkdir()
    (directory / "config.json").write_text((tiny_models[0] / "config.json").read_text())
    state = torch.load(tiny_models[0] / "pytorch_model.bin", weights_only=True)
    edit(state)
    torch.save(state, directory / "pytorch_model.bin")
    return str(directory)


def test_generator_with_missing_keys_is_refused(tiny_models, tmp_path):
    path = _copy_generator(tiny_models, tmp_path, lambda s: s.pop("embeddings.weight"))
    with pytest.raises(CheckpointMismatchError, match=r"missing keys \[embeddings.weight\]"):
        load_generator(path)


def test_generator_with_unexpected_keys_is_refused(tiny_models, tmp_path):
    path = _copy_generator(tiny_models, tmp_path, lambda s: s.__setitem__("extra.weight", torch.zeros(1)))
    with pytest.raises(CheckpointMismatchError, match=r"unexpected keys \[extra.weight\]"):
        load_generator(path)


def test_unknown_generator_name_says_what_is_accepted(tmp_path):
    with pytest.raises(ModelUnavailableError, match="biggan-deep-1024.*neither a known BigGAN name.*config.json"):
        check_generator_spec("biggan-deep-1024")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(ModelUnavailableError, match="lacks pytorch_model.bin"):
        check_generator_spec(str(tmp_path / "half"))


def test_named_generator_offline_gives_one_clear_error(monkeypatch):
    import pytorch_pretrained_biggan.file_utils as file_utils

    def offline(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(file_utils, "cached_path", offline)
    with pytest.raises(ModelUnavailableError, match="biggan-deep-256.*place a directory holding BigGAN's config.json"):
        load_generator("biggan-deep-256")


def test_tiny_clip_loads_from_open_clip_local_dir(tiny_models, clip):
    assert clip.image_size == 64
    with torch.inference_mode():
        text = clip.encode_text(["a red fox", "a blue whale"])
        images = clip.encode_images(torch.rand(2, 3, 64, 64))
    assert text.shape == images.shape == (2, 64)
    assert torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_clip_checkpoint_mismatch_is_refused(tiny_models, tmp_path):
    directory = tmp_path / "clip"
    directory.mkdir()
    (directory / "open_clip_config.json").write_text((tiny_models[1] / "open_clip_config.json").read_text())
    state = torch.load(tiny_models[1] / "open_clip_pytorch_model.bin", weights_only=True)
    state.pop("text_projection")
    torch.save(state, directory / "open_clip_pytorch_model.bin")
    with pytest.raises(CheckpointMismatchError, match="text_projection"):
        load_clip(str(directory), None)


def test_unknown_clip_name_and_tag_are_named():
    with pytest.raises(ModelError, match="unknown open_clip model 'ViT-Q-99'"):
        check_clip_spec("ViT-Q-99", "openai")
    with pytest.raises(ModelError, match="'openia' is not a pretrained tag of 'ViT-B-32'.*openai"):
        check_clip_spec("ViT-B-32", "openia")
    check_clip_spec("ViT-B-32", "openai")  # known: fine without downloading anything


def test_missing_clip_directory_says_how_to_place_files(tmp_path):
    with pytest.raises(ModelUnavailableError, match="open_clip_config.json.*HF_HOME"):
        check_clip_spec(str(tmp_path / "nowhere"), None)


def test_named_clip_offline_gives_one_clear_error(monkeypatch):
    import open_clip

    def offline(*args, **kwargs):  # what open_clip raises when the hub cannot be reached
        raise RuntimeError("Failed to download weights for tag 'openai': connection refused")

    monkeypatch.setattr(open_clip, "create_model", offline)
    with pytest.raises(ModelUnavailableError, match="could not fetch CLIP 'ViT-B-32'.*HF_HUB_OFFLINE"):
        load_clip("ViT-B-32", "openai")


def test_deterministic_pins_the_threads_and_puts_them_back():
    from machine_imagination.models.device import deterministic, thread_counts

    before = thread_counts()
    with deterministic(1):
        assert thread_counts() == {"torch": 1, "blas": 1} and torch.are_deterministic_algorithms_enabled()
    assert thread_counts() == before


def test_select_device():
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            select_device("cuda")
        assert select_device("auto").type == "cpu"


def test_openai_spelling_of_a_clip_name_gets_a_hint():
    with pytest.raises(ModelUnavailableError, match="write 'ViT-B-32'"):
        check_clip_spec("ViT-B/32", "openai")


def _damaged_copy(source, tmp_path, name, damage):
    import shutil

    directory = tmp_path / "damaged"
    shutil.copytree(source, directory)
    (directory / name).write_bytes(damage((directory / name).read_bytes()))
    return directory


def _executing_pickle(data: bytes) -> bytes:
    """A checkpoint whose record of objects calls a function when unpickled (what a safe load refuses)."""
    import io
    import pickle
    import zipfile

    class Calls:
        def __reduce__(self):
            return (print, ("this ran",))

    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for member in source.infolist():
            archive.writestr(member, pickle.dumps(Calls(), protocol=2) if member.filename.endswith("data.pkl")
                             else source.read(member))
    return out.getvalue()


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "is cut short"),
    (lambda b: b[:200] + bytes(reversed(b[200:400])) + b[400:], "is damaged (Bad CRC-32"),
    (lambda b: bytes(len(b)), "is not a PyTorch checkpoint"),
])
def test_a_damaged_checkpoint_is_named_before_it_is_loaded(tiny_models, tmp_path, damage, message):
    clip_dir = _damaged_copy(tiny_models[1], tmp_path / "c", "open_clip_pytorch_model.bin", damage)
    with pytest.raises(ModelError, match=f"clip.model: the checkpoint file '{clip_dir}/open_clip_pytorch_model.bin' "
                                         f"{re.escape(message)}.*fetch or copy it again"):
        check_clip_spec(str(clip_dir), None)
    generator_dir = _damaged_copy(tiny_models[0], tmp_path / "g", "pytorch_model.bin", damage)
    with pytest.raises(ModelError, match=f"generator.model: the checkpoint file '{generator_dir}/pytorch_model.bin' "
                                         f"{re.escape(message)}"):
        load_generator(str(generator_dir))


def test_a_checkpoint_a_safe_load_refuses_is_named_without_advice_to_load_it_unsafely(tiny_models, tmp_path):
    directory = _damaged_copy(tiny_models[1], tmp_path, "open_clip_pytorch_model.bin", _executing_pickle)
    check_clip_spec(str(directory), None)  # its archive is sound: only loading it finds what it holds
    with pytest.raises(ModelError) as caught:
        load_clip(str(directory), None)
    message = str(caught.value)
    assert f"cannot load the file '{directory}/open_clip_pytorch_model.bin'" in message
    assert "never load such a file unsafely" in message and "weights_only" not in message


def test_a_truncated_generator_config_is_named(tiny_models, tmp_path):
    from machine_imagination.models.generator import generator_resolution

    directory = _damaged_copy(tiny_models[0], tmp_path, "config.json", lambda b: b[:40])
    for check in (check_generator_spec, generator_resolution):
        with pytest.raises(ModelError, match=f"generator.model: the config file '{directory}/config.json' is not "
                                             r"valid JSON \(cut short or garbled\?"):
            check(str(directory))
