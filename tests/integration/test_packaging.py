"""The release artefacts as CI builds them: wheel and sdist, the wheel installed into a fresh virtualenv."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest

from sesmon import __version__

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path
    # A fresh virtualenv with only the wheel (and its runtime dependencies) installed.
    sesmon: Path


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("packaging")
    dist = work / "dist"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    # `python -m build` builds the sdist, then the wheel from the unpacked sdist: a file missing from
    # the sdist breaks the wheel.
    result = _run(sys.executable, "-m", "build", "--outdir", dist, ROOT, cwd=work, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = dist.glob("sesmon-*.whl")
    (sdist,) = dist.glob("sesmon-*.tar.gz")
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = env_dir / "bin" / "pip"
    result = _run(pip, "install", wheel, cwd=work, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return Built(wheel, sdist, env_dir / "bin" / "sesmon")


def test_wheel_metadata_keeps_moto_in_the_demo_extra(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = wheel.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(wheel.read(metadata_name).decode())
    assert metadata["Version"] == __version__
    requires = metadata.get_all("Requires-Dist") or []
    moto = [r for r in requires if r.startswith("moto")]
    assert moto
    assert all('extra == "demo"' in r for r in moto), moto
    assert "demo" in (metadata.get_all("Provides-Extra") or [])
    assert "sesmon/py.typed" in names
    assert not any(n.startswith("tests/") for n in names)


def test_sdist_carries_what_the_build_needs(built: Built) -> None:
    with tarfile.open(built.sdist) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "sesmon/cli.py", "sesmon/sources/sqs_client.py"} <= names


def test_installed_wheel_runs_version_and_check_config(built: Built, tmp_path: Path) -> None:
    # Run outside the checkout, so nothing but the installed wheel can be imported.
    version = _run(built.sesmon, "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"sesmon {__version__}\n"
    config = tmp_path / "sesmon.yaml"
    config.write_text((ROOT / "config.example.yaml").read_text())
    check = _run(built.sesmon, "check-config", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("sesmon.yaml: ok: 1 target(s)")
    config.write_text("targets: []\n")
    bad = _run(built.sesmon, "check-config", "--config", config, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith(f"{config}: targets:")


def test_production_install_has_no_moto_and_the_demo_says_what_to_install(
    built: Built, tmp_path: Path
) -> None:
    python = built.sesmon.parent / "python"
    probe = _run(python, "-c", "import importlib.util as u; print(u.find_spec('moto'))", cwd=tmp_path)
    assert probe.stdout.strip() == "None"
    demo = _run(built.sesmon, "demo", "--duration", "1", cwd=tmp_path)
    assert demo.returncode == 1
    assert "pip install 'sesmon[demo]'" in demo.stderr
    assert "Traceback" not in demo.stderr
