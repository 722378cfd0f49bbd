#!/usr/bin/env python3
"""The distributed profile end to end, as a user would run it: `ctml manager --start --level 4`
with ctml.distributed.yaml, so Level 0 starts (or finds running) Kafka, Redis, PostgreSQL and
the S3 server through scripts/services/*.sh, and the whole pipeline runs on them:
gateway -> Kafka -> S3 Silver -> Redis features -> PostgreSQL registry -> /v1/predict.

Then the faults of issue 7: while a client keeps posting vitals through the gateway (retrying
until acknowledged, as a site would), Redis, Kafka and PostgreSQL are each stopped (the health
view must report them and the stores on them DOWN), started again and, for good measure,
restarted. Afterwards Silver (read from S3 with pyarrow) holds exactly the records the gateway
acknowledged: none lost, none twice.

Isolation: own ports and var/, and its own namespace on the shared services (a Kafka topic and
group prefix, a Redis key prefix, a PostgreSQL schema, an S3 key prefix), so a user's data on
the same services is never touched. The services stay up afterwards (scripts/test.sh stops them).
Usage: test_distributed.py path/to/ctml
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import pyarrow.dataset as ds
import pyarrow.fs as pafs

from support import ROOT, ctml, http, platform_env, vitals

CONFIG = os.path.join(ROOT, "ctml.distributed.yaml")
SERVICES_DIR = os.environ.get("CTML_SERVICES_DIR", os.path.join(ROOT, "var", "services"))
PORTS = {"GATEWAY": 28082, "BRONZE_SINK": 28083, "PROCESS": 28084, "FEATURES": 28085,
         "SERVE": 28000, "MLLP": 22576, "MLLP_HTTP": 28086, "REGISTRY": 25000}
NS = "e2e" + uuid.uuid4().hex[:8]
OWN_PATIENTS = ["PTDIST000%d" % i for i in range(1, 4)]


def service(name, command, timeout=180):
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", "services", name + ".sh"),
                           command], capture_output=True, text=True, timeout=timeout)


def secret(*parts):
    with open(os.path.join(SERVICES_DIR, *parts)) as f:
        return f.read().strip()


def s3_credentials():
    """(access key, secret key) from the file scripts/services/s3.sh writes."""
    pairs = dict(line.split("=", 1) for line in secret("s3", "credentials").splitlines()
                 if "=" in line)
    return pairs["AWS_ACCESS_KEY_ID"], pairs["AWS_SECRET_ACCESS_KEY"]


def s3_fs():
    access, secret_key = s3_credentials()
    return pafs.S3FileSystem(access_key=access, secret_key=secret_key,
                             endpoint_override="127.0.0.1:19000", scheme="http")


def drop_namespace():
    """Removes this run's topics, keys, schema and objects from the shared services: a
    developer's long-lived services would otherwise keep one namespace per run. Best effort."""
    steps = []
    libs = glob.glob(os.path.join(ROOT, ".deps", "kafka", "*", "libs"))
    if libs:
        steps.append(subprocess.run(
            ["java", "-cp", os.path.join(libs[0], "*"), "org.apache.kafka.tools.TopicCommand",
             "--bootstrap-server", "127.0.0.1:19092", "--delete", "--topic", NS + r"\..*"],
            capture_output=True, text=True, timeout=120))
    keys = subprocess.run(["redis-cli", "-p", "16379", "--scan", "--pattern", NS + ":*"],
                          capture_output=True, text=True, timeout=60).stdout.split()
    for i in range(0, len(keys), 500):
        steps.append(subprocess.run(["redis-cli", "-p", "16379", "DEL"] + keys[i:i + 500],
                                    capture_output=True, text=True, timeout=60))
    steps.append(subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", "15432", "-U", "ctml", "-d", "ctml", "-c",
         "DROP SCHEMA IF EXISTS %s CASCADE" % NS],
        env=dict(os.environ, PGPASSWORD=secret("postgres", "password")), capture_output=True,
        text=True, timeout=60))
    for r in steps:
        if r.returncode != 0:
            print("cleanup: %s: %s" % (" ".join(r.args[:4]), r.stderr.strip()[-300:]),
                  file=sys.stderr)
    # versitygw serves a directory: a "dir/" key goes only once its files are gone, and one pass
    # may send them in either order, so a second pass removes what the first left.
    for attempt in range(3):
        try:
            s3_fs().delete_dir("ctml/" + NS)
            break
        except FileNotFoundError:  # the last pass took the rest
            break
        except OSError as e:
            if attempt == 2:
                print("cleanup: s3: %s" % str(e)[:300], file=sys.stderr)


