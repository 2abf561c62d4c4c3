"""Soft assignment of codes to cluster centres, the core of DEC and IDEC."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_unsup")
class ClusteringLayer(keras.layers.Layer):
    """Soft cluster assignments by a Student's t kernel around learnt centres.

    For a code `z_i` and centre `mu_j` the assignment is (Xie et al., 2016, DEC)

        q_ij = (1 + |z_i - mu_j|^2 / alpha)^(-(alpha + 1) / 2)  /  sum_j' (...)

    The centres are the layer's only weights, shape `(n_clusters, code_dim)`; DEC
    initialises them with k-means on the codes (pass `initial_centers`, or call
    `set_centers`) and then learns them jointly with the encoder.

    Args:
        n_clusters: number of clusters, >= 2.
        alpha: degrees of freedom of the Student's t kernel (> 0); DEC uses 1.
        initial_centers: optional array `(n_clusters, code_dim)` the centres start
            from; by default they are drawn with Glorot-uniform initialisation.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: codes of shape `(batch, code_dim)`.

    Input shape: `(batch, code_dim)`.

    Output shape: `(batch, n_clusters)`; each row is a probability vector.

    Example:

    >>> layer = ClusteringLayer(3, initial_centers=np.eye(3, 2))
    >>> q = layer(np.zeros((4, 2)))
    >>> q.shape
    TensorShape([4, 3])
    """

    def __init__(self, n_clusters, alpha=1.0, initial_centers=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) \
                or n_clusters < 2:
            raise ValueError(
                f"`n_clusters` must be an integer >= 2. Received: n_clusters={n_clusters!r}"
            )
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"`alpha` must be a number > 0. Received: alpha={alpha!r}")
        if initial_centers is not None:
            initial_centers = np.asarray(initial_centers, dtype="float32")
            if initial_centers.ndim != 2 or initial_centers.shape[0] != n_clusters:
                raise ValueError(
                    f"`initial_centers` must have shape (n_clusters={n_clusters}, code_dim). "
                    f"Received: initial_centers.shape={initial_centers.shape}"
                )
            if not np.all(np.isfinite(initial_centers)):
                raise ValueError("`initial_centers` must hold only finite values; "
                                 "it holds NaN or infinity.")
        self.n_clusters = int(n_clusters)
        self.alpha = float(alpha)
        self.initial_centers = initial_centers

    def build(self, input_shape):
        code_dim = input_shape[-1]
        if self.initial_centers is not None and self.initial_centers.shape[1] != code_dim:
            raise ValueError(
                f"`initial_centers` must have {code_dim} columns, the size of the codes. "
                f"Received: initial_centers.shape={self.initial_centers.shape}"
            )
        init = ("glorot_uniform" if self.initial_centers is None
                else keras.initializers.Constant(self.initial_centers))
        self.centers = self.add_weight(shape=(self.n_clusters, code_dim), initializer=init,
                                       name="centers")

    def set_centers(self, centers):
        """Overwrites the centres (the layer must be built), e.g. with k-means'."""
        centers = np.asarray(centers, dtype="float32")
        if centers.shape != tuple(self.centers.shape):
            raise ValueError(f"`centers` must have shape {tuple(self.centers.shape)}. "
                             f"Received: centers.shape={centers.shape}")
        if not np.all(np.isfinite(centers)):
            raise ValueError("`centers` must hold only finite values; it holds NaN or infinity.")
        self.centers.assign(centers)

    def call(self, inputs):
        # |z - mu|^2 expanded as |z|^2 - 2 z.mu + |mu|^2: one matmul, no (batch, k, d) tensor.
        sq = (ops.sum(ops.square(inputs), axis=-1, keepdims=True)
              - 2.0 * ops.matmul(inputs, ops.transpose(self.centers))
              + ops.sum(ops.square(self.centers), axis=-1)[None, :])
        sq = ops.maximum(sq, 0.0)
        q = ops.power(1.0 + sq / self.alpha, -(self.alpha + 1.0) / 2.0)
        return q / ops.sum(q, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_clusters)

    def get_config(self):
        config = super().get_config()
        # The centres themselves travel as weights; the config keeps the architecture.
        config.update({"n_clusters": self.n_clusters, "alpha": self.alpha})
        return config


def target_distribution(q):
    """DEC's auxiliary target `p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j')`.

    `f_j = sum_i q_ij` is the soft frequency of cluster `j`; squaring sharpens
    confident assignments and dividing by `f_j` keeps large clusters from
    swallowing the others (Xie et al., 2016, eq. 3).

    Args:
        q: soft assignments of shape `(n, n_clusters)`, a NumPy array.

    Returns:
        A float32 NumPy array of the same shape whose rows sum to 1.
    """
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2:
        raise ValueError(f"`q` must have shape (n, n_clusters). Received: q.shape={q.shape}")
    weight = q**2 / np.maximum(q.sum(axis=0), 1e-12)
    return (weight / weight.sum(axis=1, keepdims=True)).astype(np.float32)
