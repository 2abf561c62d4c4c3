"""Noise As Targets, NAT (Bojanowski and Joulin, 2017).

"Unsupervised Learning by Predicting Noise": a fixed set of random targets, one per
training image, spread uniformly on the unit sphere. The network maps each image to
the target it is assigned, and the assignment itself is learnt: every batch, the
images of the batch trade targets among themselves by the Hungarian method, so that
the total distance to their targets is smallest. Since every target is used once,
the features cannot collapse onto a point.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from scipy.optimize import linear_sum_assignment

from keras_unsup.builders.backbones import embedding_dim_of
from keras_unsup.checks import check_int, check_seed
from keras_unsup.layers.info_nce import l2_normalize
from keras_unsup.models._embedding import EmbeddingModel, contrastive_parts
from keras_unsup.models._training import descend
from keras_unsup.models.npid import check_instance_indices, gather_replicas, instance_batch


def best_assignment(cost):
    """The permutation `p` minimising `sum_i cost[i, p[i]]` of a square cost matrix,
    by the Hungarian method (scipy's `linear_sum_assignment`), as int32 `(n,)`."""
    rows, cols = linear_sum_assignment(np.asarray(cost, np.float64))
    assignment = np.empty(len(rows), np.int32)
    assignment[rows] = cols
    return assignment


def random_unit_targets(n, dim, seed=None):
    """`n` targets drawn uniformly on the unit sphere of `dim` dimensions, float32."""
    z = np.random.default_rng(seed).normal(size=(n, dim))
    return (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)


@keras.saving.register_keras_serializable(package="keras_unsup")
class NAT(EmbeddingModel):
    """Noise As Targets: fixed random targets on the sphere, reassigned per batch.

    Each training step, on `(images, indices)` batches:

    1. `f = normalise(projector(encoder(images)))` for the batch;
    2. the batch's current targets `c = targets[assignment[indices]]` are reassigned
       among its images by the Hungarian method on the cost `-f_i . c_j` (Bojanowski
       and Joulin's per-batch update of the assignment);
    3. the loss `|f_i - c_(new i)|^2` is minimised (an L2 loss between unit vectors,
       `2 - 2 f . c`).

    Calling the model returns the encoder's embeddings (what the probes score). The
    targets and the assignment are non-trainable weights: they save and load with
    the model.

    Args:
        encoder: a Functional backbone from images to flat embeddings.
        n_images: the number of training images (one target each; every index of the
            training batches must be below it; it must be >= the batch size).
        projection_dim: size of the targets' space (an MLP head on the embedding), or
            `None`: the embedding itself.
        reassign: reassign the targets every batch (False keeps the random initial
            assignment, the ablation of the paper).
        seed: seed of the targets.

    Example:

    >>> nat = NAT(build_small_convnet((28, 28, 1)), n_images=len(x))
    >>> nat.compile(optimizer="adam")
    >>> nat.fit(image_dataset(x, 256, labels=np.arange(len(x)), seed=0), epochs=5)
    """

    config_fields = ("n_images", "projection_dim", "reassign", "seed")

    def __init__(self, encoder, n_images, projection_dim=None, reassign=True, seed=None,
                 **kwargs):
        n_images = check_int(n_images, "n_images", 2)
        _, projector = contrastive_parts(encoder, projection_dim, 1.0)
        kwargs.setdefault("name", "nat")
        super().__init__(**kwargs)
        self.encoder = encoder
        self.projector = projector
        self.n_images = n_images
        self.projection_dim = projection_dim
        self.reassign = bool(reassign)
        self.seed = check_seed(seed)
        dim = projection_dim or embedding_dim_of(encoder)
        targets = random_unit_targets(n_images, dim, seed)
        self.targets = self.add_weight(shape=(n_images, dim), name="targets", trainable=False,
                                       initializer=keras.initializers.Constant(targets),
                                       aggregation="only_first_replica")
        # assignment[i]: the target of image i (a permutation of 0..n-1).
        self.assignment = self.add_weight(shape=(n_images,), name="assignment", dtype="int32",
                                          trainable=False, aggregation="only_first_replica",
                                          initializer=keras.initializers.Constant(
                                              np.arange(n_images)))
        self._track_loss_and_accuracy("kept_targets")
        self.built = True

    def _reassigned(self, features, indices):
        """The batch's targets, traded among its images by the Hungarian method."""
        current = ops.take(ops.convert_to_tensor(self.assignment), indices, axis=0)
        if not self.reassign:
            return current
        targets = ops.take(ops.convert_to_tensor(self.targets), current, axis=0)
        cost = -ops.matmul(features, ops.transpose(targets))
        order = tf.numpy_function(best_assignment, [cost], tf.int32, stateful=False)
        order = tf.ensure_shape(order, [features.shape[0]])
        return ops.take(current, order, axis=0)

    def _loss(self, images, indices, training, reassign):
        indices = check_instance_indices(images, indices, self.n_images, "NAT's targets")
        f = l2_normalize(self.project(images, training=training))
        current = ops.take(ops.convert_to_tensor(self.assignment), indices, axis=0)
        new = self._reassigned(ops.stop_gradient(f), indices) if reassign else current
        c = ops.take(ops.convert_to_tensor(self.targets), new, axis=0)
        loss = ops.mean(ops.sum(ops.square(f - c), axis=-1))
        kept = ops.mean(ops.cast(new == current, "float32"))
        return loss, kept, new

    def train_step(self, data):
        images, indices = instance_batch(data, "NAT")
        loss, kept, new = descend(self.optimizer, self.trainable_weights,
                                  lambda: self._loss(images, indices, True, True))
        indices, new = gather_replicas(indices, new)
        self.assignment.assign(ops.scatter_update(ops.convert_to_tensor(self.assignment),
                                                  ops.expand_dims(indices, -1), new))
        return self._update_metrics(loss, kept)

    def test_step(self, data):
        images, indices = instance_batch(data, "NAT")
        return self._update_metrics(*self._loss(images, indices, False, False)[:2])


__all__ = ["NAT", "best_assignment", "random_unit_targets"]
