"""`InfoGAN`: a GAN whose generator input carries codes a recognition network recovers.

Chen et al. (2016), "InfoGAN: Interpretable Representation Learning by Information
Maximizing Generative Adversarial Nets". The generator sees `[noise, one-hot
category, continuous codes]`; the discriminator network has a second head, Q, that
predicts the codes from the image. Maximising a variational lower bound of the
mutual information between codes and images (minimising Q's negative
log-likelihood of the codes, weight `lambda_info`) makes the categorical code pick up
discrete factors (on MNIST: the digit class), so that Q's predicted category on real
images is an unsupervised clustering.
"""

import keras
import numpy as np
from keras import ops

from keras_unsup.checks import (
    check_image_array,
    check_int,
    check_number,
    check_positive_int,
    check_seed,
)
from keras_unsup.models._training import descend
from keras_unsup.models.gan import GAN


@keras.saving.register_keras_serializable(package="keras_unsup")
class InfoGAN(GAN):
    """InfoGAN: a GAN plus a mutual-information loss on categorical and continuous codes.

    Each `train_step` draws noise `z ~ N(0, I)`, a category `c ~ Uniform{0..K-1}`
    and continuous codes `u ~ Uniform(-1, 1)`, and trains (D and Q always see one
    batch of real and generated images together, so that their batch normalisation
    treats both alike):
    - D and Q on `BCE(D(x), 1) + BCE(D(G(z, c, u)), 0) + lambda_info * L_info`;
    - G on `-log D(G(z, c, u)) + lambda_info * L_info`;
    where `L_info = CE(c, Q_cat(G(...))) + continuous_weight * 0.5 * ||u - Q_mu(G(...))||^2`
    is Q's negative log-likelihood of the codes (a unit-variance Gaussian for the
    continuous ones), i.e. minus the variational mutual-information bound up to
    constants.

    Args:
        generator: `(batch, noise_dim + n_categories + n_continuous) -> images`, e.g.
            `build_infogan_generator(...)`.
        discriminator: images -> `[d_logit (batch, 1), q_categorical (batch,
            n_categories)(, q_continuous (batch, n_continuous))]`, e.g.
            `build_infogan_discriminator(...)`.
        noise_dim: size of the noise part of the generator input.
        n_categories: size of the categorical code.
        n_continuous: number of continuous codes.
        lambda_info: weight of the mutual-information loss (1 in the paper).
        continuous_weight: weight of the continuous codes inside it.
        seed: seed of the noise and codes.
        **kwargs: passed to `keras.Model`.

    Example:

    >>> from keras_unsup.builders.gan import build_infogan_generator, build_infogan_discriminator
    >>> infogan = InfoGAN(build_infogan_generator((28, 28, 1)),
    ...                   build_infogan_discriminator((28, 28, 1)), seed=0)
    >>> infogan.compile()
    >>> infogan.fit(image_dataset(x_train, 64), epochs=5)  # doctest: +SKIP
    >>> clusters = infogan.predict_categories(x_test)  # (n,) ints in [0, 10)
    """

    def __init__(
        self,
        generator,
        discriminator,
        noise_dim=62,
        n_categories=10,
        n_continuous=2,
        lambda_info=1.0,
        continuous_weight=1.0,
        seed=None,
        **kwargs,
    ):
        noise_dim = check_positive_int(noise_dim, "noise_dim")
        n_categories = check_int(n_categories, "n_categories", 2)
        n_continuous = check_int(n_continuous, "n_continuous", 0)
        lambda_info = check_number(lambda_info, "lambda_info", 0)
        continuous_weight = check_number(continuous_weight, "continuous_weight", 0)
        expected = noise_dim + n_categories + n_continuous
        if isinstance(generator, keras.Model) and generator.input_shape[-1] != expected:
            raise ValueError(
                f"`generator` must take noise_dim + n_categories + n_continuous = {expected} "
                f"inputs. Received: generator.input_shape={generator.input_shape}"
            )
        if isinstance(discriminator, keras.Model):
            shapes = [tuple(o.shape) for o in discriminator.outputs]
            want = [(None, 1), (None, n_categories)] + (
                [(None, n_continuous)] if n_continuous else []
            )
            if shapes != want:
                raise ValueError(
                    f"`discriminator` must return {len(want)} outputs of shapes {want} "
                    f"(d_logit, q_categorical{', q_continuous' if n_continuous else ''}). "
                    f"Received: output shapes {shapes}"
                )
        super().__init__(generator, discriminator, seed=seed, **kwargs)
        self.noise_dim = noise_dim
        self.n_categories = n_categories
        self.n_continuous = n_continuous
        self.lambda_info = lambda_info
        self.continuous_weight = continuous_weight

    tracked = ("d_loss", "g_loss", "info_loss", "q_accuracy")

    def _default_g_optimizer(self):
        # Chen et al. (2016): learning rate 2e-4 for D, 1e-3 for G, Adam.
        return keras.optimizers.Adam(1e-3, beta_1=0.5)

    # ---- codes ----------------------------------------------------------------------
    def sample_codes(self, batch_size):
        """`(latent, categories, continuous)` drawn from the model's seed generator.

        `latent` is the generator input `[noise, one_hot(categories), continuous]`,
        `categories` int32 `(batch,)`, `continuous` `(batch, n_continuous)` in [-1, 1].
        """
        seed = self.seed_generator
        noise = self._draw(
            lambda s: keras.random.normal(s, seed=seed), (batch_size, self.noise_dim)
        )
        categories = self._draw(
            lambda s: keras.random.randint(s, 0, self.n_categories, seed=seed, dtype="int32"),
            (batch_size,),
        )
        parts = [noise, ops.one_hot(categories, self.n_categories, dtype=noise.dtype)]
        continuous = None
        if self.n_continuous:
            continuous = self._draw(
                lambda s: keras.random.uniform(s, -1.0, 1.0, seed=seed),
                (batch_size, self.n_continuous),
            )
            parts.append(continuous)
        return ops.concatenate(parts, axis=-1), categories, continuous

    def sample_latent(self, batch_size):
        return self.sample_codes(batch_size)[0]

    def make_latent(self, categories, continuous=None, noise=None, seed=0):
        """Generator inputs for chosen codes (NumPy), with noise drawn from `seed`.

        Args:
            categories: ints `(n,)` in `[0, n_categories)`.
            continuous: `(n, n_continuous)` values, or `None` for zeros.
            noise: `(n, noise_dim)` values, or `None` to draw them with `seed`.
            seed: seed of the noise.

        Returns:
            float32 array `(n, noise_dim + n_categories + n_continuous)`.
        """
        categories = np.asarray(categories).reshape(-1)
        n = len(categories)
        if (
            n == 0
            or not np.issubdtype(categories.dtype, np.integer)
            or categories.min() < 0
            or categories.max() >= self.n_categories
        ):
            raise ValueError(
                f"`categories` must be a non-empty array of ints in [0, {self.n_categories}). "
                f"Received: {categories!r}"
            )
        if continuous is None:
            continuous = np.zeros((n, self.n_continuous), np.float32)
        continuous = np.asarray(continuous, np.float32).reshape(n, -1)
        if continuous.shape != (n, self.n_continuous):
            raise ValueError(
                f"`continuous` must have shape ({n}, {self.n_continuous}). "
                f"Received: continuous.shape={continuous.shape}"
            )
        if noise is None:
            noise = np.random.default_rng(check_seed(seed)).standard_normal((n, self.noise_dim))
        noise = np.asarray(noise, np.float32)
        if noise.shape != (n, self.noise_dim):
            raise ValueError(
                f"`noise` must have shape ({n}, {self.noise_dim}). Received: noise.shape={noise.shape}"
            )
        one_hot = np.eye(self.n_categories, dtype=np.float32)[categories]
        return np.concatenate([noise, one_hot, continuous], axis=1).astype(np.float32)

    def fixed_latent(self, n, seed=0):
        """`n` generator inputs: categories cycling 0, 1, ..., continuous codes from `seed`.

        With `n` a multiple of `n_categories`, a grid of `n_categories` columns shows
        one category per column.
        """
        n = check_positive_int(n, "n")
        rng = np.random.default_rng(check_seed(seed))
        categories = np.arange(n) % self.n_categories
        continuous = rng.uniform(-1.0, 1.0, (n, self.n_continuous))
        noise = rng.standard_normal((n, self.noise_dim))
        return self.make_latent(categories, continuous, noise)

    def traversal_latent(self, code=0, values=None, seed=0):
        """Generator inputs for a latent traversal: rows = categories, columns = values.

        Every image shares one noise vector (drawn with `seed`); row `k` has category
        `k`; column `j` sets continuous code `code` to `values[j]` (the others 0).

        Args:
            code: index of the continuous code to sweep.
            values: the values swept (default: 9 from -2 to 2, beyond the training
                range [-1, 1] as in the paper).
            seed: seed of the shared noise.

        Returns:
            float32 array `(n_categories * len(values), latent_dim)`, row-major.
        """
        if self.n_continuous == 0:
            raise ValueError("`traversal_latent` needs a continuous code. Received: n_continuous=0")
        code = check_int(code, "code", 0, self.n_continuous - 1)
        values = np.linspace(-2.0, 2.0, 9) if values is None else np.asarray(values, np.float32)
        if values.ndim != 1 or len(values) == 0:
            raise ValueError(f"`values` must be a non-empty 1-D sequence. Received: {values!r}")
        rows, cols = self.n_categories, len(values)
        categories = np.repeat(np.arange(rows), cols)
        continuous = np.zeros((rows * cols, self.n_continuous), np.float32)
        continuous[:, code] = np.tile(values, rows)
        noise = np.random.default_rng(check_seed(seed)).standard_normal((1, self.noise_dim))
        return self.make_latent(categories, continuous, np.repeat(noise, rows * cols, axis=0))

    # ---- training -------------------------------------------------------------------
    def _info_loss(self, outputs, categories, continuous):
        q_logits = outputs[1]
        loss = ops.mean(ops.sparse_categorical_crossentropy(categories, q_logits, from_logits=True))
        if self.n_continuous:
            loss = loss + self.continuous_weight * 0.5 * ops.mean(
                ops.sum(ops.square(continuous - outputs[2]), axis=-1)
            )
        return loss

    def _discriminate_mixed(self, real, fake):
        """D/Q outputs of the fake half of one `[real; fake]` batch, and D's real logits.

        The published D/Q network has batch normalisation after its dense layer too;
        fed all-real and all-fake batches separately, each is normalised by its own
        statistics, which hides exactly the batch-level differences (brightness,
        contrast) D must see, and the generator stalls on grey noise. One mixed batch
        keeps real and fake on the same normalisation, in both steps.
        """
        n = ops.shape(real)[0]
        outputs = self.discriminator(ops.concatenate([real, fake], axis=0), training=True)
        return outputs[0][:n], [o[n:] for o in outputs]

    def train_step(self, data):
        real = self._real_images(data)
        batch_size = ops.shape(real)[0]
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables

        latent, categories, continuous = self.sample_codes(batch_size)
        fake = self.generator(latent, training=True)

        def d_and_q_loss():
            real_logits, fake_out = self._discriminate_mixed(real, fake)
            d_loss = self._discriminator_loss(real_logits, fake_out[0])
            info_loss = self._info_loss(fake_out, categories, continuous)
            return d_loss + self.lambda_info * info_loss, d_loss

        _, d_loss = descend(self.d_optimizer, d_vars, d_and_q_loss)

        latent, categories, continuous = self.sample_codes(batch_size)

        def g_loss_and_info():
            _, fake_out = self._discriminate_mixed(real, self.generator(latent, training=True))
            g_loss = self._generator_loss(fake_out[0])
            info_loss = self._info_loss(fake_out, categories, continuous)
            return g_loss + self.lambda_info * info_loss, g_loss, info_loss, fake_out[1]

        _, g_loss, info_loss, q_logits = descend(self.g_optimizer, g_vars, g_loss_and_info)
        hits = ops.cast(
            ops.equal(ops.argmax(q_logits, axis=-1), ops.cast(categories, "int64")), "float32"
        )
        return self._update_metrics(d_loss=d_loss, g_loss=g_loss, info_loss=info_loss,
                                    q_accuracy=ops.mean(hits))

    # ---- use ------------------------------------------------------------------------
    def recognition_model(self):
        """Q as a model: images -> `[categorical logits, continuous means]` (shares layers)."""
        return keras.Model(
            self.discriminator.input, self.discriminator.outputs[1:], name="q_network"
        )

    def predict_codes(self, x, batch_size=512):
        """Q's category probabilities `(n, n_categories)` and continuous means `(n, n_continuous)`."""
        x = check_image_array(x, "x", self.image_shape)
        batch_size = check_positive_int(batch_size, "batch_size")
        probs, means = [], []
        for i in range(0, len(x), batch_size):
            out = self.discriminator(x[i : i + batch_size], training=False)
            probs.append(keras.ops.convert_to_numpy(ops.softmax(out[1], axis=-1)))
            if self.n_continuous:
                means.append(keras.ops.convert_to_numpy(out[2]))
        means = np.concatenate(means) if means else np.zeros((len(x), 0), np.float32)
        return np.concatenate(probs), means

    def predict_categories(self, x, batch_size=512):
        """Q's most likely category for each image `(n,)`: InfoGAN as a clusterer."""
        return np.argmax(self.predict_codes(x, batch_size)[0], axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "noise_dim": self.noise_dim,
                "n_categories": self.n_categories,
                "n_continuous": self.n_continuous,
                "lambda_info": self.lambda_info,
                "continuous_weight": self.continuous_weight,
            }
        )
        return config
