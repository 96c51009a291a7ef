"""The README's "Try it" runs as written: its curl command, its Python example (the real openai SDK) and its
Node example (the OpenAI Node SDK that ``make node`` installs), extracted from README.md itself and run
against ``make serve`` on the demo config. Only the port is changed, so that the test may run beside
another gateway; the README cannot drift from what works."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.keys.material import DISPLAY_LENGTH
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end >= 0 else None]


def blocks(language: str, title: str = "Try it") -> list[str]:
    return [code for lang, code in FENCE.findall(section(title)) if lang == language]


@dataclass(frozen=True)
class Served:
    port: int
    workdir: Path
    startup: str

    def as_written(self, code: str) -> str:
        """The README's code, pointed at this gateway's port instead of 8000."""
        assert "localhost:8000" in code
        return code.replace("localhost:8000", f"localhost:{self.port}")


def make_serve(workdir: Path, *variables: str) -> tuple[subprocess.Popen[str], str]:
    """``make serve VARIABLES`` from this checkout's Makefile and venv, in ``workdir`` (so that the demo's
    database is the test's own); the venv is taken as installed. Returns the process and its start-up line."""
    venv = ROOT / ".venv"
    command = ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), f"VENV={venv}"]
    command += ["-o", str(venv / ".tollgate-runtime-installed"), "serve", *variables]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))}
    process = subprocess.Popen(command, cwd=workdir, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stderr is not None
    startup = process.stderr.readline()  # printed once the database is ready, before the server starts
    return process, startup


def stop(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_healthy(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "make serve exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("make serve did not become healthy")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("readme")
    port = free_port()
    process, startup = make_serve(workdir, f"PORT={port}")
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        yield Served(port, workdir, startup)
    finally:
        stop(process)


def run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def simulator_answer(served: Served) -> str:
    """What the simulator says to the README's prompt (it answers deterministically)."""
    body = {"model": "sim-chat", "messages": [{"role": "user", "content": "hello"}]}
    answer = httpx.post(f"http://127.0.0.1:{served.port}/v1/chat/completions", json=body, timeout=30)
    content: str = answer.json()["choices"][0]["message"]["content"]
    return content


def test_make_serve_prints_where_it_serves_as_the_readme_says(served: Served) -> None:
    promised = re.search(
        r"`(tollgate: serving http://127\.0\.0\.1:8000 \| config: demo \(built in\)) \| \.\.\.`", README
    )
    assert promised is not None
    assert served.startup.startswith(promised.group(1).replace(":8000", f":{served.port}"))


def test_the_curl_command(served: Served) -> None:
    (block,) = [code for code in blocks("sh") if "curl" in code]
    out = run(["bash", "-euc", served.as_written(block)], served.workdir)
    assert '"object":"chat.completion"' in out and '"customer"' not in out
    assert simulator_answer(served) in out


def test_the_python_example_with_the_openai_sdk(served: Served) -> None:
    (block,) = blocks("python")
    script = served.workdir / "example.py"
    script.write_text(served.as_written(block))
    assert 'api_key="unused"' in block  # the SDK sends it as a bearer: the demo serves it anonymously
    assert run([sys.executable, str(script)], served.workdir) == simulator_answer(served)


def test_the_node_example_with_the_openai_node_sdk(served: Served, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed: apt-get install nodejs npm"
    assert (NODE_MODULES / "openai").is_dir(), "the Node SDK is not installed: run `make node`"
    (block,) = blocks("js")
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)  # `npm install openai`, as the README says
    (tmp_path / "hello.mjs").write_text(served.as_written(block))
    assert 'apiKey: "unused"' in block
    assert run([node, "hello.mjs"], tmp_path) == simulator_answer(served)


def test_make_serve_listens_where_it_is_told(tmp_path: Path) -> None:
    port = free_port()
    process, startup = make_serve(tmp_path, f"PORT={port}", "HOST=0.0.0.0")
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
    finally:
        stop(process)
    assert startup.startswith(f"tollgate: serving http://0.0.0.0:{port} | ")


def test_make_serve_installs_the_runtime_only_and_make_check_the_developers_tools(tmp_path: Path) -> None:
    def recipe(target: str) -> str:
        command = ["make", "-n", "-C", str(ROOT), f"VENV={tmp_path / 'venv'}", target]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout

    serve, check = recipe("serve"), recipe("check")
    assert "--constraint requirements.lock -e .\n" in serve and "[dev]" not in serve
    assert "--constraint requirements.lock -e '.[dev]'" in check


def test_the_readme_revokes_a_key_by_a_prefix_as_long_as_the_one_keys_list_shows() -> None:
    (prefix,) = re.findall(r"tollgate keys revoke ([^\s;]+)", section("Keys, usage and limits"))
    assert prefix.startswith("tg-") and len(prefix) == DISPLAY_LENGTH


def test_the_readme_says_how_to_reach_the_tollgate_command_before_using_it() -> None:
    keys = section("Keys, usage and limits")
    first_use = keys.index("tollgate keys create")
    assert ". .venv/bin/activate" in keys[:first_use] and ".venv/bin/tollgate" in keys[:first_use]
    assert "tollgate " not in README[: README.index("\n## Keys, usage and limits\n")].replace("tollgate: serving", "")
