"""The Set Transformer (Lee et al., 2019): a permutation-invariant set encoder."""

import keras
from keras import ops

from keras_unsup.checks import check_bool, check_choice, check_int, check_positive_int
from keras_unsup.layers.multihead_attention_block import MultiheadAttentionBlock


@keras.saving.register_keras_serializable(package="keras_unsup")
class SetTransformer(keras.layers.Layer):
    """Set Transformer of Lee et al., "Set Transformer: A Framework for Attention-based
    Permutation-Invariant Neural Networks" (ICML 2019).

    A linear map to `dim`, `num_blocks` self-attention blocks (`SAB`, their Eq. 8, or
    `ISAB` with `num_inducing` inducing points, Eq. 9-10), a linear map to `output_dim`
    and pooling by multihead attention onto `num_outputs` learned seeds (`PMA`, Eq. 11).
    The output does not depend on the order of the set's elements. Kosiorek et al. (2019)
    use it as the object-capsule encoder of the Stacked Capsule Autoencoder: one output
    per object capsule.

    Args:
        num_outputs: seeds of the pooling (outputs per set), >= 1.
        dim: width inside the blocks.
        output_dim: width of each output (default `dim`).
        num_heads: attention heads of every block (`dim` and `output_dim` divisible by it).
        num_blocks: self-attention blocks before the pooling (>= 0).
        num_inducing: inducing points of each `ISAB` (0: plain `SAB`s).
        layer_norm: layer normalisation inside the blocks.
        pooling: `"mab"` (Lee et al.'s `PMA`, a full attention block on the seeds) or
            `"attention"` (the official Stacked Capsule Autoencoder code's: multihead
            attention of the seeds over the set, no residual to the seeds, so every
            output is a combination of the set's values and cannot settle on a
            constant that ignores the set).
        masking: how the elements' presences mask every attention (`"log"` or
            `"hard"`, see `MultiheadAttentionBlock`; `"hard"` is the official Stacked
            Capsule Autoencoder code's: only the most present parts are attended to, and
            each self-attention block's output for a part is scaled by its presence).

    Call arguments:
        x: a set `(batch, n, features)`.
        presence: optional `(batch, n)` presence of each element in [0, 1]; absent
            elements are not attended to.

    Returns:
        `(batch, num_outputs, output_dim)`.

    Example:

    >>> st = SetTransformer(num_outputs=3, dim=32, num_heads=4)
    >>> st(np.random.rand(2, 7, 5)).shape
    TensorShape([2, 3, 32])
    """

    def __init__(self, num_outputs, dim=64, output_dim=None, num_heads=4, num_blocks=2,
                 num_inducing=0, layer_norm=True, pooling="mab", masking="log", **kwargs):
        super().__init__(**kwargs)
        self.num_outputs = check_positive_int(num_outputs, "num_outputs")
        self.dim = check_positive_int(dim, "dim")
        self.output_dim = check_positive_int(output_dim, "output_dim", allow_none=True)
        self.num_heads = check_positive_int(num_heads, "num_heads")
        self.num_blocks = check_int(num_blocks, "num_blocks", 0)
        self.num_inducing = check_int(num_inducing, "num_inducing", 0)
        self.layer_norm = check_bool(layer_norm, "layer_norm")
        self.pooling = check_choice(pooling, "pooling", ("mab", "attention"))
        self.masking = check_choice(masking, "masking", ("log", "hard"))
        out = self.output_dim or self.dim
        self.input_dense = keras.layers.Dense(self.dim, name="input_projection")
        self.blocks = []
        for i in range(self.num_blocks):
            block = [MultiheadAttentionBlock(self.dim, self.num_heads, self.layer_norm,
                                             masking=self.masking, name=f"sab_{i}")]
            if self.num_inducing:
                block.append(MultiheadAttentionBlock(self.dim, self.num_heads,
                                                     self.layer_norm, masking=self.masking,
                                                     name=f"isab_{i}_in"))
            self.blocks.append(block)
        self.output_dense = keras.layers.Dense(out, name="output_projection")
        self.pool = MultiheadAttentionBlock(out, self.num_heads, self.layer_norm,
                                            attention_only=self.pooling == "attention",
                                            masking=self.masking, name="pma")

    def build(self, x_shape, presence_shape=None):
        batch, n = x_shape[0], x_shape[1]
        self.input_dense.build(x_shape)
        inner = (batch, n, self.dim)
        self.inducing = []
        for i, block in enumerate(self.blocks):
            if self.num_inducing:
                points = self.add_weight(name=f"inducing_points_{i}",
                                         shape=(self.num_inducing, self.dim),
                                         initializer="glorot_uniform")
                self.inducing.append(points)
                induced = (batch, self.num_inducing, self.dim)
                block[1].build(induced, inner)  # H = MAB(I, X)
                block[0].build(inner, induced)  # ISAB(X) = MAB(X, H)
            else:
                block[0].build(inner, inner)
        self.output_dense.build(inner)
        out = self.output_dense.units
        self.seeds = self.add_weight(name="seeds", shape=(self.num_outputs, out),
                                     initializer="glorot_uniform")
        self.pool.build((batch, self.num_outputs, out), (batch, n, out))
        self.built = True

    def call(self, x, presence=None):
        h = self.input_dense(x)
        batch = ops.shape(x)[0]
        for i, block in enumerate(self.blocks):
            if self.num_inducing:
                points = ops.broadcast_to(self.inducing[i][None],
                                          (batch, self.num_inducing, self.dim))
                induced = block[1](points, h, key_presence=presence)
                h = block[0](h, induced, query_presence=presence)
            else:
                h = block[0](h, h, key_presence=presence, query_presence=presence)
        z = self.output_dense(h)
        seeds = ops.broadcast_to(self.seeds[None], (batch, *self.seeds.shape))
        return self.pool(seeds, z, key_presence=presence)

    def compute_output_shape(self, x_shape, presence_shape=None):
        return (x_shape[0], self.num_outputs, self.output_dim or self.dim)

    def get_config(self):
        config = super().get_config()
        config.update(num_outputs=self.num_outputs, dim=self.dim, output_dim=self.output_dim,
                      num_heads=self.num_heads, num_blocks=self.num_blocks,
                      num_inducing=self.num_inducing, layer_norm=self.layer_norm,
                      pooling=self.pooling, masking=self.masking)
        return config
