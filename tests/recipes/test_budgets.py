"""Budgets come from the data: its size and shape, never its name."""

import json

import keras
import numpy as np
import pytest

from keras_unsup.data import load_dataset
from keras_unsup.recipes import list_recipes, run_recipe, training
from keras_unsup.recipes.base import Budget, RunConfig


def test_budget_turns_steps_into_epochs_by_the_data_size():
    budget = Budget(steps=1000, quick_steps=40, batch_size=250, min_epochs=2, max_epochs=300)
    config = RunConfig("m")
    assert budget.epochs(config, 50000) == 5  # 200 steps per epoch
    assert budget.epochs(config, 250000) == 2  # at least min_epochs
    assert budget.epochs(config, 1000) == 250  # 4 steps per epoch
    assert budget.epochs(config, 100) == 300  # a tiny set: capped (one batch of 100)
    assert budget.batch_for(config, 100) == 100
    assert budget.epochs(RunConfig("m", quick=True), 50000) == 2  # quick: at least 2
    assert budget.epochs(RunConfig("m", epochs=7), 50000) == 7  # --epochs wins
    assert budget.epochs(RunConfig("m", batch_size=500), 50000) == 10
    with pytest.raises(ValueError, match=r"`epochs` must be >= 1\. Received: epochs=0"):
        budget.epochs(RunConfig("m", epochs=0), 50000)


@pytest.mark.parametrize("method,passes", [("moco", 15), ("npid", 20)])
def test_budgets_are_steps_the_same_for_a_large_and_a_small_set(method, passes):
    from keras_unsup.recipes import instances, self_supervised

    config = RunConfig(method)
    budget = {**self_supervised.BUDGETS, **instances.BUDGETS}[method]
    # Methods that refresh a per-image state once a pass (MoCo's queue, NPID's memory
    # bank) see a large set at least this many times.
    assert budget.min_epochs == passes
    assert budget.epochs(config, 60000) == passes
    for n in (1000, 5000, 10000, 60000):
        epochs = budget.epochs(config, n)
        per_epoch = n // budget.batch_size
        steps = epochs * per_epoch
        # The budget's steps, never fewer, whatever the size (unless a tiny set would
        # need more than `max_epochs` passes); a large set is seen at least `min_epochs`
        # times.
        assert budget.steps <= steps or epochs == budget.max_epochs
        assert steps < budget.steps + per_epoch or epochs == budget.min_epochs


def test_moco_queue_is_sized_against_the_dataset():
    from keras_unsup.recipes.self_supervised import default_queue_size

    assert default_queue_size(1000) == 32
    assert default_queue_size(5000) == 256
    assert default_queue_size(60000) == 2048
    assert default_queue_size(10**7) == 4096
    for n in (1000, 5000, 10000, 70000):  # a small share of the images, never most
        assert default_queue_size(n) <= n / 16


class _Reached(Exception):
    """Raised by the stand-in for `training.fit`: the run's settings are resolved."""


def _settings_at_first_fit(method, dataset, monkeypatch, tmp_path):
    """What `method` resolves for `dataset` up to its first fit (or its metrics)."""
    seen = {}

    def first_fit(model, train_ds, *, epochs, run, n_images, **kwargs):
        config = model.get_config()
        seen.update(model=type(model).__name__, epochs=int(epochs), n_images=int(n_images),
                    steps_per_epoch=kwargs.get("steps_per_epoch"),
                    params=int(model.count_params()),
                    config=json.dumps(keras.saving.serialize_keras_object(config),
                                      sort_keys=True, default=str))
        raise _Reached

    monkeypatch.setattr(training, "fit", first_fit)
    keras.backend.clear_session()  # the same automatic layer names for both runs
    try:
        metrics = run_recipe(method, data=dataset, verbose=0, out_dir=tmp_path)
    except _Reached:
        return seen
    except ValueError as error:  # a method that refuses this data refuses it either way
        return {"refused": str(error).replace(dataset.name, "<data>")}
    # A method that trains nothing: its resolved options and clustering settings.
    return {k: metrics.get(k) for k in ("options", "n_clusters", "epochs", "batch_size")}


@pytest.fixture(scope="module")
def digits_and_their_folder(tmp_path_factory):
    """1,500 digits in memory, and the same images exported as a folder of PNGs."""
    from PIL import Image

    data = load_dataset("digits", seed=0).subset(1200, 300, seed=0)
    root = tmp_path_factory.mktemp("digits_folder")
    images = np.concatenate([data.x_train, data.x_test])
    labels = np.concatenate([data.y_train, data.y_test])
    for i, (image, label) in enumerate(zip(images, labels)):
        (root / f"class_{label}").mkdir(exist_ok=True)
        Image.fromarray(np.round(image[..., 0] * 255).astype(np.uint8)).save(
            root / f"class_{label}" / f"{i:04d}.png")
    return data, load_dataset(str(root), stream=False)


# Every method, up to its first fit (a fraction of a second each); the two that fit
# their mixture in full here take seconds and run with the slow tests.
SLOW = ("kmeans", "gmm")


@pytest.mark.parametrize("method", [
    pytest.param(r.name, marks=pytest.mark.slow if r.name in SLOW else ())
    for r in list_recipes()])
def test_a_named_dataset_and_its_folder_get_the_same_settings(method, digits_and_their_folder,
                                                              monkeypatch, tmp_path):
    named, folder = digits_and_their_folder
    assert (named.n_train, named.n_test, named.image_shape) == (
        folder.n_train, folder.n_test, folder.image_shape)
    assert named.name != folder.name
    from_name = _settings_at_first_fit(method, named, monkeypatch, tmp_path / "named")
    from_folder = _settings_at_first_fit(method, folder, monkeypatch, tmp_path / "folder")
    assert from_name == from_folder
    if "epochs" in from_name and "model" in from_name:
        assert from_name["epochs"] >= 1 and from_name["n_images"] > 0
