"""The one gradient step of every custom `train_step` in the package."""

import tensorflow as tf

from keras_unsup.checks import replicas_in_sync


def descend(optimizer, variables, compute):
    """Applies one `optimizer` step to `variables` on the loss `compute()` returns.

    Under tf.distribute the replicas' gradients are summed, so each replica's loss is
    divided by their number there: the step follows the mean over the global batch.

    Args:
        optimizer: a built `keras.optimizers.Optimizer`.
        variables: the variables to update.
        compute: a function of no arguments returning the loss, or a tuple whose first
            item is the loss (the rest, e.g. its parts for the metrics, is passed back).

    Returns:
        What `compute()` returned.
    """
    with tf.GradientTape() as tape:
        out = compute()
        loss = out[0] if isinstance(out, tuple) else out
        scaled = loss / replicas_in_sync()  # inside the tape, or it has no gradient
    optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
    return out
