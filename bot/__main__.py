"""`python -m bot` is the `atelier` command."""

from bot.cli import main

main()
