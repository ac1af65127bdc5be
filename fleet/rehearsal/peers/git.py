"""A Git server (``git http-backend`` behind Python's HTTP server) and the repository tests commit to."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# --- Git ---------------------------------------------------------------------------------------


class _GitHandler(BaseHTTPRequestHandler):
    """git's smart HTTP protocol: each request handed to ``git http-backend`` as CGI."""

    protocol_version = "HTTP/1.1"
    root: Path

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _backend(self) -> None:
        path, _, query = self.path.partition("?")
        body = self._body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        backend = ["git", "http-backend"]
        out = subprocess.run(backend, check=False, input=body, env=env, capture_output=True, timeout=60).stdout
        sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
        head, _, payload = out.partition(sep)
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitServer:
    """Serves the bare repositories under ``root`` at ``http://127.0.0.1:<port>/<name>.git``."""

    def __init__(self, root: Path) -> None:
        handler = type("Handler", (_GitHandler,), {"root": root})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fleet-git-server", daemon=True)

    def start(self) -> GitServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class GitOpsRepo:
    """A bare repository with a work tree beside it; tests change files and commit, as a tenant would."""

    def __init__(self, root: Path, name: str = "fleet") -> None:
        self.bare = root / "git" / f"{name}.git"
        self.tree = root / f"{name}-tree"
        self.name = name
        self.tree.mkdir(parents=True)
        self._git("init", "--bare", "-q", "-b", "main", str(self.bare), git_dir=False)
        self._lock = threading.Lock()

    def _git(self, *args: str, git_dir: bool = True) -> str:
        prefix = ["git", f"--git-dir={self.bare}", f"--work-tree={self.tree}"] if git_dir else ["git"]
        env = dict(
            os.environ, GIT_AUTHOR_NAME="fleet", GIT_AUTHOR_EMAIL="fleet@example.invalid",
            GIT_COMMITTER_NAME="fleet", GIT_COMMITTER_EMAIL="fleet@example.invalid", GIT_CONFIG_NOSYSTEM="1",
        )
        done = subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, env=env)
        return done.stdout.strip()

    def write(self, files: Mapping[str, str | None]) -> None:
        """Write (or, for None, remove) files in the work tree."""
        for rel, text in files.items():
            path = self.tree / rel
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)

    def commit(self, message: str, files: Mapping[str, str | None] | None = None) -> str:
        """Write ``files``, commit everything on main; the new revision as Flux names it (main@sha1:...)."""
        with self._lock:
            self.write(files or {})
            self._git("add", "-A")
            self._git("commit", "-q", "--allow-empty", "-m", message)
            return self.revision()

    def revision(self) -> str:
        return f"main@sha1:{self._git('rev-parse', 'HEAD')}"

    def read(self, rel: str) -> str:
        return (self.tree / rel).read_text()
