from labelrobust.registry import Registry

METHODS = Registry("training method")
