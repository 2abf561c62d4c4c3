"""EmbeddingProjection: maps of the codes during `fit`, by label or by cluster."""

import keras
import numpy as np
import pytest

from keras_unsup.callbacks.projection import EmbeddingProjection


def tiny_autoencoder():
    image = keras.Input((4, 4, 1))
    code = keras.layers.Dense(3)(keras.layers.Flatten()(image))
    encoder = keras.Model(image, code)
    out = keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16, activation="sigmoid")(code))
    autoencoder = keras.Model(image, out)
    autoencoder.compile(optimizer="adam", loss="mse")
    return autoencoder, encoder


def test_writes_one_figure_per_drawn_epoch(tmp_path):
    autoencoder, encoder = tiny_autoencoder()
    x = np.random.default_rng(0).random((30, 4, 4, 1)).astype("float32")
    callback = EmbeddingProjection(encoder, x, method="pca", n_clusters=3, output_dir=tmp_path,
                                   every=2, max_points=20)
    assert callback.color_by == "cluster"  # no labels: coloured by k-means
    autoencoder.fit(x, x, epochs=4, verbose=0, callbacks=[callback])
    assert [p.name for p in callback.paths] == ["projection_pca_epoch_002.png",
                                                "projection_pca_epoch_004.png"]
    assert all(p.is_file() for p in callback.paths) and callback.last_points.shape == (20, 2)


def test_bad_arguments():
    _, encoder = tiny_autoencoder()
    x = np.zeros((6, 4, 4, 1), "float32")
    with pytest.raises(ValueError, match="method"):
        EmbeddingProjection(encoder, x, method="isomap")
    with pytest.raises(ValueError, match="needs `labels`"):
        EmbeddingProjection(encoder, x, color_by="label")
    with pytest.raises(ValueError, match="n_clusters"):
        EmbeddingProjection(encoder, x, n_clusters=7)
    with pytest.raises(ValueError, match=r"images.shape=\(6, 3, 3, 1\)"):
        EmbeddingProjection(encoder, np.zeros((6, 3, 3, 1)))
