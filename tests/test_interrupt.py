"""Ctrl-C under `keras_unsup._interrupt`: raised at once outside TensorFlow's code,
deferred out of it (tracing, a running step) and raised where stopping is safe."""

import os
import signal
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_unsup import _interrupt
from keras_unsup.recipes.training import InterruptCheck


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


def _spin(seconds):
    """Pure Python for `seconds`: where a pending interrupt is raised."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_outside_tensorflow_the_signal_raises_at_once():
    reached = []
    with _interrupt.deferred_interrupts():
        with pytest.raises(KeyboardInterrupt):
            _ctrl_c()
            _spin(0.5)
            reached.append("after")
        assert not _interrupt.requested()
    assert reached == []


def test_a_signal_while_tracing_lets_the_trace_finish_then_raises():
    traced = []

    @tf.function
    def double(x):
        _ctrl_c()
        _spin(0.05)  # Python that TensorFlow's tracing runs after the signal came
        traced.append("whole trace")
        return x * 2.0

    with _interrupt.deferred_interrupts():
        with pytest.raises(KeyboardInterrupt):
            result = double(tf.constant(3.0))
            _spin(1.0)  # the retry timer raises here, out of TensorFlow's frames
    assert traced == ["whole trace"]
    assert float(result) == 6.0


def test_a_second_signal_raises_even_inside_tensorflow():
    @tf.function
    def insist(x):
        _ctrl_c()
        _spin(0.05)
        _ctrl_c()
        _spin(0.05)
        return x

    with _interrupt.deferred_interrupts():
        with pytest.raises(KeyboardInterrupt):
            insist(tf.constant(1.0))


def test_the_handlers_before_are_restored():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    with _interrupt.deferred_interrupts():
        assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_signal_during_a_step_stops_the_fit_after_that_step():
    """SIGINT sent from inside the third train step (a py_function): the step finishes
    and the fit stops before the fourth, so exactly three optimizer updates are made."""

    def signal_at_step_3(step):
        if int(step) == 3:
            _ctrl_c()
        return step

    class SignallingModel(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((self(x) - y) ** 2)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            tf.py_function(signal_at_step_3, [self.optimizer.iterations], tf.int64)
            return {"loss": loss}

    inputs = keras.Input((4,))
    model = SignallingModel(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(4)
    with _interrupt.deferred_interrupts():
        with pytest.raises(KeyboardInterrupt):
            model.fit(data, epochs=3, verbose=0, callbacks=[InterruptCheck()])
    assert int(model.optimizer.iterations.numpy()) == 3


def test_frames_of_tensorflow_count_as_unsafe_and_ours_do_not():
    import sys

    prefixes = _interrupt._unsafe_prefixes()
    assert _interrupt.in_unsafe_code(sys._getframe(), prefixes) is False
    assert tf.__file__.startswith(prefixes)
    assert any(p.endswith("h5py") for p in prefixes)
