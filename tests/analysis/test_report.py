from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pandas as pd

from ultrajudge.analysis.report import Report, new_figure


def _sample_report() -> Report:
    report = Report("Judge comparison", subtitle="2 judges, 10 items")
    fig, ax = new_figure()
    ax.bar(["a", "b"], [1, 2])
    frame = pd.DataFrame({"judge": ["a<b>", "c"], "kappa": [0.5, float("nan")]})
    report.section("Agreement").text("Values & notes").table(frame, caption="kappa").figure(
        fig, caption="bars"
    )
    return report


def _decoded_images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


def test_report_is_self_contained_and_every_image_decodes(tmp_path: Path) -> None:
    from PIL import Image

    path = _sample_report().write(tmp_path / "r.html")
    text = path.read_text()
    assert "<h2>Agreement</h2>" in text and "Values &amp; notes" in text and "a&lt;b&gt;" in text
    assert "–" in text  # nan shown as a dash, not 'nan'
    assert not re.search(r'(src|href)="(?!data:)', text), "no external references"
    images = _decoded_images(text)
    assert len(images) == 1
    with Image.open(io.BytesIO(images[0])) as img:
        img.verify()
        assert img.format == "PNG"


def test_report_renders_in_headless_chromium(tmp_path: Path, chromium_screenshot) -> None:
    shot = chromium_screenshot(_sample_report().write(tmp_path / "r.html"), (1000, 800))
    assert shot.stat().st_size > 5000


def test_package_exports_name_only_what_each_module_exports() -> None:
    """``analysis`` lists its submodules' names (to import them lazily); the list must not drift."""
    import importlib

    from ultrajudge import analysis

    for module, names in analysis._EXPORTS.items():
        assert set(names) <= set(
            importlib.import_module(f"ultrajudge.analysis.{module}").__all__
        ), module
        assert all(getattr(analysis, name) is not None for name in names)
