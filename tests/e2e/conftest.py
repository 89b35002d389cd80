"""End-to-end test harness for the cmklogs server.

Every test starts a real `cmklogs serve` process on a fresh data directory (in pytest's tmp_path),
waits for DIR/client-config.json, talks to it over HTTPS with the server's own CA, and stops it
with SIGTERM at the end, asserting a graceful exit (code 0).

Environment:
  CMKLOGS_BIN   path of the binary (default /work/main/build/cmklogs)

Helpers (importable from test modules with `from conftest import ...`):
  cli(server, *args)                      run the admin CLI against a running server
  admin_token(server, scope=None)         token of the admin (Owner) principal
  token_for(server, client_id, secret)    token of any principal (raw OAuth2 request)
  http(server, method, host, path, ...)   one HTTPS request with `requests`, CA-verified
  sdk_credential(server, ...)             azure.identity ClientSecretCredential for this server
  new_principal(server, name)             `cmklogs principal create`, parsed
  parse_rfc3339(text)                     RFC 3339 with up to 7 fractional digits -> datetime
"""

import datetime
import json
import os
import re
import resource
import signal
import socket
import ssl
import subprocess
import time

import pytest
import requests

CMKLOGS_BIN = os.environ.get("CMKLOGS_BIN", "/work/main/build/cmklogs")

CONFIG_KEYS = (
    "tenantId", "subscriptionId", "resourceGroup", "clientId", "clientSecret", "caCertPath",
    "port", "domain", "authorityHost", "adfsAuthority", "armEndpoint", "armScope", "vaultSuffix",
    "queryEndpoint", "queryScope", "ingestionSuffix", "ingestionScope",
)

STARTUP_TIMEOUT_S = 20.0
SHUTDOWN_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 30.0

ARM_API = "2021-04-01"
SUBSCRIPTIONS_API = "2019-11-01"
AUTHZ_API = "2022-04-01"

READER_ROLE_ID = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
OWNER_ROLE_ID = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"


def _raise_nofile_limit():
    """Raise RLIMIT_NOFILE now, at import, so the servers we spawn inherit it too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 16384
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


_raise_nofile_limit()


# ----------------------------------------------------------------------------------------------
# The server process


class ServerError(AssertionError):
    pass


class Server:
    """One `cmklogs serve` process bound to one data directory.

    Attributes of client-config.json are available as attributes (server.tenantId, server.port, ...)
    and as server.cfg[...].
    """

    def __init__(self, data_dir, extra_args=(), binary=None, address_space_bytes=None):
        self.data_dir = str(data_dir)
        self.extra_args = list(extra_args)
        self.binary = binary or CMKLOGS_BIN
        # RLIMIT_AS of the process (as `prlimit --as` sets it); None: inherited.
        self.address_space_bytes = address_space_bytes
        self.proc = None
        self.cfg = None
        self.generation = 0
        self.stderr_path = None
        self.stdout_path = None
        os.makedirs(self.data_dir, exist_ok=True)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def config_path(self):
        return os.path.join(self.data_dir, "client-config.json")

    def start(self, port=0, extra_args=None):
        if not os.path.exists(self.binary):
            pytest.fail(f"cmklogs binary not found at {self.binary} (set CMKLOGS_BIN or build it)")
        assert self.proc is None, "server already running"
        if extra_args is not None:
            self.extra_args = list(extra_args)
        self.generation += 1
        log_dir = os.path.join(os.path.dirname(self.data_dir.rstrip("/")) or ".", "logs")
        os.makedirs(log_dir, exist_ok=True)
        base = os.path.basename(self.data_dir.rstrip("/"))
        self.stderr_path = os.path.join(log_dir, f"{base}.{self.generation}.stderr")
        self.stdout_path = os.path.join(log_dir, f"{base}.{self.generation}.stdout")
        try:
            before = os.stat(self.config_path)
            before = (before.st_ino, before.st_mtime_ns, before.st_size)
        except FileNotFoundError:
            before = None
        args = [self.binary, "serve", "--data-dir", self.data_dir, "--port", str(port)] + self.extra_args
        limit = self.address_space_bytes

        def preexec():
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         close_fds=True, preexec_fn=preexec if limit else None)
        self.cfg = self._wait_for_config(before)
        return self

    def _wait_for_config(self, before):
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last_error = "client-config.json never appeared"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise ServerError(f"cmklogs serve exited with code {rc} before it was ready.\n"
                                  f"--- stderr ---\n{self.stderr_tail()}")
            try:
                st = os.stat(self.config_path)
                if before is None or (st.st_ino, st.st_mtime_ns, st.st_size) != before:
                    with open(self.config_path, "r", encoding="utf-8") as f:
                        cfg = json.load(f)
                    if isinstance(cfg, dict) and cfg.get("port"):
                        return cfg
                    last_error = f"client-config.json incomplete: {cfg!r}"
            except FileNotFoundError:
                pass
            except (ValueError, OSError) as e:  # partially written; retry
                last_error = f"client-config.json unreadable: {e}"
            time.sleep(0.05)
        self.kill()
        raise ServerError(f"server not ready after {STARTUP_TIMEOUT_S} s: {last_error}\n"
                          f"--- stderr ---\n{self.stderr_tail()}")

    def stop(self, timeout=SHUTDOWN_TIMEOUT_S):
        """SIGTERM; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    def stop_and_check(self, timeout=SHUTDOWN_TIMEOUT_S):
        was_running = self.proc is not None and self.proc.poll() is None
        rc = self.stop(timeout)
        if rc is None:
            raise ServerError(f"server did not exit within {timeout} s of SIGTERM (killed)\n"
                              f"--- stderr ---\n{self.stderr_tail()}")
        if rc != 0:
            what = "after SIGTERM" if was_running else "on its own, during the test"
            raise ServerError(f"server exited with code {rc} {what} (expected 0 after SIGTERM)\n"
                              f"--- stderr ---\n{self.stderr_tail()}")

    def kill(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_tail(self, lines=60):
        if not self.stderr_path or not os.path.exists(self.stderr_path):
            return "(no stderr)"
        with open(self.stderr_path, "rb") as f:
            data = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(data[-lines:])

    # -- config access -------------------------------------------------------------------------

    def __getattr__(self, name):
        cfg = self.__dict__.get("cfg")
        if cfg is not None and name in cfg:
            return cfg[name]
        raise AttributeError(name)

    def host(self, prefix):
        """'management' -> 'management.localhost'; 'localhost' and IP literals stay as they are."""
        domain = self.cfg.get("domain", "localhost")
        if prefix in ("localhost", domain) or re.fullmatch(r"[0-9.]+", prefix) or ":" in prefix:
            return prefix
        if prefix.endswith("." + domain):
            return prefix
        return f"{prefix}.{domain}"

    def base_url(self, prefix):
        h = self.host(prefix)
        if ":" in h:  # IPv6 literal
            h = f"[{h}]"
        return f"https://{h}:{self.cfg['port']}"

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.cfg["caCertPath"])


