"""Exemplar-CNN: surrogate classes of heavily augmented seed patches.

Dosovitskiy, Springenberg, Riedmiller and Brox, 2014, "Discriminative Unsupervised
Feature Learning with Convolutional Neural Networks": `N` seed patches are drawn from
the training images, each one a "surrogate class" of its own, and every class is
filled with random transformations of its seed (translation, scaling, rotation,
contrast and colour changes). A network that tells the classes apart must ignore the
transformations, which is the invariance a good feature needs, while still telling
`N` different image contents apart.
"""

import keras
from keras import ops

from keras_unsup.builders.backbones import build_projection_head, embedding_dim_of
from keras_unsup.checks import check_int, check_positive_int
from keras_unsup.models._embedding import EmbeddingModel
from keras_unsup.models.npid import instance_batch


@keras.saving.register_keras_serializable(package="keras_unsup")
class ExemplarCNN(EmbeddingModel):
    """A classifier of `n_exemplars` surrogate classes, one per seed patch.

    Trains on `(augmented seed patches, their class)` batches: the augmentation
    happens in the input pipeline (e.g. a strong `ContrastiveAugmentation` as the
    `map_fn` of `image_dataset(seeds, labels=np.arange(len(seeds)))`). An MLP head on
    the encoder's embedding gives the `n_exemplars` logits; probes use the embedding.

    Args:
        encoder: a Functional backbone from patches to flat embeddings.
        n_exemplars: the number of surrogate classes (seed patches), >= 2; the
            classes of the training batches must be below it.
        hidden_dim: hidden units of the classification head (default: the
            embedding size).

    Call arguments:
        inputs: images `(batch, height, width, channels)`; returns their embeddings.

    Example:

    >>> model = ExemplarCNN(build_small_convnet((28, 28, 1)), n_exemplars=len(seeds))
    >>> model.compile(optimizer="adam")
    >>> augment = ContrastiveAugmentation(crop_scale=(0.3, 1.0), rotation=20, seed=0)
    >>> model.fit(image_dataset(seeds, 128, labels=np.arange(len(seeds)),
    ...                         map_fn=lambda x, y: (augment(x), y)), epochs=10)
    """

    config_fields = ("n_exemplars", "hidden_dim")

    def __init__(self, encoder, n_exemplars, hidden_dim=None, **kwargs):
        embedding_dim = embedding_dim_of(encoder)
        n_exemplars = check_int(n_exemplars, "n_exemplars", 2)
        hidden_dim = check_positive_int(hidden_dim, "hidden_dim", allow_none=True)
        kwargs.setdefault("name", "exemplar_cnn")
        super().__init__(**kwargs)
        self.encoder = encoder
        self.n_exemplars = n_exemplars
        self.hidden_dim = hidden_dim
        self.head = build_projection_head(embedding_dim, n_exemplars, hidden_dim,
                                          name="surrogate_head")
        self._track_loss_and_accuracy("surrogate_accuracy")
        self.built = True

    def surrogate_logits(self, images, training=False):
        """Logits `(batch, n_exemplars)` of the surrogate class of each image."""
        return self.head(self.encoder(images, training=training), training=training)

    def _classify(self, images, classes, training):
        """Mean cross-entropy of the surrogate classes, and the share classified right."""
        logits = self.surrogate_logits(images, training=training)
        right = ops.cast(ops.argmax(logits, axis=-1), "int32") == classes
        loss = keras.losses.sparse_categorical_crossentropy(classes, logits, from_logits=True)
        return ops.mean(loss), ops.mean(ops.cast(right, "float32"))

    def train_step(self, data):
        images, classes = instance_batch(data, "ExemplarCNN")
        return self._gradient_step(lambda: self._classify(images, classes, True),
                                   self.trainable_weights)

    def test_step(self, data):
        return self._update_metrics(*self._classify(*instance_batch(data, "ExemplarCNN"), False))


__all__ = ["ExemplarCNN"]
