"""Model report figures: a matplotlib figure as PNG bytes, and PNG bytes as a Markdown image.

Shared by the *_plots modules (no Dagster, no display: the Agg backend).
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def figure_png(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes; the figure is closed (its memory freed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def png_markdown(png_bytes: bytes, alt: str = "plot") -> str:
    """A Markdown image with a base64 data URI (for MetadataValue.md and the HTML reports)."""
    alt = alt.replace("[", "(").replace("]", ")")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png_bytes).decode('ascii')})"
