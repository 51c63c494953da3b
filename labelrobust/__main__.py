"""``python -m labelrobust`` (and ``torchrun -m labelrobust``) runs the command line."""

from labelrobust.cli.main import main

raise SystemExit(main())
