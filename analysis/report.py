"""Self-contained HTML reports: tables and matplotlib figures embedded as PNG data URIs.

One small builder serves every report (judge comparison, pair funnel): a report is
a title plus sections, each holding paragraphs, tables (pandas DataFrames) and
figures. The file has no external references, so it can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Report", "Section", "new_figure"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
figure{margin:.8em 0}figcaption{color:#555;font-size:12px}img{max-width:100%}
.note{color:#555}
"""


@dataclass
class Section:
    title: str
    parts: list[str] = field(default_factory=list)

    def text(self, text: str, *, note: bool = False) -> Section:
        cls = ' class="note"' if note else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")
        return self

    def table(
        self, frame: Any, *, caption: str | None = None, float_format: str = "{:.3f}"
    ) -> Section:
        """A pandas DataFrame (index shown when named or non-default)."""
        show_index = frame.index.name is not None or not _default_index(frame)
        formatted = frame.to_html(
            index=show_index,
            na_rep="–",
            float_format=lambda v: float_format.format(v),
            border=0,
            escape=True,
        )
        if caption:
            self.parts.append(f"<p><b>{html.escape(caption)}</b></p>")
        self.parts.append(formatted)
        return self

    def figure(self, fig: Any, *, caption: str | None = None) -> Section:
        """A matplotlib figure, embedded as a PNG data URI (and closed)."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        alt = html.escape(caption or self.title)
        self.parts.append(
            f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">{cap}</figure>'
        )
        return self


def _default_index(frame: Any) -> bool:
    import pandas as pd

    return (
        isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1
    )


@dataclass
class Report:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str) -> Section:
        section = Section(title)
        self.sections.append(section)
        return section

    def to_html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        if self.subtitle:
            body.append(f'<p class="note">{html.escape(self.subtitle)}</p>')
        for s in self.sections:
            body.append(f"<h2>{html.escape(s.title)}</h2>")
            body.extend(s.parts)
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n"
        )

    def write(self, path: str | Path, *, protect: Sequence[str | Path | None] = ()) -> Path:
        """Write atomically (temporary sibling, then rename); never over ``protect``
        (the inputs) or a folder (see ``ultrajudge.judge.io.write_text``)."""
        from ultrajudge.judge.io import write_text

        return write_text(path, self.to_html(), protect=protect)


def new_figure(width: float = 6.0, height: float = 3.6) -> tuple[Any, Any]:
    """A figure and axes on the non-interactive Agg backend (safe on headless machines)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))
