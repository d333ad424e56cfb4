"""The single request path: authenticate → read → decode → route → call → render."""

from polyrelay.pipeline.handler import Gateway

__all__ = ["Gateway"]
