"""Starting TensorFlow without its C++ start-up lines (for the command line)."""

import logging
import os
import sys
import warnings


def quiet_tensorflow():
    """Imports TensorFlow with its start-up lines (oneDNN notice, CUDA-not-found) dropped.

    Those lines are written by C++ logging straight to file descriptor 2 before any
    Python setting applies, so the descriptor itself points at /dev/null while
    TensorFlow imports and finds its devices. Later errors still reach stderr.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
