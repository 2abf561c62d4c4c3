"""The reparameterised draw z ~ N(mean, exp(log_var)) of a variational autoencoder."""

import keras
from keras import ops

from keras_unsup.checks import check_seed
from keras_unsup.layers.kl_divergence import gaussian_parameters


@keras.saving.register_keras_serializable(package="keras_unsup")
class Sampling(keras.layers.Layer):
    """Draws `z = z_mean + exp(0.5 * z_log_var) * eps` with `eps ~ N(0, I)`.

    The reparameterisation trick (Kingma and Welling, 2014): the randomness lives
    in `eps`, so gradients flow through `z_mean` and `z_log_var`. The layer samples
    in training and inference alike, as a VAE's forward pass is defined; use the
    encoder's `z_mean` when deterministic codes are wanted.

    Args:
        seed: integer seed of the noise, or `None` for a random one.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a list `[z_mean, z_log_var]` of two tensors of the same shape.

    Input shape: two tensors of shape `(batch, latent_dim)`.

    Output shape: `(batch, latent_dim)`.

    Example:

    >>> z = Sampling(seed=0)([np.zeros((4, 2)), np.zeros((4, 2))])
    >>> z.shape
    TensorShape([4, 2])
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, inputs):
        z_mean, z_log_var = gaussian_parameters(inputs)
        eps = keras.random.normal(
            ops.shape(z_mean), dtype=self.compute_dtype, seed=self.seed_generator
        )
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config
