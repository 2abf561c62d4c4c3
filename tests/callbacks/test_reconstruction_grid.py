import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from keras_unsup import viz
from keras_unsup.callbacks import ReconstructionGrid


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def tiny_autoencoder():
    # Built here, not with the package's builders, to test the callback alone.
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(4, activation="relu")(x)
    x = keras.layers.Dense(64, activation="sigmoid")(x)
    model = keras.Model(inputs, keras.layers.Reshape((8, 8, 1))(x))
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.fixture
def data():
    return np.random.default_rng(0).random((16, 8, 8, 1)).astype(np.float32)


@pytest.fixture
def drawn_rows(monkeypatch):
    """Records the pixel rows of every figure the callback saves or shows."""
    figures = []
    save_figure = viz.save_figure

    def recording_save_figure(fig, *args, **kwargs):
        rows = {}
        for ax in fig.axes:
            row = ax.get_subplotspec().rowspan.start
            rows.setdefault(row, []).append(np.asarray(ax.images[0].get_array()))
        figures.append([np.stack(rows[r])[..., None] for r in sorted(rows)])
        return save_figure(fig, *args, **kwargs)

    monkeypatch.setattr(viz, "save_figure", recording_save_figure)
    return figures


def test_writes_one_grid_per_epoch_of_originals_over_reconstructions(tmp_path, data, drawn_rows):
    model = tiny_autoencoder()
    out = tmp_path / "figures"  # does not exist yet
    callback = ReconstructionGrid(data, output_dir=out, every=1, n=5)
    model.fit(data, data, epochs=2, batch_size=8, verbose=0, callbacks=[callback])

    names = sorted(p.name for p in out.iterdir())
    assert names == ["reconstructions_epoch_001.png", "reconstructions_epoch_002.png"]
    assert callback.paths == [out / name for name in names]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in callback.paths)

    assert len(drawn_rows) == 2
    originals, reconstructions = drawn_rows[-1]
    np.testing.assert_allclose(originals, data[:5])
    np.testing.assert_allclose(reconstructions, model.predict(data[:5], verbose=0), atol=1e-6)
    assert plt.get_fignums() == []  # figures are closed after saving


def test_every_skips_epochs(tmp_path, data):
    callback = ReconstructionGrid(data, output_dir=tmp_path, every=2)
    tiny_autoencoder().fit(data, data, epochs=3, verbose=0, callbacks=[callback])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reconstructions_epoch_002.png"]


def test_noise_callable_feeds_the_model_fixed_noisy_inputs(tmp_path, data, drawn_rows):
    model = tiny_autoencoder()
    calls = []

    def invert(images):
        calls.append(1)
        return 1.0 - images

    callback = ReconstructionGrid(data, output_dir=tmp_path, noise=invert, n=4)
    model.fit(data, data, epochs=2, verbose=0, callbacks=[callback])
    assert len(calls) == 1  # the same noisy inputs at every epoch
    originals, noisy, reconstructions = drawn_rows[-1]
    np.testing.assert_allclose(originals, data[:4])
    np.testing.assert_allclose(noisy, 1.0 - data[:4], atol=1e-6)
    np.testing.assert_allclose(reconstructions, model.predict(1.0 - data[:4], verbose=0), atol=1e-6)


def test_noise_layer_is_called_in_training_mode(tmp_path, data, drawn_rows):
    # GaussianNoise is the identity unless training=True.
    noise = keras.layers.GaussianNoise(0.3, seed=1)
    callback = ReconstructionGrid(data, output_dir=tmp_path, noise=noise, n=4)
    tiny_autoencoder().fit(data, data, epochs=1, verbose=0, callbacks=[callback])
    originals, noisy, _ = drawn_rows[-1]
    assert np.abs(noisy - originals).mean() > 0.05


def test_show_displays_a_png_each_epoch(monkeypatch, data):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    callback = ReconstructionGrid(data, show=True)
    tiny_autoencoder().fit(data, data, epochs=2, verbose=0, callbacks=[callback])
    assert len(shown) == 2
    assert all(isinstance(obj, IPython.display.Image) for obj in shown)
    assert shown[0].data.startswith(b"\x89PNG")
    assert callback.paths == []


def test_nothing_is_predicted_without_output_dir_or_show(data):
    model = tiny_autoencoder()
    callback = ReconstructionGrid(data)
    model.predict = lambda *a, **k: pytest.fail("predicted with nowhere to draw")
    model.fit(data, data, epochs=1, verbose=0, callbacks=[callback])
    assert callback.paths == []


def test_calls_the_base_initialiser(data):
    callback = ReconstructionGrid(data)
    assert isinstance(callback, keras.callbacks.Callback)
    assert callback.params is None and callback.model is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"images": np.zeros((4, 8, 8))}, "`images` must have rank 4"),
        ({"images": np.zeros((0, 8, 8, 1))}, "`images`"),
        ({"every": 0}, "`every`.*every=0"),
        ({"every": 1.5}, "`every`"),
        ({"n": 0}, "`n`.*n=0"),
        ({"noise": "salt"}, "`noise`"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    kwargs = {"images": np.zeros((4, 8, 8, 1)), **kwargs}
    with pytest.raises(ValueError, match=match):
        ReconstructionGrid(**kwargs)
