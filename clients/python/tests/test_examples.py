"""The examples run to completion against the real server."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, url):
    return subprocess.run([sys.executable, str(EXAMPLES / name), "--url", url],
                          capture_output=True, text=True, timeout=60)


def test_pizza_delivery(server_url):
    result = run_example("pizza_delivery.py", server_url)
    assert result.returncode == 0, result.stderr
    assert "order-1001: delivered, session ended" in result.stdout
    assert "driver-sam's shift is over" in result.stdout


def test_shopping_basket(server_url):
    result = run_example("shopping_basket.py", server_url)
    assert result.returncode == 0, result.stderr
    assert "checkout: 2 lines, total 50.99" in result.stdout
    assert "abandoned basket: SessionNotExist" in result.stdout
