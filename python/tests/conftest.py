"""Where the tests find the command line, the shared corpus and the bundled scenarios."""

from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _in_ci() -> bool:
    return os.environ.get("CI", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def parley_bin() -> pathlib.Path:
    """The `parley` binary to compare with (PARLEY_BIN, else target/release/parley)."""
    path = pathlib.Path(os.environ.get("PARLEY_BIN", ROOT / "target/release/parley"))
    if not path.exists():
        pytest.skip(f"no parley binary at {path} (cargo build --release -p parley-cli, or set PARLEY_BIN)")
    return path


@pytest.fixture(scope="session")
def corpus() -> pathlib.Path:
    """The shared ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios)."""
    path = pathlib.Path(os.environ.get("PARLEY_SCENARIOS", ROOT.parent / "shared/scenarios"))
    if not (path / "genius").is_dir():
        message = (
            f"the shared scenario corpus is not at {path} (set PARLEY_SCENARIOS; the ANAC "
            "scenarios come from the public Genius and NegMAS repositories)"
        )
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def bundled() -> list[pathlib.Path]:
    return sorted((ROOT / "scenarios").glob("*.toml"))


def cli_json(parley_bin: pathlib.Path, *args: str) -> dict:
    import json

    out = subprocess.run([str(parley_bin), *args, "--json", "--quiet"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
