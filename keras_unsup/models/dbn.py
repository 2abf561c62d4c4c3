"""Deep belief networks: RBMs stacked and trained greedily, layer by layer.

Hinton, Osindero and Teh (2006) train the first RBM on the data, then each next RBM
on the hidden activations of the one below (here their probabilities, as the
practical guide advises), which improves a variational bound on the data's
log-likelihood. The top two layers form an undirected associative memory (the top
RBM); the layers below are a directed generative model through the lower RBMs'
weights. Samples therefore come from Gibbs sampling in the top RBM followed by one
down-pass.

Reference:
- G. E. Hinton, S. Osindero, Y.-W. Teh (2006). A fast learning algorithm for deep
  belief nets. Neural Computation 18(7).
"""

import keras
import numpy as np
from keras import ops

from keras_unsup.checks import (
    check_int,
    check_positive_int,
    check_seed,
    check_units,
)
from keras_unsup.models._serialization import ArgumentsConfig
from keras_unsup.models.rbm import RBM, check_chain_settings, check_visible_shape


@keras.saving.register_keras_serializable(package="keras_unsup")
class DBN(ArgumentsConfig, keras.Model):
    """A deep belief network: a stack of RBMs trained greedily (Hinton et al. 2006).

    RBM `i` has `layers[i - 1]` visible units (the input for `i = 0`) and `layers[i]`
    hidden units. The bottom RBM has `visible` units (Bernoulli or Gaussian); those
    above are Bernoulli–Bernoulli, trained on the hidden probabilities of the RBM
    below (`layer_inputs`). The DBN itself is not trained by `fit`: `pretrain` (or a
    loop of your own over `rbms` and `layer_inputs`) trains it layer by layer.

    Args:
        visible_shape: the shape of one input, e.g. `(28, 28, 1)`.
        layers: hidden units of each layer, bottom to top, e.g. `(500, 500, 2000)`.
        visible: the bottom RBM's visible units, `"bernoulli"` or `"gaussian"`.
        k: Gibbs steps of each RBM's CD-k/PCD-k update.
        persistent: train every RBM by PCD.
        n_chains: persistent chains per RBM.
        seed: seed of the RBMs (RBM `i` gets `seed + i`).

    Call arguments:
        inputs: `(batch, *visible_shape)`; returns the top layer's hidden
            probabilities, `(batch, layers[-1])`.

    Example:

    >>> dbn = DBN((28, 28, 1), layers=(500, 500, 2000))
    >>> dbn.pretrain(x_train, epochs=10, batch_size=32)
    >>> features = dbn.transform(x_test)
    >>> images = dbn.sample(16, steps=1000, seed=0)
    """

    def __init__(self, visible_shape, layers=(500, 500, 2000), visible="bernoulli", k=1,
                 persistent=False, n_chains=None, seed=None, **kwargs):
        visible_shape = check_visible_shape(visible_shape)
        layers = check_units(layers, "layers", allow_empty=False)
        visible, k, persistent, n_chains, seed = check_chain_settings(
            visible, k, persistent, n_chains, seed)
        kwargs.setdefault("name", "dbn")
        super().__init__(**kwargs)
        self.visible_shape = visible_shape
        self.layer_sizes = layers
        self.visible = visible
        self.k = k
        self.persistent = persistent
        self.n_chains = n_chains
        self.seed = seed
        shapes = [visible_shape] + [(units,) for units in layers[:-1]]
        self.rbms = [
            RBM(shape, units, visible=visible if i == 0 else "bernoulli", k=k,
                persistent=persistent, n_chains=n_chains,
                seed=None if seed is None else seed + i, name=f"rbm_{i}")
            for i, (shape, units) in enumerate(zip(shapes, layers))
        ]
        self.built = True

    def get_config(self):
        config = super().get_config()
        config.update(visible_shape=self.visible_shape, layers=self.layer_sizes,
                      visible=self.visible, k=self.k, persistent=self.persistent,
                      n_chains=self.n_chains, seed=self.seed)
        return config

    def call(self, inputs):
        h = inputs
        for rbm in self.rbms:
            h = rbm(h)
        return h

    def layer_inputs(self, x, index, batch_size=1024):
        """What RBM `index` trains on: `x` itself for 0, else the hidden probabilities
        of RBM `index - 1` given the layers below (a NumPy array)."""
        index = check_int(index, "index", 0, len(self.rbms) - 1)
        h = self.rbms[0].check_inputs(x)
        for rbm in self.rbms[:index]:
            h = rbm.transform(h, batch_size=batch_size)
        return h

    def transform(self, x, batch_size=1024):
        """The top layer's hidden probabilities, `(n, layers[-1])` float32 (the features)."""
        top = len(self.rbms) - 1
        return self.rbms[top].transform(self.layer_inputs(x, top, batch_size), batch_size)

    def pretrain(self, x, *, epochs, batch_size=32, learning_rate=0.1, seed=None,
                 fit_layer=None, verbose=0):
        """Greedy layer-wise training: RBM 0 on `x`, then each RBM on `layer_inputs`.

        Args:
            x: training inputs, `(n, *visible_shape)`.
            epochs: epochs per RBM.
            batch_size: inputs per CD step.
            learning_rate: SGD's learning rate for RBMs not compiled yet.
            seed: seed of the shuffles.
            fit_layer: `fit_layer(index, rbm, inputs)` trains one RBM on its inputs
                (a NumPy array); default: sets the RBM's visible bias from its inputs
                (`initialize_visible_bias`), then `rbm.fit` on a shuffled `image_dataset`.
                The recipes pass one that resumes (`keras_unsup.recipes.training.fit`).
            verbose: Keras' progress bar setting of the default `fit_layer`.

        Returns:
            The list of what `fit_layer` returned (a Keras `History` each by default).
        """
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        x = self.rbms[0].check_inputs(x)
        if fit_layer is None:
            from keras_unsup.data.pipeline import image_dataset

            def fit_layer(index, rbm, inputs):
                # Visible biases from the data (Hinton 2010, section 8): left at zero, an
                # upper RBM's first negative phase reconstructs every unit at 0.5 against
                # inputs averaging far less, which drives its weights negative until all
                # its hidden units are off (with momentum 0.9 within a few epochs).
                rbm.initialize_visible_bias(inputs)
                inputs = inputs.reshape((len(inputs), 1, 1, -1))  # image_dataset's NHWC
                ds = image_dataset(inputs, batch_size, seed=seed)
                return rbm.fit(ds, epochs=epochs, verbose=verbose, shuffle=False)

        results = []
        inputs = x
        for index, rbm in enumerate(self.rbms):
            if index:
                inputs = self.rbms[index - 1].transform(inputs)
            if getattr(rbm, "optimizer", None) is None:
                rbm.compile(optimizer=keras.optimizers.SGD(learning_rate))
            results.append(fit_layer(index, rbm, inputs))
        return results

    def sample(self, n, steps=1000, *, seed=None, start=None):
        """`n` samples: `steps` Gibbs steps in the top RBM, then a down-pass.

        Args:
            n: number of samples.
            steps: Gibbs steps in the top RBM.
            seed: seed of the sampling.
            start: optional inputs `(n, *visible_shape)` whose up-pass starts the top
                RBM's chains (default: random states, or the top RBM's persistent
                chains when it has enough).

        Returns:
            `(n, *visible_shape)` float32: the bottom layer's visible means after the
            down-pass (binary states are sampled in the layers between).
        """
        n = check_positive_int(n, "n")
        steps = check_positive_int(steps, "steps")
        seed = check_seed(seed)
        top = self.rbms[-1]
        if len(self.rbms) == 1:
            if start is not None:
                return self.rbms[0].gibbs(start, steps, seed=seed).reshape(
                    (-1,) + self.visible_shape)
            return top.sample(n, steps, seed=seed)
        if start is not None:
            v = self.layer_inputs(start, len(self.rbms) - 1)
            if len(v) != n:
                raise ValueError(f"`start` must hold `n` = {n} inputs. "
                                 f"Received: start with {len(v)}")
        elif top.persistent and n <= top.chain_count:
            v = ops.convert_to_numpy(top.chains)[:n]
        else:
            v = np.random.default_rng(seed).uniform(size=(n, top.n_visible)).astype(np.float32)
        # Gibbs in the top RBM; the visible means of its last step are the
        # probabilities of the layer below, sampled to binary states on the way down.
        probabilities = top.gibbs(v, steps, seed=seed)
        rng = np.random.default_rng(None if seed is None else seed + 1)
        for rbm in reversed(self.rbms[:-1]):
            h = (rng.uniform(size=probabilities.shape) < probabilities).astype(np.float32)
            probabilities = ops.convert_to_numpy(rbm.visible_mean(h))
        return np.asarray(probabilities, np.float32).reshape((n,) + self.visible_shape)
