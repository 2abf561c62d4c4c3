import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from keras_unsup import viz
from keras_unsup.callbacks import LatentProjection


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def tiny_encoder_and_autoencoder(latent_dim=3):
    # Built here, not with the package's builders, to test the callback alone.
    inputs = keras.Input((8, 8, 1))
    codes = keras.layers.Dense(latent_dim)(keras.layers.Flatten()(inputs))
    encoder = keras.Model(inputs, codes)
    x = keras.layers.Dense(64, activation="sigmoid")(encoder(inputs))
    autoencoder = keras.Model(inputs, keras.layers.Reshape((8, 8, 1))(x))
    autoencoder.compile(optimizer="adam", loss="mse")
    return encoder, autoencoder


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.random((24, 8, 8, 1)).astype(np.float32), np.arange(24) % 3


def test_pca_map_per_epoch_of_the_trained_encoder(tmp_path, data):
    images, labels = data
    encoder, autoencoder = tiny_encoder_and_autoencoder()
    out = tmp_path / "latent"
    callback = LatentProjection(
        encoder, images, labels, method="pca", output_dir=out, every=1, class_names=list("abc")
    )
    autoencoder.fit(images, images, epochs=2, verbose=0, callbacks=[callback])

    names = sorted(p.name for p in out.iterdir())
    assert names == ["latent_epoch_001.png", "latent_epoch_002.png"]
    assert callback.paths == [out / name for name in names]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in callback.paths)
    # The last map is the PCA of the codes the trained encoder gives now.
    expected, _ = viz.project_2d(encoder.predict(images, verbose=0), method="pca")
    np.testing.assert_allclose(callback.last_points, expected, rtol=1e-4, atol=1e-5)
    assert plt.get_fignums() == []


def test_tsne_every_second_epoch(tmp_path, data):
    images, labels = data
    encoder, autoencoder = tiny_encoder_and_autoencoder()
    callback = LatentProjection(
        encoder, images, labels, method="tsne", output_dir=tmp_path, every=2
    )
    autoencoder.fit(images, images, epochs=2, verbose=0, callbacks=[callback])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latent_epoch_002.png"]
    assert callback.last_points.shape == (24, 2)


def test_draws_labels_with_class_names(monkeypatch, data):
    import IPython.display

    images, labels = data
    encoder, autoencoder = tiny_encoder_and_autoencoder(latent_dim=2)
    drawn = []
    plot_latent = viz.plot_latent

    def recording_plot_latent(*args, **kwargs):
        fig = plot_latent(*args, **kwargs)
        drawn.append([t.get_text() for t in fig.axes[0].get_legend().get_texts()])
        return fig

    monkeypatch.setattr(viz, "plot_latent", recording_plot_latent)
    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    callback = LatentProjection(
        encoder, images, labels, method="pca", show=True, class_names=["x", "y", "z"]
    )
    autoencoder.fit(images, images, epochs=1, verbose=0, callbacks=[callback])
    assert drawn == [["x", "y", "z"]]
    assert len(shown) == 1 and shown[0].data.startswith(b"\x89PNG")


def test_multi_output_encoder_is_represented_by_its_first_output(tmp_path, data):
    images, _ = data
    inputs = keras.Input((8, 8, 1))
    flat = keras.layers.Flatten()(inputs)
    z_mean, z_log_var = keras.layers.Dense(2)(flat), keras.layers.Dense(2)(flat)
    encoder = keras.Model(inputs, [z_mean, z_log_var])
    callback = LatentProjection(encoder, images, method="pca", output_dir=tmp_path)
    callback.on_epoch_end(0)
    # 2-D codes are drawn as they are, so the points are z_mean itself.
    np.testing.assert_allclose(
        callback.last_points, encoder.predict(images, verbose=0)[0], atol=1e-6
    )
    assert (tmp_path / "latent_epoch_001.png").is_file()


def test_large_sets_are_subsampled_once_with_their_labels(data):
    images, labels = data
    encoder, _ = tiny_encoder_and_autoencoder()
    callback = LatentProjection(encoder, images, labels, max_points=10, seed=3)
    again = LatentProjection(encoder, images, labels, max_points=10, seed=3)
    assert callback.images.shape == (10, 8, 8, 1)
    np.testing.assert_array_equal(callback.index, again.index)
    np.testing.assert_array_equal(callback.images, images[callback.index])
    np.testing.assert_array_equal(callback.labels, labels[callback.index])


def test_calls_the_base_initialiser(data):
    encoder, _ = tiny_encoder_and_autoencoder()
    callback = LatentProjection(encoder, data[0])
    assert callback.params is None and callback.model is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"labels": np.zeros(23, dtype=int)},
            r"`labels`.*Expected: 24 labels.*Received: labels of length 23",
        ),
        ({"method": "umap"}, r"`method` must be one of \('tsne', 'pca'\).*umap"),
        ({"every": 0}, "`every`"),
        ({"max_points": 1}, "`max_points`"),
        ({"encoder": "not a model"}, "`encoder`"),
        ({"images": np.zeros((1, 8, 8, 1))}, "`images`"),
    ],
)
def test_rejects_bad_arguments(data, kwargs, match):
    encoder, _ = tiny_encoder_and_autoencoder()
    kwargs = {"encoder": encoder, "images": data[0], **kwargs}
    with pytest.raises(ValueError, match=match):
        LatentProjection(**kwargs)
