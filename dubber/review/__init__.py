"""``dub review``: a local web page to check a dub line by line, regenerate a line to its
slot, and render the video again (session: the actions; server: the page and its API)."""
