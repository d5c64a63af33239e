"""Starts a real ``onair dev`` for the tests: free loopback ports, a temp
data dir, the dev API key read from the data dir; stopped and removed
after. The banner (which prints the secret) is parsed, never echoed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, TypeVar

T = TypeVar("T")


def onair_bin() -> str:
    """$ONAIR_BIN, else the workspace's debug build."""
    if os.environ.get("ONAIR_BIN"):
        return os.environ["ONAIR_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "onair" / "target")
    return str(Path(target) / "debug" / "onair")


def clean_env() -> dict:
    """The environment without ONAIR_* (an outer config must not leak in)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ONAIR_")}


@dataclass
class OnAirDev:
    """A running ``onair dev``."""

    base_url: str
    api_key: str
    api_secret: str = field(repr=False)  # never shown in a failure report
    data_dir: str
    bin: str
    _proc: subprocess.Popen = field(repr=False)
    _root: str = field(repr=False)

    def token(self, *args: str) -> str:
        """``onair token ARGS --data-dir DIR``."""
        out = subprocess.run([self.bin, "token", *args, "--data-dir", self.data_dir],
                             env=clean_env(), check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def stop(self) -> None:
        """SIGTERM, SIGKILL after 15 s; the temp dir is removed."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._root, ignore_errors=True)


def start() -> OnAirDev:
    """Starts ``onair dev`` and returns once its banner says it is ready."""
    binary = onair_bin()
    if not os.path.exists(binary):
        raise RuntimeError(f"no onair binary at {binary}: build it or set ONAIR_BIN")
    root = tempfile.mkdtemp(prefix="onair-sdk-py-")
    data_dir = os.path.join(root, "data")
    proc = subprocess.Popen(
        [binary, "dev", "--listen", "127.0.0.1:0", "--rtc-udp", "127.0.0.1:0",
         "--rtmp-listen", "127.0.0.1:0", "--data-dir", data_dir, "--web-dir", os.path.join(root, "web"),
         "--allow-private-targets", "--min-free-space", str(64 * 1024 * 1024)],
        env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    log: List[str] = []

    def drain_stderr() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            log.append(line)
            del log[:-60]

    threading.Thread(target=drain_stderr, daemon=True).start()
    found: dict = {}
    ready = threading.Event()

    def read_banner() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            m = re.match(r"\s*HTTP:\s+(http://\S+)", line)
            if m:
                found["url"] = m.group(1)
            if re.match(r"\s*Data dir:", line) and "url" in found:
                ready.set()
        ready.set()  # stdout closed: the process is gone

    threading.Thread(target=read_banner, daemon=True).start()
    if not ready.wait(30) or "url" not in found or proc.poll() is not None:
        proc.kill()
        proc.wait()
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError("onair dev did not start\n--- onair log (tail) ---\n" + "".join(log))
    with open(os.path.join(data_dir, "keys.toml"), "rb") as f:
        keys = tomllib.load(f)
    return OnAirDev(found["url"], keys["key"], keys["secret"], data_dir, binary, proc, root)


def unique_id(prefix: str) -> str:
    """A call id unique to this run."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def eventually(fn: Callable[[], Optional[T]], timeout: float = 10.0, what: str = "condition") -> T:
    """Polls ``fn`` until it returns something truthy (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
