import numpy as np
import pytest

from keras_unsup.data.constellations import PATTERNS, assignment_accuracy, make_constellations


def _pairwise(points):
    return np.linalg.norm(points[:, None] - points[None], axis=-1)


def test_each_shape_is_a_similar_copy_of_its_pattern():
    data = make_constellations(20, ("square", "triangle"), seed=3)
    assert data.points.shape == (20, 7, 2) and data.labels.shape == (20, 7)
    assert data.points.dtype == np.float32 and np.all(data.presence == 1)
    for points, labels in zip(data.points, data.labels):
        assert sorted(labels.tolist()) == [0, 0, 0, 0, 1, 1, 1]
        for index, name in enumerate(data.patterns):
            got = np.sort(_pairwise(points[labels == index]).ravel())
            want = np.sort(_pairwise(PATTERNS[name]).ravel())
            # a similarity transform scales every distance by one factor
            ratio = got[want > 0] / want[want > 0]
            np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)
            assert 0.3 - 1e-4 <= ratio[0] <= 0.6 + 1e-4


def test_shuffled_sets_differ_in_order_and_seeds_repeat():
    a = make_constellations(50, seed=1)
    b = make_constellations(50, seed=1)
    np.testing.assert_array_equal(a.points, b.points)
    assert len({tuple(row) for row in a.labels}) > 1  # not always in the same order
    unshuffled = make_constellations(5, seed=1, shuffle=False)
    assert all(row.tolist() == [0, 0, 0, 0, 1, 1, 1] for row in unshuffled.labels)


def test_assignment_accuracy_matches_objects_to_shapes_per_set():
    labels = np.array([[0, 0, 1, 1], [0, 1, 0, 1]])
    # set 1: objects swapped (a relabelling, all correct); set 2: one point wrong
    assigned = np.array([[2, 2, 0, 0], [1, 0, 1, 1]])
    assert assignment_accuracy(labels, assigned) == pytest.approx(7 / 8)
    presence = np.array([[1, 1, 1, 1], [1, 1, 1, 0]])
    assert assignment_accuracy(labels, assigned, presence) == pytest.approx(1.0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="patterns.*Received: patterns='circle'"):
        make_constellations(3, ("square", "circle"))
    with pytest.raises(ValueError, match="Received: n=0"):
        make_constellations(0)
    with pytest.raises(ValueError, match="scale.*Received: scale="):
        make_constellations(3, scale=(2.0, 1.0))
    with pytest.raises(ValueError, match="one shape"):
        assignment_accuracy(np.zeros((2, 3)), np.zeros((2, 4)))
