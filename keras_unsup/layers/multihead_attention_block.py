"""The multihead attention block (MAB) of the Set Transformer (Lee et al., 2019)."""

import math

import keras
from keras import ops

from keras_unsup.checks import check_bool, check_choice, check_positive_int

# The official code's mask: any presence below 1 outweighs every attention logit.
HARD_MASK = 1e32


@keras.saving.register_keras_serializable(package="keras_unsup")
class MultiheadAttentionBlock(keras.layers.Layer):
    """Multihead attention block, `MAB(X, Y)` of Lee et al., "Set Transformer" (ICML 2019).

    `H = LN(X + Multihead(X, Y, Y))`, `MAB(X, Y) = LN(H + rFF(H))` (their Eq. 6-7);
    `SAB(X) = MAB(X, X)` (Eq. 8), the pooling `PMA_k(Z) = MAB(S, rFF(Z))` (Eq. 11) and
    the induced `ISAB` (Eq. 9-10) are built from it (see `SetTransformer`).

    Keys may carry a presence in [0, 1] (a part capsule's presence probability in the
    Stacked Capsule Autoencoder). With `masking="log"` its log is added to the attention
    logits, so an absent element (presence 0) receives no attention and a half-present
    one half the odds. With `masking="hard"` (the official Stacked Capsule Autoencoder
    code's, Kosiorek et al. 2019) `(1 - presence) * 1e32` is subtracted from them: only
    the most present keys are attended to (all those of presence 1, or else the one of
    the highest presence), and the block's output for a query of `query_presence` is
    multiplied by it before the first normalisation, so an absent part carries nothing.

    Args:
        dim: width of the queries and of the output.
        num_heads: attention heads; `dim` must be divisible by it.
        layer_norm: apply the two layer normalisations (`LN`).
        ff_dim: hidden width of the row-wise feed-forward `rFF` (default `2 * dim`).
        attention_only: return the multihead attention alone, `Multihead(X, Y, Y)`,
            without the residual, the normalisations and `rFF` (the pooling of the
            official Stacked Capsule Autoencoder code, Kosiorek et al. 2019: every
            output is then a combination of the keys' values, never a constant).
        masking: how key presences mask the attention, `"log"` or `"hard"` (above).

    Call arguments:
        query: `(batch, n, dim)`.
        key: `(batch, m, d_key)` (default: `query`, self-attention).
        key_presence: optional `(batch, m)` presence of each key, in [0, 1].
        query_presence: optional `(batch, n)` presence of each query (`"hard"` masking:
            it scales the query's output; e.g. the keys' presence in self-attention).

    Returns:
        `(batch, n, dim)`.

    Example:

    >>> mab = MultiheadAttentionBlock(16, num_heads=4)
    >>> mab(np.zeros((2, 5, 16)), np.zeros((2, 7, 8))).shape
    TensorShape([2, 5, 16])
    """

    def __init__(self, dim, num_heads=4, layer_norm=True, ff_dim=None, attention_only=False,
                 masking="log", **kwargs):
        super().__init__(**kwargs)
        self.dim = check_positive_int(dim, "dim")
        self.num_heads = check_positive_int(num_heads, "num_heads")
        if self.dim % self.num_heads:
            raise ValueError(f"`dim` must be divisible by `num_heads`. Received: dim={dim}, "
                             f"num_heads={num_heads}")
        self.layer_norm = check_bool(layer_norm, "layer_norm")
        self.ff_dim = check_positive_int(ff_dim, "ff_dim", allow_none=True)
        self.attention_only = check_bool(attention_only, "attention_only")
        self.masking = check_choice(masking, "masking", ("log", "hard"))
        hidden = self.ff_dim or 2 * self.dim
        self.query_dense = keras.layers.Dense(self.dim, name="query")
        self.key_dense = keras.layers.Dense(self.dim, name="key")
        self.value_dense = keras.layers.Dense(self.dim, name="value")
        self.output_dense = keras.layers.Dense(self.dim, name="attention_output")
        self.ff_hidden = keras.layers.Dense(hidden, activation="relu", name="ff_hidden")
        self.ff_out = keras.layers.Dense(self.dim, name="ff_out")
        self.norm_1 = keras.layers.LayerNormalization(name="norm_1")
        self.norm_2 = keras.layers.LayerNormalization(name="norm_2")

    def build(self, query_shape, key_shape=None, key_presence_shape=None,
              query_presence_shape=None):
        key_shape = query_shape if key_shape is None else key_shape
        if query_shape[-1] != self.dim:
            raise ValueError(f"MultiheadAttentionBlock's queries must have width dim={self.dim}. "
                             f"Received: query shape {tuple(query_shape)}")
        self.query_dense.build(query_shape)
        self.key_dense.build(key_shape)
        self.value_dense.build(key_shape)
        out_shape = (*query_shape[:-1], self.dim)
        self.output_dense.build(out_shape)
        if self.attention_only:  # no residual, normalisation or rFF: no weights of theirs
            self.built = True
            return
        self.ff_hidden.build(out_shape)
        self.ff_out.build((*query_shape[:-1], self.ff_hidden.units))
        self.norm_1.build(out_shape)
        self.norm_2.build(out_shape)
        self.built = True

    def _heads(self, x):
        batch, n = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, n, self.num_heads, self.dim // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))  # (batch, heads, n, head_dim)

    def call(self, query, key=None, key_presence=None, query_presence=None):
        key = query if key is None else key
        q = self._heads(self.query_dense(query))
        k = self._heads(self.key_dense(key))
        v = self._heads(self.value_dense(key))
        logits = ops.einsum("bhnd,bhmd->bhnm", q, k) / math.sqrt(self.dim // self.num_heads)
        if key_presence is not None:
            presence = ops.cast(key_presence, logits.dtype)[:, None, None, :]
            if self.masking == "hard":
                logits = logits - (1.0 - presence) * HARD_MASK
            else:
                # log-presence odds; an absent key (presence 0) is masked out altogether
                bias = ops.where(presence > 0, ops.log(ops.maximum(presence, 1e-30)), -1e9)
                logits = logits + bias
        weights = ops.softmax(logits, axis=-1)
        attended = ops.einsum("bhnm,bhmd->bhnd", weights, v)
        batch, n = ops.shape(query)[0], ops.shape(query)[1]
        attended = ops.reshape(ops.transpose(attended, (0, 2, 1, 3)), (batch, n, self.dim))
        if self.attention_only:
            return self.output_dense(attended)
        h = query + self.output_dense(attended)
        if query_presence is not None and self.masking == "hard":
            h = h * ops.cast(query_presence, h.dtype)[..., None]
        if self.layer_norm:
            h = self.norm_1(h)
        out = h + self.ff_out(self.ff_hidden(h))
        return self.norm_2(out) if self.layer_norm else out

    def compute_output_shape(self, query_shape, key_shape=None, key_presence_shape=None,
                             query_presence_shape=None):
        return (*query_shape[:-1], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, num_heads=self.num_heads, layer_norm=self.layer_norm,
                      ff_dim=self.ff_dim, attention_only=self.attention_only,
                      masking=self.masking)
        return config
