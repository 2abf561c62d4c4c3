"""The KL-divergence term of a variational autoencoder, as a pass-through layer."""

import keras
from keras import ops

from keras_unsup.checks import check_number


@keras.saving.register_keras_serializable(package="keras_unsup")
class KLDivergence(keras.layers.Layer):
    """Adds KL(N(mean, exp(log_var)) || N(0, I)) to the model's losses.

    The layer sits between an encoder's `(z_mean, z_log_var)` heads and the
    sampling step of a VAE (Kingma and Welling, 2014, "Auto-Encoding Variational
    Bayes", appendix B). It returns its inputs unchanged and calls `add_loss`
    with the closed-form KL divergence of the diagonal Gaussian posterior
    against the standard normal prior,

        KL = 0.5 * sum_j (exp(log_var_j) + mean_j**2 - 1 - log_var_j),

    summed over the latent dimensions, averaged over the batch and multiplied by
    `weight`. With a reconstruction loss that is a per-image negative
    log-likelihood (see `keras_unsup.losses.BernoulliNLL`), the model's total loss
    is then the negative ELBO per image; `weight != 1` gives a beta-VAE.

    The closed form is computed with `keras.ops` rather than
    `tfp.distributions.kl_divergence`: it is exact, runs on every Keras backend
    and keeps TensorFlow Probability (whose TensorFlow substrate needs tf_keras
    to import) out of the model. The tests check it against TFP.

    Args:
        weight: non-negative multiplier of the KL term (beta in a beta-VAE).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a list `[z_mean, z_log_var]` of two tensors of the same shape.

    Input shape: two tensors of shape `(batch, latent_dim)`.

    Output shape: the same list `[z_mean, z_log_var]`, unchanged.

    Example:

    >>> z_mean, z_log_var = KLDivergence(weight=1.0)([z_mean, z_log_var])
    >>> z = Sampling(seed=0)([z_mean, z_log_var])
    """

    def __init__(self, weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.weight = check_number(weight, "weight", 0)
        self.built = True

    def call(self, inputs):
        z_mean, z_log_var = gaussian_parameters(inputs)
        kl_per_example = 0.5 * ops.sum(
            ops.exp(z_log_var) + ops.square(z_mean) - 1.0 - z_log_var, axis=-1
        )
        self.add_loss(self.weight * ops.mean(kl_per_example))
        return [z_mean, z_log_var]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape[0]), tuple(input_shape[1])]

    def get_config(self):
        config = super().get_config()
        config.update({"weight": self.weight})
        return config


def gaussian_parameters(inputs):
    """`(z_mean, z_log_var)` from a layer's inputs `[z_mean, z_log_var]`, or a clear error."""
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        raise ValueError(
            "Expected a list of two tensors `[z_mean, z_log_var]`. "
            f"Received: inputs={inputs!r}"
        )
    return inputs[0], inputs[1]
