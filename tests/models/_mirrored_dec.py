"""Run by test_dec.py in a subprocess: DEC and IDEC under MirroredStrategy on 2 logical CPUs.

Each model is fitted with `TargetDistributionRefresh` on one device and under the
strategy (same weights, same global batches); prints one JSON line with the gaps.
"""

import json
import sys
from pathlib import Path

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import test_dec as t  # noqa: E402

from keras_unsup.models.dec import DEC, IDEC  # noqa: E402

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x, _ = t._blobs(seed=2)
results = {}
for cls in (DEC, IDEC):
    single = t._model(cls)
    single_refresh, _ = t._fit(single, x, epochs=3)
    with strategy.scope():
        mirrored = t._model(cls)
    mirrored_refresh, _ = t._fit(mirrored, x, epochs=3)
    before = t._nets()[0].get_weights()[0]
    results[cls.__name__] = {
        "replicas": strategy.num_replicas_in_sync,
        "centres_gap": float(np.abs(mirrored.cluster_centers - single.cluster_centers).max()),
        "q_gap": float(np.abs(mirrored.predict(x, verbose=0)
                              - single.predict(x, verbose=0)).max()),
        "labels_equal": bool(np.array_equal(mirrored_refresh.labels, single_refresh.labels)),
        "same_history": [h["iteration"] for h in mirrored_refresh.history]
        == [h["iteration"] for h in single_refresh.history] == [5, 10, 15],
        "moved": float(np.abs(mirrored.encoder.get_weights()[0] - before).max()),
    }
    assert mirrored.distribute_strategy is strategy
    keras.backend.clear_session()
print(json.dumps(results))
