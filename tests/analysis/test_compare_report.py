"""The comparison report: every plot is embedded and decodes, and the page renders."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from test_compare import HUMAN, PAIRS, scored, verdicts  # same folder (pytest rootdir-less import)

from ultrajudge.analysis.compare import CompareOptions, Source, compare
from ultrajudge.analysis.compare_report import write_report


def _images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


def _check_self_contained(path: Path, n_images: int) -> str:
    from PIL import Image

    text = path.read_text()
    assert not re.search(r'(src|href)="(?!data:)', text), "no external references"
    images = _images(text)
    assert len(images) == n_images
    for data in images:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            assert img.format == "PNG"
    return text


def _pointwise(tmp_path: Path) -> Path:
    close = [[5, 2], [4, 2], [3, 4], [5, 2], [1, 4], [2, 5]]
    floats = [[4.6, 1.2], [3.9, 2.4], [3.1, 2.6], [4.4, 1.9], [1.3, 3.6], [2.2, 4.7]]
    sources = [Source(scored(close), name="close"), Source(scored(floats), name="logprob")]
    c = compare(sources, human_cols=["human_ratings"], options=CompareOptions(bootstrap=50))
    return write_report(c, tmp_path / "pointwise.html")


def test_pointwise_report_has_every_plot_and_table(tmp_path: Path) -> None:
    text = _check_self_contained(_pointwise(tmp_path), n_images=5)
    for heading in ("Leaderboard", "Agreement", "Ratings", "Bias", "Settings"):
        assert f"<h2>{heading}</h2>" in text
    assert "close vs human_ratings" in text and "kappa_quadratic" in text


def test_pairwise_report_and_one_without_humans_or_texts(tmp_path: Path) -> None:
    frame = verdicts(PAIRS)
    c = compare(
        [Source(frame, name="x"), Source(verdicts(PAIRS[::-1]), name="y")],
        human_cols=["label"],
        options=CompareOptions(bootstrap=50, ties="exclude"),
    )
    text = _check_self_contained(write_report(c, tmp_path / "pairwise.html"), n_images=5)
    assert "<h2>Verdicts</h2>" in text and "pairs with a tie left out" in text
    bare = frame.drop(columns=["response_a", "response_b", "label"])
    c = compare(
        [Source(bare, name="x"), Source(bare.copy(), name="y")], options=CompareOptions(bootstrap=0)
    )
    text = _check_self_contained(write_report(c, tmp_path / "bare.html"), n_images=3)
    assert "no length analysis" in text


def test_many_human_columns_add_a_ceiling_section(tmp_path: Path) -> None:
    frame = scored(HUMAN).assign(second=[[r[0], min(5, r[1] + 1)] for r in HUMAN])
    c = compare(
        [Source(frame, name="j")],
        human_cols=["human_ratings", "second"],
        options=CompareOptions(bootstrap=0),
    )
    text = _check_self_contained(write_report(c, tmp_path / "r.html"), n_images=5)
    assert "<h2>Human ceiling</h2>" in text and "Human ceiling (kappa_quadratic" in text


def test_report_renders_in_headless_chromium(tmp_path: Path, chromium_screenshot) -> None:
    shot = chromium_screenshot(_pointwise(tmp_path), (1100, 3000))
    from PIL import Image

    with Image.open(shot) as img:
        assert img.size == (1100, 3000)
        colours = img.convert("L").getextrema()
    assert colours[0] < 100 < colours[1]  # something was drawn, not a blank page


def test_heatmap_colour_scale_fits_the_statistic() -> None:
    import pandas as pd

    from ultrajudge.analysis.compare_report import agreement_heatmap, colour_scale

    assert colour_scale("exact") == ("YlGn", 0.0, 1.0)
    assert colour_scale("agreement_ties_half") == ("YlGn", 0.0, 1.0)
    assert colour_scale("kappa_quadratic") == ("RdYlGn", -1.0, 1.0)
    assert colour_scale("spearman") == ("RdYlGn", -1.0, 1.0)
    m = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=["a", "b"], columns=["a", "b"])
    n = pd.DataFrame([[4, 4], [4, 4]], index=["a", "b"], columns=["a", "b"])
    for stat, limits in (("exact", (0.0, 1.0)), ("kappa", (-1.0, 1.0))):
        image = agreement_heatmap(m, n, stat=stat).axes[0].images[0]
        assert image.get_clim() == limits


def test_report_states_the_resampling_unit(tmp_path: Path) -> None:
    text = _pointwise(tmp_path).read_text()
    assert "95% CI, bootstrap resampling rows" in text
