"""The explorer page: one HTML file with its data, script and styles inlined, that works offline.

Its Content-Security-Policy allows no request at all (no network, no other file): what the page
shows is in it. The data goes in as JSON (`escape.json_text`), compressed with gzip and in
base64, which no text from a capture can break out of; the browser's own DecompressionStream
reads it back, and the script puts text on the page only as text. Compressed, the page of a
20,000-packet conversation (`bench/explorer.py`) went from 36.7 MB to 2.7 MB, and from 1.0 s to
0.13 s of HTML parsing in chromium. Pure, but for reading its own script and styles, which ship
beside it.
"""

import base64
import gzip
from importlib.resources import files

from handshake_viz.views.escape import html, json_text

_ASSETS = files(__package__)
SCRIPT = (_ASSETS / "explorer.js").read_text(encoding="utf-8")
STYLE = (_ASSETS / "explorer.css").read_text(encoding="utf-8")
POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"


def to_html(page: dict) -> str:
    """The page for views.explorer's data. Each packet's details and each fold's rows go in as JSON
    text of their own, which the script reads when it first needs them."""
    page = {**page, "conversations": [_deferred(c) for c in page["conversations"]]}
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
<div id="lanes"></div><div id="canvas"><div id="fixed"></div><div id="rows"></div></div><section id="legend"></section>
</div>
<aside><section id="details"></section><section id="graph"></section></aside>
</div>
</main>
<div id="tooltip" role="tooltip" hidden></div>
<script type="application/gzip" id="data">{_packed(page)}</script>
<script>
{SCRIPT}</script>
</body>
</html>
"""


def _deferred(conversation: dict) -> dict:
    rows = [{**row, "folded": json_text(row["folded"])} if "folded" in row else row for row in conversation["rows"]]
    return {**conversation, "rows": rows,
            "packets": {frame: json_text(packet) for frame, packet in conversation["packets"].items()}}


def _packed(page: dict) -> str:
    return base64.b64encode(gzip.compress(json_text(page).encode("ascii"), mtime=0)).decode("ascii")
