"""The built wheel carries the PEP 561 marker, the framework backends and the metadata PyPI shows."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def build_wheel(tmp_path) -> Path:
    # Built from a clean copy, as from a fresh clone: a local editable install leaves egg-info
    # whose file list would smuggle py.typed in without the package-data setting.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "src" / "sessiondb", source / "src" / "sessiondb",
                    ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(wheels), str(source)],
        check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("sessiondb-*.whl")
    return wheel


def test_wheel_ships_py_typed_and_the_backends(tmp_path):
    wheel = zipfile.ZipFile(build_wheel(tmp_path))
    names = wheel.namelist()
    for module in ("py.typed", "pool.py", "django.py", "starlette.py"):
        assert f"sessiondb/{module}" in names
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    lines = wheel.read(metadata).decode().splitlines()
    for classifier in ("Framework :: Django", "Framework :: FastAPI", "Typing :: Typed",
                       "License :: OSI Approved :: MIT License"):
        assert f"Classifier: {classifier}" in lines
    assert {"Provides-Extra: django", "Provides-Extra: starlette"} <= set(lines)
    # The frameworks are extras: installing the client alone pulls in websockets only.
    required = [line for line in lines if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert required == ["Requires-Dist: websockets<18,>=13"]
    assert 'Requires-Dist: django>=4.2; extra == "django"' in lines
