"""What users expect of a command line and a library: ``--version``, ``--verbose``/``--quiet``
over the ``"ultrajudge"`` logger, bare boolean flags in ``--help``, backends from other
distributions through entry points, and no allocator tuning unless the CLI runs."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner  # invokes the click command itself (cli.command())

import ultrajudge
from ultrajudge import cli
from ultrajudge.judge.backends import base, build_backend, cpu

runner = CliRunner()


def _all_commands(cmd, path=()):
    yield path
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _all_commands(sub, (*path, name))


def test_version() -> None:
    result = runner.invoke(cli.command(), ["--version"])
    assert result.exit_code == 0 and result.output == f"ultrajudge {ultrajudge.__version__}\n"


def test_no_boolean_flag_shows_a_value_type_in_help() -> None:
    root = cli.command()
    paths = list(_all_commands(root))
    assert ("generate", "pool") in paths and len(paths) > 8
    for path in paths:
        text = runner.invoke(root, [*path, "--help"], terminal_width=200).output
        assert "<bool>" not in text, path
    score = runner.invoke(root, ["score", "--help"], terminal_width=200).output
    assert (
        "--dry-run" in score and "--no-progress" in score and "<int>" in score
    )  # values keep theirs


@pytest.mark.parametrize(
    ("flags", "level"), [([], logging.WARNING), (["-v"], logging.INFO), (["-q"], logging.ERROR)]
)
def test_verbose_and_quiet_set_the_ultrajudge_logger(flags, level) -> None:
    logger = logging.getLogger("ultrajudge")
    before, handlers = logger.level, list(logger.handlers)
    try:
        assert runner.invoke(cli.command(), [*flags, "score", "--help"]).exit_code == 0
        assert logger.level == level
        assert sum(getattr(h, "_ultrajudge_cli", False) for h in logger.handlers) == 1
    finally:
        logger.setLevel(before)
        logger.handlers[:] = handlers


def test_library_messages_go_to_the_ultrajudge_logger(caplog) -> None:
    from ultrajudge.judge.backends import openai, transformers

    assert openai.logger.name.startswith("ultrajudge.") and transformers.logger.parent
    for module in ("openai", "transformers"):
        source = Path(base.__file__).with_name(f"{module}.py").read_text()
        assert "warnings.warn" not in source


def test_a_backend_from_another_distribution_is_found_by_its_entry_point(
    tmp_path: Path, monkeypatch
) -> None:
    dist = tmp_path / "uj_fake_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: uj-fake-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[ultrajudge.backends]\nfake = uj_fake_backend:build\n")
    (tmp_path / "uj_fake_backend.py").write_text(
        "from ultrajudge.judge.backends.scripted import ScriptedBackend\n"
        "def build(target, **options):\n"
        "    return ScriptedBackend(id=f'fake:{target}:{options.get(\"flavour\")}')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(base._REGISTRY, "fake", raising=False)
    try:
        assert "fake" in base.available_backends()
        backend = build_backend("fake:model-x", flavour="mint")
        assert backend.id == "fake:model-x:mint"
        assert "openai" in base.available_backends()  # built-ins stay
    finally:
        base._REGISTRY.pop("fake", None)
        sys.modules.pop("uj_fake_backend", None)


def test_building_a_backend_leaves_malloc_alone_and_the_cli_tunes_it(
    tiny_model_dir: Path, monkeypatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(cpu, "keep_freed_memory", lambda: calls.append("tuned") or True)
    build_backend(str(tiny_model_dir), dtype="float32", device="cpu")
    assert calls == []
    monkeypatch.setattr(sys, "argv", ["ultrajudge", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 0 and calls == ["tuned"]
