"""Shared fixtures of the Python binding tests.

The package under test comes from PYTHONPATH (the build tree when run by
ctest). Tests marked ``integration`` start a real mosquitto and influxd
(tests/integration/mosquitto.sh and influxd.sh) on free loopback ports in
temporary directories, and stop them afterwards.
"""

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

HERE = pathlib.Path(__file__).resolve().parent
SOURCE_DIR = pathlib.Path(os.environ.get("FLEET_SOURCE_DIR", HERE.parents[2]))
DATA_DIR = pathlib.Path(os.environ.get("FLEET_TEST_DATA_DIR", SOURCE_DIR / "tests" / "data"))
HARNESS_DIR = SOURCE_DIR / "tests" / "integration"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "integration: needs real servers (mosquitto, influxd) started by the test")


@pytest.fixture(scope="session")
def data_dir():
    return DATA_DIR


@pytest.fixture(scope="session")
def tracking_dir():
    return DATA_DIR / "tracking"


def server_env():
    """The environment for servers and tools the tests start: without the
    sanitizer runtime that a sanitized build preloads into Python (it has no
    business in influxd, a Go program, or in mosquitto)."""
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "PYTHONMALLOC"):
        env.pop(name, None)
    return env


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("the server exited with status %s" % proc.returncode)
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


class Broker:
    """A throw-away mosquitto: by tests/integration/mosquitto.sh when it
    exists, else started here with a minimal configuration."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fleet-py-mosquitto-")
        self.script = HARNESS_DIR / "mosquitto.sh"
        self.proc = None
        if self.script.exists():
            try:
                out = subprocess.run([str(self.script), "start", self.dir], check=True,
                                     capture_output=True, text=True, timeout=60, env=server_env())
            except (subprocess.SubprocessError, OSError):
                self.stop()
                raise
            self.port = int(out.stdout.strip().splitlines()[-1])
        else:
            mosq = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
            self.port = _free_port()
            conf = os.path.join(self.dir, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        % self.port)
            self.proc = subprocess.Popen([mosq, "-c", conf], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, env=server_env())
            _wait_port(self.port, self.proc)
        self.url = "mqtt://127.0.0.1:%d" % self.port

    def publish(self, topic, payload, qos=1, retain=False):
        cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", str(qos),
               "-t", topic, "-m", payload]
        if retain:
            cmd.append("-r")
        subprocess.run(cmd, check=True, timeout=30, env=server_env())

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        else:
            subprocess.run([str(self.script), "stop", self.dir], check=False, timeout=60,
                           env=server_env())
        shutil.rmtree(self.dir, ignore_errors=True)


class Influxd:
    """A throw-away influxd 1.x started by tests/integration/influxd.sh."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fleet-py-influxd-")
        self.script = HARNESS_DIR / "influxd.sh"
        try:
            out = subprocess.run([str(self.script), "start", self.dir], check=True,
                                 capture_output=True, text=True, timeout=120, env=server_env())
        except (subprocess.SubprocessError, OSError):
            self.stop()
            raise
        self.url = out.stdout.strip().splitlines()[-1]

    def stop(self):
        subprocess.run([str(self.script), "stop", self.dir], check=False, timeout=60,
                       env=server_env())
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def broker():
    b = Broker()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def influxd():
    s = Influxd()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on."""
    return _free_port()
