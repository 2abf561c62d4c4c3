"""What the self-supervised models share: the encoder as the model, a loss and an accuracy."""

import keras


class EmbeddingModel(keras.Model):
    """A model whose call returns its `encoder`'s embeddings and whose train step tracks a
    loss and an accuracy (of the contrastive or pretext task)."""

    def _track_loss_and_accuracy(self, accuracy_name):
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name=accuracy_name)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, inputs, training=False):
        return self.encoder(inputs, training=training)
