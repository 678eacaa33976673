"""``python -m omnicloud``: the same command line as ``omnicloud``."""

from omnicloud.cli import main

main()
