"""The README's Django project and FastAPI app, built from the README's own code blocks, work.

A block whose first line is a comment naming a file (``# app.py``, ``<!-- templates/x.html -->``)
is that file; ``: add at the end`` after the name appends it to the file instead.
"""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sessiondb import SessionDBError

README = Path(__file__).resolve().parents[1] / "README.md"
README_URL = "ws://127.0.0.1:1987"

_BLOCK = re.compile(r"```\w+\n(?:# |<!-- )(?P<path>[\w./]+)(?P<append>: add at the end)?(?: -->)?\n"
                    r"(?P<body>.*?)```", re.S)


def readme_files(section: str):
    """(path, text, append) for each file block of the README section with this title."""
    text = README.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return [(m["path"], m["body"], bool(m["append"]))
            for m in _BLOCK.finditer(text[start:end if end > 0 else None])]


def write_files(root: Path, section: str, server_url: str) -> None:
    for path, body, append in readme_files(section):
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        body = body.replace(README_URL, server_url)
        with target.open("a" if append else "w") as f:
            f.write(("\n" if append else "") + body)


# Runs in the README's Django project, as a user would check the login by hand.
DJANGO_SCRIPT = r"""
import json
from django.contrib.auth.models import User
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
User.objects.create_user("ann", password="wonderland")
browser = Client()
seen = {"anonymous": browser.get("/").content.decode()}
login = browser.post("/accounts/login/", {"username": "ann", "password": "wonderland"})
seen["login"] = [login.status_code, login.url]
seen["key"] = browser.cookies["sessionid"].value
seen["logged_in"] = browser.get("/").content.decode()
seen["logout"] = browser.post("/accounts/logout/").status_code
seen["logged_out"] = browser.get("/").content.decode()
print(json.dumps(seen))
"""


def test_django_project(db, server_url, tmp_path):
    def run(*args):
        result = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    run("-m", "django", "startproject", "mysite", ".")
    assert readme_files("Django")[0][2], "the settings block appends"
    write_files(tmp_path, "Django", server_url)
    run("manage.py", "migrate", "-v", "0")
    # Django 5.2's shell prints what it imported before the script's own line.
    seen = json.loads(run("manage.py", "shell", "-c", DJANGO_SCRIPT).splitlines()[-1])
    assert seen["anonymous"] == "Hello, stranger"
    assert seen["login"] == [302, "/"]
    assert seen["logged_in"] == "Hello, ann"
    assert seen["logout"] == 302
    assert seen["logged_out"] == "Hello, stranger"
    # The login's session lived in sessiondb, and the logout ended it.
    with pytest.raises(SessionDBError) as ended:
        db.sh_open("django:" + seen["key"])
    assert ended.value.status == 102


def test_fastapi_app(db, server_url, tmp_path):
    write_files(tmp_path, "Starlette and FastAPI", server_url)
    spec = importlib.util.spec_from_file_location("readme_app", tmp_path / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with TestClient(module.app) as browser:
        assert browser.post("/login", json={"user": "ann", "password": "wrong"}).status_code == 200
        assert browser.get("/me").json() == {"user": None}
        browser.post("/login", json={"user": "ann", "password": "wonderland"})
        assert browser.get("/me").json() == {"user": "ann"}
        assert db.sh_info_all()["totalSessions"] == 1
        browser.post("/logout")
        assert browser.get("/me").json() == {"user": None}
        assert db.sh_info_all()["totalSessions"] == 0
