"""Who may talk to a session: CURVE keys, the ZAP authenticator and owner-only files.

Every socket of a session that another process can reach (the command ROUTER and the
telemetry PUB) is a CURVE server; a peer must hold an operator key whose public half is in
``<keys>/operators/`` (``<name>.key``). The authenticator (pyzmq's ``zmq.auth``, in its own
thread, so a busy event loop never delays a handshake) maps the client's public key to that
operator name, which ZeroMQ attaches to every message as its ``User-Id``: the session knows
who sent each command without trusting anything the message says about itself.

Keys live in ``$PYCONTROL_KEYS_DIR`` (default ``~/.config/pycontrol/keys``), created on first
use: the directory 0700, every file 0600 (public halves too: nobody else needs them).
``session`` is the server key pair; ``operator`` the default operator (``ctl``);
``ops-service`` the ops service's. Refused handshakes (no CURVE, an unknown key) are counted
from the socket's monitor events.

:func:`private_run_dir` makes a run directory 0700 and its files 0600: journals, positions
and logs are the trader's business only.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import zmq

KEYS_ENV = "PYCONTROL_KEYS_DIR"
SERVER = "session"
OPERATOR = "operator"
OPS_SERVICE = "ops-service"
# The largest message any session socket accepts; bigger ones drop the connection in
# ZeroMQ's decoder before the body is read, so no frame can stall the event loop.
MAX_MESSAGE_BYTES = 64 * 1024
ZAP_DOMAIN = "pycontrol"


class ControlAuthError(Exception):
    """A key is missing, unreadable or malformed; the message names the file."""


class KeyPair(NamedTuple):
    public: bytes  # z85, 40 bytes
    secret: bytes


def keys_dir() -> Path:
    env = os.environ.get(KEYS_ENV)
    return Path(env) if env else Path.home() / ".config" / "pycontrol" / "keys"


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    """Writes ``path`` with mode 0600 exactly once: a concurrent writer that got there first
    wins and this one keeps its copy (link, not rename, so nothing is replaced)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _cert(public: bytes, secret: bytes | None) -> str:
    # the format of zmq.auth's certificate files, so zmq.auth.load_certificate reads them
    lines = ["metadata", "curve", f'    public-key = "{public.decode()}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def _read_cert(path: Path) -> tuple[bytes, bytes | None]:
    """(public, secret or None) of a zmq.auth certificate file (parsed here: importing
    zmq.auth costs ``ctl halt`` time it does not have)."""
    keys: dict[str, bytes] = {}
    for line in path.read_text().splitlines():
        k, sep, v = line.strip().partition("=")
        if sep and k.strip() in ("public-key", "secret-key"):
            keys[k.strip()] = v.strip().strip('"').encode()
    if "public-key" not in keys:
        raise ValueError("no public-key line")
    return keys["public-key"], keys.get("secret-key")


def load_keypair(name: str, directory: Path | None = None) -> KeyPair:
    path = (directory or keys_dir()) / f"{name}.key_secret"
    try:
        public, secret = _read_cert(path)
    except (OSError, ValueError) as e:
        raise ControlAuthError(f"{path}: no usable CURVE key ({e})") from None
    if secret is None or len(public) != 40 or len(secret) != 40:
        raise ControlAuthError(f"{path}: not a CURVE secret key file")
    return KeyPair(public, secret)


def load_public(path: Path) -> bytes:
    try:
        public, _ = _read_cert(path)
    except (OSError, ValueError) as e:
        raise ControlAuthError(f"{path}: no usable CURVE public key ({e})") from None
    if len(public) != 40:
        raise ControlAuthError(f"{path}: public key is not 40 z85 characters")
    return public


def ensure_keypair(name: str, directory: Path | None = None, authorize: bool = False) -> KeyPair:
    """The key pair ``name``, created (0600) on first use; ``authorize`` also lists its public
    half in ``operators/`` so a session accepts it."""
    d = _private_dir(directory or keys_dir())
    secret_path = d / f"{name}.key_secret"
    if not secret_path.exists():
        public, secret = zmq.curve_keypair()
        _write_private(secret_path, _cert(public, secret))
    keys = load_keypair(name, d)
    if authorize:
        ops = _private_dir(d / "operators")
        pub_path = ops / f"{name}.key"
        if not pub_path.exists():
            _write_private(pub_path, _cert(keys.public, None))
    return keys


def limit_size(sock: zmq.Socket[Any]) -> None:
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)


