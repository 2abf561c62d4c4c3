"""`BEGAN`: a GAN whose discriminator is an autoencoder, balanced by an equilibrium control.

Berthelot, Schumm and Metz (2017), "BEGAN: Boundary Equilibrium Generative Adversarial
Networks". The discriminator `D` reconstructs images; `L(v) = mean |v - D(v)|` is its
pixel-wise L1 reconstruction loss. `D` minimises `L(x) - k_t L(G(z_D))` (reconstruct
real images well, generated ones badly), `G` minimises `L(G(z_G))`, and the control
`k_t` keeps the ratio `L(G(z)) / L(x)` near `gamma`:

    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z_G))), 0, 1).

`M_global = L(x) + |gamma L(x) - L(G(z_G))|` measures convergence (lower is better).
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_unsup.checks import check_number, replicas_in_sync
from keras_unsup.models._training import descend
from keras_unsup.models.gan import GAN


def l1_reconstruction_loss(images, reconstructions):
    """BEGAN's `L(v)`: the mean absolute error over pixels and the batch, a scalar."""
    return ops.mean(ops.abs(images - reconstructions))


def _cross_replica_mean(value):
    """The mean of `value` over the replicas in sync (itself outside a strategy)."""
    if replicas_in_sync() == 1:
        return value
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, value)


@keras.saving.register_keras_serializable(package="keras_unsup")
class BEGAN(GAN):
    """BEGAN: an autoencoder discriminator and the equilibrium control `k`.

    Each `train_step` takes a batch of real images `x` and:
    1. updates `D` on `L(x) - k L(G(z_D))` (fresh noise `z_D`);
    2. updates `G` on `L(G(z_G))` (fresh noise `z_G`, with the updated `D`);
    3. sets `k <- clip(k + lambda_k (gamma L(x) - L(G(z_G))), 0, 1)`, from the two
       losses averaged over the replicas, so that every replica holds the same `k`.

    It reports (means over the epoch so far) `d_loss`, `g_loss` (`L(G(z_G))`),
    `real_loss` (`L(x)`), `fake_loss` (`L(G(z_D))`) and `m_global`
    (`L(x) + |gamma L(x) - L(G(z_G))|`, per step), and `k`, its value after the
    latest step. `k` is a non-trainable variable of the model, saved with it.

    Args:
        generator: `(batch, latent_dim) -> images`, e.g. `build_began_generator(...)`.
        discriminator: an autoencoder `images -> reconstructions` of the same shape,
            e.g. `build_began_discriminator(...)`; its `"features"` layer (the
            embedding) is what `discriminator_features` returns.
        gamma: the diversity ratio `E[L(G(z))] / E[L(x)]` aimed at, in (0, 1]
            (0.5 in the paper's figures; lower: sharper, less diverse samples).
        lambda_k: the control's learning rate, >= 0 (0.001 in the paper).
        k_initial: the control's starting value, in [0, 1] (0 in the paper).
        seed: seed of the noise (`None`: a random one).
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:

    >>> from keras_unsup.builders.gan import build_began_generator, build_began_discriminator
    >>> began = BEGAN(build_began_generator(64, (28, 28, 1)),
    ...               build_began_discriminator((28, 28, 1)), gamma=0.5, seed=0)
    >>> began.compile()  # Adam(1e-4, beta_1=0.5) for both networks
    >>> began.fit(image_dataset(x_train, 16), epochs=5)  # doctest: +SKIP
    >>> float(began.k), began.generate(16).shape  # doctest: +SKIP
    """

    def __init__(self, generator, discriminator, gamma=0.5, lambda_k=0.001, k_initial=0.0,
                 seed=None, **kwargs):
        gamma = check_number(gamma, "gamma", 0.0, 1.0, low_open=True)
        lambda_k = check_number(lambda_k, "lambda_k", 0.0)
        k_initial = check_number(k_initial, "k_initial", 0.0, 1.0)
        super().__init__(generator, discriminator, seed=seed, **kwargs)
        d_out = discriminator.output_shape
        if not isinstance(d_out, tuple) or tuple(d_out[1:]) != self.image_shape:
            raise ValueError(
                "`discriminator` must be an autoencoder returning images of the generator's "
                f"shape {self.image_shape} (as build_began_discriminator makes). "
                f"Received: discriminator.output_shape={d_out}"
            )
        self.gamma = gamma
        self.lambda_k = lambda_k
        self.k_initial = k_initial
        # Every replica assigns the same value (from cross-replica means), so "mean" is exact.
        self.k = self.add_weight(
            shape=(), name="k", initializer=keras.initializers.Constant(k_initial),
            trainable=False, aggregation="mean",
        )

    tracked = ("d_loss", "g_loss", "real_loss", "fake_loss", "m_global")

    def _default_d_optimizer(self):
        # Berthelot et al. (2017), section 4.1: Adam, learning rate 1e-4 (beta_1 0.5 here,
        # as in the reference implementations).
        return keras.optimizers.Adam(1e-4, beta_1=0.5)

    def _default_g_optimizer(self):
        return keras.optimizers.Adam(1e-4, beta_1=0.5)

    def generate(self, n=None, *, latent=None, seed=0, batch_size=512):
        """Generated images `(n, h, w, c)`, clipped to [0, 1] (the generator is linear)."""
        images = super().generate(n, latent=latent, seed=seed, batch_size=batch_size)
        return np.clip(images, 0.0, 1.0)

    def reconstruction_loss(self, images, training=False):
        """`L(images)`: the discriminator's mean absolute reconstruction error, a scalar."""
        return l1_reconstruction_loss(images, self.discriminator(images, training=training))

    def train_step(self, data):
        real = self._real_images(data)
        batch_size = ops.shape(real)[0]
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables
        k = ops.convert_to_tensor(self.k)

        fake_d = self.generator(self.sample_latent(batch_size), training=True)

        def d_objective():
            real_loss = self.reconstruction_loss(real, training=True)
            fake_loss = self.reconstruction_loss(fake_d, training=True)
            return real_loss - k * fake_loss, real_loss, fake_loss

        d_loss, real_loss, fake_loss = descend(self.d_optimizer, d_vars, d_objective)

        latent = self.sample_latent(batch_size)
        g_loss = descend(self.g_optimizer, g_vars, lambda: self.reconstruction_loss(
            self.generator(latent, training=True), training=True))

        real_mean = _cross_replica_mean(real_loss)
        g_mean = _cross_replica_mean(g_loss)
        balance = self.gamma * real_mean - g_mean
        self.k.assign(ops.clip(k + self.lambda_k * balance, 0.0, 1.0))
        logs = self._update_metrics(
            d_loss=d_loss, g_loss=g_loss, real_loss=real_loss, fake_loss=fake_loss,
            m_global=real_mean + ops.abs(balance),
        )
        logs["k"] = ops.convert_to_tensor(self.k)
        return logs

    def get_config(self):
        config = super().get_config()
        config.update({"gamma": self.gamma, "lambda_k": self.lambda_k,
                       "k_initial": self.k_initial})
        return config
