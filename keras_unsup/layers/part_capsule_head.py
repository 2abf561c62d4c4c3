"""The head of the PCAE's encoder: a CNN feature map to part capsules."""

import keras
from keras import ops

from keras_unsup.checks import check_bool, check_int, check_number, check_positive_int, check_seed
from keras_unsup.layers.affine_templates import POSE_DIMS, geometric_transform


@keras.saving.register_keras_serializable(package="keras_unsup")
class PartCapsuleHead(keras.layers.Layer):
    """Part capsules from a feature map, by attention pooling (Kosiorek et al., 2019, Eq. 5).

    A 1x1 convolution gives, at every position, each capsule's parameters and an
    attention logit; each capsule pools its parameters over the positions with its own
    softmax attention (the official code's `conv_att` encoder). The parameters split
    into a pose (six numbers through `geometric_transform`), a presence logit and
    `n_features` special features `z_m`; the intensity `c_m` of the part's template is a
    sigmoid of a linear map of `z_m`. While training, uniform noise of width
    `noise_scale` is added to the presence logits, which pushes presences towards 0 or 1.

    Unlike the official code there is no learned bias per position of the feature map
    before the projection (Sonnet's `AddBias`): under Adam at 1e-3 it left the image
    log-likelihood on Fashion-MNIST at 50 against 421 after 1,404 steps
    (benchmarks/HISTORY.md).

    Args:
        n_parts: part capsules `M`, >= 1.
        n_features: special features per capsule, >= 0.
        channels: image channels (width of the intensity).
        noise_scale: width of the uniform noise on presence logits while training.
        similarity: similarity poses instead of affine ones.
        seed: seed of the noise.

    Call arguments:
        features: a feature map `(batch, h, w, c)`.
        training: add the presence noise.

    Returns:
        `(pose, presence, special_features, intensity)`: `(batch, M, 6)` poses,
        `(batch, M)` presence probabilities, `(batch, M, n_features)` and
        `(batch, M, channels)`.
    """

    def __init__(self, n_parts, n_features=16, channels=1, noise_scale=4.0, similarity=False,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.n_parts = check_positive_int(n_parts, "n_parts")
        self.n_features = check_int(n_features, "n_features", 0)
        self.channels = check_positive_int(channels, "channels")
        self.noise_scale = check_number(noise_scale, "noise_scale", 0.0)
        self.similarity = check_bool(similarity, "similarity")
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.n_dims = POSE_DIMS + 1 + self.n_features
        self.projection = keras.layers.Dense(self.n_parts * (self.n_dims + 1), name="capsules")
        self.intensity_dense = keras.layers.Dense(self.channels, name="intensity")

    def build(self, features_shape):
        self.projection.build(features_shape)
        self.intensity_dense.build((None, self.n_parts, max(self.n_features, 1)))
        self.built = True

    def call(self, features, training=False):
        batch = ops.shape(features)[0]
        h = self.projection(features)
        h = ops.reshape(h, (batch, -1, self.n_parts * (self.n_dims + 1)))
        params = ops.reshape(h[..., :self.n_parts * self.n_dims],
                             (batch, -1, self.n_parts, self.n_dims))
        attention = ops.softmax(h[..., self.n_parts * self.n_dims:], axis=1)
        pooled = ops.sum(params * attention[..., None], axis=1)  # (batch, M, n_dims)
        pose = geometric_transform(pooled[..., :POSE_DIMS], self.similarity)
        logit = pooled[..., POSE_DIMS]
        if training and self.noise_scale > 0:
            noise = keras.random.uniform(ops.shape(logit), -0.5, 0.5, seed=self.seed_generator)
            logit = logit + self.noise_scale * noise
        special = pooled[..., POSE_DIMS + 1:]
        source = special if self.n_features else ops.zeros_like(pooled[..., :1])
        intensity = ops.sigmoid(self.intensity_dense(source) + 2.0)  # starts near 0.9
        return pose, ops.sigmoid(logit), special, intensity

    def compute_output_shape(self, features_shape):
        batch = features_shape[0]
        return ((batch, self.n_parts, POSE_DIMS), (batch, self.n_parts),
                (batch, self.n_parts, self.n_features), (batch, self.n_parts, self.channels))

    def get_config(self):
        config = super().get_config()
        config.update(n_parts=self.n_parts, n_features=self.n_features, channels=self.channels,
                      noise_scale=self.noise_scale, similarity=self.similarity, seed=self.seed)
        return config
