"""Saving for models built around Keras sub-models (an encoder, a decoder, ...).

A model lists its sub-models in `sub_models` and its other constructor arguments in
`config_fields` (attributes of the same name); `get_config` writes both and
`from_config` rebuilds the sub-models before calling the constructor, which is what
`.keras` files need to load the model back.
"""

import keras


class SubModelConfig:
    """Mixin (put it before `keras.Model`) giving `get_config` and `from_config`."""

    sub_models = ("encoder",)
    config_fields = ()

    def get_config(self):
        config = super().get_config()
        for name in self.sub_models:
            config[name] = keras.saving.serialize_keras_object(getattr(self, name))
        config.update({name: getattr(self, name) for name in self.config_fields})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls.sub_models:
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)


class ArgumentsConfig:
    """Mixin (put it before `keras.Model`) for a model whose `get_config` holds exactly
    its constructor's arguments: `from_config` drops the base entries the constructor
    does not take (`trainable`, `dtype`) and calls it."""

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        config.pop("dtype", None)
        return cls(**config)
