import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.layers.info_nce import info_nce_loss, l2_normalize
from keras_unsup.models.moco import MoCo

SHAPE = (10, 10, 1)


def _encoder(dim=8):
    return build_small_convnet(SHAPE, embedding_dim=dim)


def _views(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *SHAPE)).astype("float32"), rng.random((n, *SHAPE)).astype("float32")


def _dataset(n=16, batch=8, seed=0):
    q, k = _views(n, seed)
    return tf.data.Dataset.from_tensor_slices((q, k)).batch(batch)


@pytest.mark.parametrize("kwargs, match", [
    ({"queue_size": 0}, r"`queue_size` must be an integer >= 1. Received: queue_size=0"),
    ({"queue_size": 2.5}, "queue_size"),
    ({"momentum": 1.0}, r"`momentum` must be a number in \[0, 1\). Received: momentum=1.0"),
    ({"momentum": -0.1}, "momentum"),
    ({"temperature": 0.0}, r"`temperature` must be a number in \(0, inf\). Received: temperature=0.0"),
    ({"projection_dim": 0}, "projection_dim"),
])
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MoCo(_encoder(), **kwargs)


def test_rejects_backbone_without_flat_output():
    inputs = keras.Input(SHAPE)
    spatial = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match=r"flat vector.*Received: output shape \(None, 8, 8, 4\)"):
        MoCo(spatial)


def test_key_encoder_starts_equal_and_is_not_trained():
    moco = MoCo(_encoder(), queue_size=5, seed=0)
    for k, q in zip(moco.key_encoder.weights, moco.encoder.weights):
        np.testing.assert_array_equal(np.asarray(k), np.asarray(q))
    assert not moco.key_encoder.trainable_weights
    assert moco.queue.trainable is False and tuple(moco.queue.shape) == (5, 8)
    trainable = {id(v) for v in moco.trainable_weights}
    assert all(id(v) not in trainable for v in moco.key_encoder.weights)


def test_momentum_update_is_an_exponential_moving_average():
    moco = MoCo(_encoder(), queue_size=5, momentum=0.75)
    for k, q in zip(moco.key_encoder.weights, moco.encoder.weights):
        k.assign(np.ones(k.shape, "float32"))
        q.assign(np.full(q.shape, 5.0, "float32"))
    moco.update_key_encoder()
    for k in moco.key_encoder.weights:
        np.testing.assert_allclose(np.asarray(k), 0.75 * 1.0 + 0.25 * 5.0)
    for q in moco.encoder.weights:
        np.testing.assert_allclose(np.asarray(q), 5.0)


def test_enqueue_is_first_in_first_out_also_when_queue_is_smaller_than_batch():
    moco = MoCo(_encoder(2), queue_size=4)
    moco.queue.assign(np.arange(8, dtype="float32").reshape(4, 2))
    moco.enqueue(np.full((1, 2), 100.0, "float32"))
    np.testing.assert_array_equal(np.asarray(moco.queue)[:, 0], [2, 4, 6, 100])
    batch = np.arange(12, dtype="float32").reshape(6, 2) + 200
    moco.enqueue(batch)  # 6 keys into a queue of 4: the newest 4 stay, in order
    np.testing.assert_array_equal(np.asarray(moco.queue), batch[-4:])


@pytest.mark.parametrize("queue_size", [3, 20])
def test_train_step_enqueues_keys_of_the_key_encoder(queue_size):
    moco = MoCo(_encoder(), queue_size=queue_size, momentum=0.5, seed=0)
    moco.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    before = np.asarray(moco.queue)
    q_views, k_views = _views(8)
    query_before = [np.asarray(w) for w in moco.encoder.weights]
    history = moco.fit(tf.data.Dataset.from_tensor_slices((q_views, k_views)).batch(8),
                       epochs=1, verbose=0)
    assert set(history.history) == {"loss", "contrastive_accuracy"}
    loss = history.history["loss"][0]
    assert np.isfinite(loss) and 0.0 < loss
    keys = np.asarray(l2_normalize(moco.key_encoder(k_views)))
    after = np.asarray(moco.queue)
    n_new = min(8, queue_size)
    np.testing.assert_allclose(after[-n_new:], keys[-n_new:], atol=1e-5)
    if queue_size > 8:
        np.testing.assert_array_equal(after[:queue_size - 8], before[8:])
    # Key weights: m * k0 + (1 - m) * q0 with k0 == q0, i.e. the query weights before the step.
    np.testing.assert_allclose(np.asarray(moco.key_encoder.weights[0]), query_before[0], atol=1e-6)
    assert np.abs(np.asarray(moco.encoder.weights[0]) - query_before[0]).max() > 0


