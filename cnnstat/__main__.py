"""``python -m cnnstat``."""

from .cli import main

main()
