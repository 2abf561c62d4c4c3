import json

import keras
import numpy as np
import pytest

from keras_unsup.data import Dataset
from keras_unsup.recipes import get_recipe, list_recipes, run_recipe
from keras_unsup.recipes.pretext import METHODS, patch_grid_of

# Small images made here: 24x24 fits a 3x3 grid of 6-pixel tiles (cells of 8, gap 2).


def _data(n_train=96, n_test=48, size=24, seed=0):
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 2, n)
        x = rng.random((n, size, size, 1)).astype("float32") * 0.2
        # class 1: horizontal stripes, class 0: vertical ones (seen in every tile, even
        # standardised: the orientation, not the brightness, tells them apart)
        stripes = (np.arange(size) // 2 % 2).astype("float32") * 0.7
        for i, label in enumerate(y):
            x[i, :, :, 0] += stripes[:, None] if label else stripes[None, :]
        return x, y.astype("int64")

    (x_train, y_train), (x_test, y_test) = make(n_train), make(n_test)
    return Dataset("halves", x_train, y_train, x_test, y_test)


def test_the_four_methods_are_registered_in_the_self_supervised_family():
    names = {r.name: r for r in list_recipes()}
    for method in METHODS:
        assert names[method].family == "self-supervised" and names[method].clusters
    assert "Doersch" in get_recipe("relative-position").summary
    assert "Noroozi and Favaro" in get_recipe("jigsaw").summary


def test_grids_are_chosen_from_the_image_size():
    from keras_unsup.recipes.base import RunConfig

    config = RunConfig("jigsaw", options={"gap": None, "jitter": None, "grid": 3})
    grid = patch_grid_of("jigsaw", (28, 28, 1), config.options, config)
    assert (grid.tile_size, grid.gap, grid.jitter) == (7, 2, 1)
    grid = patch_grid_of("counting", (28, 28, 1), {}, config)
    assert (grid.grid, grid.tile_size, grid.gap) == (2, 14, 0)
    assert patch_grid_of("context-encoder", (28, 28, 1), {}, config) is None


@pytest.mark.parametrize("method, options, match", [
    ("jigsaw", {}, r"jigsaw: A 3x3 patch grid does not fit 8x8 images"),
    ("relative-position", {}, r"does not fit 8x8 images"),
    ("counting", {}, r"does not fit 8x8 images: its cells are 4 pixels wide"),
])
def test_a_grid_that_does_not_fit_is_refused_before_any_work(method, options, match):
    tiny = _data(size=8)
    with pytest.raises(ValueError, match=match):
        run_recipe(method, data=tiny, epochs=1, verbose=0, **options)


@pytest.mark.parametrize("method, options, match", [
    ("jigsaw", {"permutations": 1001}, r"`permutations` must be an integer in \[2, 1000\]"),
    ("jigsaw", {"grid": 2, "gap": 2, "permutations": 25},
     r"`permutations` must be an integer in \[2, 24\]. Received: permutations=25"),
    ("relative-position", {"jitter": 3}, r"`jitter` must be an integer in \[0, 1\]"),
    ("context-encoder", {"mask_size": 24}, r"`mask_size` must be an integer in \[1, 23\]"),
    ("context-encoder", {"adversarial_weight": 1.0}, r"`adversarial_weight` must be a number"),
    ("context-encoder", {"mask": "ring"}, r"`mask` must be one of"),
    ("counting", {"margin": 0}, r"`margin` must be a number in \(0.0, inf\)"),
    ("jigsaw", {"queue_size": 4}, r"queue_size"),
])
def test_bad_options_are_refused_before_any_work(method, options, match):
    with pytest.raises(ValueError, match=match):
        run_recipe(method, data=_data(), epochs=1, verbose=0, **options)


def test_option_errors_name_the_flag_as_typed():
    with pytest.raises(ValueError, match=r"`--set permutations` must be an integer in \[2, 24\]"):
        run_recipe("jigsaw", data=_data(), epochs=1, verbose=0, option_flag="--set", grid=2,
                   gap=2, permutations=30)


@pytest.mark.parametrize("method", METHODS)
def test_nan_images_are_refused_before_any_work(method):
    data = _data()
    data.x_train[3, 2, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"`x_train` must hold only finite values"):
        run_recipe(method, data=data, epochs=1, verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_recipe_trains_scores_saves_and_draws(method, tmp_path):
    data = _data()
    out = tmp_path / method
    metrics = run_recipe(method, data=data, epochs=2, batch_size=32, seed=0, out_dir=out,
                         verbose=0, tsne_points=40, embedding_dim=8, filters=[4, 8])
    for key in ("linear_probe_acc", "knn_acc", "acc", "nmi", "ari", "images_per_second",
                "wall_time_s"):
        assert isinstance(metrics[key], float), key
    # two classes that differ in the stripes' orientation: any of these features tells them
    assert metrics["linear_probe_acc"] > 0.8
    assert json.loads((out / "metrics.json").read_text())["method"] == method
    assert (out / "tsne.png").stat().st_size > 1000
    figure = {"jigsaw": "jigsaw.png", "context-encoder": "inpainting.png"}.get(method)
    if figure:
        assert (out / figure).stat().st_size > 1000
    model = keras.saving.load_model(out / "model.keras")
    x = data.x_test[:4]
    codes = model.predict(x, verbose=0)
    assert codes.shape[0] == 4 and codes.shape[1] == metrics["embedding_dim"]
    if method in ("relative-position", "jigsaw"):
        assert metrics["tile_size"] == 6 and metrics["embedding_dim"] == 16 * 8  # 4x4 tiles
    if method == "counting":
        assert metrics["tile_size"] == 12 and metrics["embedding_dim"] == 4 * 8
