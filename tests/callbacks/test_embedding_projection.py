"""EmbeddingProjection: maps of the codes during `fit` and TensorBoard projector exports."""

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from keras_unsup.callbacks import EmbeddingProjection
from keras_unsup.embedding.projection import project_embeddings


def tiny_autoencoder(code_dim=3):
    # Built here, not with the package's builders, to test the callback alone.
    image = keras.Input((4, 4, 1))
    code = keras.layers.Dense(code_dim, name="code")(keras.layers.Flatten()(image))
    encoder = keras.Model(image, code)
    out = keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16, activation="sigmoid")(code))
    autoencoder = keras.Model(image, out)
    autoencoder.compile(optimizer="adam", loss="mse")
    return autoencoder, encoder


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.random((24, 4, 4, 1)).astype(np.float32), np.arange(24) % 3


def test_pca_map_per_epoch_of_the_trained_encoder(tmp_path, data):
    images, labels = data
    autoencoder, encoder = tiny_autoencoder()
    callback = EmbeddingProjection(encoder, images, labels, output_dir=tmp_path,
                                   class_names=list("abc"))
    assert callback.method == "pca" and callback.color_by == "label"
    autoencoder.fit(images, images, epochs=2, verbose=0, callbacks=[callback])
    names = ["projection_pca_epoch_001.png", "projection_pca_epoch_002.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert callback.paths == [tmp_path / name for name in names]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in callback.paths)
    # The last map is the PCA of the codes the trained encoder gives now.
    expected, _ = project_embeddings(encoder.predict(images, verbose=0), "pca")
    np.testing.assert_allclose(callback.last_points, expected, rtol=1e-4, atol=1e-5)
    assert plt.get_fignums() == []  # every figure closed


def test_every_and_the_last_epoch_by_cluster(tmp_path):
    autoencoder, encoder = tiny_autoencoder()
    x = np.random.default_rng(0).random((30, 4, 4, 1)).astype("float32")
    callback = EmbeddingProjection(encoder, x, method="tsne", color_by="cluster", n_clusters=3,
                                   output_dir=tmp_path, every=2, max_points=20)
    autoencoder.fit(x, x, epochs=5, verbose=0, callbacks=[callback])
    # Epochs 2 and 4 are due; 5 is drawn at the end of training, being the last.
    assert [p.name for p in callback.paths] == ["projection_tsne_epoch_002.png",
                                                "projection_tsne_epoch_004.png",
                                                "projection_tsne_epoch_005.png"]
    assert callback.last_points.shape == (20, 2)


def test_shows_inline_with_class_names_and_closes(monkeypatch, data):
    import IPython.display

    images, labels = data
    autoencoder, encoder = tiny_autoencoder()
    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    callback = EmbeddingProjection(encoder, images, labels, show=True, class_names=["x", "y", "z"])
    autoencoder.fit(images, images, epochs=1, verbose=0, callbacks=[callback])
    assert len(shown) == 1 and shown[0].data.startswith(b"\x89PNG")
    assert callback.paths == [] and plt.get_fignums() == []


def test_multi_output_encoder_uses_output_index(tmp_path, data):
    images, _ = data
    inputs = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    encoder = keras.Model(inputs, [keras.layers.Dense(2)(flat), keras.layers.Dense(2)(flat)])
    z_mean, z_log_var = encoder.predict(images, verbose=0)
    for output_index, expected in ((0, z_mean), (1, z_log_var)):
        callback = EmbeddingProjection(encoder, images, output_dir=tmp_path,
                                       output_index=output_index)
        callback.on_epoch_end(0)
        # 2-D codes are drawn as they are.
        np.testing.assert_allclose(callback.last_points, expected, atol=1e-6)
        assert callback.color_by == "none"


def test_large_sets_are_subsampled_once_with_their_labels(data):
    images, labels = data
    _, encoder = tiny_autoencoder()
    callback = EmbeddingProjection(encoder, images, labels, max_points=10, seed=3)
    again = EmbeddingProjection(encoder, images, labels, max_points=10, seed=3)
    assert callback.images.shape == (10, 4, 4, 1)
    np.testing.assert_array_equal(callback.index, again.index)
    np.testing.assert_array_equal(callback.images, images[callback.index])
    np.testing.assert_array_equal(callback.labels, labels[callback.index])
    assert callback.params is None and callback.model is None  # the base initialiser ran


def test_nothing_to_draw_or_export_encodes_nothing(data):
    images, _ = data
    calls = []

    def encoder(batch):
        calls.append(len(batch))
        return batch.reshape(len(batch), -1)[:, :3]

    callback = EmbeddingProjection(encoder, images)
    callback.on_train_begin()
    callback.on_epoch_end(0)
    callback.on_train_end()
    assert calls == [] and callback.paths == [] and callback.last_points is None


# --- the TensorBoard projector export ------------------------------------------------


def read_config(folder):
    from google.protobuf import text_format

    projector_config_pb2 = pytest.importorskip(
        "tensorboard.plugins.projector.projector_config_pb2")
    return text_format.Parse((folder / "projector_config.pbtxt").read_text(),
                             projector_config_pb2.ProjectorConfig())


def test_projector_export_one_tensor_per_epoch_with_sprite_and_labels(tmp_path):
    autoencoder, encoder = tiny_autoencoder()
    x = np.random.default_rng(0).random((16, 4, 4, 1)).astype("float32")
    labels = np.arange(16) % 2
    callback = EmbeddingProjection(encoder, x, labels, projector_dir=tmp_path,
                                   class_names=["a", "b"], keep_epochs=True, max_points=9)
    autoencoder.fit(x, x, epochs=2, batch_size=8, verbose=0, callbacks=[callback])
    config = read_config(tmp_path)
    assert [e.tensor_name for e in config.embeddings] == ["embedding_epoch_001",
                                                          "embedding_epoch_002"]
    last = config.embeddings[1]
    assert list(last.tensor_shape) == [9, 3] and list(last.sprite.single_image_dim) == [4, 4]
    exported = np.loadtxt(tmp_path / last.tensor_path, delimiter="\t")
    np.testing.assert_allclose(exported, encoder.predict(callback.images, verbose=0), atol=1e-5)
    assert len((tmp_path / last.metadata_path).read_text().splitlines()) == 10  # header + 9
    assert callback.exported_epochs == [1, 2]
    assert callback.paths == []  # no map without output_dir or show


def test_projector_and_map_share_one_encoding_and_the_last_epoch(tmp_path, data):
    images, labels = data
    autoencoder, _ = tiny_autoencoder()
    calls = []

    def encoder(batch):
        calls.append(len(batch))
        return batch.reshape(len(batch), -1)[:, :3]

    callback = EmbeddingProjection(encoder, images, labels, every=5,
                                   output_dir=tmp_path / "maps", projector_dir=tmp_path / "tb")
    autoencoder.fit(images, images, epochs=2, verbose=0, callbacks=[callback])
    assert callback.exported_epochs == [2]  # the last epoch, exported at the end of training
    assert [p.name for p in callback.paths] == ["projection_pca_epoch_002.png"]
    assert calls == [24]  # encoded once for both
    assert [e.tensor_name for e in read_config(tmp_path / "tb").embeddings] == ["embedding"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"labels": np.zeros(23, dtype=int)}, r"`labels` must hold one label per image \(24\)"),
        ({"method": "isomap"}, r"`method` must be one of \['umap', 'tsne', 'pca'\]"),
        ({"color_by": "label"}, "needs `labels`"),
        ({"color_by": "colour"}, "`color_by` must be one of"),
        ({"color_by": "cluster", "n_clusters": 25}, r"`n_clusters` must be an integer in \[1, 24\]"),
        ({"every": 0}, r"`every` must be an integer >= 1"),
        ({"max_points": 1}, r"`max_points` must be an integer >= 2"),
        ({"show": "yes"}, "`show` must be True or False"),
        ({"tensor_name": "a b"}, "`tensor_name`"),
        ({"encoder": "not a model"}, "`encoder`"),
        ({"images": np.zeros((1, 4, 4, 1))}, "at least 2 images"),
        ({"images": np.zeros((6, 3, 3, 1))}, r"images.shape=\(6, 3, 3, 1\)"),
    ],
)
def test_rejects_bad_arguments(data, kwargs, match):
    _, encoder = tiny_autoencoder()
    kwargs = {"encoder": encoder, "images": data[0], **kwargs}
    with pytest.raises(ValueError, match=match):
        EmbeddingProjection(**kwargs)
