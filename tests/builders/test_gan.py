import keras
import numpy as np
import pytest

from keras_unsup.builders.gan import (
    FEATURES_LAYER,
    build_dcgan_discriminator,
    build_dcgan_generator,
    build_infogan_discriminator,
    build_infogan_generator,
    features_model,
    n_stride_two_steps,
)


@pytest.mark.parametrize("shape, steps", [((28, 28, 1), 2), ((32, 32, 3), 3), ((8, 8, 1), 2)])
def test_dcgan_networks_fit_each_image_shape(shape, steps):
    assert n_stride_two_steps(shape) == steps
    generator = build_dcgan_generator(16, shape, filters=4)
    discriminator = build_dcgan_discriminator(shape, filters=4)
    assert generator.output_shape == (None, *shape)
    assert discriminator.output_shape == (None, 1)
    z = np.random.default_rng(0).normal(size=(3, 16)).astype("float32")
    images = keras.ops.convert_to_numpy(generator(z))
    assert images.shape == (3, *shape)
    assert images.min() >= 0.0 and images.max() <= 1.0  # sigmoid output, like the data
    assert keras.ops.convert_to_numpy(discriminator(images)).shape == (3, 1)
    # The smallest feature map of the discriminator is what the generator starts from.
    h0 = shape[0] // 2**steps
    assert generator.get_layer("reshape").output.shape[1] == h0


def test_wgan_critic_has_no_batch_norm():
    critic = build_dcgan_discriminator((8, 8, 1), filters=4, batch_norm=False)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in critic.layers)
    with_bn = build_dcgan_discriminator((8, 8, 1), filters=4)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in with_bn.layers)


def test_infogan_generator_follows_the_published_architecture():
    g = build_infogan_generator((28, 28, 1))
    assert g.input_shape == (None, 74)  # 62 noise + 10 categorical + 2 continuous
    dense = [layer for layer in g.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [1024, 7 * 7 * 128]
    ups = [layer for layer in g.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [(u.filters, u.kernel_size, u.strides) for u in ups] == [
        (64, (4, 4), (2, 2)),
        (1, (4, 4), (2, 2)),
    ]
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in g.layers) == 3
    assert g.output_shape == (None, 28, 28, 1)


def test_infogan_discriminator_follows_the_published_architecture():
    d = build_infogan_discriminator((28, 28, 1))
    convs = [layer for layer in d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.strides) for c in convs] == [
        (64, (4, 4), (2, 2)),
        (128, (4, 4), (2, 2)),
    ]
    dense = {layer.name: layer.units for layer in d.layers if isinstance(layer, keras.layers.Dense)}
    assert dense == {"fc1": 1024, "d_logit": 1, "q_fc": 128, "q_categorical": 10, "q_continuous": 2}
    assert [tuple(o.shape) for o in d.outputs] == [(None, 1), (None, 10), (None, 2)]
    assert features_model(d).output_shape == (None, 1024)


def test_infogan_without_continuous_codes_has_two_outputs():
    d = build_infogan_discriminator(
        (8, 8, 1), n_categories=3, n_continuous=0, hidden_units=8, filters=4, q_units=4
    )
    assert [tuple(o.shape) for o in d.outputs] == [(None, 1), (None, 3)]


def test_features_model_shares_weights_with_the_discriminator():
    d = build_dcgan_discriminator((8, 8, 1), filters=4)
    f = features_model(d)
    assert f.output_shape == (None, 2 * 2 * 8)
    assert d.get_layer(FEATURES_LAYER).output is f.outputs[0]
    assert {id(w) for w in f.weights} <= {id(w) for w in d.weights}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: build_dcgan_generator(0, (8, 8, 1)), "`latent_dim` must be an integer >= 1"),
        (lambda: build_dcgan_generator(8, (7, 7, 1)), "even height and width"),
        (lambda: build_dcgan_discriminator((8, 8)), "`image_shape` must be a tuple of three"),
        (lambda: build_dcgan_discriminator((8, 8, 1), batch_norm="no"), "`batch_norm` must be"),
        (lambda: build_infogan_generator((6, 6, 1)), "divisible by 4"),
        (lambda: build_infogan_generator((8, 8, 1), n_categories=1), "`n_categories` must be"),
        (lambda: build_infogan_discriminator((8, 8, 1), n_continuous=-1), "`n_continuous` must be"),
        (
            lambda: features_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])),
            "must have a layer named 'features'",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()
