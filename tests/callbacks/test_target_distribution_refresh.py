import numpy as np
import pytest

from keras_unsup.callbacks.target_distribution_refresh import TargetDistributionRefresh

X = np.zeros((10, 4, 4, 1), "float32")


def test_one_pass_of_the_dataset_is_one_update_interval():
    refresh = TargetDistributionRefresh(X, update_interval=3, batch_size=4, seed=0)
    assert refresh.dataset().cardinality().numpy() == 3
    # The batch order of an epoch depends on the seed and the epoch only, and covers
    # whole permutations of the data before repeating an image.
    order = refresh._batch_order(1)
    np.testing.assert_array_equal(order, TargetDistributionRefresh(
        X, update_interval=3, batch_size=4, seed=0)._batch_order(1))
    assert sorted(order[:10]) == list(range(10))
    assert not np.array_equal(order, refresh._batch_order(2))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"update_interval": 0}, r"`update_interval` must be an integer >= 1. Received: "
                                 r"update_interval=0"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"tol": 1.5}, r"`tol` must be a number in \[0.0, 1.0\]"),
        ({"n_init": 0}, "n_init"),
        ({"seed": -1}, "seed"),
        ({"predict_batch_size": 0}, "predict_batch_size"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TargetDistributionRefresh(X, **kwargs)


def test_bad_images():
    with pytest.raises(ValueError, match=r"`x` must be a batch of images"):
        TargetDistributionRefresh(np.zeros((10, 16)))
    bad = X.copy()
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="finite"):
        TargetDistributionRefresh(bad)