class Sender(threading.Thread):
    """Posts vitals one at a time, each retried until acknowledged (2xx), like a site's client."""

    def __init__(self):
        super().__init__(daemon=True)
        self.acked = []
        self.failures = 0  # attempts answered with an error or not at all (retried)
        self.stopping = threading.Event()

    def run(self):
        i = 0
        while not self.stopping.is_set():
            pid = OWN_PATIENTS[i % len(OWN_PATIENTS)]
            mid = "rst-%s-%05d" % (NS, i)
            when = "2024-02-%02dT%02d:%02d:00Z" % (1 + (i // 1440) % 28, (i // 60) % 24, i % 60)
            while True:
                status, _ = http("POST", PORTS["GATEWAY"], "/api/clinical/data",
                                 vitals(pid, mid, when, hr=82), timeout=60)
                if 200 <= status < 300:
                    self.acked.append(mid)
                    break
                self.failures += 1
                time.sleep(0.5)
            i += 1
            time.sleep(0.05)


class DistributedEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ctml-dist-")
        cls.var = os.path.join(cls.tmp, "var")
        # The pilot model is Level 4's embedded e2e: left out here to keep the run short.
        env = platform_env(cls.var, PORTS, demo=True, pilot_sdtm_dir="", train_extra="")
        # This run's namespace on the shared services.
        env["CTML_LOG_URI"] = "kafka://127.0.0.1:19092?partitions=4&prefix=%s." % NS
        env["CTML_ONLINE_URI"] = "redis://127.0.0.1:16379?prefix=%s:" % NS
        env["CTML_CACHE_URI"] = "redis://127.0.0.1:16379?prefix=%s:" % NS
        env["CTML_PATHS_SERVICES"] = SERVICES_DIR
        env["CTML_META_URI"] = ("postgresql://ctml:${file:${paths.services}/postgres/password}"
                                "@127.0.0.1:15432/ctml?schema=%s" % NS)
        env["CTML_LAKE_URI"] = ("s3://ctml/%s/lake?endpoint_override=127.0.0.1:19000&scheme=http"
                                "&credentials_file=${paths.services}/s3/credentials" % NS)
        cls.env = env
        cls.start = cls.manager("--start", "--level", "4", timeout=1200)

    @classmethod
    def tearDownClass(cls):
        # Levels 1-4 only: the services are shared with the rest of the suite.
        env = dict(cls.env, CTML_SERVICES_MANAGED="")
        ctml(env, "manager", "--stop", "--level", "4", config=CONFIG, timeout=180)
        if os.environ.get("CTML_KEEP_TMP"):
            print("kept", cls.tmp, "and namespace", NS, file=sys.stderr)
            return
        drop_namespace()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def manager(cls, *args, timeout=300):
        return ctml(cls.env, "manager", *args, config=CONFIG, timeout=timeout)

    def silver_rows(self, prefix):
        """(event_id, source_event_id) of the Silver vitals rows whose source event (the
        gateway's message_id) starts with `prefix`: one row per measurement (SYSBP, PULSE ...),
        event_id = "<message_id>:<test code>"."""
        fs = s3_fs()
        base = "ctml/%s/lake/silver/vitals" % NS
        if fs.get_file_info(base).type == pafs.FileType.NotFound:
            return []
        t = ds.dataset(base, filesystem=fs, format="parquet", partitioning="hive").to_table(
            columns=["event_id", "source_event_id"])
        return [(e, s) for e, s in zip(t.column("event_id").to_pylist(),
                                       t.column("source_event_id").to_pylist())
                if s.startswith(prefix)]

    def health(self):
        return self.manager("-h", "--level", "4", timeout=120)

    def wait_health(self, want_ok, timeout=120):
        deadline = time.time() + timeout
        while True:
            r = self.health()
            if (r.returncode == 0) == want_ok:
                return r
            if time.time() > deadline:
                self.fail("health did not become %s in %d s:\n%s" %
                          ("ok" if want_ok else "DOWN", timeout, r.stdout[-3000:]))
            time.sleep(2)

    def test_1_level0_starts_the_services_and_level4_becomes_ready(self):
        out = self.start.stdout + self.start.stderr
        self.assertEqual(self.start.returncode, 0, out[-6000:])
        for name in ("kafka", "redis", "postgres", "s3"):
            self.assertRegex(out, r"scripts/services/%s\.sh start" % name)
        self.assertRegex(out, r"PT[A-Z0-9]{8}")
        # train.extra is empty here: the ready block offers no model that is not served.
        self.assertNotIn("ae-discontinuation-30d", self.start.stdout)
        # Nothing embedded was created: every store is on a service.
        for embedded in ("eventlog.db", "online.db", "meta.db", "lake"):
            self.assertFalse(os.path.exists(os.path.join(self.var, embedded)), embedded)

    def test_2_summary_health_and_urls_show_the_services(self):
        r = self.manager("-s", "-h", "-o", "--level", "4", timeout=180)
        out = r.stdout
        self.assertEqual(r.returncode, 0, out[-4000:] + r.stderr[-2000:])
        for name in ("kafka", "redis", "postgres", "s3"):
            self.assertRegex(out, r"UP\s+%s\s" % name)
        for store in ("event-log", "lake", "online-store", "meta-store"):
            self.assertRegex(out, r"UP\s+%s\s+open \+ ping ok" % store)
        self.assertRegex(out, r"topic %s\.patient-vitals|topic patient-vitals" % NS)
        self.assertRegex(out, r"partitions 4")
        self.assertRegex(out, r"group \S*process\S*\s+committed \d+\s+lag \d+")
        self.assertRegex(out, r"view clinical: [1-9]\d* vectors")
        self.assertRegex(out, r"model vitals_risk\s+versions \d+\s+aliases .*production=v\d+")
        self.assertIn("redis://127.0.0.1:16379", out)
        for value in (secret("postgres", "password"), s3_credentials()[1]):
            self.assertNotIn(value, out + r.stderr, "a secret was printed")

    def test_3_predict_reads_redis_and_caches_in_redis(self):
        pid = re.findall(r"PT[A-Z0-9]{8}", self.start.stdout + self.start.stderr)[0]
        status, body = http("POST", PORTS["SERVE"], "/v1/predict", {"records": [{"patient_id": pid}]})
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertFalse(doc["cached"])
        status, body = http("POST", PORTS["SERVE"], "/v1/predict", {"records": [{"patient_id": pid}]})
        self.assertEqual(status, 200, body)
        self.assertTrue(json.loads(body)["cached"])
        keys = subprocess.run(["redis-cli", "-p", "16379", "--scan", "--pattern", NS + ":*"],
                              capture_output=True, text=True, timeout=60).stdout.split()
        self.assertTrue(any("cache" in k for k in keys), keys[:10])
        self.assertGreater(len(keys), 40)  # a vector per demo patient, the index, the cache

    def test_4_registry_and_audit_live_in_postgres_and_silver_in_s3(self):
        env = dict(os.environ, PGPASSWORD=secret("postgres", "password"))
        q = subprocess.run(["psql", "-h", "127.0.0.1", "-p", "15432", "-U", "ctml", "-d", "ctml",
                            "-At", "-c", "SELECT count(*) FROM %s.model_versions" % NS],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertGreaterEqual(int(q.stdout.strip()), 1)
        r = ctml(self.env, "audit", "verify", config=CONFIG, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        fs = s3_fs()
        files = fs.get_file_info(pafs.FileSelector("ctml/%s/lake/silver" % NS, recursive=True))
        self.assertTrue(any(f.path.endswith(".parquet") for f in files))

    def test_5_restarts_of_redis_kafka_postgres_lose_nothing_acknowledged(self):
        sender = Sender()
        sender.start()
        try:
            time.sleep(5)
            for name, stores in (("redis", ("online-store",)), ("kafka", ("event-log",)),
                                 ("postgres", ("meta-store",))):
                stopped = service(name, "stop")
                self.assertEqual(stopped.returncode, 0, stopped.stdout + stopped.stderr)
                down = self.wait_health(want_ok=False, timeout=60)
                self.assertRegex(down.stdout, r"DOWN\s+%s\s" % name)
                for store in stores:
                    self.assertRegex(down.stdout, r"DOWN\s+%s\s" % store)
                time.sleep(3)  # data keeps arriving meanwhile
                started = service(name, "start")
                self.assertEqual(started.returncode, 0, started.stdout + started.stderr)
                self.wait_health(want_ok=True, timeout=120)
                restarted = service(name, "restart")
                self.assertEqual(restarted.returncode, 0, restarted.stdout + restarted.stderr)
                self.wait_health(want_ok=True, timeout=120)
                time.sleep(3)
        finally:
            sender.stopping.set()
            sender.join(timeout=120)
        acked = sender.acked
        self.assertGreater(len(acked), 50, "the client got too few acknowledgements")
        prefix = "rst-%s-" % NS
        deadline = time.time() + 300
        while True:
            rows = self.silver_rows(prefix)
            sources = set(src for _, src in rows)
            if sources == set(acked) or time.time() > deadline:
                break
            time.sleep(3)
        self.assertEqual(sorted(set(acked) - sources), [], "acknowledged but not in Silver")
        self.assertEqual(sorted(sources - set(acked)), [], "in Silver but never acknowledged")
        event_ids = [e for e, _ in rows]
        self.assertEqual(len(event_ids), len(set(event_ids)), "a measurement is twice in Silver")
        # Each acknowledged message holds the 6 vitals measurements the sender posts.
        self.assertEqual(len(rows), 6 * len(acked))
        print("\nrestarts: %d records acknowledged, %d attempts retried, Silver has all of them "
              "once (%d rows)" % (len(acked), sender.failures, len(rows)), file=sys.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
