"""Losses as pure `keras.ops` functions, with thin `keras.losses.Loss` wrappers.

The functions take and return backend tensors (or anything `keras.ops` accepts)
and can be used in a custom `train_step`; the `Loss` classes exist only where
`model.compile(loss=...)` needs one, and are registered so that compiled models
reload from `.keras` files in safe mode.
"""

import keras
from keras import ops

from keras_unsup.checks import check_number

_DEFAULT_EPSILON = 1e-7


def bernoulli_nll(y_true, y_pred, epsilon=_DEFAULT_EPSILON):
    """Bernoulli negative log-likelihood of images, summed over pixels.

    Treats every pixel value `y_true` in [0, 1] as the (possibly fractional)
    outcome of a Bernoulli variable with mean `y_pred`, the decoder's sigmoid
    output, and returns

        -sum_i [y_i * log(p_i) + (1 - y_i) * log(1 - p_i)]

    over all non-batch axes: the reconstruction term of the VAE's negative ELBO
    (Kingma and Welling, 2014, appendix C.1). Unlike Keras' `binary_crossentropy`,
    which averages over the last axis, the sum keeps the scale of a
    log-likelihood, so adding the KL term (a sum over latent dimensions) gives the
    negative ELBO rather than an arbitrarily weighted mixture.

    Args:
        y_true: targets in [0, 1], shape `(batch, ...)`.
        y_pred: Bernoulli means in [0, 1], same shape as `y_true`.
        epsilon: `y_pred` is clipped to `[epsilon, 1 - epsilon]` so that the
            logarithms stay finite.

    Returns:
        A tensor of shape `(batch,)`: the negative log-likelihood of each image.

    Example:

    >>> bernoulli_nll(np.ones((2, 8, 8, 1)), np.full((2, 8, 8, 1), 0.5))  # 64 * log(2)
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    y_pred = ops.clip(y_pred, epsilon, 1.0 - epsilon)
    log_likelihood = y_true * ops.log(y_pred) + (1.0 - y_true) * ops.log(1.0 - y_pred)
    non_batch_axes = tuple(range(1, len(y_pred.shape)))
    if not non_batch_axes:
        return -log_likelihood
    return -ops.sum(log_likelihood, axis=non_batch_axes)


@keras.saving.register_keras_serializable(package="keras_unsup")
class BernoulliNLL(keras.losses.Loss):
    """`bernoulli_nll` as a Keras loss: per-image NLL summed over pixels.

    With the default reduction (`"sum_over_batch_size"`) the loss is the mean over
    the batch of each image's summed NLL. A VAE from
    `keras_unsup.builders.build_vae` compiled with `loss=BernoulliNLL()` therefore
    trains on NLL + KL = the negative ELBO per image.

    Args:
        epsilon: clipping of the predicted means (see `bernoulli_nll`).
        reduction: Keras loss reduction.
        name: name of the loss.
        **kwargs: other `keras.losses.Loss` arguments (`dtype`).

    Example:

    >>> vae, encoder, decoder = build_vae(input_shape=(28, 28, 1), latent_dim=2)
    >>> vae.compile(optimizer="adam", loss=BernoulliNLL())
    >>> vae.fit(x, x, epochs=10)
    """

    def __init__(self, epsilon=_DEFAULT_EPSILON, reduction="sum_over_batch_size",
                 name="bernoulli_nll", **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.epsilon = check_number(epsilon, "epsilon", 0, 0.5, high_open=True)

    def call(self, y_true, y_pred):
        return bernoulli_nll(y_true, y_pred, epsilon=self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config


def assignment_entropy(assignments, epsilon=_DEFAULT_EPSILON):
    """Entropy of the cluster-assignment marginal: how evenly a batch uses the clusters.

    Args:
        assignments: `(batch, n_clusters)` soft assignments, each row summing to 1.
        epsilon: keeps the logarithm finite for an unused cluster.

    Returns:
        A scalar in `[0, log(n_clusters)]`: `H(p)` with `p = mean over the batch of the
        rows`; `log(n_clusters)` when every cluster gets the same share, 0 when one
        cluster takes everything.
    """
    marginal = ops.sum(assignments, axis=0)
    marginal = marginal / ops.sum(marginal)
    return -ops.sum(marginal * ops.log(ops.maximum(marginal, epsilon)))


def cluster_contrastive_loss(assignments_1, assignments_2, *, temperature=1.0,
                             entropy_weight=1.0):
    """The cluster-level loss of Contrastive Clustering (Li et al., AAAI 2021, eq. 8-10).

    Column `k` of a `(batch, n_clusters)` assignment matrix is cluster `k`'s
    representation, the batch's soft memberships. Column `k` of one view's matrix is
    the positive of column `k` of the other view's; the other `2 * n_clusters - 2`
    columns of both views are the negatives: NT-Xent (SimCLR's `nt_xent_loss`, cosine
    similarity) over the columns, averaged over both directions and all clusters.
    Minus the entropy of each view's marginal, so no trivial solution puts every
    image into one cluster:

        loss = NT-Xent(A_1^T, A_2^T) + entropy_weight * sum_v (log K - H(p_v))

    (`log K` makes the entropy term 0 at a uniform marginal, as in the authors' code).

    Args:
        assignments_1: `(batch, n_clusters)` softmax assignments of the first views.
        assignments_2: `(batch, n_clusters)` of the second views (row `i`: same image).
        temperature: of the NT-Xent over the columns, > 0 (the paper's 1.0).
        entropy_weight: weight of the entropy term, >= 0 (the paper's 1.0).

    Returns:
        A scalar loss.

    Example:

    >>> a = keras.ops.softmax(keras.random.normal((256, 10)))
    >>> cluster_contrastive_loss(a, a)
    """
    from keras_unsup.layers.info_nce import nt_xent_loss

    temperature = check_number(temperature, "temperature", 0, low_open=True)
    entropy_weight = check_number(entropy_weight, "entropy_weight", 0)
    assignments_1 = ops.convert_to_tensor(assignments_1)
    assignments_2 = ops.cast(assignments_2, assignments_1.dtype)
    columns = ops.mean(nt_xent_loss(ops.transpose(assignments_1), ops.transpose(assignments_2),
                                    temperature=temperature))
    log_k = ops.log(ops.cast(ops.shape(assignments_1)[-1], assignments_1.dtype))
    balance = (2.0 * log_k - assignment_entropy(assignments_1)
               - assignment_entropy(assignments_2))
    return columns + entropy_weight * balance


def self_labelling_loss(weak_assignments, strong_assignments, *, threshold=0.99,
                        class_balanced=True, epsilon=_DEFAULT_EPSILON):
    """SCAN's self-labelling loss (Van Gansbeke et al., "SCAN: Learning to Classify Images
    without Labels", ECCV 2020, section 2.3).

    An image whose weakly augmented view is assigned to a cluster with probability above
    `threshold` takes that cluster as its label; the cross-entropy of its strongly
    augmented view's assignment against that label is the loss. With `class_balanced`,
    each confident image is weighted by the inverse of its label's frequency among the
    batch's confident images (the weighted mean, as in the authors' code), so the
    clusters that are confident most often do not swallow the others. No gradient flows
    through the weak views' assignments (they are the targets).

    Args:
        weak_assignments: `(batch, n_clusters)` softmax assignments of the weak views.
        strong_assignments: `(batch, n_clusters)` of the strong views (row `i`: same image).
        threshold: confidence above which a weak view's arg-max is a label, in [0, 1)
            (the paper's 0.99).
        class_balanced: weight the labels by their inverse frequency in the batch.
        epsilon: keeps the logarithm finite.

    Returns:
        `(loss, confident_share)`: the scalar loss (0 when no image is confident) and the
        share of the batch's images above the threshold.

    Example:

    >>> weak = keras.ops.softmax(10 * keras.random.normal((256, 10)))
    >>> loss, share = self_labelling_loss(weak, weak, threshold=0.99)
    """
    threshold = check_number(threshold, "threshold", 0, 1, high_open=True)
    weak = ops.stop_gradient(ops.convert_to_tensor(weak_assignments))
    strong = ops.cast(strong_assignments, weak.dtype)
    n_clusters = ops.shape(weak)[-1]
    labels = ops.one_hot(ops.argmax(weak, axis=-1), n_clusters, dtype=weak.dtype)
    confident = ops.cast(ops.max(weak, axis=-1) > threshold, weak.dtype)
    weights = confident
    if class_balanced:
        counts = ops.sum(labels * confident[:, None], axis=0)
        inverse = ops.where(counts > 0, 1.0 / ops.maximum(counts, 1.0), 0.0)
        weights = confident * ops.sum(labels * inverse[None, :], axis=-1)
    cross_entropy = -ops.sum(labels * ops.log(ops.maximum(strong, epsilon)), axis=-1)
    loss = ops.sum(weights * cross_entropy) / ops.maximum(ops.sum(weights), epsilon)
    return loss, ops.mean(confident)
