"""The registry of network architectures: one ``@MODELS.register(name)`` line per model.

An entry is a builder ``fn(input_shape, out_dim, **options) -> nn.Module``. The options a
builder accepts are its keyword parameters; ``build_model`` reads them with
``inspect.signature`` so a misspelt option fails instead of being ignored.
"""

from labelrobust.registry import Registry

MODELS: Registry = Registry("model")
