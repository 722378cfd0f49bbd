#!/usr/bin/env python3
"""`ctml bridge` against a real ActiveMQ (scripts/services/activemq.sh, AMQP 1.0), as a user would:
valid and invalid messages on all five CLINICAL.* queues; valid ones must land in the EventLog
(source amqp), invalid ones on CLINICAL.DLQ with the reason property (not lost), the audit trail
counts the rejections, and the source queues are empty. Then the bridge is killed with SIGKILL
while messages are queued and restarted: no message lost and no event_id duplicated.

Own temporary var/, services dir and AMQP port. Usage: test_bridge.py path/to/ctml
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from support import CONFIG, CTML, ROOT, ctml, platform_env

SERVICE = os.path.join(ROOT, "scripts", "services", "activemq.sh")
PORT = 15773  # not the default 15673: a developer's broker may be running

QUEUES = ["CLINICAL.VITAL.SIGNS", "CLINICAL.LAB.RESULTS", "CLINICAL.ADVERSE.EVENTS",
          "CLINICAL.DEMOGRAPHICS", "CLINICAL.PRIORITY"]
DLQ = "CLINICAL.DLQ"
CANONICAL_TOPICS = ("patient-vitals", "lab-results", "adverse-events", "demographics")


def vitals(i):
    return {"patient_id": "P-%04d" % (1000 + i % 50), "timestamp": "2024-05-01T09:%02d:00Z" % (i % 60),
            "heart_rate": 60 + i % 40, "blood_pressure_systolic": 120, "blood_pressure_diastolic": 80,
            "temperature": 36.8, "spo2": 97, "trial_site": "SITE-1"}


def lab(i):
    return {"patient_id": "P-%04d" % (1000 + i % 50), "timestamp": "2024-05-01T08:%02d:00Z" % (i % 60),
            "test_name": "Blood Glucose", "value": 90 + i % 30, "unit": "mg/dL",
            "reference_range": "70-100"}


def adverse(i):
    return {"patient_id": "P-%04d" % (1000 + i % 50), "timestamp": "2024-04-30T12:%02d:00Z" % (i % 60),
            "event_description": "Headache", "severity": "grade_1", "serious": False}


def demographics(i):
    return {"patient_demographics": {"patient_id": "PT%08d" % (10000000 + i), "age": 30 + i % 50,
                                     "gender": "Female" if i % 2 else "Male"}}


def priority(i):
    return {"lab_result": {"patient_id": "PT%08d" % (20000000 + i), "test_type": "WBC",
                           "result_value": 7.0 + (i % 10) / 10, "unit": "10^9/L",
                           "test_date": "2024-04-30T08:00:00Z"}}


VALID = {"CLINICAL.VITAL.SIGNS": vitals, "CLINICAL.LAB.RESULTS": lab,
         "CLINICAL.ADVERSE.EVENTS": adverse, "CLINICAL.DEMOGRAPHICS": demographics,
         "CLINICAL.PRIORITY": priority}
# One invalid message per queue, with the reason code the bridge must give.
INVALID = {"CLINICAL.VITAL.SIGNS": ("not json {", "MALFORMED_JSON"),
           "CLINICAL.LAB.RESULTS": (json.dumps({"patient_id": "P-1", "timestamp": "2024-05-01T09:00:00Z"}),
                                    "INVALID_FIELD"),
           "CLINICAL.ADVERSE.EVENTS": ("[1, 2, 3]", "MALFORMED_JSON"),
           "CLINICAL.DEMOGRAPHICS": (json.dumps(priority(999)), "WRONG_KIND"),
           "CLINICAL.PRIORITY": (json.dumps({"nothing": 1}), "INVALID_FIELD")}


class BridgeEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ctml-e2e-bridge-")
        cls.var = os.path.join(cls.tmp, "var")
        cls.services = os.path.join(cls.tmp, "services")
        cls.env = platform_env(
            cls.var, {"AMQP": PORT}, services_dir=cls.services,
            bridge_url="amqp://127.0.0.1:%d" % PORT,
            bridge_password_file=os.path.join(cls.services, "activemq", "password"),
            bridge_credit=20)
        t0 = time.time()
        r = subprocess.run(["bash", SERVICE, "start"], env=cls.env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        print("activemq started in %.1fs" % (time.time() - t0), file=sys.stderr)
        cls.bridge = None
        cls.bridge_log = open(os.path.join(cls.tmp, "bridge.log"), "a")

    @classmethod
    def tearDownClass(cls):
        if cls.bridge is not None and cls.bridge.poll() is None:
            cls.bridge.kill()
            cls.bridge.wait()
        subprocess.run(["bash", SERVICE, "stop"], env=cls.env, capture_output=True, timeout=120)
        cls.bridge_log.close()
        if os.environ.get("CTML_KEEP_TMP"):
            print("kept", cls.tmp, file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def ctml(cls, *args, timeout=300):
        return ctml(cls.env, *args, timeout=timeout)

    @classmethod
    def send(cls, queue, bodies, id_prefix):
        path = os.path.join(cls.tmp, "send.jsonl")
        with open(path, "w") as f:
            for b in bodies:
                f.write((b if isinstance(b, str) else json.dumps(b)) + "\n")
        r = cls.ctml("bridge", "send", "--queue", queue, "--file", path, "--lines",
                     "--id-prefix", id_prefix)
        assert r.returncode == 0, r.stderr

    @classmethod
    def start_bridge(cls):
        cls.bridge = subprocess.Popen([CTML, "--config", CONFIG, "bridge"],
                                      env=cls.env, stdout=cls.bridge_log, stderr=cls.bridge_log)

    def amqp_events(self):
        """event ids of the canonical events the bridge wrote (source amqp), with repeats."""
        db = os.path.join(self.var, "eventlog.db")
        if not os.path.exists(db):
            return []
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        try:
            rows = con.execute("SELECT topic, value FROM records").fetchall()
        finally:
            con.close()
        out = []
        for topic, value in rows:
            if topic not in CANONICAL_TOPICS:
                continue
            ev = json.loads(value)
            if ev.get("source") == "amqp":
                out.append(ev["event_id"])
        return out

    def wait_for_events(self, n, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ids = self.amqp_events()
            if len(set(ids)) >= n:
                return ids
            time.sleep(0.5)
        return self.amqp_events()

    def assert_queues_empty(self):
        # drain with a short idle window: anything left would be a message the bridge did not
        # settle. Draining with the bridge stopped.
        for q in QUEUES:
            r = self.ctml("bridge", "drain", "--queue", q, "--idle-ms", "1500")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "", "messages left on %s" % q)

    def stop_bridge(self):
        self.bridge.send_signal(signal.SIGTERM)
        self.assertEqual(self.bridge.wait(timeout=60), 0)
        self.__class__.bridge = None

    def test_0_check(self):
        r = self.ctml("bridge", "--check")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ok:", r.stdout)
        bad = dict(self.env, CTML_AMQP_PASSWORD="wrong")
        r = subprocess.run([CTML, "--config", os.path.join(ROOT, "ctml.yaml"), "bridge", "--check"],
                           env=bad, capture_output=True, text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("wrong", r.stderr)  # never echo a secret
        down = dict(self.env, CTML_BRIDGE_URL="amqp://127.0.0.1:1")
        r = subprocess.run([CTML, "--config", os.path.join(ROOT, "ctml.yaml"), "bridge", "--check"],
                           env=down, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 4, r.stderr)

    def test_1_valid_to_eventlog_invalid_to_dlq(self):
        per_queue = 8
        for q in QUEUES:
            bodies = [VALID[q](i) for i in range(per_queue)]
            bodies.insert(3, INVALID[q][0])
            self.send(q, bodies, "t1-%s-" % q)
        self.start_bridge()
        ids = self.wait_for_events(per_queue * len(QUEUES))
        self.assertEqual(len(set(ids)), per_queue * len(QUEUES))
        self.assertEqual(len(ids), len(set(ids)))
        time.sleep(2)  # let the dead-letter copies be settled
        self.stop_bridge()
        r = self.ctml("bridge", "drain", "--queue", DLQ, "--idle-ms", "2000")
        self.assertEqual(r.returncode, 0, r.stderr)
        dead = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        self.assertEqual(len(dead), len(QUEUES), r.stdout)
        by_queue = {d["properties"]["ctml_source_queue"]: d for d in dead}
        for q in QUEUES:
            self.assertIn(q, by_queue)
            self.assertEqual(by_queue[q]["properties"]["ctml_reason"], INVALID[q][1], q)
            self.assertEqual(by_queue[q]["body"], INVALID[q][0], q)  # as received
        self.assert_queues_empty()
        # The audit trail counts the rejections (ingest records of source amqp).
        con = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.var, "meta.db"), uri=True)
        rows = con.execute("SELECT detail FROM audit WHERE actor LIKE 'amqp:%'").fetchall()
        con.close()
        rejected = sum(json.loads(d).get("rejected", 0) for (d,) in rows)
        self.assertEqual(rejected, len(QUEUES))
        # No raw patient id reached the event log.
        with open(os.path.join(self.var, "eventlog.db"), "rb") as f:
            raw = f.read()
        self.assertNotIn(b"P-1000", raw)
        self.assertNotIn(b"PT10000000", raw)

    def test_2_kill_mid_stream_loses_nothing_and_duplicates_nothing(self):
        before = set(self.amqp_events())
        n = 300
        for q in ("CLINICAL.VITAL.SIGNS", "CLINICAL.LAB.RESULTS"):
            self.send(q, [VALID[q](1000 + i) for i in range(n)], "t2-%s-" % q)
        self.start_bridge()
        deadline = time.time() + 120
        while time.time() < deadline and len(set(self.amqp_events()) - before) < 50:
            time.sleep(0.05)
        self.bridge.kill()  # SIGKILL: no flush, unsettled deliveries go back to the broker
        self.bridge.wait()
        self.__class__.bridge = None
        mid = len(set(self.amqp_events()) - before)
        self.assertGreater(mid, 0)
        self.start_bridge()
        ids = self.wait_for_events(len(before) + 2 * n)
        self.stop_bridge()
        new = [i for i in ids if i not in before]
        self.assertEqual(len(set(new)), 2 * n, "lost messages (had %d before the kill)" % mid)
        # A message written but not yet accepted when killed is redelivered and written again
        # under the same event_id (Silver dedupes by event_id): no event_id with another content.
        self.assertEqual(len(set(ids)), len(before) + 2 * n)
        self.assert_queues_empty()
        r = self.ctml("bridge", "drain", "--queue", DLQ, "--idle-ms", "1500")
        self.assertEqual(r.stdout.strip(), "")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
