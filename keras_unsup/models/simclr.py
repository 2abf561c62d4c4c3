"""SimCLR: contrastive learning with in-batch negatives (Chen et al., 2020).

Two augmented views of each image go through one encoder and an MLP projection
head; the NT-Xent loss (InfoNCE with the other `2 * batch - 2` views of the batch
as negatives, both directions) pulls each pair together. Probes use the encoder's
embedding, before the head, as in the paper.
"""

import keras
from keras import ops

from keras_unsup.checks import check_view_pair
from keras_unsup.models._embedding import EmbeddingModel, contrastive_parts


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
        info_nce, projector = contrastive_parts(encoder, projection_dim, temperature)
        kwargs.setdefault("name", "simclr")
        super().__init__(**kwargs)
        self.projection_dim = projection_dim
        self.temperature = float(temperature)
        self.encoder = encoder
        self.info_nce = info_nce
        self.projector = projector
        self._track_loss_and_accuracy("contrastive_accuracy")
        self.built = True

    def _loss(self, view_1, view_2, training):
        z_1, z_2 = self.project(view_1, training), self.project(view_2, training)
        loss_12, logits = self.info_nce(z_1, z_2, return_logits=True)
        loss_21 = self.info_nce(z_2, z_1)
        hits = ops.cast(ops.argmax(logits, axis=-1) == 0, "float32")
        return ops.mean(0.5 * (loss_12 + loss_21)), ops.mean(hits)

    def train_step(self, data):
        view_1, view_2 = check_view_pair(data, "SimCLR")
        return self._gradient_step(lambda: self._loss(view_1, view_2, training=True),
                                   self.trainable_weights)

    def test_step(self, data):
        view_1, view_2 = check_view_pair(data, "SimCLR")
        return self._update_metrics(*self._loss(view_1, view_2, training=False))
