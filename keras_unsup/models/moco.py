"""MoCo: momentum contrast with a queue of negative keys (He et al., 2020).

A query encoder learns by gradient descent; a key encoder follows it as an
exponential moving average (momentum `m`, no gradients) and encodes the second
view of each image into a key. Each query is contrasted (InfoNCE) against its own
key and the `K` keys of past batches held in a first-in-first-out queue, so the
number of negatives is decoupled from the batch size.
"""

import keras
import tensorflow as tf
from keras import ops

from keras_unsup.builders.backbones import embedding_dim_of
from keras_unsup.checks import check_number, check_positive_int, check_view_pair
from keras_unsup.layers.info_nce import l2_normalize
from keras_unsup.models._embedding import EmbeddingModel, contrastive_parts


@keras.saving.register_keras_serializable(package="keras_unsup")
class MoCo(EmbeddingModel):
    """Momentum contrast: query encoder, momentum key encoder and a queue of keys.

    Each training step (on a batch of view pairs from `two_view_dataset`):

    1. the key encoder moves towards the query encoder:
       `key_w = m * key_w + (1 - m) * query_w` (no gradients flow into it);
    2. the second views are encoded into L2-normalised keys;
    3. the first views are encoded into queries, and the InfoNCE loss of each query
       against its key (positive) and the queue (negatives) is minimised;
    4. the keys enter the queue, the oldest leave (first in, first out). Under
       `tf.distribute`, the keys of all replicas are gathered first, so every replica
       holds the same queue.

    `queue_size` may be smaller than the batch: the queue then keeps the newest keys.
    Calling the model returns the query encoder's embeddings (what probes use).

    Args:
        encoder: a Functional backbone from images to flat embeddings `(batch, dim)`,
            e.g. `build_small_convnet(input_shape)`.
        queue_size: number `K` of negative keys kept, >= 1.
        momentum: momentum `m` of the key encoder, in [0, 1).
        temperature: InfoNCE temperature, > 0.
        projection_dim: size of an MLP projection head (MoCo v2) on top of the
            encoder, or `None` for none (MoCo v1: the loss sees the embedding).
        seed: seed of the queue's random initial keys.

    Example:

    >>> moco = MoCo(build_small_convnet((28, 28, 1)), queue_size=4096, momentum=0.99)
    >>> moco.compile(optimizer="adam")
    >>> moco.fit(two_view_dataset(x, 256, seed=0), epochs=5)
    >>> embeddings = moco.predict(x_test)
    """

    config_fields = ("queue_size", "momentum", "temperature", "projection_dim", "seed")

    def __init__(self, encoder, queue_size=4096, momentum=0.999, temperature=0.1,
                 projection_dim=None, seed=None, **kwargs):
        queue_size = check_positive_int(queue_size, "queue_size")
        momentum = check_number(momentum, "momentum", 0, 1, high_open=True)
        info_nce, projector = contrastive_parts(encoder, projection_dim, temperature)
        kwargs.setdefault("name", "moco")
        super().__init__(**kwargs)
        self.queue_size = queue_size
        self.momentum = momentum
        self.temperature = float(temperature)
        self.projection_dim = projection_dim
        self.seed = seed
        self.encoder = encoder
        self.info_nce = info_nce
        self.projector = projector
        self.key_projector = None
        self.key_encoder = _frozen_copy(encoder, "key_encoder")
        if self.projector is not None:
            self.key_projector = _frozen_copy(self.projector, "key_projector")
        key_dim = projection_dim or embedding_dim_of(encoder)
        # Identical on every replica (the keys entering it are gathered first), so
        # the first replica's value stands for all.
        self.queue = self.add_weight(
            shape=(queue_size, key_dim), name="queue", trainable=False,
            initializer=keras.initializers.RandomNormal(seed=seed),
            aggregation="only_first_replica",
        )
        self._track_loss_and_accuracy("contrastive_accuracy")
        self.built = True

    def _key(self, images):
        z = self.key_encoder(images, training=False)
        return z if self.key_projector is None else self.key_projector(z, training=False)

    def _momentum_pairs(self):
        query = list(self.encoder.weights)
        key = list(self.key_encoder.weights)
        if self.projector is not None:
            query += list(self.projector.weights)
            key += list(self.key_projector.weights)
        return list(zip(key, query))

    def update_key_encoder(self):
        """Moves the key encoder towards the query encoder: `k = m k + (1 - m) q`."""
        m = self.momentum
        # In a replica context (a train step under tf.distribute) each replica reads
        # and writes its own copy: the key weights have no aggregation, and the query
        # weights are identical on every replica after the optimizer step, so the
        # copies stay identical without any communication.
        for key_var, query_var in self._momentum_pairs():
            key_var.assign(m * key_var + (1.0 - m) * query_var)

    def enqueue(self, keys):
        """Appends `keys` (all replicas' keys) to the queue, dropping the oldest."""
        queue = ops.concatenate([ops.convert_to_tensor(self.queue), ops.cast(keys, "float32")], 0)
        self.queue.assign(queue[-self.queue_size:])

    def _contrast(self, query_view, keys, training):
        """Mean InfoNCE loss of the queries against their keys and the queue, and the
        fraction of queries whose own key scores highest."""
        losses, logits = self.info_nce(self.project(query_view, training), keys,
                                       ops.convert_to_tensor(self.queue), return_logits=True)
        hits = ops.cast(ops.argmax(logits, axis=-1) == 0, "float32")
        return ops.mean(losses), ops.mean(hits)

    def train_step(self, data):
        query_view, key_view = check_view_pair(data, "MoCo")
        self.update_key_encoder()
        keys = ops.stop_gradient(l2_normalize(self._key(key_view)))
        variables = self.encoder.trainable_weights + (
            self.projector.trainable_weights if self.projector is not None else [])
        logs = self._gradient_step(lambda: self._contrast(query_view, keys, True), variables)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            keys = context.all_gather(keys, axis=0)
        self.enqueue(keys)
        return logs

    def test_step(self, data):
        query_view, key_view = check_view_pair(data, "MoCo")
        keys = l2_normalize(self._key(key_view))
        return self._update_metrics(*self._contrast(query_view, keys, False))


def _frozen_copy(model, name):
    """A copy of `model` with the same weights that no optimizer trains."""
    copy = keras.models.clone_model(model)
    copy.name = name
    copy.set_weights(model.get_weights())
    copy.trainable = False
    return copy
