import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.losses import self_labelling_loss
from keras_unsup.models.contrastive_clustering import ContrastiveClustering
from keras_unsup.models.self_labelling import SelfLabelling

SHAPE = (10, 10, 1)


def _reference(weak, strong, threshold, balanced):
    """SCAN's loss written out one image at a time: the weighted mean of the confident
    images' cross-entropies, each weighted by 1 / (confident images of its label)."""
    labels = weak.argmax(1)
    confident = weak.max(1) > threshold
    counts = np.bincount(labels[confident], minlength=weak.shape[1])
    total, weights = 0.0, 0.0
    for i in np.flatnonzero(confident):
        w = 1.0 / counts[labels[i]] if balanced else 1.0
        total += -w * np.log(strong[i, labels[i]])
        weights += w
    return total / weights


def test_loss_matches_a_slow_reference_and_balances_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(64, 4)) * 4
    logits[:40, 0] += 6  # label 0 is confident far more often than the others
    weak = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    strong = rng.dirichlet(np.ones(4), size=64)
    for threshold in (0.9, 0.5):
        for balanced in (True, False):
            loss, share = self_labelling_loss(weak.astype("float32"), strong.astype("float32"),
                                              threshold=threshold, class_balanced=balanced)
            np.testing.assert_allclose(float(loss), _reference(weak, strong, threshold,
                                                               balanced), rtol=1e-5)
            np.testing.assert_allclose(float(share), np.mean(weak.max(1) > threshold))
    # Balanced: each confident label weighs the same in all, however many images carry it.
    two = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]], "float32")
    strong = np.array([[0.5, 0.5]] * 3 + [[0.9, 0.1]], "float32")
    loss, _ = self_labelling_loss(two, strong, threshold=0.99)
    np.testing.assert_allclose(float(loss), 0.5 * -np.log(0.5) + 0.5 * -np.log(0.1), rtol=1e-5)


def test_loss_is_zero_without_confident_images_and_rejects_bad_thresholds():
    uniform = np.full((8, 4), 0.25, "float32")
    loss, share = self_labelling_loss(uniform, uniform, threshold=0.99)
    assert float(loss) == 0.0 and float(share) == 0.0
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"`threshold` must be a number in \[0, 1\)\. "
                                             rf"Received: threshold={bad}"):
            self_labelling_loss(uniform, uniform, threshold=bad)


def test_no_gradient_reaches_the_weak_views():
    weak = tf.Variable(np.eye(3, dtype="float32")[[0, 1, 2, 0]] * 0.98 + 0.005)
    strong = tf.Variable(np.full((4, 3), 1 / 3, "float32"))
    with tf.GradientTape() as tape:
        loss, _ = self_labelling_loss(weak, strong, threshold=0.9)
    g_weak, g_strong = tape.gradient(loss, [weak, strong])
    assert g_weak is None and np.abs(g_strong.numpy()).sum() > 0


def _cc(k=3):
    return ContrastiveClustering(build_small_convnet(SHAPE, 8, filters=(4, 4)), n_clusters=k,
                                 projection_dim=4)


def test_rejects_bad_arguments_and_batches():
    with pytest.raises(ValueError, match=r"`model` must be a keras.Model giving soft "
                                         r"assignments\. Received: model of type str"):
        SelfLabelling("cc")
    with pytest.raises(ValueError, match=r"Received: threshold=1"):
        SelfLabelling(_cc(), threshold=1)
    with pytest.raises(ValueError, match=r"`class_balanced` .* Received: class_balanced='yes'"):
        SelfLabelling(_cc(), class_balanced="yes")
    tuner = SelfLabelling(_cc())
    tuner.compile(optimizer="adam")
    with pytest.raises(ValueError, match="SelfLabelling trains on pairs of views"):
        tuner.train_step(np.zeros((2, *SHAPE), "float32"))


def test_tunes_the_backbone_and_cluster_head_towards_the_confident_labels():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, *SHAPE)).astype("float32")
    cc = _cc()
    projector_before = [w.numpy().copy() for w in cc.projector.trainable_weights]
    head_before = [w.numpy().copy() for w in cc.cluster_head.trainable_weights]
    names = {id(w) for w in cc.assignment_weights}
    assert names == {id(w) for w in cc.encoder.trainable_weights
                     + cc.cluster_head.trainable_weights}
    weak_labels = cc.predict(x, verbose=0).argmax(1)
    tuner = SelfLabelling(cc, threshold=0.0)  # every image labels its strong view
    tuner.compile(optimizer=keras.optimizers.Adam(1e-2))
    noisy = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, noisy)).batch(32, drop_remainder=True)
    history = tuner.fit(ds, epochs=15, verbose=0, shuffle=False).history
    assert history["self_label_loss"][-1] < 0.5 * history["self_label_loss"][0]
    assert history["confident_share"][0] == 1.0
    # More confident on the labels it started from, and the instance head untouched.
    after = cc.predict(x, verbose=0)
    assert after.max(1).mean() > 0.9
    assert np.mean(after.argmax(1) == weak_labels) > 0.8
    for before, w in zip(projector_before, cc.projector.trainable_weights):
        np.testing.assert_array_equal(before, w.numpy())
    assert any(np.abs(b - w.numpy()).max() > 0
               for b, w in zip(head_before, cc.cluster_head.trainable_weights))
    np.testing.assert_allclose(tuner.predict(x, verbose=0), after, atol=1e-6)
