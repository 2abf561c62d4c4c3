import json

import keras
import numpy as np
import pytest

from keras_unsup.data import load_dataset
from keras_unsup.data.datasets import Dataset
from keras_unsup.recipes import get_recipe, run_recipe

METHODS = ("colorization", "split-brain")


def _colour_data(n_train=96, n_test=32, size=12, seed=0):
    """Small colour images made here: each class a hue, with random lightness and noise."""
    rng = np.random.default_rng(seed)
    hues = np.array([[0.9, 0.2, 0.1], [0.1, 0.7, 0.2], [0.2, 0.3, 0.9]], "float32")

    def make(n):
        y = np.arange(n) % 3
        light = rng.uniform(0.4, 1.0, (n, 1, 1, 1))
        x = hues[y][:, None, None, :] * light + rng.normal(0, 0.05, (n, size, size, 3))
        return np.clip(x, 0, 1).astype("float32"), y.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = make(n_train), make(n_test)
    return Dataset("hues", x_train, y_train, x_test, y_test, ("red", "green", "blue"))


def test_registered_in_the_self_supervised_family():
    for method in METHODS:
        assert get_recipe(method).family == "self-supervised"


@pytest.mark.parametrize("method", METHODS)
def test_grey_data_are_refused_naming_the_channels(method, monkeypatch):
    from keras_unsup.recipes import colour_pretext

    monkeypatch.setattr(colour_pretext, "_build_model", lambda *a: pytest.fail("built"))
    with pytest.raises(ValueError, match=r"`dataset` must hold colour images \(3 channels, RGB\)"
                                         r"\. Received: dataset='digits' with 1 channel"):
        run_recipe(method, data=load_dataset("digits"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"`--dataset` must hold colour images.*Received: "
                                         r"--dataset='digits' with 1 channel"):
        run_recipe(method, data=load_dataset("digits"), epochs=1, verbose=0, option_flag="--set")


def test_bad_colour_options_are_refused():
    data = _colour_data()
    with pytest.raises(ValueError, match=r"`output_stride` must be an integer in \[1, 12\]"):
        run_recipe("colorization", data=data, epochs=1, verbose=0, output_stride=13)
    with pytest.raises(ValueError, match=r"`grid_size` must be an integer in \[1, 110\]"):
        run_recipe("split-brain", data=data, epochs=1, verbose=0, grid_size=0)
    with pytest.raises(ValueError, match="'split-brain' has no option `rebalancing`"):
        run_recipe("split-brain", data=data, epochs=1, verbose=0, rebalancing=0.5)
    x = data.x_train.copy()
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="must hold only finite values"):
        run_recipe("colorization", data=Dataset("nan", x, data.y_train, data.x_test, data.y_test),
                   epochs=1, verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_recipe_on_colour_images_writes_metrics_figures_and_model(method, tmp_path):
    data = _colour_data()
    out = tmp_path / method
    metrics = run_recipe(method, data=data, epochs=3, seed=0, out_dir=out, verbose=0,
                         tsne_points=30, grid_size=20)
    for key in ("linear_probe_acc", "knn_acc", "acc", "nmi", "ari", "images_per_second"):
        assert isinstance(metrics[key], float), key
    assert metrics["embedding_dim"] == 128 and metrics["grid_size"] == 20
    assert json.loads((out / "metrics.json").read_text())["method"] == method
    model = keras.saving.load_model(out / "model.keras")
    np.testing.assert_allclose(model.predict(data.x_test[:4], verbose=0),
                               model(data.x_test[:4]), atol=1e-5)
    if method == "colorization":
        assert (out / "colourisation.png").stat().st_size > 1000
        assert model.class_weights.numpy().std() > 0  # rebalanced from the training images
