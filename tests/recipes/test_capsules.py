import json

import keras
import numpy as np
import pytest

from keras_unsup.data.datasets import Dataset
from keras_unsup.recipes import run_recipe
from keras_unsup.recipes.base import RunDir
from keras_unsup.recipes.capsules import NaNLossError, ablation_markdown, default_sizes, stop_on_nan


def _tiny(size=12, n=40, nan=False):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, size, size, 1)).astype("float32")
    if nan:
        x[3, 2, 2, 0] = np.nan
    y = rng.integers(0, 2, n)
    return Dataset("tiny", x[: n // 2], y[: n // 2], x[n // 2:], y[n // 2:], ("a", "b"))


def test_defaults_follow_the_official_mnist_run():
    from keras_unsup.recipes.capsules import build_scae, encoder_padding

    model = build_scae((28, 28, 1), template_size=11, canvas_size=40)
    assert (model.pcae.n_parts, model.ocae.n_objects) == (40, 32)
    assert model.pcae.pixel_scale == 0.25  # not the official 1: see build_scae
    assert model.ocae.prior_within_constant == pytest.approx(4.3)
    st = model.ocae.object_encoder.get_layer("set_transformer")
    assert (st.num_blocks, st.num_heads, st.dim, st.output_dim) == (3, 1, 16, 256)
    assert st.pooling == "mab"
    # the official code's pooling onto the objects, as an option
    official = build_scae((28, 28, 1), template_size=11, canvas_size=40,
                          object_pooling="attention")
    assert official.ocae.object_encoder.get_layer("set_transformer").pooling == "attention"
    assert st.masking == "log"
    assert "part_normalization" not in [layer.name for layer in model.ocae.object_encoder.layers]
    hard = build_scae((28, 28, 1), template_size=11, canvas_size=40, object_masking="hard",
                      part_normalization=True)
    assert hard.ocae.object_encoder.get_layer("set_transformer").masking == "hard"
    assert hard.ocae.object_encoder.get_layer("part_normalization").axis == -1
    # valid padding: 40 -> 19 -> 9 -> 7 -> 5 positions
    assert model.pcae.part_encoder.get_layer("conv_4").output.shape[1:3] == (5, 5)
    # the within-example constant in proportion to the objects
    small = build_scae((28, 28, 1), object_capsules=16, template_size=11, canvas_size=40)
    assert small.ocae.prior_within_constant == pytest.approx(4.3 / 2)
    # "auto" padding is valid where at least 3x3 positions are left
    assert encoder_padding("auto", 40, 4) == "valid"
    assert encoder_padding("auto", 34, 4) == "valid"  # 34 -> 16 -> 7 -> 5 -> 3
    assert encoder_padding("auto", 17, 4) == "same"
    assert encoder_padding("valid", 17, 4) == "valid"


def test_default_sizes_are_the_papers_for_28x28_and_in_proportion_otherwise():
    assert default_sizes(28) == (11, 40)
    assert default_sizes(8) == (3, 11)
    assert default_sizes(28, 7, 30) == (7, 30)


@pytest.mark.parametrize("options, match", [
    ({"template_size": 20}, r"`--set template_size` must be at most the images' side \(12x12\)"
                            r".*Received: --set template_size=20"),
    ({"canvas_size": 10}, r"`--set canvas_size` must be at least the images' side.*"
                          r"Received: --set canvas_size=10"),
    ({"part_capsules": 0}, r"`--set part_capsules` must be an integer >= 1"),
    ({"object_capsules": 0}, r"`--set object_capsules` must be an integer >= 1"),
    ({"padding": "valid"}, r"`--set padding` 'valid' leaves no feature map on a 17x17 canvas.*"
                           r"Received: --set padding='valid'"),
])
def test_bad_options_are_refused_before_any_work(tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        run_recipe("scae", data=_tiny(), out_dir=tmp_path, option_flag="--set", verbose=0,
                   **options)
    assert not (tmp_path / "model.keras").exists()
    assert not (tmp_path / "checkpoints").exists()


def test_nan_images_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="`x_train` must hold only finite values"):
        run_recipe("scae", data=_tiny(nan=True), out_dir=tmp_path, verbose=0)
    assert not (tmp_path / "checkpoints").exists()


def test_a_nan_loss_stops_training_and_the_run_resumes_from_the_last_finished_epoch(tmp_path):
    from keras_unsup.recipes import training

    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(8)

    class Poison(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                kernel = self.model.layers[-1].kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    run = RunDir(tmp_path)
    with pytest.raises(NaNLossError, match="the loss became nan.*rerun the same command"):
        training.fit(model, ds, epochs=4, run=run, n_images=32, verbose=0,
                     callbacks=[Poison(), stop_on_nan()])
    fit = run.read_state()["fits"]["fit"]
    assert fit["epochs_done"] == 2 and not fit["done"]
    # the rerun (a fresh process would rebuild the model) resumes after epoch 2, from
    # finite weights, and trains the two epochs left
    keras.utils.set_random_seed(0)
    fresh = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    fresh.compile(optimizer="sgd", loss="mse")
    history, _ = training.fit(fresh, ds, epochs=4, run=run, n_images=32, verbose=0,
                              callbacks=[stop_on_nan()])
    assert len(history.history["loss"]) == 4 and np.all(np.isfinite(history.history["loss"]))
    assert history.steps_this_call == 2 * 4
    assert np.all(np.isfinite(np.asarray(fresh.layers[-1].kernel)))


def test_ablation_table_has_the_seeds_layout():
    summary = {"dataset": "digits", "n_train": 10, "n_test": 5, "seed": 0, "rows": [
        {"part_capsules": 30, "object_capsules": 16, "linear_probe_acc": 0.9847, "acc": 0.975},
        {"part_capsules": 40, "object_capsules": 32, "linear_probe_acc": None, "acc": 0.5}]}
    lines = ablation_markdown(summary).splitlines()
    assert lines[2] == "| part / object capsules | linear classification | bipartite matching |"
    assert lines[4] == "| 30 / 16 | 98.47% | 97.50% |"
    assert lines[5] == "| 40 / 32 | – | 50.00% |"


def test_cli_ablation_refuses_unpaired_rows_in_one_line(capsys):
    from keras_unsup.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["ablate", "scae", "--parts", "30,40", "--objects", "16"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("keras-unsup: error: `parts` and `objects` must hold one value per row")


@pytest.mark.slow
def test_a_small_run_writes_metrics_figures_and_a_model_and_a_rerun_reuses_it(tmp_path):
    data = _tiny(size=12, n=64)
    metrics = run_recipe("scae", data=data, epochs=2, batch_size=16, out_dir=tmp_path,
                         verbose=0, part_capsules=4, object_capsules=3, template_size=5,
                         filters=[8, 8])
    for key in ("acc", "nmi", "ari", "linear_probe_acc", "posterior_acc", "images_per_second"):
        assert key in metrics and np.isfinite(metrics[key])
    # the presences' spread over the test images, recomputed from the saved model
    codes = keras.saving.load_model(tmp_path / "model.keras").predict(data.x_test, verbose=0)
    spread = float(np.asarray(codes["object_presence"]).std(axis=0).mean())
    assert metrics["object_presence_spread"] == pytest.approx(spread, rel=1e-3, abs=1e-6)
    assert metrics["optimizer_steps"] == 2 * (32 // 16)
    for name in ("templates.png", "parts.png", "presence.png", "model.keras", "metrics.json"):
        assert (tmp_path / name).is_file()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["options"]["part_capsules"] == 4
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert model.pcae.n_parts == 4 and model.ocae.n_objects == 3
    again = run_recipe("scae", data=data, epochs=2, batch_size=16, out_dir=tmp_path, verbose=0,
                       part_capsules=4, object_capsules=3, template_size=5, filters=[8, 8])
    assert again == metrics
