"""The explorer page: one HTML file with its data, script and styles inlined, that works offline.

Its Content-Security-Policy allows no request at all (no network, no other file): what the page
shows is in it. The data goes in as JSON (`escape.script_data`) and the script puts text on the
page only as text. Pure, but for reading its own script and styles, which ship beside it.
"""

from importlib.resources import files

from handshake_viz.views.escape import html, script_data

_ASSETS = files(__package__)
SCRIPT = (_ASSETS / "explorer.js").read_text(encoding="utf-8")
STYLE = (_ASSETS / "explorer.css").read_text(encoding="utf-8")
POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"


def to_html(page: dict) -> str:
    """The page for views.explorer's data."""
    return f"""<!DOCTYPE html>
<html lang="{page['lang']}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="handshake-viz">
<title>{html(page['title'])}</title>
<style>
{STYLE}</style>
</head>
<body>
<header><h1 id="title"></h1><nav id="controls" hidden></nav></header>
<main>
<section id="index"></section>
<div id="explore" hidden>
<div id="ladder" tabindex="0">
<div id="lanes"></div><div id="canvas"><div id="fixed"></div><div id="rows"></div></div><ul id="legend"></ul>
</div>
<aside><section id="details"></section><section id="graph"></section></aside>
</div>
</main>
<div id="tooltip" role="tooltip" hidden></div>
<script type="application/json" id="data">{script_data(page)}</script>
<script>
{SCRIPT}</script>
</body>
</html>
"""