def test_training_pulls_views_together_with_jit():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((64, *SHAPE)).astype("float32")
    noise = np.random.default_rng(1).normal(0, 0.05, x.shape).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, x + noise)).batch(32, drop_remainder=True)
    moco = MoCo(_encoder(16), queue_size=32, momentum=0.9, temperature=0.2, seed=0)
    moco.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)

    def pair_loss():  # InfoNCE of the two views against each other, in-batch negatives
        return float(np.mean(info_nce_loss(moco.project(x, False), moco.project(x + noise, False),
                                           temperature=0.2)))

    before = pair_loss()
    history = moco.fit(ds, epochs=8, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert pair_loss() < before - 1.0
    assert history["contrastive_accuracy"][-1] > 0.8
    assert tuple(moco.predict(x[:3], verbose=0).shape) == (3, 16)


def test_train_step_needs_pairs_of_views():
    moco = MoCo(_encoder(), queue_size=4)
    moco.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"pairs of views"):
        moco.fit(np.zeros((4, *SHAPE), "float32"), epochs=1, batch_size=4, verbose=0)


@pytest.mark.slow
def test_save_and_load_keeps_embeddings_queue_and_key_encoder(tmp_path):
    moco = MoCo(_encoder(), queue_size=6, momentum=0.9, temperature=0.2, projection_dim=4, seed=1)
    moco.compile(optimizer="adam")
    moco.fit(_dataset(), epochs=1, verbose=0)
    path = tmp_path / "moco.keras"
    moco.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, MoCo)
    assert (loaded.queue_size, loaded.momentum, loaded.temperature, loaded.projection_dim) == \
        (6, 0.9, 0.2, 4)
    x = _views(5, seed=3)[0]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), moco.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(loaded.queue), np.asarray(moco.queue))
    np.testing.assert_allclose(np.asarray(loaded.key_encoder(x)), np.asarray(moco.key_encoder(x)),
                               atol=1e-6)


@pytest.mark.slow
def test_fit_resumes_with_queue_and_key_encoder(tmp_path):
    from keras_unsup.recipes import training
    from keras_unsup.recipes.base import RunDir

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    run = RunDir(tmp_path / "run")
    keras.utils.set_random_seed(0)
    moco = MoCo(_encoder(), queue_size=5, momentum=0.9, seed=0)
    moco.compile(optimizer="adam")
    with pytest.raises(KeyboardInterrupt):
        training.fit(moco, _dataset(), epochs=4, run=run, n_images=16, verbose=0,
                     callbacks=[Interrupt()])
    saved_queue, saved_key = np.asarray(moco.queue), np.asarray(moco.key_encoder.weights[0])

    class Record(keras.callbacks.Callback):  # the state the first resumed epoch starts from
        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self, "queue"):
                self.first_epoch = epoch
                self.queue = np.asarray(self.model.queue)
                self.key = np.asarray(self.model.key_encoder.weights[0])

    resumed = MoCo(_encoder(), queue_size=5, momentum=0.9, seed=7)
    resumed.compile(optimizer="adam")
    record = Record()
    history, _ = training.fit(resumed, _dataset(), epochs=4, run=run, n_images=16, verbose=0,
                              callbacks=[record])
    # Only the epochs that were left are trained (2 epochs of 2 steps); the history
    # holds the whole fit.
    assert record.first_epoch == 2 and history.steps_this_call == 4
    assert history.epoch == [0, 1, 2, 3]
    # The queue and key encoder of epoch 2 were restored (not the new model's seed-7 queue).
    np.testing.assert_array_equal(record.queue, saved_queue)
    np.testing.assert_array_equal(record.key, saved_key)
    assert np.abs(np.asarray(resumed.queue) - saved_queue).max() > 0  # and trained further


@pytest.mark.slow
def test_mirrored_strategy_gathers_keys_of_all_replicas():
    script = Path(__file__).with_name("_mirrored_moco.py")
    proc = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["new_keys_error"] < 1e-5  # all 8 keys, both replicas' halves, in order
    assert result["kept_error"] == 0.0  # the 4 newest old keys moved to the front
    assert result["replica_queue_gap"] == 0.0 and result["key_replica_gap"] == 0.0
    assert result["key_ema_error"] < 1e-6 and result["query_changed"] > 0
    assert result["loss_finite"]
    # After a second step (the key encoder now lags the query encoder): replicas agree,
    # and queue, query and key weights are those of the same two steps on one device.
    assert result["key_moved"] > 0 and result["second_step_key_replica_gap"] == 0.0
    assert result["single_device_gap"] < 1e-5
