"""EmbeddingProjector: exports during `fit`, read back with TensorBoard's config reader."""

import keras
import numpy as np
import pytest
from google.protobuf import text_format

projector_config_pb2 = pytest.importorskip(
    "tensorboard.plugins.projector.projector_config_pb2")

from keras_unsup.callbacks.embedding_projector import EmbeddingProjector  # noqa: E402


def tiny_autoencoder():
    image = keras.Input((4, 4, 1))
    code = keras.layers.Dense(3, name="code")(keras.layers.Flatten()(image))
    encoder = keras.Model(image, code)
    out = keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16, activation="sigmoid")(code))
    autoencoder = keras.Model(image, out)
    autoencoder.compile(optimizer="adam", loss="mse")
    return autoencoder, encoder


def read_config(folder):
    return text_format.Parse((folder / "projector_config.pbtxt").read_text(),
                             projector_config_pb2.ProjectorConfig())


def test_one_tensor_per_epoch_with_sprite_and_labels(tmp_path):
    autoencoder, encoder = tiny_autoencoder()
    x = np.random.default_rng(0).random((16, 4, 4, 1)).astype("float32")
    labels = np.arange(16) % 2
    callback = EmbeddingProjector(encoder, x, tmp_path, labels=labels, class_names=["a", "b"],
                                  keep_epochs=True, max_points=9)
    autoencoder.fit(x, x, epochs=2, batch_size=8, verbose=0, callbacks=[callback])
    config = read_config(tmp_path)
    assert [e.tensor_name for e in config.embeddings] == ["embedding_epoch_001", "embedding_epoch_002"]
    last = config.embeddings[1]
    assert list(last.tensor_shape) == [9, 3] and list(last.sprite.single_image_dim) == [4, 4]
    exported = np.loadtxt(tmp_path / last.tensor_path, delimiter="\t")
    np.testing.assert_allclose(exported, encoder.predict(callback.images, verbose=0), atol=1e-5)
    assert len((tmp_path / last.metadata_path).read_text().splitlines()) == 10  # header + 9
    assert callback.exported_epochs == [1, 2]


def test_last_epoch_is_exported_at_train_end(tmp_path):
    autoencoder, encoder = tiny_autoencoder()
    x = np.random.default_rng(0).random((8, 4, 4, 1)).astype("float32")
    callback = EmbeddingProjector(encoder, x, tmp_path, every=5)
    autoencoder.fit(x, x, epochs=2, verbose=0, callbacks=[callback])
    assert callback.exported_epochs == [2]
    assert [e.tensor_name for e in read_config(tmp_path).embeddings] == ["embedding"]


def test_bad_arguments():
    _, encoder = tiny_autoencoder()
    x = np.zeros((4, 4, 4, 1), "float32")
    with pytest.raises(ValueError, match=r"images.shape=\(4, 5, 5, 1\)"):
        EmbeddingProjector(encoder, np.zeros((4, 5, 5, 1)), "logs")
    with pytest.raises(ValueError, match="labels"):
        EmbeddingProjector(encoder, x, "logs", labels=[1])
    with pytest.raises(ValueError, match="every"):
        EmbeddingProjector(encoder, x, "logs", every=0)
    with pytest.raises(ValueError, match="log_dir"):
        EmbeddingProjector(encoder, x, None)
