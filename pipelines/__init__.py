"""The stages of a dub, one module each. A stage reads its inputs, writes only under the
folder the runner gives it, and returns a JSON-able record."""
