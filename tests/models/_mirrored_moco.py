"""Run by test_moco.py in a subprocess: MoCo under MirroredStrategy on 2 logical CPUs.

Prints one JSON line with the checks; the parent test asserts on it.
"""

import json

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras
import numpy as np

from keras_unsup.builders.backbones import build_small_convnet
from keras_unsup.layers.info_nce import l2_normalize
from keras_unsup.models.moco import MoCo

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
rng = np.random.default_rng(0)
query_views = rng.random((8, 10, 10, 1)).astype("float32")
key_views = rng.random((8, 10, 10, 1)).astype("float32")
ds = tf.data.Dataset.from_tensor_slices((query_views, key_views)).batch(8)


def make_moco():
    keras.utils.set_random_seed(0)
    model = MoCo(build_small_convnet((10, 10, 1), 8), queue_size=12, momentum=0.5, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


# The same steps on one device: the reference the replicas must agree with.
single = make_moco()
single.fit(ds, epochs=2, verbose=0)
with strategy.scope():
    moco = make_moco()
before = np.asarray(moco.queue)
query_before = [np.asarray(w) for w in moco.encoder.weights]
history = moco.fit(ds, epochs=1, verbose=0)
after = np.asarray(moco.queue)
# The key encoder was moved towards the query weights before the keys were made, and
# did not change since: its keys now are the keys that entered the queue.
keys = np.asarray(l2_normalize(moco.key_encoder(key_views)))
replica_queues = [np.asarray(v) for v in moco.queue.value.values]
key_replicas = [np.asarray(v) for v in moco.key_encoder.weights[0].value.values]
first_step = {
    "replicas": strategy.num_replicas_in_sync,
    "new_keys_error": float(np.abs(after[-8:] - keys).max()),
    "kept_error": float(np.abs(after[:4] - before[8:]).max()),
    "replica_queue_gap": float(np.abs(replica_queues[0] - replica_queues[1]).max()),
    "key_replica_gap": float(np.abs(key_replicas[0] - key_replicas[1]).max()),
    "key_ema_error": float(np.abs(np.asarray(moco.key_encoder.weights[0]) - query_before[0]).max()),
    "query_changed": float(np.abs(np.asarray(moco.encoder.weights[0]) - query_before[0]).max()),
    "loss_finite": bool(np.isfinite(history.history["loss"][0])),
}
# A second step, where the key encoder no longer equals the query encoder it follows.
moco.fit(ds, epochs=1, verbose=0)
print(json.dumps({
    **first_step,
    "key_moved": float(np.abs(np.asarray(moco.key_encoder.weights[0])
                              - np.asarray(moco.encoder.weights[0])).max()),
    "second_step_key_replica_gap": float(np.abs(
        np.asarray(moco.key_encoder.weights[0].value.values[0])
        - np.asarray(moco.key_encoder.weights[0].value.values[1])).max()),
    "single_device_gap": max(
        float(np.abs(np.asarray(a) - np.asarray(b)).max())
        for a, b in zip([single.queue, *single.encoder.weights, *single.key_encoder.weights],
                        [moco.queue, *moco.encoder.weights, *moco.key_encoder.weights])),
}))
