"""Non-parametric instance discrimination, NPID (Wu, Xiong, Yu and Lin, 2018).

"Unsupervised Feature Learning via Non-Parametric Instance Discrimination": every
training image is a class of its own. There are no class weights: the memory bank's
entry `v_i` (the last feature of image `i`) stands in for them, and the probability
that a feature `f` is image `i` is the non-parametric softmax

    P(i | f) = exp(v_i . f / t) / Z,     Z = sum_j exp(v_j . f / t).

Summing over every image is what NCE (noise-contrastive estimation) avoids: each
feature is told apart from `m` noise entries drawn uniformly from the bank, with
`Z` estimated once, on the first batch, as in the paper.
"""

import keras
import tensorflow as tf
from keras import ops

from keras_unsup.builders.backbones import embedding_dim_of
from keras_unsup.checks import check_int, check_number, check_seed
from keras_unsup.layers.info_nce import l2_normalize
from keras_unsup.layers.memory_bank import MemoryBank
from keras_unsup.models._embedding import EmbeddingModel
from keras_unsup.models._training import descend


def instance_batch(data, model_name):
    """`(images, indices)` of a training batch of an instance model, or a clear error."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], ops.cast(data[1], "int32")
    raise ValueError(
        f"{model_name} trains on batches of `(images, indices)`: each image with its "
        "index in the training set, e.g. `image_dataset(x, labels=np.arange(len(x)))`. "
        f"Received: a batch of type {type(data).__name__}")


def check_instance_indices(images, indices, size, what):
    """Refuses a batch larger than the per-image state of `size` entries (`what`, e.g.
    "NPID's memory bank"): a `ValueError` where the batch size is known when the step is
    traced, else an in-graph assertion that every index is below `size`."""
    batch = images.shape[0]
    if batch is not None and int(batch) > size:
        raise ValueError(f"{what} holds {size} entries, one per training image, fewer than a "
                         f"batch: the batch must be <= {size}, or the state sized to the "
                         f"training set. Received: a batch of {int(batch)}")
    message = (f"{what} holds {size} entries, one per training image: every index of a "
               f"training batch must be below {size} (is it sized to the training set?)")
    with tf.control_dependencies([tf.debugging.assert_less(indices, size, message=message),
                                  tf.debugging.assert_non_negative(indices, message=message)]):
        return tf.identity(indices)


def gather_replicas(*tensors):
    """The tensors of every replica, concatenated (as they are outside tf.distribute)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensors
    return tuple(context.all_gather(t, axis=0) for t in tensors)


