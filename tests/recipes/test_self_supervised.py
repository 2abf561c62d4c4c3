import json

import keras
import numpy as np
import pytest

from keras_unsup.data import load_dataset
from keras_unsup.recipes import get_recipe, list_recipes, run_recipe
from keras_unsup.recipes.self_supervised import WIDE_SET, default_moco_width


def _small_digits():
    return load_dataset("digits", seed=0).subset(400, 120, seed=0)


def test_recipes_are_registered_in_the_self_supervised_family():
    names = {r.name: r for r in list_recipes()}
    for name in ("moco", "simclr", "rotnet"):
        assert names[name].family == "self-supervised" and names[name].clusters
    assert get_recipe("moco").summary.startswith("MoCo")


def test_moco_width_follows_the_data_size():
    assert default_moco_width(400) == default_moco_width(WIDE_SET - 1) == 512
    assert default_moco_width(WIDE_SET) == default_moco_width(60000) == 1024
    from keras_unsup.recipes.base import RunConfig
    from keras_unsup.recipes.self_supervised import _build_model, _settings

    config = RunConfig("moco", options={o.name: o.default for o in get_recipe("moco").options})
    settings = _settings(config, "moco")
    for n, width in ((1000, 512), (60000, 1024)):
        model = _build_model("moco", (8, 8, 1), settings, 0, n)
        assert model.encoder.output_shape[-1] == width
    settings["embedding_dim"] = 64  # an explicit width wins
    assert _build_model("moco", (8, 8, 1), settings, 0, 60000).encoder.output_shape[-1] == 64


def test_bad_moco_settings_are_refused_before_training():
    with pytest.raises(ValueError, match="`momentum` must be a number in"):
        run_recipe("moco", data=_small_digits(), epochs=1, verbose=0, momentum=1.5)
    with pytest.raises(ValueError, match="`queue_size` must be an integer >= 1"):
        run_recipe("moco", data=_small_digits(), epochs=1, verbose=0, queue_size=0)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["moco", "simclr", "rotnet"])
def test_recipe_writes_metrics_plot_and_model(method, tmp_path):
    data = _small_digits()
    out = tmp_path / method
    metrics = run_recipe(method, data=data, epochs=2, seed=0, out_dir=out, verbose=0,
                         tsne_points=100, **({"queue_size": 64} if method == "moco" else {}))
    for key in ("acc", "nmi", "ari", "linear_probe_acc", "knn_acc", "images_per_second",
                "wall_time_s"):
        assert isinstance(metrics[key], float), key
    assert 0.0 <= metrics["acc"] <= 1.0 and metrics["knn_acc"] > 0.3  # well above 10 classes' chance
    assert metrics["linear_probe_acc"] > 0.5
    assert metrics["n_train"] == 400 and metrics["family"] == "self-supervised"
    assert json.loads((out / "metrics.json").read_text())["method"] == method
    assert (out / "tsne.png").stat().st_size > 1000
    model = keras.saving.load_model(out / "model.keras")
    x = data.x_test[:4]
    # the embedding's width is the method's declared default (SimCLR's is wider, MoCo's
    # from the data's size: 512 for 400 images)
    width = next(o.default for o in get_recipe(method).options if o.name == "embedding_dim")
    width = width or default_moco_width(data.n_train)
    assert width == (128 if method == "rotnet" else 512)
    assert model.predict(x, verbose=0).shape == (4, width) == (4, metrics["embedding_dim"])


@pytest.mark.slow
def test_moco_recipe_trains_on_a_subset_and_writes_nothing_without_out_dir(tmp_path):
    data = _small_digits()
    metrics = run_recipe("moco", data=data, epochs=1, seed=0, verbose=0, train_images=256,
                         queue_size=16)
    assert metrics["train_images"] == 256 and metrics["queue_size"] == 16
    assert metrics["n_train"] == 400  # probes still use every training image
    assert metrics["images_per_second"] > 0 and metrics["epochs"] == 1


