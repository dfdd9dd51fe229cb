"""A small stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, for the push tests.

It answers the calls ``huggingface_hub.HfApi`` makes to create a dataset repo and commit
files to it (``POST /api/repos/create``, ``POST /api/validate-yaml``, ``POST
/api/datasets/<id>/preupload/<rev>``, ``POST /api/datasets/<id>/commit/<rev>``, ``GET
/api/datasets/<id>/tree/<rev>``, ``PUT /api/datasets/<id>/settings``) with the standard
library only. Every upload is answered "regular" (the bytes travel inside the commit, as
the Hub does for small text files), so the committed files can be read back exactly;
the real Hub would send Parquet through LFS/Xet, which is ``huggingface_hub``'s own
business. Each request is logged with its JSON body; ``files`` holds every repo's files.

    with HubTestServer() as hub:
        ... HF_ENDPOINT=hub.url ...
        hub.repos["me/data"]["private"], hub.files["me/data"]["README.md"]
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_REPO = r"(?P<repo>[^/]+/[^/]+)"
_PREUPLOAD = re.compile(rf"/api/datasets/{_REPO}/preupload/[^/?]+")
_COMMIT = re.compile(rf"/api/datasets/{_REPO}/commit/[^/?]+")
_TREE = re.compile(rf"/api/datasets/{_REPO}/tree/[^/?]+")
_SETTINGS = re.compile(rf"/api/datasets/{_REPO}/settings")


class HubTestServer:
    """The fake Hub; ``refuse`` (a status code) answers every repo creation with it."""

    def __init__(self, *, refuse: int | None = None) -> None:
        self.refuse = refuse
        self.log: list[tuple[str, str, Any]] = []
        self.repos: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        self.commits: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HubTestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                hub._answer(self, "GET", None)

            def do_POST(self) -> None:
                hub._answer(self, "POST", self._body())

            def do_PUT(self) -> None:
                hub._answer(self, "PUT", self._body())

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        return Handler

    def _answer(self, request: BaseHTTPRequestHandler, method: str, body: bytes | None) -> None:
        path = request.path.split("?")[0]
        is_ndjson = "ndjson" in (request.headers.get("Content-Type") or "")
        data = _ndjson(body) if is_ndjson and body else (json.loads(body) if body else None)
        self.log.append((method, path, data))
        status, answer = self._route(method, path, data)
        payload = json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _route(self, method: str, path: str, data: Any) -> tuple[int, Any]:
        if method == "POST" and path == "/api/repos/create":
            return self._create(data)
        if method == "POST" and path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}
        if method == "POST" and (m := _PREUPLOAD.fullmatch(path)):
            files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in data["files"]]  # fmt: skip
            return 200, {"files": files, "commitOid": "0" * 40}
        if method == "POST" and (m := _COMMIT.fullmatch(path)):
            return self._commit(m["repo"], data)
        if method == "GET" and (m := _TREE.fullmatch(path)):
            names = sorted(self.files.get(m["repo"], {}))
            return 200, [{"type": "file", "path": p, "oid": "0" * 40, "size": 1} for p in names]
        if method == "PUT" and (m := _SETTINGS.fullmatch(path)):
            self.repos[m["repo"]].update(data)
            return 200, {}
        return 404, {"error": f"the test Hub does not know {method} {path}"}

    def _create(self, data: dict[str, Any]) -> tuple[int, Any]:
        if self.refuse is not None:
            return self.refuse, {"error": "You don't have the rights to create a dataset here"}
        repo = f"{data['organization']}/{data['name']}" if data.get("organization") else data["name"]  # fmt: skip
        if repo in self.repos:
            return 409, {"error": "You already created this dataset repo", "url": self._url(repo)}
        self.repos[repo] = {"visibility": data.get("visibility"), "type": data.get("type")}
        self.files[repo] = {}
        return 200, {"url": self._url(repo), "name": repo}

    def _commit(self, repo: str, items: list[dict[str, Any]]) -> tuple[int, Any]:
        files = self.files.setdefault(repo, {})
        for item in items:
            value = item["value"]
            if item["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "deletedFile":
                files.pop(value["path"], None)
        self.commits.append({"repo": repo, "items": items})
        oid = f"{len(self.commits):040x}"
        return 200, {"commitUrl": f"{self._url(repo)}/commit/{oid}", "commitOid": oid}

    def _url(self, repo: str) -> str:
        return f"{self.url}/datasets/{repo}"


def _ndjson(body: bytes) -> list[Any]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]
