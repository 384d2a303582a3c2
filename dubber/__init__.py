"""dub: dub a video into another language, every line generated to the length of its slot."""

__version__ = "0.1.0"
