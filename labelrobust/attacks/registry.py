"""The registry of attacks: one ``@ATTACKS.register(name)`` line per attack file."""

from labelrobust.registry import Registry

ATTACKS: Registry = Registry("attack")
