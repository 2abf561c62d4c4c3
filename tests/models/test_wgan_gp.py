import keras
import numpy as np
import pytest

from keras_unsup.builders.gan import build_dcgan_discriminator, build_dcgan_generator
from keras_unsup.models.wgan_gp import WGANGP

SHAPE = (8, 8, 1)


def linear_critic(w):
    image = keras.Input(SHAPE)
    flat = keras.layers.Flatten(name="features")(image)
    dense = keras.layers.Dense(1)
    critic = keras.Model(image, dense(flat))
    dense.set_weights([w.reshape(-1, 1), np.zeros(1, np.float32)])
    return critic


@pytest.mark.parametrize("scale", [0.02, 0.125, 0.5])
def test_gradient_penalty_of_a_linear_critic_is_analytic(scale):
    # D(x) = w.x has gradient w everywhere: the penalty is (||w|| - 1)^2.
    w = np.full(int(np.prod(SHAPE)), scale, np.float32)
    model = WGANGP(build_dcgan_generator(4, SHAPE, filters=4), linear_critic(w), seed=0)
    rng = np.random.default_rng(0)
    real = rng.random((6, *SHAPE)).astype("float32")
    fake = rng.random((6, *SHAPE)).astype("float32")
    penalty = float(
        model.gradient_penalty(keras.ops.convert_to_tensor(real), keras.ops.convert_to_tensor(fake))
    )
    assert penalty == pytest.approx((np.linalg.norm(w) - 1.0) ** 2, rel=1e-4)


def test_critic_with_batch_norm_is_refused():
    with pytest.raises(ValueError, match="must not use batch normalisation"):
        WGANGP(
            build_dcgan_generator(4, SHAPE, filters=4), build_dcgan_discriminator(SHAPE, filters=4)
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_critic": 0}, "`n_critic` must be an integer >= 1"),
        ({"gp_weight": -1.0}, "`gp_weight` must be a number"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WGANGP(
            build_dcgan_generator(4, SHAPE, filters=4),
            build_dcgan_discriminator(SHAPE, filters=4, batch_norm=False),
            **kwargs,
        )


def test_default_optimizers_follow_the_paper():
    model = WGANGP(
        build_dcgan_generator(4, SHAPE, filters=4),
        build_dcgan_discriminator(SHAPE, filters=4, batch_norm=False),
    )
    model.compile()
    for opt in (model.d_optimizer, model.g_optimizer):
        assert float(opt.learning_rate.numpy()) == pytest.approx(1e-4)
        assert (opt.beta_1, opt.beta_2) == (0.0, 0.9)
    assert model.critic is model.discriminator
