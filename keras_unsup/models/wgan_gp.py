"""`WGANGP`: a Wasserstein GAN whose critic is kept 1-Lipschitz by a gradient penalty.

Gulrajani et al. (2017), "Improved Training of Wasserstein GANs". The critic
(a discriminator without batch normalisation: `build_dcgan_discriminator(...,
batch_norm=False)`) scores images; it is trained `n_critic` times per generator
step to widen `E[D(real)] - E[D(fake)]`, an estimate of the Wasserstein-1 distance,
while `gp_weight * E[(||grad D(x_hat)||_2 - 1)^2]` on random interpolates `x_hat`
between real and generated images keeps its gradients near norm 1.
"""

import keras
import tensorflow as tf
from keras import ops

from keras_unsup.checks import check_number, check_positive_int
from keras_unsup.models._training import descend
from keras_unsup.models.gan import GAN


@keras.saving.register_keras_serializable(package="keras_unsup")
class WGANGP(GAN):
    """WGAN-GP: critic loss `D(fake) - D(real) + gp_weight * GP`, generator loss `-D(fake)`.

    Each `train_step` runs `n_critic` critic updates on the batch's real images
    (fresh noise and interpolation weights each time, as in keras-io's and many
    reference implementations, rather than `n_critic` separate real batches), then
    one generator update.

    Args:
        generator: `(batch, latent_dim) -> images`.
        discriminator: the critic, images -> `(batch, 1)` unbounded scores; no batch
            normalisation (the penalty is per sample).
        gp_weight: weight of the gradient penalty (10 in the paper).
        n_critic: critic updates per generator update (5 in the paper).
        seed: seed of the noise.
        **kwargs: passed to `keras.Model`.

    Example:

    >>> critic = build_dcgan_discriminator((28, 28, 1), batch_norm=False)
    >>> wgan = WGANGP(build_dcgan_generator(100, (28, 28, 1)), critic, seed=0)
    >>> wgan.compile()  # Adam(1e-4, beta_1=0, beta_2=0.9) for both
    >>> wgan.fit(image_dataset(x_train, 64), epochs=5)  # doctest: +SKIP
    """

    def __init__(self, generator, discriminator, gp_weight=10.0, n_critic=5, seed=None, **kwargs):
        gp_weight = check_number(gp_weight, "gp_weight", 0)
        n_critic = check_positive_int(n_critic, "n_critic")
        if isinstance(discriminator, keras.Model) and any(
            isinstance(layer, keras.layers.BatchNormalization) for layer in discriminator.layers
        ):
            raise ValueError(
                "`discriminator` (the critic) must not use batch normalisation: the gradient "
                "penalty is per sample. Received: a model with BatchNormalization layers; build "
                "it with build_dcgan_discriminator(..., batch_norm=False)"
            )
        super().__init__(generator, discriminator, seed=seed, **kwargs)
        self.gp_weight = gp_weight
        self.n_critic = n_critic

    @property
    def critic(self):
        """The critic (stored as `discriminator`, like the other GANs)."""
        return self.discriminator

    tracked = ("d_loss", "g_loss", "gradient_penalty", "wasserstein")

    def _default_d_optimizer(self):
        # Gulrajani et al. (2017), Algorithm 1: alpha 1e-4, beta_1 0, beta_2 0.9.
        return keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9)

    def _default_g_optimizer(self):
        return keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9)

    def gradient_penalty(self, real, fake):
        """`mean((||grad_x D(x_hat)||_2 - 1)^2)` at random interpolates of `real` and `fake`."""
        batch_size = ops.shape(real)[0]
        eps = self._draw(
            lambda s: keras.random.uniform(s, seed=self.seed_generator), (batch_size, 1, 1, 1)
        )
        interpolates = eps * real + (1.0 - eps) * fake
        with tf.GradientTape() as tape:
            tape.watch(interpolates)
            scores = self.discriminator(interpolates, training=True)
        grads = tape.gradient(scores, interpolates)
        norms = ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3)) + 1e-12)
        return ops.mean(ops.square(norms - 1.0))

    def train_step(self, data):
        real = self._real_images(data)
        batch_size = ops.shape(real)[0]
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables

        def critic_loss(fake):
            wasserstein = ops.mean(self.discriminator(real, training=True)) - ops.mean(
                self.discriminator(fake, training=True)
            )
            penalty = self.gradient_penalty(real, fake)
            return -wasserstein + self.gp_weight * penalty, wasserstein, penalty

        for _ in range(self.n_critic):  # unrolled: n_critic is small and static
            fake = self.generator(self.sample_latent(batch_size), training=True)
            d_loss, wasserstein, penalty = descend(
                self.d_optimizer, d_vars, lambda fake=fake: critic_loss(fake))

        latent = self.sample_latent(batch_size)
        g_loss = descend(self.g_optimizer, g_vars, lambda: -ops.mean(
            self.discriminator(self.generator(latent, training=True), training=True)))
        return self._update_metrics(d_loss=d_loss, g_loss=g_loss, gradient_penalty=penalty,
                                    wasserstein=wasserstein)

    def get_config(self):
        config = super().get_config()
        config.update({"gp_weight": self.gp_weight, "n_critic": self.n_critic})
        return config
