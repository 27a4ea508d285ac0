"""Renderers: terminal text, Markdown, charts and the HTML report, over result objects."""
