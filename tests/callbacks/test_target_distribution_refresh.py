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


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("refresh_folder")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (4, 4)).astype(np.uint8), mode="L").save(
                root / name / f"{i}.png")
    return root


def test_a_stream_yields_the_batches_of_the_arrays(small_folder):
    from keras_unsup.data import load_dataset

    streamed = load_dataset(str(small_folder), stream=True)
    x = load_dataset(str(small_folder), stream=False).x_all
    assert streamed.is_streaming and len(x) == 12
    from_stream = TargetDistributionRefresh(streamed, update_interval=4, batch_size=5, seed=3)
    in_memory = TargetDistributionRefresh(x, update_interval=4, batch_size=5, seed=3)
    assert from_stream.dataset().cardinality().numpy() == 4
    p = np.random.default_rng(0).dirichlet(np.ones(3), size=12).astype("float32")
    for refresh in (from_stream, in_memory):
        refresh._target.assign(p)
        refresh._order.assign(refresh._batch_order(1))
    np.testing.assert_array_equal(from_stream._batch_order(1), in_memory._batch_order(1))
    batches = list(zip(from_stream.dataset().as_numpy_iterator(),
                       in_memory.dataset().as_numpy_iterator()))
    assert len(batches) == 4
    for (images, target), (images_ref, target_ref) in batches:
        assert images.shape == (5, 4, 4, 1)
        np.testing.assert_allclose(images, images_ref, atol=1e-6)
        np.testing.assert_array_equal(target, target_ref)


def test_a_stream_split_is_checked(small_folder):
    from keras_unsup.data import load_dataset

    streamed = load_dataset(str(small_folder), stream=True)
    with pytest.raises(ValueError, match="`split` must be one of"):
        TargetDistributionRefresh(streamed, split="val")
    assert TargetDistributionRefresh(streamed, split="test")._n == streamed.n_test
