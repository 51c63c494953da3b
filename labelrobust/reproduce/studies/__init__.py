"""The five studies, one file each; importing this package registers them in ``STUDIES``."""
