#!/usr/bin/env python3
"""End to end, as a user would: `ctml manager --start --level 4` on the embedded profile, then
/v1/predict for a generated patient, the cache, bad gateway input, health, privacy of var/,
and `--stop --level 4`.

Runs in its own temporary var/ and on its own ports so that it never touches a user's
running platform. Usage: test_level4.py path/to/ctml
"""
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request
import uuid

CTML = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/bin/ctml"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PORTS = {"GATEWAY": 18082, "BRONZE_SINK": 18083, "PROCESS": 18084, "FEATURES": 18085,
         "SERVE": 18000, "MLLP": 12576, "MLLP_HTTP": 18086, "REGISTRY": 15000}
# Ids the test posts itself, plus the rejected ones: none may ever land under var/.
OWN_IDS = ["PTE2E0000%d" % i for i in range(1, 4)]
REJECTED_IDS = ["PTBADHR900", "PTBADXX001"]


def http(method, port, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def vitals(pid, hr=80, when="2024-01-01T00:00:00Z", message_id=None):
    return {"message_id": message_id or "e2e-" + uuid.uuid4().hex, "timestamp": when,
            "study_phase": "Phase II",
            "site_id": "SITE9",
            "vital_signs": {"patient_id": pid, "measurement_time": when, "systolic_bp": 121,
                            "diastolic_bp": 79, "heart_rate": hr, "temperature_celsius": 36.8,
                            "respiratory_rate": 15, "oxygen_saturation": 97.5}}


class Level4EndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ctml-e2e-")
        cls.var = os.path.join(cls.tmp, "var")
        env = dict(os.environ)
        env["CTML_PATHS_VAR"] = cls.var
        for name, port in PORTS.items():
            env["CTML_%s_PORT" % name] = str(port)
        env["CTML_DEMO_PATIENTS"] = "40"
        env["CTML_DEMO_HOURS"] = "96"
        env.pop("CTML_PRIVACY_KEY_FILE", None)
        cls.env = env
        cls.start = cls.manager("--start", "--level", "4", timeout=900)

    @classmethod
    def tearDownClass(cls):
        cls.manager("--stop", "--level", "4", timeout=120)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def manager(cls, *args, timeout=300):
        return subprocess.run([CTML, "--config", os.path.join(ROOT, "ctml.yaml"), "manager"] +
                              list(args), env=cls.env, capture_output=True, text=True,
                              timeout=timeout)

    def test_1_start_exits_zero_and_prints_a_patient_to_query(self):
        self.assertEqual(self.start.returncode, 0, self.start.stdout + self.start.stderr)
        self.assertRegex(self.start.stdout + self.start.stderr, r"PT[A-Z0-9]{8}")

    def demo_patient(self):
        ids = re.findall(r"PT[A-Z0-9]{8}", self.start.stdout + self.start.stderr)
        self.assertTrue(ids, "the manager printed no demo patient id")
        return ids[0]

    def test_2_predict_from_online_store_then_cached(self):
        pid = self.demo_patient()
        status, body = http("POST", PORTS["SERVE"], "/v1/predict", {"records": [{"patient_id": pid}]})
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        p = doc["results"][0]["probability"]
        self.assertGreaterEqual(p, 0.0)
        self.assertLessEqual(p, 1.0)
        self.assertFalse(doc["cached"])
        self.assertEqual(doc["model"]["alias"], "production")
        self.assertGreaterEqual(doc["model"]["version"], 1)
        status, body2 = http("POST", PORTS["SERVE"], "/v1/predict", {"records": [{"patient_id": pid}]})
        self.assertEqual(status, 200, body2)
        doc2 = json.loads(body2)
        self.assertTrue(doc2["cached"])
        self.assertAlmostEqual(doc2["results"][0]["probability"], p, places=5)

    def test_3_predict_errors_name_the_problem(self):
        status, body = http("POST", PORTS["SERVE"], "/v1/predict",
                            {"records": [{"patient_id": "PTNOSUCH01"}]})
        self.assertEqual(status, 404, body)
        self.assertEqual(json.loads(body)["error"]["field"], "records[0].patient_id")
        status, body = http("POST", PORTS["SERVE"], "/v1/predict",
                            {"records": [{"features": {"no_such_feature": 1}}]})
        self.assertEqual(status, 400, body)
        self.assertIn("no_such_feature", json.loads(body)["error"]["message"])

    def test_4_gateway_rejects_bad_input_naming_the_field(self):
        bad = vitals(REJECTED_IDS[0], hr=900)
        status, body = http("POST", PORTS["GATEWAY"], "/api/clinical/data", bad)
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)["error"]["field"], "vital_signs.heart_rate")
        no_id = vitals(REJECTED_IDS[1])
        del no_id["vital_signs"]["patient_id"]
        status, body = http("POST", PORTS["GATEWAY"], "/api/clinical/data", no_id)
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)["error"]["field"], "vital_signs.patient_id")
        leaky = vitals(REJECTED_IDS[1], message_id="msg-%s-1" % REJECTED_IDS[1])
        status, body = http("POST", PORTS["GATEWAY"], "/api/clinical/data", leaky)
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)["error"]["field"], "message_id")
        for pid in OWN_IDS:
            status, body = http("POST", PORTS["GATEWAY"], "/api/clinical/data", vitals(pid))
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["status"], "SUCCESS")

    def test_5_summary_and_health_show_every_service_up(self):
        r = self.manager("-s", "-h", "--level", "4")
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        for svc in ("gateway", "bronze-sink", "process", "features", "serve", "registry"):
            self.assertIn(svc, out)
        self.assertNotRegex(out, r"\bDOWN\b")

    def test_5a_registry_api_lists_the_trained_model(self):
        status, body = http("GET", PORTS["REGISTRY"], "/api/v1/models")
        self.assertEqual(status, 200, body)
        names = [m["name"] for m in json.loads(body)["models"]]
        self.assertIn("vitals_risk", names)
        status, body = http("GET", PORTS["REGISTRY"], "/api/v1/models/vitals_risk/versions/production")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["name"], "vitals_risk")

    def test_5b_lake_holds_every_layer(self):
        lake = os.path.join(self.var, "lake")
        for layer in ("bronze/vital_signs", "silver/vitals", "features/offline/clinical",
                      "models/vitals_risk/1"):
            path = os.path.join(lake, layer)
            self.assertTrue(os.path.isdir(path) and os.listdir(path), "%s is empty" % layer)
        for f in ("model.ubj", "manifest.json"):
            self.assertTrue(os.path.isfile(os.path.join(lake, "models/vitals_risk/1", f)))
        dates = os.listdir(os.path.join(lake, "silver/vitals"))
        self.assertTrue(all(re.fullmatch(r"date=\d{4}-\d{2}-\d{2}", d) for d in dates), dates)

    def test_6_no_raw_patient_id_anywhere_under_var(self):
        # Let the pipeline take the records posted above through to the lake first.
        import time
        time.sleep(3)
        secrets = set(OWN_IDS + REJECTED_IDS + [self.demo_patient()])
        try:
            import pyarrow.parquet as pq
        except ImportError:
            pq = None
        scanned = 0
        for dirpath, _, files in os.walk(self.var):
            for f in files:
                path = os.path.join(dirpath, f)
                with open(path, "rb") as fh:
                    text = fh.read().decode("latin-1")
                if f.endswith(".parquet"):
                    self.assertIsNotNone(pq, "pyarrow is needed to read the lake's Parquet")
                    text += json.dumps(pq.read_table(path).to_pylist(), default=str)
                elif f.endswith(".db"):
                    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
                    text += "\n".join(con.iterdump())
                    con.close()
                scanned += 1
                for s in secrets:
                    self.assertFalse(s in text, "raw patient id %s found in %s" % (s, path))
        self.assertGreater(scanned, 5)

    def test_7_stop_leaves_no_service_process(self):
        run_dir = os.path.join(self.var, "run")
        pids = []
        for f in os.listdir(run_dir):
            if f.endswith(".pid"):
                with open(os.path.join(run_dir, f)) as fh:
                    pids.append(int(fh.read().strip()))
        self.assertGreaterEqual(len(pids), 5)
        r = self.manager("--stop", "--level", "4")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for pid in pids:
            alive = True
            try:
                os.kill(pid, 0)
                with open("/proc/%d/stat" % pid) as fh:
                    alive = fh.read().split()[2] != "Z"
            except (ProcessLookupError, FileNotFoundError):
                alive = False
            self.assertFalse(alive, "process %d still running after --stop" % pid)
        for port in PORTS.values():
            with socket.socket() as s:
                self.assertNotEqual(s.connect_ex(("127.0.0.1", port)), 0, "port %d open" % port)


