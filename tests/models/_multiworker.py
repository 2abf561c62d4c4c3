"""Run by test_multiworker.py: MoCo and DEC trained by one worker of a two-worker cluster.

With `TF_CONFIG` in the environment the process is one worker of the cluster it names
(the strategy `run_recipe(distribute="multi-worker")` uses, made first, before any other
TensorFlow work); without it, it is the single-process reference, which trains the same
models on the same global batches with no strategy. Either way it prints one JSON line:
per model, every weight (the MoCo queue included) flattened into one list.
"""

import json
import os
import sys

import numpy as np

MULTI = bool(os.environ.get("TF_CONFIG"))
if MULTI:
    from keras_unsup.recipes import _strategy

    strategy = _strategy("multi-worker")  # before any other TensorFlow op

import contextlib  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_unsup.builders.backbones import build_small_convnet  # noqa: E402
from keras_unsup.callbacks.target_distribution_refresh import (  # noqa: E402
    TargetDistributionRefresh,
)
from keras_unsup.models.dec import DEC  # noqa: E402
from keras_unsup.models.moco import MoCo  # noqa: E402

GLOBAL_BATCH = 8
scope = strategy.scope if MULTI else contextlib.nullcontext


def flat(weights):
    return np.concatenate([np.asarray(w, np.float64).ravel() for w in weights]).tolist()


def moco_weights():
    rng = np.random.default_rng(0)
    query_views = rng.random((2 * GLOBAL_BATCH, 8, 8, 1)).astype("float32")
    key_views = rng.random((2 * GLOBAL_BATCH, 8, 8, 1)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((query_views, key_views)).batch(GLOBAL_BATCH)
    options = tf.data.Options()
    # Each worker takes its half of every global batch (TF splits each batch first).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options)
    keras.utils.set_random_seed(0)
    with scope():
        model = MoCo(build_small_convnet((8, 8, 1), 8, filters=(4, 8)), queue_size=12,
                     momentum=0.5, seed=0)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    before = flat(model.encoder.weights)
    model.fit(ds, epochs=2, verbose=0)  # 4 steps: the queue holds keys of 2 steps
    return {"weights": flat([model.queue, *model.encoder.weights, *model.key_encoder.weights]),
            "moved": float(np.abs(np.subtract(flat(model.encoder.weights), before)).max()),
            "steps": int(model.optimizer.iterations.numpy())}


def dec_weights():
    rng = np.random.default_rng(1)
    centres = rng.uniform(0, 1, size=(3, 16))
    x = np.concatenate([c + 0.05 * rng.normal(size=(8, 16)) for c in centres])
    x = x.reshape(-1, 4, 4, 1).astype("float32")
    keras.utils.set_random_seed(0)
    with scope():
        image = keras.Input((4, 4, 1))
        hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Flatten()(image))
        encoder = keras.Model(image, keras.layers.Dense(3)(hidden))
        model = DEC(encoder, n_clusters=3)
        model.compile()
    before = flat(encoder.weights)
    refresh = TargetDistributionRefresh(x, update_interval=3, batch_size=GLOBAL_BATCH,
                                        n_init=2, seed=0, tol=0.0)
    model.fit(refresh.dataset(), epochs=2, callbacks=[refresh], shuffle=False, verbose=0)
    return {"weights": flat(model.weights), "labels": refresh.labels.tolist(),
            "moved": float(np.abs(np.subtract(flat(encoder.weights), before)).max()),
            "steps": int(model.optimizer.iterations.numpy())}


cases = sys.argv[1:] or ["moco", "dec"]
result = {"replicas": strategy.num_replicas_in_sync if MULTI else 1}
if "moco" in cases:
    result["moco"] = moco_weights()
if "dec" in cases:
    result["dec"] = dec_weights()
print(json.dumps(result))
