"""A real Chromium (Debian's, /usr/bin/chromium) driven through tests/review/browser_bridge.js
(npm playwright-core): `Browser().goto(url)`, `.click(selector)`, `.screenshot(path)`..."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class BrowserError(AssertionError):
    """The browser could not do what a test asked (the selector, the error)."""


class Browser:
    """One headless Chromium page for a whole test."""

    def __init__(self) -> None:
        if not Path(CHROMIUM).exists():
            raise BrowserError(f"{CHROMIUM} is missing: run `make setup` (it installs Debian's chromium)")
        node = shutil.which("node")
        if node is None or not (ROOT / "node_modules" / "playwright-core").is_dir():
            raise BrowserError("node and node_modules/playwright-core are needed: run `make setup`")
        self._process = subprocess.Popen([node, str(ROOT / "tests" / "review" / "browser_bridge.js")],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                         env={**os.environ, "CHROMIUM": CHROMIUM})

    def do(self, action: str, **args: Any) -> dict[str, Any]:
        assert self._process.stdin and self._process.stdout
        self._process.stdin.write(json.dumps({"do": action, **args}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise BrowserError(f"the browser bridge ended during {action}")
        answer = json.loads(line)
        if not answer.pop("ok"):
            raise BrowserError(f"{action} {args}: {answer.get('error')}")
        return answer

    def goto(self, url: str) -> int | None:
        return self.do("goto", url=url).get("status")

    def click(self, selector: str) -> None:
        self.do("click", selector=selector)

    def submit(self, selector: str) -> None:
        """Click a button that submits a form and wait for the page it leads to."""
        self.do("click_and_wait", selector=selector)

    def wait_for(self, selector: str, timeout_ms: int = 60000) -> None:
        self.do("wait_for", selector=selector, timeout=timeout_ms)

    def text(self, selector: str = "body") -> str:
        return self.do("text", selector=selector)["text"]

    def html(self) -> str:
        return self.do("html")["html"]

    def url(self) -> str:
        return self.do("url")["url"]

    def count(self, selector: str) -> int:
        return int(self.do("count", selector=selector)["count"])

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.do("screenshot", path=str(path))
        return path

    def close(self) -> None:
        try:
            self.do("close")
        except BrowserError:
            pass
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