@pytest.mark.slow
def test_init_model_trains_a_saved_moco_further(tmp_path):
    data = _small_digits()
    first = tmp_path / "first"
    run_recipe("moco", data=data, epochs=1, seed=0, out_dir=first, verbose=0, queue_size=64,
               embedding_dim=128, plot=False)
    saved = keras.saving.load_model(first / "model.keras")
    steps_before = int(saved.optimizer.iterations.numpy())
    assert steps_before > 0
    metrics = run_recipe("moco", data=data, epochs=1, seed=0, out_dir=tmp_path / "second",
                         verbose=0, plot=False, init_model=str(first / "model.keras"))
    assert metrics["init_model"] == str(first / "model.keras") and metrics["epochs"] == 1
    # the settings reported are the saved model's (queue 64, 128-d), not the recipe's
    # defaults (sized from the data; 1,024-d)
    assert metrics["queue_size"] == 64 and metrics["embedding_dim"] == 128
    again = keras.saving.load_model(tmp_path / "second" / "model.keras")
    # the optimizer went on counting from the saved model's steps: one more epoch of them
    assert int(again.optimizer.iterations.numpy()) == 2 * steps_before
    # the saved queue's length (64, not the default 4096) came along, and training went on
    assert again.queue_size == 64 and not np.allclose(again.queue.numpy(), saved.queue.numpy())
    changed = [not np.allclose(a, b) for a, b in zip(saved.encoder.get_weights(),
                                                     again.encoder.get_weights())]
    assert any(changed)


def test_init_model_errors_name_the_option(tmp_path):
    data = _small_digits()
    with pytest.raises(ValueError, match="`init_model` must be the path of an existing .keras"):
        run_recipe("simclr", data=data, epochs=1, verbose=0,
                   init_model=str(tmp_path / "missing.keras"))


@pytest.mark.slow
def test_init_model_of_another_method_is_refused(tmp_path):
    data = _small_digits()
    run_recipe("rotnet", data=data, epochs=1, seed=0, out_dir=tmp_path / "rot", verbose=0,
               plot=False)
    with pytest.raises(ValueError, match="holds a RotNet, but 'moco' trains a MoCo"):
        run_recipe("moco", data=data, epochs=1, verbose=0,
                   init_model=str(tmp_path / "rot" / "model.keras"))


def test_init_model_for_images_of_another_shape_is_refused(tmp_path):
    from keras_unsup.builders.backbones import build_small_convnet
    from keras_unsup.models.moco import MoCo
    from keras_unsup.recipes.base import load_init_model

    path = tmp_path / "moco.keras"
    MoCo(build_small_convnet((8, 8, 1), embedding_dim=8), queue_size=16).save(path)
    loaded = load_init_model(str(path), MoCo, "moco", (8, 8, 1),
                             lambda m: m.encoder.input_shape[1:])
    assert loaded.queue_size == 16
    with pytest.raises(ValueError, match=r"works on images of shape \(8, 8, 1\), the data has "
                                         r"\(28, 28, 1\)"):
        load_init_model(str(path), MoCo, "moco", (28, 28, 1),
                        lambda m: m.encoder.input_shape[1:])


@pytest.mark.parametrize("bad", [0.5, [0.0, 1.0], [0.8, 0.5], [0.5, 1.2], ["a", 1], [True, True]])
def test_bad_crop_scale_is_refused_before_training(bad):
    with pytest.raises(ValueError, match=r"`crop_scale` must be a pair \(min, max\) with "
                                         r"0.0 < min <= max <= 1.0\. Received"):
        run_recipe("simclr", data=_small_digits(), epochs=1, verbose=0, crop_scale=bad)


def test_crop_scale_reaches_the_views(monkeypatch):
    from keras_unsup.data import views

    seen = {}
    real = views.default_augmentation

    def spy(seed=None, **overrides):
        seen.update(overrides)
        return real(seed=seed, **overrides)

    monkeypatch.setattr(views, "default_augmentation", spy)
    metrics = run_recipe("simclr", data=_small_digits(), epochs=1, verbose=0, plot=False,
                         crop_scale=[0.5, 1.0])
    assert seen == {"crop_scale": [0.5, 1.0]} and metrics["crop_scale"] == [0.5, 1.0]


