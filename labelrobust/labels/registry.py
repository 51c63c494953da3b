"""The registry of label spaces: one ``@LABEL_SPACES.register(name)`` line per space."""

from labelrobust.registry import Registry

LABEL_SPACES: Registry = Registry("label space")
