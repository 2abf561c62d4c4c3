import keras
import numpy as np
import pytest

from keras_unsup.builders.gan import build_infogan_discriminator, build_infogan_generator
from keras_unsup.models.infogan import InfoGAN

SHAPE = (8, 8, 1)


def tiny(n_continuous=2, seed=0, **kwargs):
    return InfoGAN(
        build_infogan_generator(
            SHAPE, noise_dim=4, n_categories=3, n_continuous=n_continuous, hidden_units=8, filters=4
        ),
        build_infogan_discriminator(
            SHAPE, n_categories=3, n_continuous=n_continuous, hidden_units=8, filters=4, q_units=4
        ),
        noise_dim=4,
        n_categories=3,
        n_continuous=n_continuous,
        seed=seed,
        **kwargs,
    )


def test_sampled_codes_are_valid_and_placed_in_the_latent():
    model = tiny()
    latent, categories, continuous = (
        keras.ops.convert_to_numpy(t) for t in model.sample_codes(3000)
    )
    assert latent.shape == (3000, 4 + 3 + 2)
    np.testing.assert_array_equal(latent[:, 4:7], np.eye(3)[categories])  # one-hot of the category
    np.testing.assert_array_equal(latent[:, 7:], continuous)
    assert continuous.min() >= -1.0 and continuous.max() <= 1.0
    # Uniform categories: each about a third (seeded).
    assert np.all(np.abs(np.bincount(categories, minlength=3) / 3000 - 1 / 3) < 0.04)


def test_info_loss_is_the_negative_log_likelihood_of_the_codes():
    model = tiny(continuous_weight=0.5)
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]], np.float32)
    means = np.array([[0.5, -0.5], [0.0, 1.0]], np.float32)
    categories = np.array([0, 2])
    codes = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    got = float(model._info_loss([None, logits, means], categories, codes))
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    ce = -np.mean(log_softmax[[0, 1], categories])
    gauss = 0.5 * np.mean(np.sum((codes - means) ** 2, axis=1))
    assert got == pytest.approx(ce + 0.5 * gauss, rel=1e-5)


def test_traversal_latent_layout():
    model = tiny()
    values = np.array([-2.0, 0.0, 2.0], np.float32)
    latent = model.traversal_latent(code=1, values=values, seed=0)
    assert latent.shape == (3 * 3, 9)
    grid = latent.reshape(3, 3, 9)  # rows: categories, columns: values
    for k in range(3):
        np.testing.assert_array_equal(grid[k, :, 4:7], np.tile(np.eye(3)[k], (3, 1)))
        np.testing.assert_array_equal(grid[k, :, 8], values)  # code 1 swept
        np.testing.assert_array_equal(grid[k, :, 7], 0.0)  # the other code held at 0
    assert np.all(latent[:, :4] == latent[0, :4])  # one shared noise vector


def test_fixed_latent_cycles_categories():
    model = tiny()
    latent = model.fixed_latent(6, seed=0)
    np.testing.assert_array_equal(np.argmax(latent[:, 4:7], axis=1), [0, 1, 2, 0, 1, 2])


def test_q_predictions_on_real_images():
    model = tiny()
    x = np.random.default_rng(0).random((10, *SHAPE)).astype("float32")
    probs, means = model.predict_codes(x, batch_size=4)
    assert probs.shape == (10, 3) and means.shape == (10, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    labels = model.predict_categories(x)
    np.testing.assert_array_equal(labels, probs.argmax(axis=1))
    q = model.recognition_model()
    assert [tuple(o.shape) for o in q.outputs] == [(None, 3), (None, 2)]


def test_without_continuous_codes():
    model = tiny(n_continuous=0)
    model.compile(jit_compile=False)
    x = np.random.default_rng(0).random((8, *SHAPE)).astype("float32")
    logs = model.train_step(keras.ops.convert_to_tensor(x))
    assert np.isfinite(float(logs["info_loss"]))
    with pytest.raises(ValueError, match="needs a continuous code"):
        model.traversal_latent()


def test_bad_arguments():
    g = build_infogan_generator(
        SHAPE, noise_dim=4, n_categories=3, n_continuous=2, hidden_units=8, filters=4
    )
    d = build_infogan_discriminator(
        SHAPE, n_categories=3, n_continuous=2, hidden_units=8, filters=4, q_units=4
    )
    with pytest.raises(
        ValueError, match="must take noise_dim \\+ n_categories \\+ n_continuous = 10"
    ):
        InfoGAN(g, d, noise_dim=5, n_categories=3, n_continuous=2)
    with pytest.raises(ValueError, match="`discriminator` must return 3 outputs"):
        InfoGAN(g, d, noise_dim=5, n_categories=2, n_continuous=2)
    with pytest.raises(ValueError, match="`lambda_info` must be a number"):
        InfoGAN(g, d, noise_dim=4, n_categories=3, n_continuous=2, lambda_info=-1)
    model = InfoGAN(g, d, noise_dim=4, n_categories=3, n_continuous=2)
    with pytest.raises(ValueError, match="`categories` must be a non-empty array of ints in"):
        model.make_latent([0, 3])
    with pytest.raises(ValueError, match="`code` must be an integer in"):
        model.traversal_latent(code=2)
