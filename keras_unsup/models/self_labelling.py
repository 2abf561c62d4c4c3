"""SCAN's self-labelling step (Van Gansbeke, Vandenhende, Georgoulis, Proesmans and
Van Gool, "SCAN: Learning to Classify Images without Labels", ECCV 2020, section 2.3).

A clustering network that already assigns many images confidently is fine-tuned on
its own confident predictions: the arg-max of a weakly augmented view, where its
probability passes a threshold, is the label of a strongly augmented view of the same
image (`keras_unsup.losses.self_labelling_loss`). Used after Contrastive Clustering
(`cc`'s `self_label_steps`), it trains the same backbone and cluster head further.
"""

import keras

from keras_unsup.checks import check_bool, check_number, check_view_pair
from keras_unsup.losses import self_labelling_loss
from keras_unsup.models._training import descend


class SelfLabelling(keras.Model):
    """Fine-tunes a clustering model on its confident predictions (SCAN's self-labelling).

    Follows Van Gansbeke et al., "SCAN: Learning to Classify Images without Labels"
    (ECCV 2020): cross-entropy of the strong views' assignments against the weak views'
    confident arg-max (probability > `threshold`, 0.99 in the paper), each label
    weighted by the inverse of its frequency among the batch's confident images. The
    trained model is the wrapped one; this wrapper only owns the train step and is not
    saved itself (save `model`).

    Args:
        model: a model whose call gives `(batch, n_clusters)` soft assignments, e.g. a
            trained `ContrastiveClustering`. Its `assignment_weights` are trained where it
            has them (for `ContrastiveClustering`: the backbone and the cluster head, not
            the instance head), else all its trainable weights.
        threshold: confidence above which a weak view's arg-max is a label, in [0, 1).
        class_balanced: weight the labels by their inverse frequency in the batch.

    Call arguments:
        inputs: images `(batch, height, width, channels)`.
        training: passed to `model`.

    Output shape: `(batch, n_clusters)`, `model`'s assignments.

    Example:

    >>> tuner = SelfLabelling(cc, threshold=0.99)
    >>> tuner.compile(optimizer=keras.optimizers.Adam(1e-4))
    >>> tuner.fit(weak_strong_dataset(x, 256, seed=0), epochs=10)
    >>> clusters = cc.predict(x).argmax(axis=1)
    """

    def __init__(self, model, threshold=0.99, class_balanced=True, **kwargs):
        if not isinstance(model, keras.Model):
            raise ValueError(f"`model` must be a keras.Model giving soft assignments. "
                             f"Received: model of type {type(model).__name__}")
        threshold = check_number(threshold, "threshold", 0, 1, high_open=True)
        class_balanced = check_bool(class_balanced, "class_balanced")
        kwargs.setdefault("name", "self_labelling")
        super().__init__(**kwargs)
        self.clusterer = model
        self.threshold = threshold
        self.class_balanced = class_balanced
        self.loss_tracker = keras.metrics.Mean(name="self_label_loss")
        # Share of the batch's weak views above the threshold (the images that teach).
        self.confident_tracker = keras.metrics.Mean(name="confident_share")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.confident_tracker]

    def call(self, inputs, training=False):
        return self.clusterer(inputs, training=training)

    def _variables(self):
        clusterer = self.clusterer
        return list(getattr(clusterer, "assignment_weights", clusterer.trainable_weights))

    def _loss(self, weak, strong, training):
        # The targets come from the model in inference mode, as fixed labels.
        targets = self.clusterer(weak, training=False)
        return self_labelling_loss(targets, self.clusterer(strong, training=training),
                                   threshold=self.threshold,
                                   class_balanced=self.class_balanced)

    def _record(self, loss, confident):
        self.loss_tracker.update_state(loss)
        self.confident_tracker.update_state(confident)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        weak, strong = check_view_pair(data, "SelfLabelling")
        return self._record(*descend(self.optimizer, self._variables(),
                                     lambda: self._loss(weak, strong, training=True)))

    def test_step(self, data):
        weak, strong = check_view_pair(data, "SelfLabelling")
        return self._record(*self._loss(weak, strong, training=False))
