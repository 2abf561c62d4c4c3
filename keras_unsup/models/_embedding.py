"""What the self-supervised models share: the encoder as the model, an optional
projection head, one gradient step averaged over replicas, a loss and an accuracy."""

import keras

from keras_unsup.builders.backbones import build_projection_head, embedding_dim_of
from keras_unsup.checks import check_positive_int
from keras_unsup.layers.info_nce import InfoNCE
from keras_unsup.models._serialization import SubModelConfig
from keras_unsup.models._training import descend


def contrastive_parts(encoder, projection_dim, temperature):
    """Checks the arguments every contrastive model takes and builds its parts.

    Args:
        encoder: a Functional backbone from images to flat embeddings.
        projection_dim: size of the MLP projection head, or `None` for none.
        temperature: InfoNCE temperature, > 0.

    Returns:
        `(info_nce, projector)`: an `InfoNCE` layer and the projection head (`None`
        when `projection_dim` is `None`).
    """
    projection_dim = check_positive_int(projection_dim, "projection_dim", allow_none=True)
    embedding_dim = embedding_dim_of(encoder)
    info_nce = InfoNCE(temperature, name="info_nce")  # validates `temperature`
    projector = None
    if projection_dim is not None:
        projector = build_projection_head(embedding_dim, projection_dim)
    return info_nce, projector


class EmbeddingModel(SubModelConfig, keras.Model):
    """A model whose call returns its `encoder`'s embeddings and whose train step tracks a
    loss and an accuracy (of the contrastive or pretext task). Saving keeps the encoder
    and the `config_fields` of the subclass."""

    projector = None

    def _track_loss_and_accuracy(self, accuracy_name):
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name=accuracy_name)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, inputs, training=False):
        return self.encoder(inputs, training=training)

    def project(self, images, training=False):
        """The encoder's embeddings, through the projection head where there is one."""
        z = self.encoder(images, training=training)
        return z if self.projector is None else self.projector(z, training=training)

    def _gradient_step(self, compute, variables):
        """One optimizer step on `compute() -> (loss, accuracy)`; returns the metrics."""
        return self._update_metrics(*descend(self.optimizer, variables, compute))

    def _update_metrics(self, loss, accuracy):
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(accuracy)
        return {m.name: m.result() for m in self.metrics}
