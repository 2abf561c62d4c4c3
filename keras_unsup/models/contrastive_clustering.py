"""Contrastive Clustering (CC; Li, Hu, Liu, Peng, Zhou and Peng, AAAI 2021).

One backbone and two heads trained together on two augmented views of each image:
- the instance head (an MLP projection, as SimCLR's) with NT-Xent over the rows of
  the batch: each view's projection must find the other view of its image;
- the cluster head (an MLP ending in a softmax over `n_clusters`) with NT-Xent over
  the columns of the two views' assignment matrices (`cluster_contrastive_loss`):
  each cluster's column of memberships must find the same cluster's column in the
  other view, and the entropy of the assignment marginal keeps every cluster in use.

The model's call is the cluster head's soft assignment, so `model.predict(x)` gives
`(n, n_clusters)` probabilities and `.argmax(axis=1)` the clusters, without k-means
or any step after training; `model.encoder` gives the backbone's embeddings.
"""

import keras
from keras import ops

from keras_unsup.builders.backbones import build_projection_head, embedding_dim_of
from keras_unsup.checks import check_int, check_number, check_view_pair
from keras_unsup.losses import assignment_entropy, cluster_contrastive_loss
from keras_unsup.models._embedding import EmbeddingModel, contrastive_parts
from keras_unsup.models._training import descend


@keras.saving.register_keras_serializable(package="keras_unsup")
class ContrastiveClustering(EmbeddingModel):
    """Contrastive Clustering: instance- and cluster-level contrastive heads on one backbone.

    Follows Li et al., "Contrastive Clustering" (AAAI 2021) and the authors' code
    (Yunfan-Li/Contrastive-Clustering): both heads are `Dense(dim) -> ReLU -> Dense`
    on the backbone's embedding; the loss is the instance-level NT-Xent (temperature
    0.5) plus the cluster-level loss (NT-Xent over assignment columns at temperature
    1.0, plus `log K - H(p)` of each view's assignment marginal). Both are computed on
    each replica's own part of the batch under `tf.distribute`.

    Args:
        encoder: a Functional backbone from images to flat embeddings `(batch, dim)`.
        n_clusters: number of clusters `K` of the cluster head, >= 2.
        projection_dim: output width of the instance head, or `None` for no head (the
            instance loss then sees the embedding itself).
        instance_temperature: temperature of the instance-level NT-Xent, > 0.
        cluster_temperature: temperature of the cluster-level NT-Xent, > 0.
        entropy_weight: weight of the entropy term of the cluster loss, >= 0 (1.0 in
            the paper; 0 lets the clusters collapse).

    Call arguments:
        inputs: images `(batch, height, width, channels)`.
        training: passed to the backbone and the head.

    Output shape: `(batch, n_clusters)` soft assignments (rows sum to 1).

    Example:

    >>> cc = ContrastiveClustering(build_small_convnet((28, 28, 1)), n_clusters=10)
    >>> cc.compile(optimizer=keras.optimizers.Adam(3e-4))
    >>> cc.fit(two_view_dataset(x, 256, seed=0), epochs=100)
    >>> clusters = cc.predict(x).argmax(axis=1)
    >>> embeddings = cc.encoder.predict(x)
    """

    config_fields = ("n_clusters", "projection_dim", "instance_temperature",
                     "cluster_temperature", "entropy_weight")

    def __init__(self, encoder, n_clusters=10, projection_dim=128, instance_temperature=0.5,
                 cluster_temperature=1.0, entropy_weight=1.0, **kwargs):
        info_nce, projector = contrastive_parts(encoder, projection_dim, instance_temperature)
        n_clusters = check_int(n_clusters, "n_clusters", 2)
        cluster_temperature = check_number(cluster_temperature, "cluster_temperature", 0,
                                           low_open=True)
        entropy_weight = check_number(entropy_weight, "entropy_weight", 0)
        kwargs.setdefault("name", "contrastive_clustering")
        super().__init__(**kwargs)
        self.n_clusters = n_clusters
        self.projection_dim = projection_dim
        self.instance_temperature = float(instance_temperature)
        self.cluster_temperature = cluster_temperature
        self.entropy_weight = entropy_weight
        self.encoder = encoder
        self.info_nce = info_nce
        self.projector = projector
        self.cluster_head = build_projection_head(embedding_dim_of(encoder), n_clusters,
                                                  name="cluster_head")
        self._track_loss_and_accuracy("contrastive_accuracy")
        self.instance_loss_tracker = keras.metrics.Mean(name="instance_loss")
        self.cluster_loss_tracker = keras.metrics.Mean(name="cluster_loss")
        # H(p) / log K of the batch's assignment marginal: 1 when every cluster is used
        # evenly, 0 when one cluster takes every image.
        self.balance_tracker = keras.metrics.Mean(name="cluster_balance")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker, self.instance_loss_tracker,
                self.cluster_loss_tracker, self.balance_tracker]

    @property
    def assignment_weights(self):
        """The trainable weights of the backbone and the cluster head, those the
        assignments depend on (not the instance head's): what `SelfLabelling` tunes."""
        return self.encoder.trainable_weights + self.cluster_head.trainable_weights

    def call(self, inputs, training=False):
        return self.assign(self.encoder(inputs, training=training), training)

    def assign(self, embeddings, training=False):
        """The cluster head's soft assignments `(batch, n_clusters)` of embeddings."""
        return ops.softmax(self.cluster_head(embeddings, training=training), axis=-1)

    def _loss_parts(self, view_1, view_2, training):
        h_1 = self.encoder(view_1, training=training)
        h_2 = self.encoder(view_2, training=training)
        z_1, z_2 = h_1, h_2
        if self.projector is not None:
            z_1 = self.projector(h_1, training=training)
            z_2 = self.projector(h_2, training=training)
        loss_12, logits = self.info_nce(z_1, z_2, return_logits=True)
        instance = ops.mean(0.5 * (loss_12 + self.info_nce(z_2, z_1)))
        c_1, c_2 = self.assign(h_1, training), self.assign(h_2, training)
        cluster = cluster_contrastive_loss(c_1, c_2, temperature=self.cluster_temperature,
                                           entropy_weight=self.entropy_weight)
        hits = ops.mean(ops.cast(ops.argmax(logits, axis=-1) == 0, "float32"))
        balance = assignment_entropy(c_1) / ops.log(float(self.n_clusters))
        return instance + cluster, hits, instance, cluster, balance

    def _record(self, loss, hits, instance, cluster, balance):
        for tracker, value in zip(self.metrics, (loss, hits, instance, cluster, balance)):
            tracker.update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        view_1, view_2 = check_view_pair(data, "ContrastiveClustering")
        return self._record(*descend(self.optimizer, self.trainable_weights,
                                     lambda: self._loss_parts(view_1, view_2, training=True)))

    def test_step(self, data):
        view_1, view_2 = check_view_pair(data, "ContrastiveClustering")
        return self._record(*self._loss_parts(view_1, view_2, training=False))
