"""Filling the report templates: one Jinja2 environment, data URIs, number formats.

Pages are self-contained: the stylesheet and the script are inlined by the templates, and every
image is a ``data:`` URI, so a page opens from a file:// URL offline and can be sent by mail.
"""

from __future__ import annotations

import base64
import io
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from slowvae.errors import SlowVAEError
from slowvae.rundir import atomic_write_bytes
from slowvae.text import count

#: image types a page embeds, by file suffix
MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,<data>`` as one unbroken string (no line breaks)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def file_uri(path: Path) -> str | None:
    """The data URI of an image file, or None when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    if path.suffix not in MIME:
        raise SlowVAEError(f"{path}: cannot embed a {path.suffix or 'suffix-less'} file as an image")
    return data_uri(path.read_bytes(), MIME[path.suffix])


def figure_uri(fig: Any, dpi: int = 110) -> str:
    """A matplotlib figure as a PNG data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return data_uri(buffer.getvalue(), "image/png")


def fmt(value: Any, digits: int = 3) -> str:
    """A number as a short readable string; None and NaN as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 10**-digits):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def number(value: Any) -> str:
    """A setting's value as written in a config (``%g`` for floats); None as an en dash."""
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def duration(seconds: float | None) -> str:
    """Seconds as ``1 h 02 min``, ``3 min 05 s`` or ``12.3 s``."""
    if seconds is None:
        return "not recorded"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def setting_text(setting: dict[str, Any]) -> str:
    """``gamma=10, rate=6`` from a settings dict (empty: an en dash)."""
    return ", ".join(f"{k}={number(v)}" for k, v in setting.items()) or "–"


@lru_cache(maxsize=1)
def environment() -> Any:
    """The Jinja2 environment over the package's templates (autoescaping HTML)."""
    try:
        import jinja2
    except ImportError:
        raise SlowVAEError("report pages need Jinja2: pip install jinja2") from None
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("slowvae.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt=fmt, number=number, duration=duration, setting=setting_text, counted=count)
    return env


def render(template: str, context: dict[str, Any]) -> str:
    """Render ``templates/<template>`` with ``context``."""
    return environment().get_template(template).render(**context)


def write_page(path: Path, html: str) -> Path:
    """Write a rendered page atomically; returns the path."""
    atomic_write_bytes(Path(path), html.encode("utf-8"))
    return Path(path)
