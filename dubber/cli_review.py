"""``dub review OUT``: the review page of a dub, served on this machine."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_support import run


@click.command("review")
@click.argument("dub_file", metavar="OUTPUT", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but this machine's lets others on the network in.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port [default: a free one].")
@click.option("--no-browser", is_flag=True, help="Print the address without opening a browser.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def review(dub_file, host, port, no_browser, debug):
    """Check a dub line by line in the browser: play, edit, regenerate a line to its slot, render.

    OUTPUT is the dubbed video (or its --report JSON). Edits are kept in OUTPUT's project
    file (OUT.dub.json), and a rerun of the same dub keeps them.
    """
    from .review.server import LOCAL_HOSTS, Server, create_app, new_token, serve_forever
    from .review.session import Review

    session, _ = run(lambda: Review(dub_file), debug)
    token = new_token()
    server = Server(create_app(session, token), host=host, port=port)
    bound, _ = run(server.start, debug)
    if host not in LOCAL_HOSTS:
        click.echo(f"dub: warning: listening on {host}: anyone who can reach it and has the address below "
                   "can edit this dub", err=True)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    address = f"http://{shown}:{bound}/?token={token}"
    click.echo(address)
    click.echo("(Ctrl-C to stop)", err=True)
    if not no_browser:
        import webbrowser

        webbrowser.open(address)
    serve_forever(server)
