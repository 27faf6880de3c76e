"""The built wheel carries the PEP 561 marker, so type checkers use the client's annotations."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_wheel_ships_py_typed(tmp_path):
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
    names = zipfile.ZipFile(wheel).namelist()
    assert "sessiondb/py.typed" in names
    assert "sessiondb/pool.py" in names