@keras.saving.register_keras_serializable(package="keras_unsup")
class NPID(EmbeddingModel):
    """Instance discrimination with a memory bank, NCE, a temperature and a proximal term.

    Each training step, on `(images, indices)` batches (augmented images, their
    indices in the training set):

    1. `f = normalise(encoder(images))` (the encoder's last, linear layer is Wu et al.'s
       128-d projection), `v = bank[indices]`;
    2. with NCE (`nce_negatives=m`): `h(i, f) = P(i|f) / (P(i|f) + m / n)`, with
       `P(i|f) = exp(v_i . f / t) / Z`; the loss is
       `-log h(i, f) - sum_{k=1..m} log(1 - h(j_k, f))` over `m` uniform noise entries
       `j_k`, plus the proximal term `lambda * |f - v_i|^2` that keeps each feature
       close to its memory (Wu et al.'s Sec. 3.4, lambda = 30);
       without NCE (`nce_negatives=None`) the exact softmax over the whole bank;
    3. the bank's entries of the batch move towards `f` (momentum 0.5).

    Calling the model returns the encoder's embeddings (what the probes score).

    Args:
        encoder: a Functional backbone from images to flat embeddings.
        memory_size: entries of the bank: the number of training images (every index
            of the training batches must be below it; it must be >= the batch size).
        temperature: `t`, > 0 (Wu et al.: 0.07).
        nce_negatives: noise entries `m` per feature (< memory_size), or `None` for
            the exact softmax over the bank.
        proximal: weight `lambda` of the proximal term, >= 0.
        momentum: momentum of the bank's update, in [0, 1).
        seed: seed of the bank's initial entries and of the noise draws.

    Example:

    >>> npid = NPID(build_small_convnet((28, 28, 1)), memory_size=len(x))
    >>> npid.compile(optimizer="adam")
    >>> npid.fit(image_dataset(x, 256, labels=np.arange(len(x)), seed=0), epochs=5)
    """

    config_fields = ("memory_size", "temperature", "nce_negatives", "proximal", "momentum",
                     "seed")

    def __init__(self, encoder, memory_size, temperature=0.07,
                 nce_negatives=4096, proximal=30.0, momentum=0.5, seed=None, **kwargs):
        embedding_dim = embedding_dim_of(encoder)
        memory_size = check_int(memory_size, "memory_size", 2)
        nce_negatives = check_int(nce_negatives, "nce_negatives", 1, memory_size - 1,
                                  allow_none=True)
        kwargs.setdefault("name", "npid")
        super().__init__(**kwargs)
        self.encoder = encoder
        self.memory_size = memory_size
        self.temperature = check_number(temperature, "temperature", 0, low_open=True)
        self.nce_negatives = nce_negatives
        self.proximal = check_number(proximal, "proximal", 0)
        self.momentum = check_number(momentum, "momentum", 0.0, 1.0, high_open=True)
        self.seed = check_seed(seed)
        self.memory_bank = MemoryBank(memory_size, embedding_dim, momentum,
                                      seed=seed, name="memory_bank")
        # NCE's normalising constant, estimated on the first batch (< 0: not yet).
        self.nce_constant = self.add_weight(shape=(), name="nce_constant", trainable=False,
                                            initializer=keras.initializers.Constant(-1.0),
                                            aggregation="only_first_replica")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._track_loss_and_accuracy("instance_accuracy")
        self.built = True

    def features(self, images, training=False):
        """The L2-normalised features `(batch, dim)` the bank holds."""
        return l2_normalize(self.project(images, training=training))

    def _loss(self, images, indices, training):
        indices = check_instance_indices(images, indices, self.memory_size,
                                         "NPID's memory bank")
        f = self.features(images, training)
        memory = ops.stop_gradient(self.memory_bank.read(indices))
        positive = ops.sum(f * memory, axis=-1) / self.temperature
        proximal = self.proximal * ops.sum(ops.square(f - memory), axis=-1)
        if self.nce_negatives is None:
            logits = self.memory_bank(f) / self.temperature
            losses = ops.logsumexp(logits, axis=-1) - positive
            hits = ops.cast(ops.argmax(logits, axis=-1), "int32") == indices
            return ops.mean(losses + proximal), ops.mean(ops.cast(hits, "float32")), f
        m, n = self.nce_negatives, float(self.memory_size)
        batch = ops.shape(f)[0]
        noise = keras.random.randint((batch, m), 0, self.memory_size, seed=self.seed_generator)
        # The similarities to the whole bank, (batch, n), then the noise columns: cheaper than
        # gathering (batch, m, dim) entries when m is in the thousands.
        noise_logits = ops.take_along_axis(self.memory_bank(f), noise, axis=1) / self.temperature
        # Z ~ n * E[exp(v . f / t)], from the first batch's noise (then kept, as Wu et al.).
        first = self.nce_constant < 0.0
        estimate = ops.stop_gradient(n * ops.mean(ops.exp(noise_logits)))
        z = ops.where(first, estimate, self.nce_constant)
        self.nce_constant.assign(z)
        noise_share = m / n  # m P_n(i), with uniform noise P_n = 1 / n
        # log h = log P - log(P + m/n) and log(1 - h) = log(m/n) - log(P + m/n), in logs.
        log_p_pos = positive - ops.log(z)
        log_p_noise = noise_logits - ops.log(z)
        log_share = ops.log(noise_share)
        loss_pos = ops.logaddexp(log_p_pos, log_share) - log_p_pos
        loss_noise = ops.sum(ops.logaddexp(log_p_noise, log_share) - log_share, axis=-1)
        hits = positive > ops.max(noise_logits, axis=-1)
        return (ops.mean(loss_pos + loss_noise + proximal), ops.mean(ops.cast(hits, "float32")),
                f)

    def train_step(self, data):
        images, indices = instance_batch(data, "NPID")
        loss, accuracy, features = descend(self.optimizer, self.trainable_weights,
                                           lambda: self._loss(images, indices, True))
        # The features of this forward pass enter the bank, as in Wu et al.
        self.memory_bank.write(*gather_replicas(indices, ops.stop_gradient(features)))
        return self._update_metrics(loss, accuracy)

    def test_step(self, data):
        images, indices = instance_batch(data, "NPID")
        return self._update_metrics(*self._loss(images, indices, False)[:2])

    def nearest_entries(self, images, k=5):
        """Indices `(batch, k)` of the bank entries most similar to the images' features,
        most similar first (for an image of the training set, itself comes first)."""
        k = check_int(k, "k", 1, self.memory_size)
        return ops.top_k(self.memory_bank(self.features(images)), k)[1]


__all__ = ["NPID", "check_instance_indices", "gather_replicas", "instance_batch"]
