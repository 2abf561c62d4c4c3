"""Recipes on a streamed folder: trained from the stream, evaluated batch by batch, and
never holding the images whole; methods that need the images in memory refuse it."""

import json

import numpy as np
import pytest

from keras_unsup.data import FolderDataset, load_dataset
from keras_unsup.data import folder as folder_module
from keras_unsup.data.views import two_view_stream
from keras_unsup.recipes import run_recipe

N_PER_CLASS = 150  # 300 images: 240 train, 60 test


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for label, name in enumerate(("bars", "dots")):
        (root / name).mkdir()
        for i in range(N_PER_CLASS):
            img = rng.integers(0, 60, (8, 8)).astype(np.uint8)
            if label == 0:
                img[:, 2:4] = 230
            else:
                img[3:5, 3:5] = 230
            Image.fromarray(img, mode="L").save(root / name / f"{i:03d}.png")
    return root


@pytest.fixture
def streamed(image_folder, monkeypatch):
    """The folder as a stream whose image arrays cannot be read."""
    def refuse(self):
        raise AssertionError("a streamed run read the images as one array")

    for name in ("x_train", "x_test", "x_all"):
        monkeypatch.setattr(FolderDataset, name, property(refuse))
    data = load_dataset(str(image_folder), stream=True)
    assert data.is_streaming and data.n_train == 240 and data.n_test == 60
    return data


def test_dense_ae_trains_from_the_stream(streamed, tmp_path):
    metrics = run_recipe("dense-ae", data=streamed, epochs=1, verbose=0, batch_size=32,
                         out_dir=tmp_path)
    assert np.isfinite(metrics["recon_mse"]) and 0 < metrics["recon_mse"] < 1
    assert metrics["n_train"] == 240 and metrics["n_test"] == 60
    assert 0 <= metrics["acc"] <= 1 and metrics["epochs_trained"] == 1
    for name in ("metrics.json", "reconstructions.png", "latent.png", "encoder.keras"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "metrics.json").read_text())["n_train"] == 240


def test_vae_and_denoising_score_the_test_stream(streamed, image_folder, tmp_path):
    vae = run_recipe("vae", data=streamed, epochs=1, verbose=0, batch_size=64)
    assert np.isfinite(vae["neg_elbo"]) and vae["neg_elbo"] > 0
    # with an on-disk cache, and the figures of noisy inputs
    cached = load_dataset(str(image_folder), cache=str(tmp_path / "cache"))
    assert cached.is_streaming
    dae = run_recipe("denoising-ae", data=cached, epochs=2, verbose=0, batch_size=64,
                     out_dir=tmp_path / "run")
    assert np.isfinite(dae["recon_mse"]) and (tmp_path / "run" / "reconstructions.png").is_file()
    assert any((tmp_path / "cache").iterdir())


def test_same_seed_gives_same_metrics_on_a_stream(streamed):
    a = run_recipe("dense-ae", data=streamed, epochs=1, verbose=0, batch_size=64, seed=3)
    b = run_recipe("dense-ae", data=streamed, epochs=1, verbose=0, batch_size=64, seed=3)
    assert a["recon_mse"] == b["recon_mse"] and a["acc"] == b["acc"]


@pytest.mark.parametrize("method, options", [("moco", {"queue_size": 16}), ("simclr", {})])
def test_contrastive_methods_train_from_a_two_view_stream(streamed, method, options):
    metrics = run_recipe(method, data=streamed, epochs=1, verbose=0, batch_size=32,
                         filters=[4, 4], embedding_dim=8, plot=False, **options)
    assert metrics["n_train"] == 240 and metrics["train_images"] == 240
    assert 0 <= metrics["linear_probe_acc"] <= 1 and 0 <= metrics["knn_acc"] <= 1
    assert np.isfinite(metrics["final_loss"])


def test_rotnet_trains_on_a_subset_of_the_stream(streamed):
    metrics = run_recipe("rotnet", data=streamed, epochs=1, verbose=0, batch_size=32,
                         filters=[4, 4], embedding_dim=8, plot=False, train_images=100)
    assert metrics["train_images"] == 100 and metrics["n_train"] == 240
    assert "linear_probe_acc" in metrics


def test_two_view_stream_augments_each_batch_twice(streamed):
    ds = two_view_stream(streamed.train_stream(16, seed=0, drop_remainder=True), seed=0)
    view_1, view_2 = next(iter(ds))
    assert view_1.shape == view_2.shape == (16, 8, 8, 1)
    assert not np.allclose(view_1, view_2)


@pytest.mark.parametrize("method, named", [("kmeans", "kmeans"), ("dec", "dec"),
                                           ("ae-kmeans", "ae-kmeans"), ("dcgan", "dcgan")])
def test_methods_that_need_memory_refuse_a_stream(image_folder, method, named):
    data = load_dataset(str(image_folder), stream=True)
    with pytest.raises(ValueError, match=rf"`dataset` '.*' is streamed \(300 images.*; "
                                         rf"{named} needs the images in memory"):
        run_recipe(method, data=data, epochs=1, verbose=0)


def test_quick_mode_keeps_a_large_folder_streamed(image_folder, monkeypatch, tmp_path):
    # Above the (lowered) threshold the folder streams, and its arrays are refused.
    monkeypatch.setattr(folder_module, "STREAM_THRESHOLD_BYTES", 1000)
    monkeypatch.setattr("keras_unsup.recipes.QUICK_TRAIN", 100)
    monkeypatch.setattr("keras_unsup.recipes.QUICK_TEST", 40)
    metrics = run_recipe("sparse-ae", str(image_folder), quick=True, epochs=1, verbose=0,
                         batch_size=32)
    assert metrics["n_train"] == 100 and metrics["n_test"] == 40
    assert np.isfinite(metrics["recon_mse"])
