"""``python -m omnicloud.cli``: the ``omnicloud`` command line without needing the script on PATH."""

from __future__ import annotations

from omnicloud.cli import main

main()
