"""Losses as pure `keras.ops` functions, with thin `keras.losses.Loss` wrappers.

The functions take and return backend tensors (or anything `keras.ops` accepts)
and can be used in a custom `train_step`; the `Loss` classes exist only where
`model.compile(loss=...)` needs one, and are registered so that compiled models
reload from `.keras` files in safe mode.
"""

import keras
from keras import ops

from keras_unsup.checks import check_number

_DEFAULT_EPSILON = 1e-7


def bernoulli_nll(y_true, y_pred, epsilon=_DEFAULT_EPSILON):
    """Bernoulli negative log-likelihood of images, summed over pixels.

    Treats every pixel value `y_true` in [0, 1] as the (possibly fractional)
    outcome of a Bernoulli variable with mean `y_pred`, the decoder's sigmoid
    output, and returns

        -sum_i [y_i * log(p_i) + (1 - y_i) * log(1 - p_i)]

    over all non-batch axes: the reconstruction term of the VAE's negative ELBO
    (Kingma and Welling, 2014, appendix C.1). Unlike Keras' `binary_crossentropy`,
    which averages over the last axis, the sum keeps the scale of a
    log-likelihood, so adding the KL term (a sum over latent dimensions) gives the
    negative ELBO rather than an arbitrarily weighted mixture.

    Args:
        y_true: targets in [0, 1], shape `(batch, ...)`.
        y_pred: Bernoulli means in [0, 1], same shape as `y_true`.
        epsilon: `y_pred` is clipped to `[epsilon, 1 - epsilon]` so that the
            logarithms stay finite.

    Returns:
        A tensor of shape `(batch,)`: the negative log-likelihood of each image.

    Example:

    >>> bernoulli_nll(np.ones((2, 8, 8, 1)), np.full((2, 8, 8, 1), 0.5))  # 64 * log(2)
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    y_pred = ops.clip(y_pred, epsilon, 1.0 - epsilon)
    log_likelihood = y_true * ops.log(y_pred) + (1.0 - y_true) * ops.log(1.0 - y_pred)
    non_batch_axes = tuple(range(1, len(y_pred.shape)))
    if not non_batch_axes:
        return -log_likelihood
    return -ops.sum(log_likelihood, axis=non_batch_axes)


@keras.saving.register_keras_serializable(package="keras_unsup")
class BernoulliNLL(keras.losses.Loss):
    """`bernoulli_nll` as a Keras loss: per-image NLL summed over pixels.

    With the default reduction (`"sum_over_batch_size"`) the loss is the mean over
    the batch of each image's summed NLL. A VAE from
    `keras_unsup.builders.build_vae` compiled with `loss=BernoulliNLL()` therefore
    trains on NLL + KL = the negative ELBO per image.

    Args:
        epsilon: clipping of the predicted means (see `bernoulli_nll`).
        reduction: Keras loss reduction.
        name: name of the loss.
        **kwargs: other `keras.losses.Loss` arguments (`dtype`).

    Example:

    >>> vae, encoder, decoder = build_vae(input_shape=(28, 28, 1), latent_dim=2)
    >>> vae.compile(optimizer="adam", loss=BernoulliNLL())
    >>> vae.fit(x, x, epochs=10)
    """

    def __init__(self, epsilon=_DEFAULT_EPSILON, reduction="sum_over_batch_size",
                 name="bernoulli_nll", **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.epsilon = check_number(epsilon, "epsilon", 0, 0.5, high_open=True)

    def call(self, y_true, y_pred):
        return bernoulli_nll(y_true, y_pred, epsilon=self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config
