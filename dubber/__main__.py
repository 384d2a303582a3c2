"""``python -m dubber`` runs the ``dub`` command."""

from .cli import entry

entry(prog_name="dub")
