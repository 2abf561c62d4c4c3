"""What the self-supervised models share: the encoder as the model, a loss and an accuracy."""

import keras

from keras_unsup.models._serialization import SubModelConfig


def check_projection_dim(projection_dim):
    """`projection_dim` must be None (no projection head) or an integer >= 1."""
    if projection_dim is not None and (isinstance(projection_dim, bool)
                                       or not isinstance(projection_dim, int)
                                       or projection_dim < 1):
        raise ValueError("`projection_dim` must be None or an integer >= 1. "
                         f"Received: projection_dim={projection_dim!r}")


class EmbeddingModel(SubModelConfig, keras.Model):
    """A model whose call returns its `encoder`'s embeddings and whose train step tracks a
    loss and an accuracy (of the contrastive or pretext task). Saving keeps the encoder
    and the `config_fields` of the subclass."""

    def _track_loss_and_accuracy(self, accuracy_name):
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name=accuracy_name)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, inputs, training=False):
        return self.encoder(inputs, training=training)
