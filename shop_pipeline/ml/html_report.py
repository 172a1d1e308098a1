"""A static, self-contained HTML report (images inlined as base64), for every model's report
under $SHOP_PIPELINE_HOME/reports/. No Dagster, no network, no extra dependency.

A section's text is HTML when it starts with "<" (after whitespace); otherwise it is a small
Markdown subset, the one the metadata tables use: `#` headings, pipe tables, `-`/`*` lists,
fenced code, **bold**, `code`, and paragraphs. Everything else is escaped, so text from data
(a product name, an error message) cannot inject markup.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
import re
import tempfile
from pathlib import Path
from typing import Sequence

Section = tuple[str, str, "bytes | None"]

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


def _inline(text: str) -> str:
    t = html.escape(text, quote=False)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    return t


def _cells(line: str) -> list[str]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return [c.strip() for c in s.split("|")]


def _is_sep(line: str) -> bool:
    return bool(re.fullmatch(r"\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*", line))


def _at(items: list[str], k: int) -> str:
    return items[k] if k < len(items) else ""


def markdown_to_html(md: str) -> str:
    lines = md.splitlines()
    out: list[str] = []
    para: list[str] = []
    i = 0

    def flush() -> None:
        if para:
            out.append("<p>" + " ".join(_inline(p) for p in para) + "</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if not s:
            flush()
            i += 1
        elif s.startswith("```"):
            flush()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1:j])) + "</code></pre>")
            i = j + 1
        elif m := re.match(r"(#{1,6})\s+(.*)", s):
            flush()
            level = min(len(m.group(1)) + 2, 6)   # a section's own headings sit below h2
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
            i += 1
        elif s.startswith("|") and i + 1 < len(lines) and _is_sep(lines[i + 1]):
            flush()
            aligns = ["num" if c.endswith(":") else "" for c in _cells(lines[i + 1])]
            head = _cells(line)
            rows = []
            j = i + 2
            while j < len(lines) and lines[j].strip().startswith("|"):
                rows.append(_cells(lines[j]))
                j += 1
            cls = [' class="num"' if a else "" for a in aligns]
            t = ["<table><thead><tr>" + "".join(f"<th{_at(cls, k)}>{_inline(c)}</th>"
                                                 for k, c in enumerate(head)) + "</tr></thead><tbody>"]
            for r in rows:
                t.append("<tr>" + "".join(f"<td{_at(cls, k)}>{_inline(c)}</td>"
                                          for k, c in enumerate(r)) + "</tr>")
            out.append("".join(t) + "</tbody></table>")
            i = j
        elif re.match(r"[-*]\s+", s):
            flush()
            items = []
            while i < len(lines) and re.match(r"\s*[-*]\s+", lines[i]):
                items.append("<li>" + _inline(re.sub(r"^\s*[-*]\s+", "", lines[i])) + "</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
        else:
            para.append(s)
            i += 1
    flush()
    return "\n".join(out)


def render_html(title: str, sections: Sequence[Section],
                generated_at: dt.datetime | None = None) -> str:
    when = (generated_at or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>", f'<p class="meta">generated {when}</p>']
    for heading, text, png in sections:
        parts.append(f"<section><h2>{html.escape(heading)}</h2>")
        if text:
            parts.append(text if text.lstrip().startswith("<") else markdown_to_html(text))
        if png:
            b64 = base64.b64encode(png).decode("ascii")
            parts.append(f'<img alt="{html.escape(heading, quote=True)}" '
                         f'src="data:image/png;base64,{b64}">')
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html_report(path: str | os.PathLike, title: str, sections: Sequence[Section],
                      generated_at: dt.datetime | None = None) -> Path:
    """Write the report atomically (temp file + rename): a reader never sees half a page."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = render_html(title, sections, generated_at)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(doc)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
