"""Trains each GAN a few steps under MirroredStrategy on two logical CPU devices.

Run by tests/models/test_gans_mirrored.py in a subprocess (logical devices must be
configured before TensorFlow initialises, which the main pytest process has done).
Prints one JSON line: per model, its final losses, whether weights changed, and
whether the two replicas drew different noise.
"""

import json
import sys

import tensorflow as tf

cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import keras
import numpy as np

from keras_unsup.builders.gan import (
    build_began_discriminator,
    build_began_generator,
    build_dcgan_discriminator,
    build_dcgan_generator,
    build_infogan_discriminator,
    build_infogan_generator,
)
from keras_unsup.models.began import BEGAN
from keras_unsup.models.gan import GAN
from keras_unsup.models.infogan import InfoGAN
from keras_unsup.models.wgan_gp import WGANGP

keras.utils.set_random_seed(0)
shape = (8, 8, 1)
x = np.random.default_rng(0).random((32, *shape)).astype("float32")
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
result = {"replicas": strategy.num_replicas_in_sync}
with strategy.scope():
    models = {
        "GAN": GAN(
            build_dcgan_generator(4, shape, filters=4),
            build_dcgan_discriminator(shape, filters=4),
            seed=0,
        ),
        "InfoGAN": InfoGAN(
            build_infogan_generator(
                shape, noise_dim=4, n_categories=3, n_continuous=1, hidden_units=8, filters=4
            ),
            build_infogan_discriminator(
                shape, n_categories=3, n_continuous=1, hidden_units=8, filters=4, q_units=8
            ),
            noise_dim=4,
            n_categories=3,
            n_continuous=1,
            seed=0,
        ),
        "WGANGP": WGANGP(
            build_dcgan_generator(4, shape, filters=4),
            build_dcgan_discriminator(shape, filters=4, batch_norm=False),
            n_critic=2,
            seed=0,
        ),
        "BEGAN": BEGAN(
            build_began_generator(4, shape, filters=4),
            build_began_discriminator(shape, filters=4, embedding_dim=4),
            lambda_k=0.1,
            k_initial=0.5,
            seed=0,
        ),
    }
    for model in models.values():
        model.compile(jit_compile=False)

# The noise each replica draws inside one step.
with strategy.scope():
    per_replica = strategy.run(lambda: models["GAN"].sample_latent(2))
    draws = [t.numpy() for t in strategy.experimental_local_results(per_replica)]
result["replica_noise_differs"] = bool(np.abs(draws[0] - draws[1]).max() > 1e-6)

ds = tf.data.Dataset.from_tensor_slices(x).batch(8)
for name, model in models.items():
    before = [w.numpy().copy() for w in model.generator.trainable_weights]
    history = model.fit(ds, epochs=2, verbose=0)
    after = [w.numpy() for w in model.generator.trainable_weights]
    result[name] = {
        "losses": {k: float(v[-1]) for k, v in history.history.items()},
        "generator_changed": any(np.abs(a - b).max() > 0 for a, b in zip(after, before)),
        "d_iterations": int(model.d_optimizer.iterations.numpy()),
    }
    if hasattr(model, "k"):  # BEGAN: the control, as each replica holds it
        result[name]["k_replicas"] = [
            float(v.numpy()) for v in strategy.experimental_local_results(model.k.value)
        ]
print("RESULT " + json.dumps(result))
sys.stdout.flush()