# ----------------------------------------------------------------------------------------------
# Helpers


def http(server, method, host_prefix_or_url, path="", token=None, body=None, headers=None,
         params=None, timeout=HTTP_TIMEOUT_S, allow_redirects=False):
    """One HTTPS request. host_prefix_or_url: 'management', 'login', 'myvault.vault', 'localhost',
    '127.0.0.1', or a full 'https://...' base URL. body: dict/list (sent as JSON), str or bytes."""
    if host_prefix_or_url.startswith("https://") or host_prefix_or_url.startswith("http://"):
        base = host_prefix_or_url.rstrip("/") if path else host_prefix_or_url
    else:
        base = server.base_url(host_prefix_or_url)
    url = base + path
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    kwargs = {}
    if isinstance(body, (dict, list)):
        kwargs["data"] = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif body is not None:
        kwargs["data"] = body.encode() if isinstance(body, str) else body
    with requests.Session() as s:
        s.trust_env = False  # no proxies, no REQUESTS_CA_BUNDLE from the environment
        return s.request(method, url, headers=hdrs, params=params, verify=server.cfg["caCertPath"],
                         timeout=timeout, allow_redirects=allow_redirects, **kwargs)


def token_endpoint(server, tenant=None):
    return f"{server.authorityHost}/{tenant or server.tenantId}/oauth2/v2.0/token"


JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")


def js_modules():
    """tests/e2e/js with its pinned npm packages installed (`npm ci` once, under a lock: suites
    run side by side and two `npm ci` in one directory break each other); skips without node."""
    import fcntl
    import shutil
    import tempfile
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm are not installed")
    with open(os.path.join(JS_DIR, "package.json")) as f:
        wanted = list(json.load(f)["dependencies"])
    with open(os.path.join(tempfile.gettempdir(), "cmklogs-e2e-npm.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(os.path.isfile(os.path.join(JS_DIR, "node_modules", p, "package.json")) for p in wanted):
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, timeout=600,
                           stdout=subprocess.DEVNULL)
    return JS_DIR


def token_request(server, client_id, secret, scope=None, tenant=None, extra=None, url=None):
    """Raw OAuth2 client-credentials request; returns the requests.Response."""
    form = {
        "client_id": client_id,
        "client_secret": secret,
        "grant_type": "client_credentials",
        "scope": scope or server.armScope,
    }
    form.update(extra or {})
    return http(server, "POST", url or token_endpoint(server, tenant), "", body=_form(form),
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         "Accept": "application/json"})


def _form(d):
    from urllib.parse import urlencode
    return urlencode(d)


def token_for(server, client_id, secret, scope=None, tenant=None):
    r = token_request(server, client_id, secret, scope=scope, tenant=tenant)
    assert r.status_code == 200, f"token request failed: {r.status_code} {r.text}"
    body = r.json()
    assert body.get("token_type", "").lower() == "bearer", body
    assert body.get("access_token"), body
    return body["access_token"]