class KillMidStream(unittest.TestCase):
    """SIGKILL bronze-sink and process while records stream in: after a restart every record
    the gateway acknowledged is in Bronze and Silver exactly once."""

    PORTS = {"GATEWAY": 18182, "BRONZE_SINK": 18183, "PROCESS": 18184}

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ctml-kill-")
        self.env = dict(os.environ)
        self.env["CTML_PATHS_VAR"] = os.path.join(self.tmp, "var")
        for name, port in self.PORTS.items():
            self.env["CTML_%s_PORT" % name] = str(port)
        self.env["CTML_PROCESS_BATCH_RECORDS"] = "50"
        self.env["CTML_BRONZE_SINK_BATCH_RECORDS"] = "50"
        self.env["CTML_PROCESS_POLL_MS"] = "50"
        self.env["CTML_BRONZE_SINK_POLL_MS"] = "50"
        self.procs = {}

    def tearDown(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=20)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spawn(self, name):
        log = open(os.path.join(self.tmp, name + ".log"), "ab")
        self.procs[name] = subprocess.Popen(
            [CTML, "--config", os.path.join(ROOT, "ctml.yaml"), name], env=self.env,
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        port = self.PORTS[name.upper().replace("-", "_")]
        for _ in range(200):
            try:
                if http("GET", port, "/health")[0] == 200:
                    return
            except OSError:
                pass
            import time
            time.sleep(0.05)
        self.fail("%s did not become healthy" % name)

    def rows(self, layer):
        import pyarrow.dataset as ds
        path = os.path.join(self.tmp, "var", "lake", layer)
        return ds.dataset(path, format="parquet", partitioning="hive").to_table(
            columns=["event_id"]).column("event_id").to_pylist()

    def test_restart_after_sigkill_loses_and_duplicates_nothing(self):
        import threading
        import time
        for name in ("gateway", "bronze-sink", "process"):
            self.spawn(name)
        accepted = []
        N = 2000

        def post():
            for i in range(N):
                pid = "PTK%07d" % (i % 40)
                # A distinct time per record: Level 2 would rightly merge two records of one
                # subject, test and time (natural-key dedupe).
                when = "2024-02-%02dT%02d:%02d:00Z" % (1 + i // 1440, (i // 60) % 24, i % 60)
                status, body = http("POST", self.PORTS["GATEWAY"], "/api/clinical/data",
                                    vitals(pid, hr=60 + i % 50, when=when, message_id="k-%d" % i))
                if status == 200:
                    accepted.append("k-%d" % i)

        poster = threading.Thread(target=post)
        poster.start()
        kills_mid_stream = 0
        for round_ in range(4):  # kill both consumers while records arrive
            time.sleep(0.4)
            kills_mid_stream += poster.is_alive()
            for name in ("bronze-sink", "process"):
                self.procs[name].send_signal(signal.SIGKILL)
                self.procs[name].wait()
                self.spawn(name)
        poster.join()
        self.assertGreater(kills_mid_stream, 0, "the records arrived faster than the kills")
        self.assertEqual(len(accepted), N)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                bronze, silver = self.rows("bronze/vital_signs"), self.rows("silver/vitals")
            except Exception:  # a file is being replaced; read again
                bronze, silver = [], []
            if len(bronze) >= N and len(silver) >= N * 6:
                break
            time.sleep(0.5)
        self.assertEqual(sorted(bronze), sorted(accepted))
        self.assertEqual(len(silver), N * 6)
        self.assertEqual(len(set(silver)), N * 6)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
