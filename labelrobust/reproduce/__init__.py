"""Multi-run jobs: the Quick start comparison and, later, the studies' experiments."""