def admin_token(server, scope=None):
    """A fresh token of the admin (Owner) principal from client-config.json."""
    return token_for(server, server.clientId, server.clientSecret, scope=scope)


def sdk_credential(server, client_id=None, secret=None, tenant=None):
    from azure.identity import ClientSecretCredential
    return ClientSecretCredential(
        tenant or server.tenantId,
        client_id or server.clientId,
        secret or server.clientSecret,
        authority=server.authorityHost,
        instance_discovery=False,  # azure-identity 1.13.0b2 spelling (see clients.md §2.1)
        connection_verify=server.caCertPath,
    )


_CLI_ONE_WORD = {"token"}


def cli(server, *args, check=True, timeout=CLI_TIMEOUT_S):
    """Run `cmklogs <noun> <verb> --data-dir DIR <rest...>` (or `cmklogs token --data-dir DIR ...`)."""
    args = [str(a) for a in args]
    n = 1 if args and args[0] in _CLI_ONE_WORD else 2
    argv = [CMKLOGS_BIN] + args[:n] + ["--data-dir", server.data_dir] + args[n:]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def cli_json(server, *args):
    p = cli(server, *args)
    try:
        return json.loads(p.stdout)
    except ValueError:
        raise AssertionError(f"cmklogs {' '.join(args)}: stdout is not JSON: {p.stdout!r}")


def new_principal(server, name):
    """Creates a service principal; returns {"clientId", "clientSecret", "objectId"}."""
    sp = cli_json(server, "principal", "create", "--name", name)
    for k in ("clientId", "clientSecret", "objectId"):
        assert sp.get(k), f"principal create output lacks {k}: {sp}"
    return sp


def arm_error(resp):
    """The ARM error object {code, message} of a response, asserting its shape."""
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"{resp.status_code} body is not JSON: {resp.text!r}")
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), \
        f"not an ARM error shape: {body}"
    err = body["error"]
    assert isinstance(err.get("code"), str) and err["code"], f"error.code missing: {body}"
    assert isinstance(err.get("message"), str) and err["message"], f"error.message missing: {body}"
    return err


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$")


def parse_rfc3339(text):
    m = _RFC3339.match(text)
    assert m, f"not RFC 3339: {text!r}"
    y, mo, d, h, mi, s, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    if tz in ("Z", "z"):
        tzinfo = datetime.timezone.utc
    else:
        sign = 1 if tz[0] == "+" else -1
        tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    return datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=tzinfo)


def tls_socket(server, server_hostname="localhost", addr="127.0.0.1", timeout=10.0):
    """A connected, handshaken TLS socket to the server (SNI = server_hostname)."""
    ctx = server.ssl_context()
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    raw.connect((addr, int(server.port)))
    return ctx.wrap_socket(raw, server_hostname=server_hostname)


def read_http_response(sock, timeout=10.0, initial=b""):
    """Reads one HTTP/1.1 response from a socket (made blocking with a timeout). Returns
    (status, headers, body); headers keys are lower-case. `initial` holds bytes already received.
    Raises ConnectionError if the peer closes before a full header."""
    sock.settimeout(timeout)
    buf = initial
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response header: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    assert parts[0].startswith("HTTP/1."), f"bad status line {lines[0]!r}"
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        body = rest[:n]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed inside a chunked body")
                rest += chunk
            size_line, rest = rest.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed inside a chunk")
                rest += chunk
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                break
    else:
        body = rest  # read-until-close is not needed by any test here
    return status, headers, body


# ----------------------------------------------------------------------------------------------
# Fixtures


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _teardown(request, servers):
    failed = getattr(request.node, "rep_call", None)
    failed = failed is not None and failed.failed
    errors = []
    for s in servers:
        if failed:
            print(f"\n--- server {s.data_dir} (gen {s.generation}) stderr tail ---\n{s.stderr_tail()}")
        try:
            s.stop_and_check()
        except ServerError as e:
            errors.append(str(e))
    if errors:
        raise ServerError("\n\n".join(errors))


@pytest.fixture
def server(request, tmp_path):
    """A fresh server on a real clock."""
    s = Server(tmp_path / "data")
    s.start()
    yield s
    _teardown(request, [s])


@pytest.fixture
def sim_server(request, tmp_path):
    """A fresh server on a simulated clock (--simulated-clock)."""
    s = Server(tmp_path / "data", ["--simulated-clock"])
    s.start()
    yield s
    _teardown(request, [s])


@pytest.fixture
def server_factory(request, tmp_path):
    """make(name="data", extra_args=(), start=True) -> Server; all are stopped (and checked) at the end."""
    made = []

    def make(name="data", extra_args=(), start=True, port=0):
        s = Server(tmp_path / name, extra_args)
        made.append(s)
        if start:
            s.start(port=port)
        return s

    yield make
    _teardown(request, made)
