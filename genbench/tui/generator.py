"""The generate view's generator: a ``genbench sample RUN --serve DIR`` process.

The workbench imports no torch (its first paint must be fast) and never the trained
run library, so the generator runs in a child process that answers one JSON line
per JSON request line (genbench/cli/sample_serve.py has the protocol). The child
belongs to the view: its stdin is a pipe from here, so it ends when the view kills
it or when the app dies and the pipe closes (and then removes its grids and their
private folder itself); its stderr goes to an unnamed temporary file, never to the
terminal the app draws on.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from genbench.errors import one_line
from genbench.runfolder.untrusted import clean_text

ANSWER_MAX = 64 * 1024  # bytes of one answer line
LOG_TAIL = 16 * 1024
STOP_WAIT_S = 3.0  # after SIGTERM, before SIGKILL


class GeneratorProcess:
    """One generator process with its private folder of grids (removed by close)."""

    def __init__(self, run_dir: Path, device: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.folder = Path(tempfile.mkdtemp(prefix="genbench-generate-"))
        self.log = tempfile.TemporaryFile()  # gone with the last process holding it
        argv = [sys.executable, "-m", "genbench", "sample", str(self.run_dir.resolve())]
        argv += ["--serve", str(self.folder)]
        if device:
            argv += ["--device", device]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            # Keys the app reads (Ctrl+C) and signals to the terminal's group are the
            # app's business; the child ends with its stdin.
            start_new_session=True,
            close_fds=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, request: dict[str, Any]) -> bool:
        """Write one request line; False when the process can no longer take it."""
        stdin = self.proc.stdin
        if stdin is None or not self.alive():
            return False
        try:
            stdin.write(json.dumps(request).encode() + b"\n")
            stdin.flush()
        except (BrokenPipeError, OSError, ValueError):  # died, or closed by close()
            return False
        return True

    def read(self) -> dict[str, Any] | None:
        """The next answer (blocking: call it from a thread); None once the process
        has closed its stdout. A line that is not a JSON object is an error answer."""
        stdout = self.proc.stdout
        if stdout is None:
            return None
        try:
            line = stdout.readline(ANSWER_MAX + 1)
        except (OSError, ValueError):  # closed by close()
            return None
        if not line:
            return None
        try:
            answer = json.loads(line)
        except ValueError as exc:
            return {"error": "the generator wrote a line that is not JSON: " + one_line(exc)}
        if not isinstance(answer, dict):
            return {"error": "the generator wrote JSON that is not an object"}
        return answer

    def wait_ended(self, timeout: float = 5.0) -> None:
        """Wait (from a thread) for a process whose stdout has ended to be reaped: the
        pipe closes a moment before the process can be, when ``alive`` still says
        True, and a dead generator would then be taken for one ended on purpose."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)

    def grid(self, answer: dict[str, Any]) -> Path | None:
        """The answer's PNG when it is a file of this process's folder."""
        png = answer.get("png")
        if not isinstance(png, str):
            return None
        path = Path(png)
        return path if path.parent == self.folder and path.name.endswith(".png") else None

    def why_ended(self) -> str:
        """One line on how the process ended: its last error line, or its exit code."""
        code = self.proc.poll()
        last = ""
        try:
            self.log.seek(max(0, os.fstat(self.log.fileno()).st_size - LOG_TAIL))
            text = self.log.read().decode(errors="replace")
            lines = [ln for ln in text.splitlines() if ln.strip()]
            last = lines[-1] if lines else ""
        except (OSError, ValueError):  # closed by close()
            pass
        said = f": {clean_text(last, 300)}" if last else ""
        return f"the generator stopped (exit code {code}){said}"

    def close(self) -> None:
        """End the process (SIGTERM, then SIGKILL) and remove the folder."""
        proc = self.proc
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the generator's cue to end on its own
        except OSError:
            pass
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Only now: the reader thread's readline has seen the end of the pipe (closing
        # a buffered reader another thread is reading waits for that read).
        if proc.stdout is not None:
            proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)
