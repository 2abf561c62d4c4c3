"""Ctrl-C and SIGTERM for the command line: a `KeyboardInterrupt` only where it is safe.

Python raises `KeyboardInterrupt` at whatever bytecode the main thread runs when the
signal comes. Inside TensorFlow's own Python code that can be the middle of tracing a
`tf.function`, of converting values in C++ that called back into Python, or of writing
an HDF5 file: there the exception is swallowed (autograph falls back and the run goes
on), turned into another error (a `TypeError` from a conversion), or crashes the process
(a segmentation fault, exit -11, seen once in CI). So the handler here raises at once
only when no frame of TensorFlow, h5py or Keras' saving code is on the stack; otherwise
it records the request and

- every fit raises it at the end of the next batch (`raise_if_requested`, called by the
  recipes' `InterruptCheck` callback), and
- a timer looks again every `RETRY_SECONDS` and raises once the stack is clear.

A second signal while one is pending raises at once: the user insists.
"""

import contextlib
import importlib.util
import os
import signal

RETRY_SECONDS = 0.02

_state = {"requested": 0}


def _package_dir(name, *sub):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], *sub)


def _unsafe_prefixes():
    dirs = [_package_dir("tensorflow"), _package_dir("h5py"),
            _package_dir("keras", "src", "saving"),
            _package_dir("keras", "src", "callbacks", "backup_and_restore.py")]
    return tuple(d for d in dirs if d)


def in_unsafe_code(frame, prefixes=None):
    """Whether `frame` or a frame below it runs code of TensorFlow, h5py or Keras' saving."""
    prefixes = _unsafe_prefixes() if prefixes is None else prefixes
    while frame is not None:
        if frame.f_code.co_filename.startswith(prefixes):
            return True
        frame = frame.f_back
    return False


def requested():
    """Whether a signal asked the run to stop (and it has not been raised yet)."""
    return _state["requested"] > 0


def raise_if_requested():
    """Raises the pending `KeyboardInterrupt` (call it where stopping is safe)."""
    if requested():
        _clear()
        raise KeyboardInterrupt


def _clear():
    _state["requested"] = 0
    signal.setitimer(signal.ITIMER_REAL, 0)


def _raise_when_safe(frame, insist=False):
    """Raises the request now if `insist` or the stack is clear; else looks again soon."""
    if insist or not in_unsafe_code(frame, _state["prefixes"]):
        _clear()
        raise KeyboardInterrupt
    signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)


def _on_signal(signum, frame):
    _state["requested"] += 1
    _raise_when_safe(frame, insist=_state["requested"] > 1)


def _on_timer(signum, frame):
    if requested():
        _raise_when_safe(frame)


@contextlib.contextmanager
def deferred_interrupts():
    """SIGINT and SIGTERM stop the code inside as Ctrl-C does, outside TensorFlow's code."""
    _state.update(requested=0, prefixes=_unsafe_prefixes())
    previous = {sig: signal.signal(sig, handler) for sig, handler in
                ((signal.SIGINT, _on_signal), (signal.SIGTERM, _on_signal),
                 (signal.SIGALRM, _on_timer))}
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
