"""SimCLR: contrastive learning with in-batch negatives (Chen et al., 2020).

Two augmented views of each image go through one encoder and an MLP projection
head; the NT-Xent loss (InfoNCE with the other `2 * batch - 2` views of the batch
as negatives, both directions) pulls each pair together. Probes use the encoder's
embedding, before the head, as in the paper.
"""

import keras
import tensorflow as tf
from keras import ops

from keras_unsup.builders.backbones import build_projection_head, embedding_dim_of
from keras_unsup.layers.info_nce import InfoNCE
from keras_unsup.models._embedding import EmbeddingModel, check_projection_dim
from keras_unsup.models.moco import check_views, replicas_in_sync


@keras.saving.register_keras_serializable(package="keras_unsup")
class SimCLR(EmbeddingModel):
    """SimCLR on the `InfoNCE` layer: negatives are the other views of the batch.

    Negatives come from each replica's own part of the batch (a global batch split
    over replicas gives each query `2 * local_batch - 2` negatives).

    Args:
        encoder: a Functional backbone from images to flat embeddings `(batch, dim)`.
        projection_dim: size of the MLP projection head, or `None` for no head.
        temperature: NT-Xent temperature, > 0.

    Example:

    >>> simclr = SimCLR(build_small_convnet((28, 28, 1)), projection_dim=64)
    >>> simclr.compile(optimizer="adam")
    >>> simclr.fit(two_view_dataset(x, 256, seed=0), epochs=5)
    >>> embeddings = simclr.predict(x_test)
    """

    config_fields = ("projection_dim", "temperature")

    def __init__(self, encoder, projection_dim=64, temperature=0.5, **kwargs):
        check_projection_dim(projection_dim)
        embedding_dim = embedding_dim_of(encoder)
        info_nce = InfoNCE(temperature, name="info_nce")  # validates `temperature`
        kwargs.setdefault("name", "simclr")
        super().__init__(**kwargs)
        self.projection_dim = projection_dim
        self.temperature = float(temperature)
        self.encoder = encoder
        self.info_nce = info_nce
        self.projector = None
        if projection_dim is not None:
            self.projector = build_projection_head(embedding_dim, projection_dim)
        self._track_loss_and_accuracy("contrastive_accuracy")
        self.built = True

    def _project(self, images, training):
        z = self.encoder(images, training=training)
        return z if self.projector is None else self.projector(z, training=training)

    def _loss(self, view_1, view_2, training):
        z_1, z_2 = self._project(view_1, training), self._project(view_2, training)
        loss_12, logits = self.info_nce(z_1, z_2, return_logits=True)
        loss_21 = self.info_nce(z_2, z_1)
        hits = ops.cast(ops.argmax(logits, axis=-1) == 0, "float32")
        return ops.mean(0.5 * (loss_12 + loss_21)), ops.mean(hits)

    def train_step(self, data):
        view_1, view_2 = check_views(data, "SimCLR")
        with tf.GradientTape() as tape:
            loss, accuracy = self._loss(view_1, view_2, training=True)
            scaled = loss / replicas_in_sync()
        variables = self.trainable_weights
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(accuracy)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        view_1, view_2 = check_views(data, "SimCLR")
        loss, accuracy = self._loss(view_1, view_2, training=False)
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(accuracy)
        return {m.name: m.result() for m in self.metrics}
