"""Object capsules and their votes for parts (the OCAE's decoder)."""

import keras
from keras import ops

from keras_unsup.checks import (
    check_bool,
    check_choice,
    check_number,
    check_positive_int,
    check_seed,
)
from keras_unsup.layers.affine_templates import POSE_DIMS, geometric_transform, pose_matrix


@keras.saving.register_keras_serializable(package="keras_unsup")
class ObjectCapsuleVotes(keras.layers.Layer):
    """Object capsules' presences, poses and votes (Kosiorek et al., NeurIPS 2019, Eq. 1-2).

    Each of the `K` encodings (the Set Transformer's outputs) goes through an MLP of its
    own (no weights shared between capsules) to the capsule's feature vector `c_k`, and
    from it to: the object-viewer relation `OV_k` (a 3x3 affine matrix), the presence
    logit of the capsule `a_k`, and for each of its `n_votes` candidate parts a
    presence logit `a_kn`, a scale `lambda_kn` and an input-dependent correction of the
    learned object-part relation `OP_kn`. The vote for part `n` is `V_kn = OV_k OP_kn`
    (Eq. 2); its presence `a_k a_kn`. The corrections are penalised by `dynamic_l2`
    (the official code's weight-10 term), so that `OP` stays mostly static.

    Args:
        n_votes: votes per capsule (the number of parts `M` for images: vote `n` of every
            object is for part `n`).
        n_features: width of each capsule's feature vector `c_k`.
        hidden: hidden units of both per-capsule MLPs.
        vote_dims: `6` (votes are affine poses `(a, b, tx, c, d, ty)`) or `2` (votes are
            points, the translation of `V_kn`, for 2-D constellations).
        similarity: similarity transforms for `OV` and `OP` instead of affine ones.
        noise_scale: width of uniform noise on presence logits while training.
        seed: seed of the noise.

    Call arguments:
        encodings: `(batch, K, d)`.
        training: add the presence noise.

    Returns:
        A tuple `(votes, scales, vote_presence, object_presence, object_features,
        dynamic_l2)`: `(batch, K, n_votes, vote_dims)`, `(batch, K, n_votes)`,
        `(batch, K, n_votes)`, `(batch, K)` (`max_n a_k a_kn`, the presence the paper
        clusters), `(batch, K, n_features)` and `(batch,)`.
    """

    def __init__(self, n_votes, n_features=32, hidden=128, vote_dims=POSE_DIMS,
                 similarity=False, noise_scale=4.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.n_votes = check_positive_int(n_votes, "n_votes")
        self.n_features = check_positive_int(n_features, "n_features")
        self.hidden = check_positive_int(hidden, "hidden")
        self.vote_dims = check_choice(vote_dims, "vote_dims", (2, POSE_DIMS))
        self.similarity = check_bool(similarity, "similarity")
        self.noise_scale = check_number(noise_scale, "noise_scale", 0.0)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, encodings_shape):
        k, d = int(encodings_shape[1]), int(encodings_shape[2])
        self.n_objects = k
        n = self.n_votes
        self.n_dynamic = n * POSE_DIMS
        self.n_outputs = self.n_dynamic + POSE_DIMS + 1 + 2 * n

        def weight(name, shape, init="glorot_uniform"):
            return self.add_weight(name=name, shape=shape, initializer=init)

        self.w1, self.b1 = weight("w1", (k, d, self.hidden)), weight("b1", (k, self.hidden), "zeros")
        self.w2 = weight("w2", (k, self.hidden, self.n_features))
        self.b2 = weight("b2", (k, self.n_features), "zeros")
        self.w3 = weight("w3", (k, self.n_features, self.hidden))
        self.b3 = weight("b3", (k, self.hidden), "zeros")
        # No bias on the dynamic part of OP: the static part (`op_static`) plays it.
        self.w4 = weight("w4", (k, self.hidden, self.n_outputs))
        self.b4 = weight("b4", (k, self.n_outputs - self.n_dynamic), "zeros")
        self.op_static = weight("op_static", (k, n, POSE_DIMS))
        self.built = True

    def call(self, encodings, training=False):
        h = ops.relu(ops.einsum("bkd,kdh->bkh", encodings, self.w1) + self.b1)
        features = ops.einsum("bkh,khf->bkf", h, self.w2) + self.b2
        h = ops.relu(ops.einsum("bkf,kfh->bkh", features, self.w3) + self.b3)
        out = ops.einsum("bkh,kho->bko", h, self.w4)
        n = self.n_votes
        batch = ops.shape(encodings)[0]
        dynamic = ops.reshape(out[..., :self.n_dynamic], (batch, self.n_objects, n, POSE_DIMS))
        rest = out[..., self.n_dynamic:] + self.b4
        ov_params = rest[..., :POSE_DIMS]
        object_logit = rest[..., POSE_DIMS]
        vote_logit = rest[..., POSE_DIMS + 1:POSE_DIMS + 1 + n]
        scale = ops.softplus(rest[..., POSE_DIMS + 1 + n:] + 0.5) + 1e-2
        if training and self.noise_scale > 0:
            def noisy(x):
                noise = keras.random.uniform(ops.shape(x), -0.5, 0.5, seed=self.seed_generator)
                return x + self.noise_scale * noise

            object_logit, vote_logit = noisy(object_logit), noisy(vote_logit)
        ov = pose_matrix(geometric_transform(ov_params, self.similarity))  # (b, K, 3, 3)
        op = pose_matrix(geometric_transform(dynamic + self.op_static, self.similarity))
        votes = ops.matmul(ov[:, :, None], op)  # V_kn = OV_k OP_kn, (b, K, n, 3, 3)
        if self.vote_dims == 2:
            votes = votes[..., :2, 2]
        else:
            votes = ops.reshape(votes[..., :2, :], (batch, self.n_objects, n, POSE_DIMS))
        vote_presence = ops.sigmoid(object_logit)[..., None] * ops.sigmoid(vote_logit)
        object_presence = ops.max(vote_presence, axis=-1)
        dynamic_l2 = 0.5 * ops.sum(ops.square(dynamic), axis=(1, 2, 3))
        return votes, scale, vote_presence, object_presence, features, dynamic_l2

    def compute_output_shape(self, encodings_shape):
        b, k = encodings_shape[0], encodings_shape[1]
        n = self.n_votes
        return ((b, k, n, self.vote_dims), (b, k, n), (b, k, n), (b, k), (b, k, self.n_features),
                (b,))

    def get_config(self):
        config = super().get_config()
        config.update(n_votes=self.n_votes, n_features=self.n_features, hidden=self.hidden,
                      vote_dims=self.vote_dims, similarity=self.similarity,
                      noise_scale=self.noise_scale, seed=self.seed)
        return config
