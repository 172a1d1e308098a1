"""A static, self-contained HTML report (images inlined as base64), for every model's report
under $SHOP_PIPELINE_HOME/reports/, and the Markdown tables it and the Dagster UI show
(`markdown_table`). No Dagster, no network.

A section's text is HTML when it starts with "<" (after whitespace); otherwise Markdown, the
same as the metadata tables shown in the Dagster UI.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import markdown

Section = tuple[str, str, "bytes | None"]


def markdown_table(frame, limit: int = 50) -> str:
    """A frame's first `limit` rows as a Markdown table (and how many more there are); "_none_" when empty."""
    if frame is None or len(frame) == 0:
        return "_none_"
    text = frame.head(limit).to_markdown(index=False)
    return text + (f"\n\n... {len(frame) - limit} more rows" if len(frame) > limit else "")


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #ddd;padding-bottom:.3em}h2{margin-top:1.8em;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em}th{background:#f4f4f4}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{background:#f6f8fa;border-radius:3px}pre{padding:.6em;overflow:auto}code{padding:0 .2em}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}.meta{color:#777;font-size:.85em}
"""


def markdown_to_html(md: str) -> str:
    """Markdown (tables, fenced code) to HTML with Python-Markdown. The text is escaped first,
    so text from data (a product name, an error message) cannot inject markup."""
    return markdown.markdown(html.escape(md, quote=False), extensions=["tables", "fenced_code"])


def render_html(title: str, sections: Sequence[Section], generated_at: dt.datetime | None = None) -> str:
    when = (generated_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">generated {when}</p>',
    ]
    for heading, text, png in sections:
        parts.append(f"<section><h2>{html.escape(heading)}</h2>")
        if text:
            parts.append(text if text.lstrip().startswith("<") else markdown_to_html(text))
        if png:
            b64 = base64.b64encode(png).decode("ascii")
            parts.append(f'<img alt="{html.escape(heading, quote=True)}" src="data:image/png;base64,{b64}">')
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html_report(
    path: str | os.PathLike, title: str, sections: Sequence[Section], generated_at: dt.datetime | None = None
) -> Path:
    """Write the report atomically (temp file + rename): a reader never sees half a page.

    The file keeps mkstemp's owner-only mode: reports show customer data.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = render_html(title, sections, generated_at)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(doc)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