def secure_client(
    sock: zmq.Socket[Any], operator: str = OPERATOR, directory: Path | None = None
) -> None:
    """Makes ``sock`` a CURVE client of the sessions under ``directory`` as ``operator``
    (before connect). Raises :class:`ControlAuthError` when the keys are not there."""
    d = directory or keys_dir()
    keys = load_keypair(operator, d)
    server = load_public(d / f"{SERVER}.key_secret")
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_serverkey = server
    limit_size(sock)


def operator_names(directory: Path) -> dict[bytes, str]:
    """z85 public key -> operator name, from ``<keys>/operators/*.key``."""
    out: dict[bytes, str] = {}
    for p in sorted((directory / "operators").glob("*.key")):
        try:
            out[load_public(p)] = p.stem
        except ControlAuthError:
            continue  # a malformed file authorizes nobody
    return out


_HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


class ControlAuth:
    """The session's side: server keys on its sockets, the ZAP authenticator that names the
    operator of each connection, and counters of refused peers."""

    def __init__(self, ctx: zmq.Context[Any], directory: Path | None = None) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        self.directory = directory or keys_dir()
        self.server = ensure_keypair(SERVER, self.directory)
        ensure_keypair(OPERATOR, self.directory, authorize=True)
        ensure_keypair(OPS_SERVICE, self.directory, authorize=True)
        self._names: dict[bytes, str] = operator_names(self.directory)
        self.auth_failures = 0  # handshakes refused (no CURVE, unknown key, bad protocol)
        self.unknown_keys = 0  # of those, CURVE clients whose key is not an operator's
        self._lock = threading.Lock()
        outer = self

        class _Authenticator(ThreadAuthenticator):
            def curve_user_id(self, client_public_key: bytes) -> str:
                from zmq.utils import z85

                return outer._names.get(z85.encode(client_public_key), "?")

        self._auth = _Authenticator(ctx)
        self._auth.start()
        self._auth.configure_curve_callback(ZAP_DOMAIN, self)
        self._monitors: list[zmq.Socket[Any]] = []

    # zmq.auth's credentials provider: re-read operators/ on an unknown key, so an operator
    # added while the session runs is accepted without a restart
    def callback(self, domain: str, key: bytes) -> bool:
        if key in self._names:
            return True
        self._names = operator_names(self.directory)
        if key in self._names:
            return True
        with self._lock:
            self.unknown_keys += 1
        return False

    def serve(self, sock: zmq.Socket[Any]) -> None:
        """Server keys, the size limit and a refused-handshake monitor on ``sock`` (before
        bind)."""
        sock.curve_server = True
        sock.curve_secretkey = self.server.secret
        sock.curve_publickey = self.server.public
        sock.zap_domain = ZAP_DOMAIN.encode()
        limit_size(sock)
        self._monitors.append(sock.get_monitor_socket(_HANDSHAKE_FAILED))

    def monitors(self) -> Iterable[zmq.Socket[Any]]:
        return self._monitors

    def on_monitor_event(self, raw: list[bytes]) -> None:
        from zmq.utils.monitor import parse_monitor_message

        ev = parse_monitor_message(raw)
        if ev["event"] & _HANDSHAKE_FAILED:
            with self._lock:
                self.auth_failures += 1

    @staticmethod
    def operator_of(frame: zmq.Frame) -> str:
        """The operator name the authenticator gave this message's connection."""
        try:
            return str(frame.get("User-Id"))
        except zmq.ZMQError:
            return "?"

    def status(self) -> dict[str, Any]:
        return {
            "auth_failures": self.auth_failures,
            "unknown_keys": self.unknown_keys,
            "operators": sorted(set(self._names.values())),
            "keys_dir": str(self.directory),
            "max_message_bytes": MAX_MESSAGE_BYTES,
        }

    def close(self) -> None:
        for s in self._monitors:
            s.close(linger=0)
        self._auth.stop()


def private_run_dir(run_dir: Path) -> None:
    """The run directory 0700 and every file in it 0600 (older runs' files included); the
    session also sets its umask to 077 so what it creates later is born private."""
    _private_dir(run_dir)
    for p in run_dir.rglob("*"):
        mode = stat.S_IMODE(p.lstat().st_mode)
        if p.is_symlink():
            continue
        want = 0o700 if p.is_dir() else 0o600
        if mode != want:
            os.chmod(p, want)
