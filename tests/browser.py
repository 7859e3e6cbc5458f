"""Open an HTML file in headless Chromium: take a screenshot and collect the errors the page produced.

Chromium's own log (`--enable-logging=stderr`) prints every console message as `INFO:CONSOLE`, whatever its
level, and says nothing about resources that failed to load, so this talks the Chrome DevTools Protocol
instead, over `--remote-debugging-pipe` (NUL-separated JSON on file descriptors 3 and 4): standard library only.
Every request that leaves the machine is reported as an error and sent to a dead proxy, so it fails offline
and online alike.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--remote-debugging-pipe",
]
# Runs in a fresh interpreter: puts the pipe ends on the descriptors Chromium expects (3: commands in, 4: answers
# out), avoiding clashes with whatever already sits on 3 and 4, then becomes Chromium.
_SHIM = """import fcntl, os, sys
given = [int(fd) for fd in sys.argv[1:3]]
moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5) for fd in given]
for fd in given:
    os.close(fd)
os.dup2(moved[0], 3)
os.dup2(moved[1], 4)
os.execv(sys.argv[3], sys.argv[3:])
"""


class BrowserError(RuntimeError):
    """Chromium is missing, crashed, or did not answer in time."""


def chromium_path() -> str | None:
    """The Chromium (or Chrome) executable on PATH, or None. `CHROMIUM` in the environment overrides the search."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def render(html_path: Path, screenshot: Path, width: int = 1280, height: int = 2400, timeout: float = 60) -> list[str]:
    """Load `html_path`, write a `width` x `height` PNG of the top of the page to `screenshot`, and return the
    problems the page produced: console messages at level error (console.error, failed console.assert),
    uncaught exceptions and rejected promises, other browser errors (log level error), resources that failed
    to load, any request that would need the network, and content wider than the window. An empty list means a
    clean page."""
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(html_path)
    exe = chromium_path()
    if exe is None:
        raise BrowserError("Chromium not found on PATH (Debian: apt-get install chromium; or set CHROMIUM=...)")
    with tempfile.TemporaryDirectory(prefix="irsynth-chromium-") as profile, _Browser(exe, profile, timeout) as browser:
        errors = browser.load(html_path.as_uri(), width, height)
        screenshot = Path(screenshot)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(browser.screenshot())
        return errors


class _Browser:
    def __init__(self, exe: str, profile: str, timeout: float):
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.log = open(Path(profile) / "chromium.log", "w+b")  # noqa: SIM115 (open while the browser runs)
        to_browser, self.out = os.pipe()
        self.inp, from_browser = os.pipe()
        args = [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"]
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _SHIM, str(to_browser), str(from_browser), *args],
                pass_fds=(to_browser, from_browser),
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            os.close(to_browser)
            os.close(from_browser)
        fcntl.fcntl(self.inp, fcntl.F_SETFL, os.O_NONBLOCK)
        self.buffer = b""
        self.next_id = 0
        self.session: str | None = None
        self.events: list[dict] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", session=False, wait=False)
                    self.proc.wait(timeout=5)
                except (BrowserError, OSError, subprocess.TimeoutExpired):
                    pass
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            os.close(self.inp)
            os.close(self.out)
            self.log.close()

    def _fail(self, what: str):
        self.log.flush()
        self.log.seek(0)
        tail = self.log.read().decode(errors="replace").strip().splitlines()[-15:]
        raise BrowserError(f"{what}; Chromium output (last lines):\n" + "\n".join(tail))

    def _read(self, until: float) -> dict | None:
        """The next message from the browser, or None once `until` has passed."""
        while b"\0" not in self.buffer:
            now = time.monotonic()
            if now >= self.deadline:
                self._fail(f"Chromium did not finish within {self.timeout:g} s")
            if now >= until:
                return None
            ready, _, _ = select.select([self.inp], [], [], min(until, self.deadline) - now)
            if ready:
                chunk = os.read(self.inp, 1 << 20)
                if not chunk:
                    self._fail(f"Chromium closed the DevTools pipe (exit code {self.proc.poll()})")
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: bool = True, wait: bool = True, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self.out, data) :]
        if not wait:
            return {}
        while True:
            reply = self._read(self.deadline)
            if reply.get("id") != self.next_id:
                self.events.append(reply)
            elif "error" in reply:
                raise BrowserError(f"{method}: {reply['error'].get('message')}")
            else:
                return reply.get("result", {})

    def _wait_for(self, done, until: float) -> None:
        """Collect events until `done(event)` is true for one of them or `until` passes."""
        if any(done(e) for e in self.events):
            return
        while (event := self._read(until)) is not None:
            self.events.append(event)
            if done(event):
                return

    def load(self, url: str, width: int, height: int) -> list[str]:
        pages = [t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page"]
        target = pages[0]["targetId"] if pages else self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Page.setLifecycleEventsEnabled", enabled=True)
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.events.clear()
        navigation = self.send("Page.navigate", url=url)
        if navigation.get("errorText"):
            raise BrowserError(f"cannot open {url}: {navigation['errorText']}")
        self._wait_for(lambda e: e.get("method") == "Page.loadEventFired", self.deadline)
        # Then until the network has been quiet for 0.5 s (Chromium's networkIdle), so late errors are caught too.
        self._wait_for(
            lambda e: e.get("method") == "Page.lifecycleEvent" and e["params"]["name"] == "networkIdle",
            min(self.deadline, time.monotonic() + 10),
        )
        page_width = self.send(
            "Runtime.evaluate", expression="document.documentElement.scrollWidth", returnByValue=True
        )["result"]["value"]
        overflow = (
            [f"page is {page_width} px wide in a {width} px window (content overflows sideways)"]
            if page_width > width
            else []
        )
        return _problems(self.events) + overflow

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])


def _where(url: str | None, line: int | None) -> str:
    return f" ({url}:{line + 1})" if url and line is not None else (f" ({url})" if url else "")


def _value(arg: dict) -> str:
    if "value" in arg:
        return arg["value"] if isinstance(arg["value"], str) else json.dumps(arg["value"])
    return str(arg.get("unserializableValue") or arg.get("description") or arg.get("type"))


def _problems(events: list[dict]) -> list[str]:
    problems, urls = [], {}
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            frames = params.get("stackTrace", {}).get("callFrames") or [{}]
            text = " ".join(_value(a) for a in params.get("args", []))
            problems.append(
                f"console.{params['type']}: {text}" + _where(frames[0].get("url"), frames[0].get("lineNumber"))
            )
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            description = details.get("exception", {}).get("description") or ""
            text = description.splitlines()[0] if description else details.get("text", "")
            if description and not text.startswith("Uncaught"):
                text = f"{details.get('text', 'Uncaught')} {text}"
            problems.append(f"exception: {text}" + _where(details.get("url"), details.get("lineNumber")))
        elif (
            method == "Log.entryAdded"
            and params["entry"]["level"] == "error"
            and params["entry"]["source"] != "network"
        ):
            entry = params["entry"]  # network failures come with more detail from Network.loadingFailed below
            problems.append(
                f"{entry['source']} error: {entry['text']}" + _where(entry.get("url"), entry.get("lineNumber"))
            )
        elif method == "Network.requestWillBeSent":
            url = urls[params["requestId"]] = params["request"]["url"]
            if not url.startswith(LOCAL_SCHEMES):
                problems.append(f"network request (the page must work offline): {url}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            problems.append(f"failed to load {urls.get(params['requestId'], '?')}: {params['errorText']}")
    return problems