def test_filters_widen_the_convnet_and_are_reported(tmp_path):
    metrics = run_recipe("moco", data=_small_digits(), epochs=1, verbose=0, plot=False,
                         queue_size=16, filters=[8, 12], out_dir=tmp_path)
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert [model.encoder.get_layer(n).filters for n in ("conv_1", "conv_2")] == [8, 12]
    assert metrics["filters"] == [8, 12]


def test_moco_learning_rate_decays_over_the_budget_unless_constant(tmp_path):
    """MoCo v2's cosine schedule: from `learning_rate` to 0 over the run's optimizer
    steps; the schedule saves and loads with the model; `constant` (the default) keeps
    Adam's rate."""
    data = _small_digits()
    metrics = run_recipe("moco", data=data, epochs=2, verbose=0, plot=False, queue_size=16,
                         embedding_dim=16, lr_schedule="cosine", out_dir=tmp_path / "cosine")
    steps = metrics["epochs"] * (data.n_train // metrics["batch_size"])
    model = keras.saving.load_model(tmp_path / "cosine" / "model.keras")
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert schedule.decay_steps == steps and schedule.initial_learning_rate == 1e-3
    assert int(model.optimizer.iterations.numpy()) == steps
    assert float(schedule(0)) == pytest.approx(1e-3)
    assert float(schedule(steps // 2)) == pytest.approx(5e-4, rel=1e-3)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)  # at the end
    # Trained further, the decay restarts from the saved optimizer's step count.
    run_recipe("moco", data=data, epochs=1, verbose=0, plot=False, out_dir=tmp_path / "more",
               lr_schedule="cosine", init_model=str(tmp_path / "cosine" / "model.keras"))
    further = keras.saving.load_model(tmp_path / "more" / "model.keras")
    assert float(further.optimizer._learning_rate(steps)) == pytest.approx(1e-3)
    assert int(further.optimizer.iterations.numpy()) > steps
    run_recipe("moco", data=data, epochs=1, verbose=0, plot=False, queue_size=16,
               embedding_dim=16, out_dir=tmp_path / "constant")
    model = keras.saving.load_model(tmp_path / "constant" / "model.keras")
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="lr_schedule"):
        run_recipe("moco", data=data, epochs=1, verbose=0, lr_schedule="linear")


@pytest.mark.parametrize("bad", [64, [8], [8, 0], ["a", 8]])
def test_bad_filters_are_refused_before_training(bad):
    with pytest.raises(ValueError, match=r"`filters` must be"):
        run_recipe("moco", data=_small_digits(), epochs=1, verbose=0, filters=bad)


@pytest.mark.slow
def test_moco_with_its_defaults_learns_and_beats_raw_pixels_on_digits():
    """Issue 13: with nothing but its defaults (budget from the data's size, queue sized
    against it), MoCo's contrastive accuracy ends far above chance and its frozen
    embedding beats the raw pixels on the linear probe and the kNN vote of the same split."""
    from keras_unsup.evaluation.metrics import knn_accuracy, linear_probe_accuracy

    data = load_dataset("digits", seed=0)
    metrics = run_recipe("moco", data=data, verbose=0, plot=False)
    chance = 1.0 / (metrics["queue_size"] + 1)
    assert metrics["queue_size"] <= data.n_train / 16
    assert metrics["final_contrastive_accuracy"] > 10 * chance
    a, b = data.x_train.reshape(data.n_train, -1), data.x_test.reshape(data.n_test, -1)
    assert metrics["linear_probe_acc"] > linear_probe_accuracy(a, data.y_train, b, data.y_test)
    assert metrics["knn_acc"] > knn_accuracy(a, data.y_train, b, data.y_test, k=5)
