"""Rotation prediction: a pretext task of another kind (Gidaris et al., 2018).

Each image is shown at 0, 90, 180 and 270 degrees and the network learns to tell
which; to do so it must recognise what is upright, which needs the shapes of the
objects. The rotations are made in the graph, inside `train_step`.
"""

import keras
from keras import ops

from keras_unsup.builders.backbones import build_projection_head, embedding_dim_of
from keras_unsup.models._embedding import EmbeddingModel


def rotations(images):
    """The four rotations of square images and their labels 0..3 (x 90 degrees).

    Args:
        images: `(batch, size, size, channels)`.

    Returns:
        `(rotated, labels)`: `(4 * batch, size, size, channels)` images, grouped by
        rotation (all 0-degree images first), and int32 labels `(4 * batch,)`.
    """
    transposed = ops.transpose(images, (0, 2, 1, 3))
    rotated = [
        images,
        ops.flip(transposed, axis=1),  # 90 degrees counter-clockwise
        ops.flip(ops.flip(images, axis=1), axis=2),  # 180 degrees
        ops.flip(transposed, axis=2),  # 270 degrees
    ]
    batch = ops.shape(images)[0]
    labels = ops.repeat(ops.arange(4, dtype="int32"), batch)
    return ops.concatenate(rotated, axis=0), labels


@keras.saving.register_keras_serializable(package="keras_unsup")
class RotNet(EmbeddingModel):
    """Self-supervision by predicting the rotation (0/90/180/270 degrees) of an image.

    A small MLP head on the encoder's embedding classifies the four rotations of
    every training image; probes use the embedding. Images must be square.

    Args:
        encoder: a Functional backbone from square images to flat embeddings.
        hidden_dim: hidden units of the rotation head (default: the embedding size).

    Call arguments:
        inputs: images `(batch, size, size, channels)`; returns their embeddings.

    Example:

    >>> rotnet = RotNet(build_small_convnet((28, 28, 1)))
    >>> rotnet.compile(optimizer="adam")
    >>> rotnet.fit(image_dataset(x, 128, seed=0), epochs=5)
    """

    config_fields = ("hidden_dim",)

    def __init__(self, encoder, hidden_dim=None, **kwargs):
        embedding_dim = embedding_dim_of(encoder)
        shape = tuple(encoder.inputs[0].shape)
        if len(shape) != 4 or shape[1] is None or shape[1] != shape[2]:
            raise ValueError("RotNet's `encoder` must take square images (batch, size, size, "
                             f"channels). Received: input shape {shape}")
        kwargs.setdefault("name", "rotnet")
        super().__init__(**kwargs)
        self.encoder = encoder
        self.hidden_dim = hidden_dim
        self.head = build_projection_head(embedding_dim, 4, hidden_dim, name="rotation_head")
        self._track_loss_and_accuracy("rotation_accuracy")
        self.built = True

    def predict_rotation_logits(self, images, training=False):
        """Logits `(batch, 4)` of the rotation of each image."""
        return self.head(self.encoder(images, training=training), training=training)

    def _loss(self, data, training):
        images = data[0] if isinstance(data, (tuple, list)) else data
        rotated, labels = rotations(images)
        logits = self.predict_rotation_logits(rotated, training=training)
        losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        hits = ops.cast(ops.cast(ops.argmax(logits, axis=-1), "int32") == labels, "float32")
        return ops.mean(losses), ops.mean(hits)

    def train_step(self, data):
        return self._gradient_step(lambda: self._loss(data, training=True),
                                   self.trainable_weights)

    def test_step(self, data):
        return self._update_metrics(*self._loss(data, training=False))
