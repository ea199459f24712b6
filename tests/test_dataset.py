"""Calibration data loaders: .npz, folders of .npy files or images, subsets and shuffling."""
from __future__ import annotations

import numpy as np
import pytest

import irtool
from irtool.errors import InputError
from irtool.quantization import dataset as ds
from tests.oracle import SAMPLES
from tests.test_bad_input import run_cli

DIGITS = SAMPLES / "digits_cnn.xml"


@pytest.fixture(scope="module")
def specs():
    return irtool.compile_model(DIGITS).inputs


def test_npz_batches_and_subsets(specs):
    samples = ds.load_dataset(SAMPLES / "digits_cnn_calib.npz", specs)
    assert len(samples) == 300 and samples[0]["input"].shape == (1, 1, 32, 32)
    assert len(ds.take(samples, 10)) == 10 and len(ds.take(samples, None, 0.02)) == 6
    first = ds.take(samples, 5)
    shuffled = ds.take(samples, 5, shuffle=True, seed=1)
    assert all(a["input"] is b["input"] for a, b in zip(first, samples))
    assert not all(np.array_equal(a["input"], b["input"]) for a, b in zip(first, shuffled))
    again = ds.take(samples, 5, shuffle=True, seed=1)
    assert all(np.array_equal(a["input"], b["input"]) for a, b in zip(again, shuffled))  # seeded


@pytest.mark.parametrize("text, expected", [("300", (300, None)), ("2%", (None, 0.02)), (None, (300, None))])
def test_subset_option(text, expected):
    assert ds.parse_subset(text) == expected


@pytest.mark.parametrize("text", ["0", "-3", "150%", "lots"])
def test_bad_subset_option(text):
    with pytest.raises(InputError, match="--subset"):
        ds.parse_subset(text)


def test_folder_of_npy(specs, tmp_path):
    x = np.load(SAMPLES / "digits_cnn_calib.npz")["input"][:4]
    for i, sample in enumerate(x):
        np.save(tmp_path / f"{i:03d}.npy", sample)  # [1, 32, 32]: the batch axis is added
    samples = ds.load_dataset(tmp_path, specs)
    assert len(samples) == 4 and all(np.array_equal(s["input"][0], x[i]) for i, s in enumerate(samples))


def test_folder_of_images_resized_and_normalized(specs, tmp_path):
    from PIL import Image

    x = np.load(SAMPLES / "digits_cnn_calib.npz")["input"][:3]
    for i, sample in enumerate(x):  # 16x16 grey PNGs of the digits, values 0..255
        Image.fromarray((sample[0, ::2, ::2] * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    samples = ds.load_dataset(tmp_path, specs, ds.ImageOptions(mean=(0.0,), scale=(255.0,)))
    assert [s["input"].shape for s in samples] == [(1, 1, 32, 32)] * 3  # resized to the model's input
    assert all(0.0 <= s["input"].min() and s["input"].max() <= 1.0 for s in samples)
    # a coarse round trip of a real digit: the resized image stays close to the original
    assert np.abs(samples[0]["input"] - x[:1]).mean() < 0.1


def test_cli_quantizes_from_an_image_folder(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    code, out, err = run_cli(["quantize", str(DIGITS), "--data", str(folder), "--scale", "255",
                              "--reverse-input-channels", "-o", str(tmp_path / "q.xml")], capsys)
    assert code == 0, err
    assert "calibration samples    8" in out and (tmp_path / "q.xml").exists()


def test_folder_without_data_is_refused(specs, tmp_path):
    with pytest.raises(InputError, match="no .npy or image files"):
        ds.load_dataset(tmp_path, specs)
