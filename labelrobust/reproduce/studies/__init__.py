"""The five studies, one file each; importing this package registers them in ``STUDIES``."""
from labelrobust.reproduce.studies import softlabel  # noqa: F401
from labelrobust.reproduce.studies import task_aware  # noqa: F401
from labelrobust.reproduce.studies import multilabel  # noqa: F401
from labelrobust.reproduce.studies import wpgd  # noqa: F401
from labelrobust.reproduce.studies import clirat  # noqa: F401
