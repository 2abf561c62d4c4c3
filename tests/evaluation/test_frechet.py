import numpy as np
import pytest

from keras_unsup.evaluation.frechet import (
    ClassifierFrechetDistance,
    build_feature_classifier,
    frechet_distance,
)


def test_identical_sets_are_at_distance_zero():
    a = np.random.default_rng(0).normal(size=(400, 5))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_one_dimensional_gaussians_match_the_closed_form():
    # For 1-D Gaussians: (mu1 - mu2)^2 + (s1 - s2)^2, with the sample moments.
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.0, 1.0, (2000, 1)), rng.normal(3.0, 2.0, (3000, 1))
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_mean_shift_adds_its_squared_norm_and_distance_is_symmetric():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(500, 3))
    shift = np.array([1.0, -2.0, 0.5])
    assert frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-6)
    b = rng.normal(size=(300, 3)) * 1.5
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)


def test_singular_covariances_still_give_a_finite_value():
    a = np.zeros((50, 4))
    a[:, 0] = np.random.default_rng(3).normal(size=50)  # three dead features
    assert np.isfinite(frechet_distance(a, a + 1.0))


@pytest.mark.parametrize(
    "a, b, message",
    [
        (np.zeros((5, 2)), np.zeros((5, 3)), "same number of columns"),
        (np.zeros((1, 2)), np.zeros((5, 2)), "at least 2 rows"),
        (np.full((3, 2), np.nan), np.zeros((3, 2)), "only finite values"),
    ],
)
def test_bad_features(a, b, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(a, b)


def test_feature_classifier_shapes():
    classifier, features = build_feature_classifier((8, 8, 1), 3, feature_dim=6, filters=2)
    assert classifier.output_shape == (None, 3)
    assert features.output_shape == (None, 6)


def test_classifier_distance_floor_is_below_the_distance_to_other_images():
    rng = np.random.default_rng(0)
    # Two classes: bright top half or bright bottom half, with noise.
    y = rng.integers(0, 2, 400)
    x = rng.random((400, 8, 8, 1)).astype("float32") * 0.3
    x[y == 0, :4] += 0.7
    x[y == 1, 4:] += 0.7
    fd = ClassifierFrechetDistance(feature_dim=8, epochs=3, batch_size=32, seed=0)
    fd.fit(x[:300], y[:300], validation_data=(x[300:], y[300:]))
    assert fd.test_accuracy_ > 0.9
    assert fd.features(x[:5]).shape == (5, 8)
    floor = fd.real_floor(x[300:350], x[350:])
    only_class_0 = x[:300][y[:300] == 0][:50]
    assert fd.distance(x[300:350], only_class_0) > floor  # a "collapsed" sample is further
    with pytest.raises(ValueError, match=r"`x` must be a batch of images of shape \(n, "):
        fd.features(np.zeros((2, 4, 4, 1)))
    with pytest.raises(ValueError, match="Call `fit` before `features`"):
        ClassifierFrechetDistance().features(x)
