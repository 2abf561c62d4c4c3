"""InfoNCE: the contrastive loss of MoCo and SimCLR, as pure functions and a layer.

InfoNCE (van den Oord et al., 2018, "Representation Learning with Contrastive
Predictive Coding") scores each query against one positive key and a set of
negative keys and takes the cross-entropy of picking the positive:

    loss_i = -log( exp(q_i . k_i+ / t) / sum_j exp(q_i . k_j / t) )

MoCo (He et al., 2020) draws the negatives from a queue of past keys; SimCLR
(Chen et al., 2020, whose NT-Xent loss this is) from the other images of the batch.
"""

import keras
from keras import ops

from keras_unsup.checks import check_bool, check_number

# Masked logits: exp() of this is exactly 0 in float32, and it stays finite.
_MASKED = -1e9


def _check_pair(query, positive_key, negative_keys):
    q_shape, k_shape = tuple(query.shape), tuple(positive_key.shape)
    if len(q_shape) != 2 or len(k_shape) != 2:
        raise ValueError(
            "`query` and `positive_key` must be 2-D (batch, dim). "
            f"Received: query.shape={q_shape}, positive_key.shape={k_shape}"
        )
    if q_shape[-1] is not None and k_shape[-1] is not None and q_shape[-1] != k_shape[-1]:
        raise ValueError(
            "`query` and `positive_key` must have the same last dimension. "
            f"Received: query.shape={q_shape}, positive_key.shape={k_shape}"
        )
    if negative_keys is not None:
        n_shape = tuple(negative_keys.shape)
        if len(n_shape) != 2 or (n_shape[-1] is not None and q_shape[-1] is not None
                                 and n_shape[-1] != q_shape[-1]):
            raise ValueError(
                "`negative_keys` must be 2-D (n_negatives, dim) with the query's dim. "
                f"Received: negative_keys.shape={n_shape}, query.shape={q_shape}"
            )


def l2_normalize(x, epsilon=1e-12):
    """`x` divided by its L2 norm along the last axis."""
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), epsilon))


def info_nce_logits(query, positive_key, negative_keys=None, *, temperature=0.1,
                    normalize=True):
    """Logits of each query against its positive key (column 0) and its negatives.

    Args:
        query: `(batch, dim)` query embeddings.
        positive_key: `(batch, dim)`; row `i` is the positive of query `i`.
        negative_keys: `(n_negatives, dim)` negatives shared by every query (MoCo's
            queue), or `None` for in-batch negatives: the other rows of both
            `positive_key` and `query` (SimCLR's NT-Xent).
        temperature: divides the similarities; > 0.
        normalize: L2-normalize every embedding first (cosine similarity).

    Returns:
        Logits of shape `(batch, 1 + n_negatives)`; with in-batch negatives
        `(batch, 1 + 2 * batch)`, where the two columns of the query itself (its
        own key and itself) are masked to a large negative value so they add nothing.
    """
    temperature = check_number(temperature, "temperature", 0, low_open=True)
    _check_pair(query, positive_key, negative_keys)
    if normalize:
        query, positive_key = l2_normalize(query), l2_normalize(positive_key)
        if negative_keys is not None:
            negative_keys = l2_normalize(negative_keys)
    positive = ops.sum(query * positive_key, axis=-1, keepdims=True)
    if negative_keys is not None:
        negative = ops.matmul(query, ops.transpose(negative_keys))
    else:
        eye = ops.eye(ops.shape(query)[0], dtype="bool")
        against_keys = ops.where(eye, _MASKED, ops.matmul(query, ops.transpose(positive_key)))
        against_queries = ops.where(eye, _MASKED, ops.matmul(query, ops.transpose(query)))
        negative = ops.concatenate([against_keys, against_queries], axis=-1)
    return ops.concatenate([positive, negative], axis=-1) / temperature


def info_nce_loss_from_logits(logits):
    """Per-query InfoNCE loss `(batch,)` from logits whose column 0 is the positive."""
    return ops.logsumexp(logits, axis=-1) - logits[:, 0]


def info_nce_loss(query, positive_key, negative_keys=None, *, temperature=0.1, normalize=True):
    """Per-query InfoNCE loss, shape `(batch,)`; see `info_nce_logits` for the arguments.

    With all embeddings equal the loss is `log(n_candidates)`: `log(1 + K)` with
    `K` negatives, `log(2 * batch - 1)` with in-batch negatives.
    """
    logits = info_nce_logits(query, positive_key, negative_keys, temperature=temperature,
                             normalize=normalize)
    return info_nce_loss_from_logits(logits)


def nt_xent_loss(view_1, view_2, *, temperature=0.5, normalize=True):
    """SimCLR's symmetric NT-Xent loss: InfoNCE both ways with in-batch negatives.

    Args:
        view_1: `(batch, dim)` embeddings of the first views.
        view_2: `(batch, dim)` embeddings of the second views; row `i` pairs with row `i`.
        temperature: > 0.
        normalize: use cosine similarity.

    Returns:
        Per-pair loss of shape `(batch,)`: the mean of the two directions.
    """
    loss_12 = info_nce_loss(view_1, view_2, temperature=temperature, normalize=normalize)
    loss_21 = info_nce_loss(view_2, view_1, temperature=temperature, normalize=normalize)
    return 0.5 * (loss_12 + loss_21)


@keras.saving.register_keras_serializable(package="keras_unsup")
class InfoNCE(keras.layers.Layer):
    """Contrastive InfoNCE loss of queries against positive and negative keys.

    The layer returns the per-query loss; with `return_logits=True` also the logits
    (positive in column 0), whose arg-max tells whether a query found its key.

    Args:
        temperature: divides the cosine similarities; > 0. MoCo uses 0.07 to 0.2,
            SimCLR 0.1 to 0.5.
        normalize: L2-normalize the embeddings (cosine similarity).

    Call arguments:
        query: `(batch, dim)`.
        positive_key: `(batch, dim)`, row `i` the positive of query `i`.
        negative_keys: `(n_negatives, dim)` shared negatives (MoCo's queue), or
            `None` for in-batch negatives (SimCLR).
        return_logits: also return the logits.

    Output shape: loss `(batch,)`; logits `(batch, 1 + n_negatives)` or, in-batch,
    `(batch, 1 + 2 * batch)` with the query's own two columns masked.

    Example:

    >>> loss = InfoNCE(temperature=0.1)(query, key, queue)   # MoCo
    >>> loss = InfoNCE(temperature=0.5)(z_1, z_2)             # SimCLR, one direction
    """

    def __init__(self, temperature=0.1, normalize=True, **kwargs):
        super().__init__(**kwargs)
        self.temperature = check_number(temperature, "temperature", 0, low_open=True)
        self.normalize = check_bool(normalize, "normalize")
        self.built = True

    def call(self, query, positive_key, negative_keys=None, return_logits=False):
        logits = info_nce_logits(query, positive_key, negative_keys,
                                 temperature=self.temperature, normalize=self.normalize)
        loss = info_nce_loss_from_logits(logits)
        return (loss, logits) if return_logits else loss

    def compute_output_shape(self, query_shape, positive_key_shape=None, negative_keys_shape=None):
        return (query_shape[0],)

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature, "normalize": self.normalize})
        return config
