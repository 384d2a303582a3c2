"""``python -m dubber`` runs the ``dub`` command."""

from .cli import main

main(prog_name="dub")
