"""Shared fixtures for tailwatch's end-to-end tests (run by `make test`)."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "tailscale"


@pytest.fixture(scope="session")
def tailwatch_bin() -> pathlib.Path:
    """The tailwatch binary `make test` built (override with TAILWATCH_BIN)."""
    path = pathlib.Path(os.environ.get("TAILWATCH_BIN", ROOT / "target" / "debug" / "tailwatch"))
    assert path.exists(), f"{path} is missing: run `cargo build` first (make test does)"
    return path


@pytest.fixture()
def replay(tailwatch_bin, tmp_path):
    """Runs `tailwatch replay` into a fresh data dir and returns that dir."""

    def run(*names: str) -> pathlib.Path:
        data = tmp_path / "data"
        args = [str(tailwatch_bin), "replay", "--data-dir", str(data), *[str(FIXTURES / n) for n in names]]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return data

    return run
