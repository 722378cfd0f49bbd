"""What the end-to-end tests share: the binary under test and the repository's paths, a clean
environment for a run in its own var/ and ports, running `ctml`, HTTP calls, long-running
`ctml <service>` processes (killed at exit whatever happens) and generated gateway messages.

Each test is started as `python3 tests/e2e/test_x.py path/to/ctml` (ctest), so this directory is
on sys.path and `import support` finds this file.
"""
import atexit
import errno
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

CTML = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/bin/ctml"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = os.path.join(ROOT, "ctml.yaml")
DATA = os.path.abspath(os.path.join(ROOT, "..", "shared", "data"))
PILOT = os.path.join(DATA, "sdtm", "cdiscpilot01")
# tmpfs when there is one: the lake holds many small files, and deleting them from a disk mounted
# with `discard` takes minutes. CTML_E2E_TMP overrides.
TMP_BASE = os.environ.get("CTML_E2E_TMP") or (
    "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None)


def platform_env(var, ports=None, demo=False, **settings):
    """The caller's environment without any CTML_* setting of its own (a developer's shell must
    not leak into a test), plus var/ at `var`, CTML_<NAME>_PORT for each of `ports`, the small
    demo data set when `demo`, and CTML_<KEY>=value for each of `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTML_")}
    env["CTML_PATHS_VAR"] = var
    for name, port in (ports or {}).items():
        env["CTML_%s_PORT" % name] = str(port)
    if demo:
        env.update({"CTML_DEMO_PATIENTS": "40", "CTML_DEMO_HOURS": "96"})
    env.update({"CTML_" + k.upper(): str(v) for k, v in settings.items()})
    return env


def retry_busy(fn):
    """The binary may be being relinked while a test runs: retry while it is missing, busy or
    half-written (not yet executable) for up to 3 minutes."""
    for attempt in range(180):
        try:
            return fn()
        except OSError as e:
            if (e.errno not in (errno.ENOENT, errno.ETXTBSY, errno.EACCES, errno.ENOEXEC)
                    or attempt == 179):
                raise
            time.sleep(1)


def ctml(env, *args, config=CONFIG, timeout=300):
    """`ctml --config <config> args...` from the repository root; the CompletedProcess."""
    return retry_busy(lambda: subprocess.run(
        [CTML, "--config", config] + list(args), env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=timeout))


def out_of(r):
    """A CompletedProcess for an assertion message."""
    return "exit %s\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout[-2500:], r.stderr[-2500:])


def http(method, port, path, body=None, timeout=30, headers=None):
    """(status, body text). `body` is sent as JSON unless it is bytes. A server that does not
    answer gives (0, the error) so that callers can poll and retry."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def vitals(pid, message_id=None, when="2024-01-01T00:00:00Z", hr=80):
    """A gateway vital_signs message (six measurements) for patient `pid`."""
    return {"message_id": message_id or "e2e-" + uuid.uuid4().hex, "timestamp": when,
            "study_phase": "Phase II", "site_id": "SITE9",
            "vital_signs": {"patient_id": pid, "measurement_time": when, "systolic_bp": 121,
                            "diastolic_bp": 79, "heart_rate": hr, "temperature_celsius": 36.8,
                            "respiratory_rate": 15, "oxygen_saturation": 97.5}}


_services = []  # every Service started, killed at exit whatever happens


@atexit.register
def kill_all_services():
    """SIGKILLs every Service still running (at exit, and after a failed test)."""
    for s in _services:
        s.kill()


class Service:
    """One `ctml <name>` process; its stderr goes to <logdir>/<name>.<n>.log."""

    def __init__(self, name, env, port, logdir):
        self.name, self.env, self.port, self.logdir = name, env, port, logdir
        self.proc, self.starts = None, 0
        _services.append(self)

    def start(self):
        """Starts it and waits until /health answers 200 (fails if it exits or takes 60 s)."""
        assert self.proc is None or self.proc.poll() is not None, self.name + " already running"
        self.starts += 1
        self.log = os.path.join(self.logdir, "%s.%d.log" % (self.name, self.starts))
        with open(self.log, "wb") as err:
            self.proc = retry_busy(lambda: subprocess.Popen(
                [CTML, "--config", CONFIG, self.name], env=self.env, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=err))
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s: %s" % (self.name, self.proc.returncode,
                                                                self.tail()))
            if http("GET", self.port, "/health", timeout=5)[0] == 200:
                return
            time.sleep(0.1)
        raise AssertionError("%s not healthy on port %d: %s" % (self.name, self.port, self.tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL (a crash); no-op when not running."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self):
        """SIGTERM and wait: returns the exit code (SIGKILL after 60 s)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "timeout"

    def tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""
