"""`GAN`: the DCGAN training loop as a `keras.Model` subclass with a custom `train_step`.

The networks come from `keras_unsup.builders.gan`; this class only owns how they are
trained: one discriminator step and one generator step per batch, the
non-saturating generator loss of Goodfellow et al. (2014), noise drawn from a seeded
`keras.random.SeedGenerator`. `InfoGAN`, `WGANGP` and `BEGAN` subclass it and change
the losses. All four run under `tf.distribute.MirroredStrategy` (losses are scaled by
the number of replicas, each replica draws its own noise) and save to and load from
`.keras` files with their optimizers.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_unsup.checks import (
    check_image_array,
    check_int,
    check_positive_int,
    check_seed,
    replicas_in_sync,
)
from keras_unsup.models._training import descend


def _check_networks(generator, discriminator, d_name="discriminator"):
    """Generator: `(batch, latent) -> images`; discriminator takes those images."""
    if not isinstance(generator, keras.Model):
        raise ValueError(
            f"`generator` must be a keras.Model. Received: generator of type {type(generator).__name__}"
        )
    if not isinstance(discriminator, keras.Model):
        raise ValueError(
            f"`{d_name}` must be a keras.Model. Received: {d_name} of type "
            f"{type(discriminator).__name__}"
        )
    in_shape = generator.input_shape
    if not isinstance(in_shape, tuple) or len(in_shape) != 2 or in_shape[-1] is None:
        raise ValueError(
            "`generator` must take one input of shape (batch, latent_dim). "
            f"Received: generator.input_shape={in_shape}"
        )
    out_shape = generator.output_shape
    d_shape = discriminator.input_shape
    if not isinstance(d_shape, tuple) or tuple(out_shape[1:]) != tuple(d_shape[1:]):
        raise ValueError(
            f"`{d_name}` must take the generator's images. Expected: input shape "
            f"{tuple(out_shape)}, Received: {d_name}.input_shape={d_shape}"
        )


def _check_optimizer(optimizer, name, default):
    if optimizer is None:
        return default()
    if isinstance(optimizer, (str, dict)):
        return keras.optimizers.get(optimizer)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(
            f"`{name}` must be a keras.optimizers.Optimizer, its name or None. "
            f"Received: {name} of type {type(optimizer).__name__}"
        )
    return optimizer


@keras.saving.register_keras_serializable(package="keras_unsup")
class GAN(keras.Model):
    """A DCGAN: a generator and a discriminator trained against each other.

    Each `train_step` takes a batch of real images, updates the discriminator on
    them and on as many generated images (binary cross-entropy on logits), then
    updates the generator with the non-saturating loss `-log D(G(z))`. Noise is
    standard normal, drawn from a `keras.random.SeedGenerator(seed)`, so two runs
    with the same seed (and `keras.utils.set_random_seed`) train alike on CPU.

    Args:
        generator: a `keras.Model` `(batch, latent_dim) -> (batch, h, w, c)`, e.g.
            `build_dcgan_generator(...)`.
        discriminator: a `keras.Model` `(batch, h, w, c) -> (batch, 1)` logits,
            e.g. `build_dcgan_discriminator(...)`.
        seed: seed of the noise (`None`: a random one).
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Call arguments:
        latent: noise of shape `(batch, latent_dim)`; returns the generator's images.

    Example:

    >>> from keras_unsup.builders.gan import build_dcgan_generator, build_dcgan_discriminator
    >>> gan = GAN(build_dcgan_generator(100, (28, 28, 1)), build_dcgan_discriminator((28, 28, 1)))
    >>> gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
    ...             g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    >>> gan.fit(image_dataset(x_train, 64), epochs=5)  # doctest: +SKIP
    >>> images = gan.generate(16)  # (16, 28, 28, 1)
    """

    def __init__(self, generator, discriminator, seed=None, **kwargs):
        _check_networks(generator, discriminator)
        seed = check_seed(seed)
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.seed = seed
        self.latent_dim = int(generator.input_shape[-1])
        self.image_shape = tuple(int(d) for d in generator.output_shape[1:])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_optimizer = None
        self.g_optimizer = None
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.tracked}
        self.built = True

    # ---- training -------------------------------------------------------------------
    # What `train_step` reports, each the mean over the epoch so far.
    tracked = ("d_loss", "g_loss")

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _update_metrics(self, **values):
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    @staticmethod
    def _real_images(data):
        """The images of a batch that may come as `x`, `(x,)`, `(x, y)` or `{name: x}`."""
        if isinstance(data, (tuple, list)):
            data = data[0]
        if isinstance(data, dict):
            data = next(iter(data.values()))
        return data

    def _default_d_optimizer(self):
        # Radford et al. (2016): Adam, learning rate 2e-4, beta_1 0.5.
        return keras.optimizers.Adam(2e-4, beta_1=0.5)

    def _default_g_optimizer(self):
        return keras.optimizers.Adam(2e-4, beta_1=0.5)

    def compile(self, d_optimizer=None, g_optimizer=None, *, jit_compile="auto", **kwargs):
        """Sets the two optimizers (and builds their state, so a backup restores it).

        Args:
            d_optimizer: optimizer of the discriminator (critic); `None` takes the
                method's default (DCGAN: Adam 2e-4, beta_1 0.5; InfoGAN: the same;
                WGAN-GP: Adam 1e-4, beta_1 0, beta_2 0.9).
            g_optimizer: optimizer of the generator, a different object; `None` takes
                the method's default (InfoGAN: Adam 1e-3, beta_1 0.5).
            jit_compile: compile the train step with XLA (`"auto"`: Keras decides).
            **kwargs: passed to `keras.Model.compile` (e.g. `steps_per_execution`).
        """
        if "optimizer" in kwargs or "loss" in kwargs:
            raise ValueError(
                "`GAN.compile` takes `d_optimizer` and `g_optimizer`; its losses are "
                f"built in. Received: {sorted(k for k in kwargs if k in ('optimizer', 'loss'))}"
            )
        d_optimizer = _check_optimizer(d_optimizer, "d_optimizer", self._default_d_optimizer)
        g_optimizer = _check_optimizer(g_optimizer, "g_optimizer", self._default_g_optimizer)
        if d_optimizer is g_optimizer:
            raise ValueError(
                "`d_optimizer` and `g_optimizer` must be two optimizer objects (each keeps "
                "state for its own network). Received: the same object twice"
            )
        super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self._gan_compile_kwargs = {"jit_compile": jit_compile, **kwargs}
        # Built now, so that BackupAndRestore and load_model can restore their state.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def sample_latent(self, batch_size):
        """Standard normal noise `(batch_size, latent_dim)` from the model's seed generator.

        Under a distribution strategy every replica draws its own slice.
        """
        return self._draw(
            lambda shape: keras.random.normal(shape, seed=self.seed_generator),
            (batch_size, self.latent_dim),
        )

    def _draw(self, sampler, shape):
        replicas = replicas_in_sync()
        if replicas == 1:
            return sampler(shape)
        # Replicas share the seed generator's state; each takes its own slice of a
        # draw for all of them, so their noise differs.
        replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
        return ops.take(sampler((replicas, *shape)), replica_id, axis=0)

    def _discriminator_loss(self, real_logits, fake_logits):
        # -log D(x) - log(1 - D(G(z))), with D = sigmoid(logit).
        return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))

    def _generator_loss(self, fake_logits):
        # Non-saturating: -log D(G(z)).
        return ops.mean(ops.softplus(-fake_logits))

    def train_step(self, data):
        real = self._real_images(data)
        batch_size = ops.shape(real)[0]
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables

        fake = self.generator(self.sample_latent(batch_size), training=True)
        d_loss = descend(self.d_optimizer, d_vars, lambda: self._discriminator_loss(
            self.discriminator(real, training=True), self.discriminator(fake, training=True)))

        latent = self.sample_latent(batch_size)
        g_loss = descend(self.g_optimizer, g_vars, lambda: self._generator_loss(
            self.discriminator(self.generator(latent, training=True), training=True)))
        return self._update_metrics(d_loss=d_loss, g_loss=g_loss)

    # ---- use ------------------------------------------------------------------------
    def call(self, latent, training=False):
        return self.generator(latent, training=training)

    def fixed_latent(self, n, seed=0):
        """`n` latent vectors drawn with their own `seed` (NumPy), the same every call.

        For figures and scores that must compare like with like across epochs.
        """
        n = check_positive_int(n, "n")
        rng = np.random.default_rng(check_seed(seed))
        return rng.standard_normal((n, self.latent_dim)).astype(np.float32)

    def interpolation_latent(self, n_pairs, n_steps=10, seed=0):
        """Latent vectors on straight lines between `n_pairs` pairs of `fixed_latent` draws.

        Row `i` (`n_steps` vectors, ends included) goes from the `i`-th vector of one
        draw to the `i`-th of another, as in the interpolation figures of Berthelot et
        al. (2017); `generate(latent=...)` of it, drawn with `ncols=n_steps`, shows how
        smoothly the generator maps noise to images.

        Returns:
            float32 `(n_pairs * n_steps, latent_dim)`, row-major by pair.
        """
        n_pairs = check_positive_int(n_pairs, "n_pairs")
        n_steps = check_int(n_steps, "n_steps", 2)
        ends = self.fixed_latent(2 * n_pairs, seed)
        start, stop = ends[:n_pairs, None, :], ends[n_pairs:, None, :]
        t = np.linspace(0.0, 1.0, n_steps, dtype=np.float32)[None, :, None]
        return ((1.0 - t) * start + t * stop).reshape(-1, self.latent_dim).astype(np.float32)

    def generate(self, n=None, *, latent=None, seed=0, batch_size=512):
        """Generated images as a NumPy array `(n, h, w, c)` in [0, 1].

        Args:
            n: how many images (noise from `fixed_latent(n, seed)`).
            latent: explicit generator inputs `(n, latent_dim)` instead of `n`.
            seed: seed of the noise when `latent` is not given.
            batch_size: images per generator call.
        """
        if latent is None:
            if n is None:
                raise ValueError("`generate` needs `n` or `latent`. Received: n=None, latent=None")
            latent = self.fixed_latent(n, seed)
        latent = np.asarray(latent, dtype=np.float32)
        expected = int(self.generator.input_shape[-1])
        if latent.ndim != 2 or latent.shape[-1] != expected:
            raise ValueError(
                f"`latent` must have shape (n, {expected}). Received: latent.shape={latent.shape}"
            )
        batch_size = check_positive_int(batch_size, "batch_size")
        out = [
            keras.ops.convert_to_numpy(self.generator(latent[i : i + batch_size], training=False))
            for i in range(0, len(latent), batch_size)
        ]
        return np.concatenate(out, axis=0)

    def discriminator_features(self, x, batch_size=512):
        """The discriminator's `"features"` layer for images `x`, as `(n, d)` float32."""
        from keras_unsup.builders.gan import features_model

        x = check_image_array(x, "x", self.image_shape)
        batch_size = check_positive_int(batch_size, "batch_size")
        # Direct calls, not `predict`: a fresh model per call would retrace a tf.function.
        model = features_model(self.discriminator)
        out = [
            keras.ops.convert_to_numpy(model(x[i : i + batch_size], training=False))
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(out, axis=0).astype(np.float32)

    # ---- serialisation --------------------------------------------------------------
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def get_compile_config(self):
        if self.d_optimizer is None:
            return None
        return {
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
            **getattr(self, "_gan_compile_kwargs", {}),
        }

    def compile_from_config(self, config):
        config = dict(config)
        for key in ("d_optimizer", "g_optimizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)

