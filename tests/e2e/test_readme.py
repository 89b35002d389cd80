"""The README's run command, as a new user types it, starts a server that writes client-config.json."""
import json
import os
import re
import signal
import subprocess
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def readme_commands():
    text = open(os.path.join(ROOT, "README.md")).read()
    block = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_readme_starts_with_run_and_test_commands():
    cmds = readme_commands()
    assert cmds == ["scripts/run.sh", "scripts/test.sh"]
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    assert "scripts/test.sh" in ci


def test_readme_run_command_starts_the_server(tmp_path):
    run = readme_commands()[0]
    data = tmp_path / "data"
    proc = subprocess.Popen([os.path.join(ROOT, run), "--data-dir", str(data), "--port", "0"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        cfg_path = data / "client-config.json"
        deadline = time.monotonic() + 600  # may build the release binary first
        while not cfg_path.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "client-config.json did not appear"
            time.sleep(0.2)
        time.sleep(0.2)
        cfg = json.loads(cfg_path.read_text())
        assert (cfg_path.stat().st_mode & 0o777) == 0o600
        r = requests.get(f"https://login.{cfg['domain']}:{cfg['port']}/{cfg['tenantId']}/v2.0/.well-known/openid-configuration",
                         verify=cfg["caCertPath"], timeout=30)
        assert r.status_code == 200 and "token_endpoint" in r.json()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
