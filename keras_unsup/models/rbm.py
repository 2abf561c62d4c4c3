"""Restricted Boltzmann machines trained by contrastive divergence (CD-k) or persistent
contrastive divergence (PCD).

An RBM is an energy model over visible units `v` and binary hidden units `h`:
- Bernoulli–Bernoulli: `E(v, h) = -b·v - c·h - vᵀWh`, for inputs in [0, 1];
- Gaussian–Bernoulli with unit-variance visible units (Hinton 2010, section 13.2):
  `E(v, h) = ½‖v - b‖² - c·h - vᵀWh`, for real inputs standardised to zero mean and
  unit variance per component.
Summing out `h` gives the free energy `F(v) = -b·v - Σ_j softplus(c_j + vᵀW_j)`
(the Gaussian case has `½‖v - b‖²` in place of `-b·v`) and `p(v) ∝ exp(-F(v))`.

The gradient of the log-likelihood is the positive statistics (data) minus the
negative statistics (model); CD-k estimates the latter from a Gibbs chain of `k`
steps started at the data (Hinton 2002), PCD from chains kept across updates
(Tieleman 2008). `RBM.train_step` computes exactly these statistics and hands their
difference to the optimizer as the gradient of the contrastive surrogate
`mean F(v_data) - mean F(v_model)` (with `v_model` held fixed); no tape is involved.

References:
- G. E. Hinton (2002). Training products of experts by minimizing contrastive
  divergence. Neural Computation 14(8).
- T. Tieleman (2008). Training restricted Boltzmann machines using approximations to
  the likelihood gradient. ICML.
- G. E. Hinton (2010). A practical guide to training restricted Boltzmann machines.
  UTML TR 2010-003.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_unsup.checks import (
    check_array_range,
    check_bool,
    check_choice,
    check_int,
    check_positive_int,
    check_seed,
    is_int,
    replicas_in_sync,
)
from keras_unsup.models._serialization import ArgumentsConfig

VISIBLE_TYPES = ("bernoulli", "gaussian")


def check_visible_shape(visible_shape, name="visible_shape"):
    """An int or a tuple of positive ints (the shape of one input), as a tuple."""
    if is_int(visible_shape):
        visible_shape = (visible_shape,)
    valid = (isinstance(visible_shape, (tuple, list)) and len(visible_shape) > 0
             and all(is_int(d) and d > 0 for d in visible_shape))
    if not valid:
        raise ValueError(f"`{name}` must be a positive integer or a tuple of positive "
                         f"integers, e.g. (28, 28, 1). Received: {name}={visible_shape!r}")
    return tuple(int(d) for d in visible_shape)


def check_chain_settings(visible, k, persistent, n_chains, seed):
    """The sampling settings an RBM and a DBN share, checked:
    `(visible, k, persistent, n_chains, seed)`."""
    return (check_choice(visible, "visible", VISIBLE_TYPES), check_int(k, "k", 1),
            check_bool(persistent, "persistent"),
            check_positive_int(n_chains, "n_chains", allow_none=True), check_seed(seed))


@keras.saving.register_keras_serializable(package="keras_unsup")
class RBM(ArgumentsConfig, keras.Model):
    """A restricted Boltzmann machine (Bernoulli or Gaussian visible units, Bernoulli
    hidden units) trained by CD-k (Hinton 2002) or PCD (Tieleman 2008).

    Each training step:
    1. positive statistics from the batch `v0`: `v0ᵀ p(h|v0)`, `v0`, `p(h|v0)`;
    2. a Gibbs chain of `k` steps `h ~ p(h|v)`, `v ~ p(v|h)`, started at `v0` (CD) or
       at the persistent chains (PCD, which then keep its last state);
    3. negative statistics from the chain's last visible state `v_k`: `v_kᵀ p(h|v_k)`,
       `v_k`, `p(h|v_k)` (hidden probabilities, not samples, as the practical guide,
       Hinton 2010 section 3, recommends for the last hidden update);
    4. the optimizer applies `-(positive - negative)` (batch means) as the gradient of
       `W`, the visible bias `b` and the hidden bias `c`: with plain SGD this is
       `W += learning_rate * (positive - negative)`.

    Metrics (per epoch, means over the batches): `free_energy` (mean `F(v0)`),
    `reconstruction_error` (mean squared error of the one-step mean reconstruction
    `E[v | h ~ p(h|v0)]` computed from `p(h|v0)`), and for Bernoulli inputs
    `pseudo_likelihood` (scikit-learn's `BernoulliRBM.score_samples`: the stochastic
    approximation `n_visible * log σ(F(ṽ) - F(v))`, `ṽ` being `v` with one random unit
    flipped per sample).

    Inputs of the Bernoulli RBM are probabilities in [0, 1] (e.g. pixel intensities);
    the Gaussian RBM expects each component standardised (zero mean, unit variance),
    since its visible units have unit variance.

    Args:
        visible_shape: the shape of one input, e.g. `(28, 28, 1)` or `784`; inputs are
            flattened to `n_visible = prod(visible_shape)` units.
        hidden_units: number of hidden units.
        visible: `"bernoulli"` or `"gaussian"`.
        k: Gibbs steps of the negative phase (CD-k / PCD-k), >= 1.
        persistent: keep persistent chains (PCD) instead of restarting at the data.
        n_chains: number of persistent chains (PCD only; default 100). They are a
            non-trainable weight, saved and loaded with the model.
        seed: seed of the sampling and of the weight initialisation.

    Call arguments:
        inputs: `(batch, *visible_shape)` or `(batch, n_visible)`; returns the hidden
            probabilities `p(h=1|v)`, `(batch, hidden_units)`.

    Example:

    >>> rbm = RBM((8, 8, 1), hidden_units=64, k=1)
    >>> rbm.compile(optimizer=keras.optimizers.SGD(0.1))
    >>> rbm.fit(x_train, batch_size=32, epochs=10)
    >>> features = rbm.transform(x_test)
    """

    def __init__(self, visible_shape, hidden_units, visible="bernoulli", k=1,
                 persistent=False, n_chains=None, seed=None, **kwargs):
        visible_shape = check_visible_shape(visible_shape)
        hidden_units = check_positive_int(hidden_units, "hidden_units")
        visible, k, persistent, n_chains, seed = check_chain_settings(
            visible, k, persistent, n_chains, seed)
        kwargs.setdefault("name", "rbm")
        super().__init__(**kwargs)
        self.visible_shape = visible_shape
        self.n_visible = int(math.prod(visible_shape))
        self.hidden_units = hidden_units
        self.visible = visible
        self.k = k
        self.persistent = persistent
        self.n_chains = n_chains
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Small random weights, zero biases (Hinton 2010, section 8).
        self.kernel = self.add_weight(
            shape=(self.n_visible, hidden_units), name="kernel",
            initializer=keras.initializers.RandomNormal(stddev=0.01, seed=seed))
        self.visible_bias = self.add_weight(shape=(self.n_visible,), name="visible_bias",
                                            initializer="zeros")
        self.hidden_bias = self.add_weight(shape=(hidden_units,), name="hidden_bias",
                                           initializer="zeros")
        self.chains = None
        if persistent:
            chain_init = (keras.initializers.RandomUniform(0.0, 1.0, seed=seed)
                          if visible == "bernoulli"
                          else keras.initializers.RandomNormal(seed=seed))
            self.chains = self.add_weight(
                shape=(self.chain_count, self.n_visible), name="chains", trainable=False,
                initializer=chain_init, aggregation="only_first_replica")
        self.free_energy_tracker = keras.metrics.Mean(name="free_energy")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_error")
        self.pseudo_likelihood_tracker = (keras.metrics.Mean(name="pseudo_likelihood")
                                          if visible == "bernoulli" else None)
        self.built = True

    @property
    def chain_count(self):
        """Persistent chains kept by PCD (`n_chains`, default 100)."""
        return self.n_chains or 100

    def get_config(self):
        config = super().get_config()
        config.update(visible_shape=self.visible_shape, hidden_units=self.hidden_units,
                      visible=self.visible, k=self.k, persistent=self.persistent,
                      n_chains=self.n_chains, seed=self.seed)
        return config

    def compile(self, optimizer=None, **kwargs):
        """Compiles with `optimizer` (default: SGD with learning rate 0.1, the practical
        guide's starting point). There is no loss: the update is the CD statistics."""
        if optimizer is None:
            optimizer = keras.optimizers.SGD(learning_rate=0.1)
        super().compile(optimizer=optimizer, **kwargs)
        self._rbm_compile_kwargs = dict(kwargs)

    def get_compile_config(self):
        if getattr(self, "optimizer", None) is None:
            return None
        return {"optimizer": keras.saving.serialize_keras_object(self.optimizer),
                **getattr(self, "_rbm_compile_kwargs", {})}

    def compile_from_config(self, config):
        config = dict(config)
        config["optimizer"] = keras.saving.deserialize_keras_object(config["optimizer"])
        self.compile(**config)
        # the optimizer's saved variables load into a built optimizer
        self.optimizer.build([self.kernel, self.visible_bias, self.hidden_bias])

    @property
    def metrics(self):
        trackers = [self.free_energy_tracker, self.reconstruction_tracker]
        if self.pseudo_likelihood_tracker is not None:
            trackers.append(self.pseudo_likelihood_tracker)
        return trackers

    # --- the conditionals -------------------------------------------------------------

    def flatten(self, v):
        """`(batch, *visible_shape)` or `(batch, n_visible)` to `(batch, n_visible)`."""
        return ops.reshape(ops.cast(v, self.kernel.dtype), (-1, self.n_visible))

    def hidden_probabilities(self, v):
        """`p(h_j = 1 | v) = σ(c_j + vᵀW_j)` for flat `v`, `(batch, hidden_units)`."""
        return ops.sigmoid(ops.matmul(v, self.kernel) + self.hidden_bias)

    def visible_mean(self, h):
        """`E[v | h]`: `σ(b + Wh)` (Bernoulli) or `b + Wh` (Gaussian), flat."""
        activation = ops.matmul(h, ops.transpose(self.kernel)) + self.visible_bias
        return ops.sigmoid(activation) if self.visible == "bernoulli" else activation

    def sample_hidden(self, probabilities, uniform):
        """Binary hidden states from their probabilities and uniform noise in [0, 1)."""
        return ops.cast(uniform < probabilities, probabilities.dtype)

    def sample_visible(self, mean, noise):
        """Visible states: Bernoulli (`noise` uniform in [0, 1)) or `mean + noise`
        (Gaussian, `noise` standard normal: unit variance)."""
        if self.visible == "bernoulli":
            return ops.cast(noise < mean, mean.dtype)
        return mean + noise

    def draw_noise(self, n, steps=None, seed_generator=None):
        """The noise of a Gibbs chain of `steps` (default `k`) steps over `n` chains:
        `(hidden_noise, visible_noise)`, each a list of `steps` tensors of shapes
        `(n, hidden_units)` (uniform) and `(n, n_visible)` (uniform, or standard normal
        for Gaussian units). Tests replace it to make a step deterministic."""
        steps = self.k if steps is None else steps
        seed = seed_generator or self.seed_generator
        hidden = [keras.random.uniform((n, self.hidden_units), seed=seed) for _ in range(steps)]
        if self.visible == "bernoulli":
            visible = [keras.random.uniform((n, self.n_visible), seed=seed) for _ in range(steps)]
        else:
            visible = [keras.random.normal((n, self.n_visible), seed=seed) for _ in range(steps)]
        return hidden, visible

    def negative_chain(self, v_start, hidden_noise, visible_noise):
        """The chain `h_0 ~ p(h|v_start)`, then `v_t ~ p(v|h_{t-1})`, `h_t ~ p(h|v_t)`,
        for `len(visible_noise)` steps; returns the last visible state (flat)."""
        steps = len(visible_noise)
        h = self.sample_hidden(self.hidden_probabilities(v_start), hidden_noise[0])
        v = v_start
        for t in range(steps):
            v = self.sample_visible(self.visible_mean(h), visible_noise[t])
            if t + 1 < steps:
                h = self.sample_hidden(self.hidden_probabilities(v), hidden_noise[t + 1])
        return v

    def _visible_term(self, v):
        if self.visible == "bernoulli":
            return -ops.matmul(v, self.visible_bias[:, None])[:, 0]
        return 0.5 * ops.sum(ops.square(v - self.visible_bias), axis=-1)

    def _free_energy_flat(self, v, pre_activation=None):
        if pre_activation is None:
            pre_activation = ops.matmul(v, self.kernel) + self.hidden_bias
        return self._visible_term(v) - ops.sum(ops.softplus(pre_activation), axis=-1)

    def _pseudo_likelihood(self, v, pre_activation):
        # Flip one random unit i per sample: only the i-th row of W and b_i change F.
        n = ops.shape(v)[0]
        index = keras.random.randint((n,), 0, self.n_visible, seed=self.seed_generator)
        one_hot = ops.one_hot(index, self.n_visible, dtype=v.dtype)
        v_i = ops.sum(v * one_hot, axis=-1)
        delta = 1.0 - 2.0 * v_i  # v_i -> 1 - v_i
        pre_flipped = pre_activation + delta[:, None] * ops.take(self.kernel, index, axis=0)
        visible_flipped = self._visible_term(v) - delta * ops.take(self.visible_bias, index)
        free = self._free_energy_flat(v, pre_activation)
        free_flipped = visible_flipped - ops.sum(ops.softplus(pre_flipped), axis=-1)
        return self.n_visible * ops.log_sigmoid(free_flipped - free)

    # --- training ---------------------------------------------------------------------

    def contrastive_gradients(self, v0, v_model, ph0=None):
        """The CD gradients `-(positive - negative)` of `(kernel, visible_bias,
        hidden_bias)`: positive statistics from the data `v0`, negative ones from the
        chains' states `v_model` (both flat), each a mean over its rows. `ph0`:
        `p(h|v0)` when already computed."""
        if ph0 is None:
            ph0 = self.hidden_probabilities(v0)
        phk = self.hidden_probabilities(v_model)
        n0 = ops.cast(ops.shape(v0)[0], v0.dtype)
        nk = ops.cast(ops.shape(v_model)[0], v0.dtype)
        positive_w = ops.matmul(ops.transpose(v0), ph0) / n0
        negative_w = ops.matmul(ops.transpose(v_model), phk) / nk
        return (
            negative_w - positive_w,
            ops.mean(v_model, axis=0) - ops.mean(v0, axis=0),
            ops.mean(phk, axis=0) - ops.mean(ph0, axis=0),
        )

    def train_step(self, data):
        v0 = self.flatten(data[0] if isinstance(data, (tuple, list)) else data)
        start = self.chains if self.persistent else v0
        n = self.chain_count if self.persistent else ops.shape(v0)[0]
        hidden_noise, visible_noise = self.draw_noise(n)
        v_model = ops.stop_gradient(self.negative_chain(start, hidden_noise, visible_noise))
        # Metrics with the parameters the statistics were computed with (before the step).
        logs, ph0 = self._update_metrics(v0)
        gradients = self.contrastive_gradients(v0, v_model, ph0)
        # tf.distribute sums the replicas' gradients: each brings its share of the mean.
        replicas = replicas_in_sync()
        gradients = [g / replicas for g in gradients]
        variables = [self.kernel, self.visible_bias, self.hidden_bias]
        self.optimizer.apply_gradients(zip(gradients, variables))
        if self.persistent:
            self.chains.assign(v_model)
        return logs

    def test_step(self, data):
        v0 = self.flatten(data[0] if isinstance(data, (tuple, list)) else data)
        return self._update_metrics(v0)[0]

    def _update_metrics(self, v0):
        pre = ops.matmul(v0, self.kernel) + self.hidden_bias
        self.free_energy_tracker.update_state(ops.mean(self._free_energy_flat(v0, pre)))
        ph0 = ops.sigmoid(pre)
        reconstruction = self.visible_mean(ph0)
        self.reconstruction_tracker.update_state(ops.mean(ops.square(reconstruction - v0)))
        if self.pseudo_likelihood_tracker is not None:
            self.pseudo_likelihood_tracker.update_state(
                ops.mean(self._pseudo_likelihood(v0, pre)))
        return {m.name: m.result() for m in self.metrics}, ph0

    def fit(self, x=None, *args, **kwargs):
        """Keras' `fit`; NumPy inputs are checked first (finite, and in [0, 1] for
        Bernoulli visible units). A `tf.data.Dataset` is not read ahead to check it."""
        if isinstance(x, (np.ndarray, list)):
            x = self.check_inputs(x, "x")
        return super().fit(x, *args, **kwargs)

    # --- using a trained RBM ----------------------------------------------------------

    def check_inputs(self, x, name="x"):
        """`x` as a float32 array of shape `(n, *visible_shape)` or `(n, n_visible)`,
        finite, and in [0, 1] for Bernoulli units; else a `ValueError` naming `name`."""
        x = np.asarray(x)
        if x.ndim < 2 or (tuple(x.shape[1:]) != self.visible_shape
                          and tuple(x.shape[1:]) != (self.n_visible,)):
            raise ValueError(
                f"`{name}` must have shape (n, {', '.join(map(str, self.visible_shape))}) or "
                f"(n, {self.n_visible}). Received: {name}.shape={x.shape}")
        if self.visible == "bernoulli":
            return check_array_range(x, name, 0.0, 1.0)
        return check_array_range(x, name)

    def call(self, inputs):
        return self.hidden_probabilities(self.flatten(inputs))

    def transform(self, x, batch_size=1024):
        """Hidden probabilities `p(h=1|x)`, `(n, hidden_units)` float32 (the features)."""
        x = self.check_inputs(x)
        batch_size = check_positive_int(batch_size, "batch_size")
        return np.concatenate([
            ops.convert_to_numpy(self.call(x[i:i + batch_size]))
            for i in range(0, len(x), batch_size)]).astype(np.float32)

    def free_energy(self, v, batch_size=1024):
        """The free energy `F(v)` of each input, `(n,)` float32 (lower: more probable)."""
        v = self.check_inputs(v, "v")
        batch_size = check_positive_int(batch_size, "batch_size")
        return np.concatenate([
            ops.convert_to_numpy(self._free_energy_flat(self.flatten(v[i:i + batch_size])))
            for i in range(0, len(v), batch_size)]).astype(np.float32)

    def reconstruct(self, v):
        """The one-step mean reconstruction `E[v | p(h|v)]`, shaped like `v`."""
        v = self.check_inputs(v, "v")
        mean = self.visible_mean(self.hidden_probabilities(self.flatten(v)))
        return ops.convert_to_numpy(mean).reshape(v.shape)

    def gibbs(self, v, steps=1, *, seed=None, return_chain=False):
        """Runs `steps` steps of block Gibbs sampling `h ~ p(h|v)`, `v ~ p(v|h)` from `v`.

        Args:
            v: starting visible states, `(n, *visible_shape)` or `(n, n_visible)`.
            steps: Gibbs steps (>= 1).
            seed: seed of the sampling (`None`: the model's generator).
            return_chain: return every step, not only the last.

        Returns:
            The visible means `E[v | h]` of the last step, shaped like `v` (the states
            the chain goes on from are samples; the means show them without the noise);
            with `return_chain`, `(steps, *v.shape)`, one entry per step.
        """
        v = self.check_inputs(v, "v")
        steps = check_positive_int(steps, "steps")
        seed = check_seed(seed)
        generator = keras.random.SeedGenerator(seed) if seed is not None else None
        state = self.flatten(v)
        chain = []
        for _ in range(steps):
            hidden_noise, visible_noise = self.draw_noise(len(v), 1, generator)
            h = self.sample_hidden(self.hidden_probabilities(state), hidden_noise[0])
            mean = self.visible_mean(h)
            state = self.sample_visible(mean, visible_noise[0])
            if return_chain:
                chain.append(ops.convert_to_numpy(mean))
        if return_chain:
            return np.stack(chain).reshape((steps,) + v.shape).astype(np.float32)
        return ops.convert_to_numpy(mean).reshape(v.shape).astype(np.float32)

    def sample(self, n, steps=1000, *, seed=None):
        """`n` samples of the model: `steps` Gibbs steps from the persistent chains (PCD,
        when `n <= n_chains`) or from random states; `(n, *visible_shape)` visible means."""
        n = check_positive_int(n, "n")
        if self.persistent and n <= self.chain_count:
            start = ops.convert_to_numpy(self.chains)[:n]
        else:
            rng = np.random.default_rng(seed)
            start = (rng.uniform(size=(n, self.n_visible)) if self.visible == "bernoulli"
                     else rng.standard_normal((n, self.n_visible)))
        out = self.gibbs(start.astype(np.float32), steps, seed=seed)
        return out.reshape((n,) + self.visible_shape)

    def initialize_visible_bias(self, x):
        """Sets the visible bias from data (Hinton 2010, section 8): `log(p / (1 - p))`
        of each unit's mean `p` (Bernoulli), or the mean itself (Gaussian)."""
        x = self.check_inputs(x).reshape(-1, self.n_visible)
        mean = x.mean(axis=0)
        if self.visible == "bernoulli":
            p = np.clip(mean, 1e-3, 1 - 1e-3)
            mean = np.log(p / (1 - p))
        self.visible_bias.assign(mean.astype(np.float32))
        return self
