#!/usr/bin/env python3
"""`ctml train` and `ctml registry promote` mirror runs, model versions and aliases to a REAL
MLflow tracking server (tracking.mlflow_uri, here CTML_TRACKING_MLFLOW_URI), checked through
MLflow's own REST API:
  1. a trained run appears in experiment <model> with our params, metrics (roc_auc = the
     manifest's to 1e-6), tags (ctml.run_id, dataset_id, spec_hash, code_version), FINISHED;
     the registered model has a version tagged ctml.version = ours, source ctml-lake:/..., run_id
     = the MLflow run, and MLflow's production alias agrees with our registry;
  2. a second training adds a second MLflow version;
  3. `ctml registry promote` moves MLflow's alias too;
  4. with the server stopped, `ctml train` still exits 0, warns, and tags our run mlflow_error.

A trainable lake comes from the demo generator (40 patients x 96 h) through gateway, bronze-sink
and process started by the test itself (as test_level4.py's KillMidStream does), stopped once
Silver holds every record. The server is .deps/mlflow-venv/bin/mlflow (scripts/bootstrap.sh),
sqlite backend, in a temporary folder, on a free loopback port. Usage: test_mlflow.py path/to/ctml
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
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from support import ROOT, Service, ctml, platform_env

MLFLOW = os.path.join(ROOT, ".deps", "mlflow-venv", "bin", "mlflow")
MODEL = "vitals_risk"
PORTS = {"GATEWAY": 18482, "BRONZE_SINK": 18483, "PROCESS": 18484}
WARNING = "[train] warning: MLflow logging failed"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(MLFLOW, os.X_OK):
            raise RuntimeError("no %s: run scripts/bootstrap.sh" % MLFLOW)
        cls.tmp = tempfile.mkdtemp(prefix="ctml-mlflow-")
        cls.var = os.path.join(cls.tmp, "var")
        cls.env = platform_env(cls.var, PORTS, demo=True)
        cls.server = None
        cls.port = free_port()
        cls.uri = "http://127.0.0.1:%d" % cls.port
        cls.start_server()  # starts up while the demo data flows
        t0 = time.time()
        try:
            cls.load_demo_lake()
        except BaseException:
            cls.tearDownClass()
            raise
        print("demo lake: %.1f s" % (time.time() - t0), file=sys.stderr)
        cls.wait_server()

    @classmethod
    def tearDownClass(cls):
        cls.stop_server()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------------------
    @classmethod
    def load_demo_lake(cls):
        import pyarrow.dataset as ds
        procs = [Service(name, cls.env, PORTS[name.upper().replace("-", "_")], cls.tmp)
                 for name in ("gateway", "bronze-sink", "process")]
        try:
            for p in procs:
                p.start()
            gen = cls.ctml("generate", timeout=300)
            if gen.returncode != 0:
                raise RuntimeError("ctml generate failed:\n" + gen.stdout + gen.stderr)
            accepted = int(re.search(r"(\d+) accepted", gen.stderr).group(1))
            want = accepted * 6  # one Silver vitals row per measurement, six per record
            silver = os.path.join(cls.var, "lake", "silver", "vitals")
            deadline, rows = time.time() + 180, 0
            while time.time() < deadline:
                try:
                    rows = ds.dataset(silver, format="parquet", partitioning="hive").count_rows()
                except Exception:  # not there yet, or a file is being replaced
                    rows = 0
                if rows >= want:
                    return
                time.sleep(0.5)
            raise RuntimeError("Silver has %d of %d vitals rows after 180 s" % (rows, want))
        finally:
            for p in procs:
                p.stop()

    @classmethod
    def start_server(cls):
        mdir = os.path.join(cls.tmp, "mlflow")
        os.makedirs(mdir, exist_ok=True)
        env = dict(os.environ)
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no background job workers
        cls.server_log = open(os.path.join(mdir, "server.log"), "ab")
        cls.server = subprocess.Popen(
            [MLFLOW, "server", "--host", "127.0.0.1", "--port", str(cls.port), "--workers", "1",
             "--backend-store-uri", "sqlite:///" + os.path.join(mdir, "mlflow.db"),
             "--default-artifact-root", os.path.join(mdir, "artifacts")],
            env=env, stdout=cls.server_log, stderr=cls.server_log, stdin=subprocess.DEVNULL,
            start_new_session=True)

    @classmethod
    def wait_server(cls):
        deadline = time.time() + 120
        while time.time() < deadline:
            if cls.server.poll() is not None:
                break
            try:
                with urllib.request.urlopen(cls.uri + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        with open(os.path.join(cls.tmp, "mlflow", "server.log"), errors="replace") as f:
            log = f.read()[-3000:]
        cls.tearDownClass()
        raise RuntimeError("mlflow server did not answer /health:\n" + log)

    @classmethod
    def stop_server(cls):
        if cls.server is None:
            return
        try:
            os.killpg(cls.server.pid, signal.SIGTERM)
            cls.server.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:  # the whole group: uvicorn workers must not outlive the test
            os.killpg(cls.server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        cls.server.wait()
        cls.server_log.close()
        cls.server = None

    @classmethod
    def ctml(cls, *args, mlflow=False, timeout=300):
        env = dict(cls.env, CTML_TRACKING_MLFLOW_URI=cls.uri) if mlflow else cls.env
        return ctml(env, *args, timeout=timeout)

    def api(self, method, endpoint, params=None, body=None):
        url = self.uri + "/api/2.0/mlflow/" + endpoint
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read().decode() or "{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode() or "{}")

    def train(self):
        # Fewer rounds than the default: these trainings check the MLflow mirror, not the model.
        r = self.ctml("train", "--max-rounds", "60", mlflow=True)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        m = re.search(r"^model\s+%s version (\d+)" % MODEL, r.stdout, re.M)
        self.assertIsNotNone(m, out)
        run_id = re.search(r"^run_id\s+(\S+)", r.stdout, re.M).group(1)
        return int(m.group(1)), run_id, out

    def manifest(self, version):
        path = os.path.join(self.var, "lake", "models", MODEL, str(version), "manifest.json")
        with open(path) as f:
            return json.load(f)

    def meta(self, sql, *args):
        con = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.var, "meta.db"), uri=True)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def our_alias(self, alias):
        rows = self.meta("SELECT version FROM model_aliases WHERE name=? AND alias=?", MODEL, alias)
        return rows[0][0] if rows else None

    def our_run_tags(self, run_id):
        return json.loads(self.meta("SELECT tags FROM runs WHERE run_id=?", run_id)[0][0])

    def mlflow_versions(self):
        status, doc = self.api("GET", "model-versions/search",
                               {"filter": "name='%s'" % MODEL, "max_results": 1000})
        self.assertEqual(status, 200, doc)
        out = {}
        for v in doc.get("model_versions", []):
            tags = {t["key"]: t["value"] for t in v.get("tags", [])}
            out[int(tags["ctml.version"])] = v
        return out

    def mlflow_alias(self, alias):
        status, doc = self.api("GET", "registered-models/alias", {"name": MODEL, "alias": alias})
        if status == 404:
            return None
        self.assertEqual(status, 200, doc)
        tags = {t["key"]: t["value"] for t in doc["model_version"].get("tags", [])}
        return int(tags["ctml.version"])

    def check_logged(self, version, run_id, out):
        self.assertNotIn(WARNING, out)
        manifest = self.manifest(version)
        status, doc = self.api("GET", "experiments/get-by-name", {"experiment_name": MODEL})
        self.assertEqual(status, 200, doc)
        experiment_id = doc["experiment"]["experiment_id"]
        status, doc = self.api("POST", "runs/search", body={
            "experiment_ids": [experiment_id],
            "filter": "tags.`ctml.run_id` = '%s'" % run_id})
        self.assertEqual(status, 200, doc)
        self.assertEqual(len(doc.get("runs", [])), 1, doc)
        run = doc["runs"][0]
        info, data = run["info"], run["data"]
        self.assertEqual(info["status"], "FINISHED")
        self.assertEqual(info["run_name"], run_id)
        self.assertGreaterEqual(info["end_time"], info["start_time"])
        params = {p["key"]: p["value"] for p in data.get("params", [])}
        metrics = {m["key"]: m["value"] for m in data.get("metrics", [])}
        tags = {t["key"]: t["value"] for t in data.get("tags", [])}
        for k, v in manifest["params"].items():
            self.assertEqual(params.get(k), v, "param %s" % k)
        self.assertAlmostEqual(metrics["roc_auc"], manifest["metrics"]["roc_auc"], delta=1e-6)
        self.assertAlmostEqual(metrics["pr_auc"], manifest["metrics"]["pr_auc"], delta=1e-6)
        self.assertAlmostEqual(metrics["threshold"], manifest["threshold"], delta=1e-6)
        self.assertEqual(tags["ctml.run_id"], run_id)
        self.assertEqual(tags["ctml.dataset_id"], manifest["dataset_id"])
        self.assertEqual(tags["ctml.spec_hash"], manifest["spec_hash"])
        self.assertIn("ctml.code_version", tags)
        # Our run record names the MLflow run.
        self.assertEqual(self.our_run_tags(run_id).get("mlflow_run_id"), info["run_id"])
        self.assertNotIn("mlflow_error", self.our_run_tags(run_id))

        versions = self.mlflow_versions()
        self.assertIn(version, versions)
        mv = versions[version]
        self.assertEqual(mv["run_id"], info["run_id"])
        self.assertEqual(mv["source"], "ctml-lake:/models/%s/%d" % (MODEL, version))
        # MLflow's production alias is where ours is (when ours was logged there).
        ours = self.our_alias("production")
        if ours in versions:
            self.assertEqual(self.mlflow_alias("production"), ours)
        return versions

    # --- tests ---------------------------------------------------------------------------------
    def test_1_train_logs_run_version_and_alias_then_a_second_version(self):
        v1, run1, out1 = self.train()
        versions = self.check_logged(v1, run1, out1)
        self.assertEqual(sorted(versions), [v1])
        if re.search(r"version %d -> production" % v1, out1):
            self.assertEqual(self.our_alias("production"), v1)
            self.assertEqual(self.mlflow_alias("production"), v1)

        v2, run2, out2 = self.train()
        self.assertEqual(v2, v1 + 1)
        versions = self.check_logged(v2, run2, out2)
        self.assertEqual(sorted(versions), [v1, v2])
        self.assertEqual(versions[v2]["version"], "2")  # MLflow numbers its own versions
        type(self).logged = (v1, v2)

    def test_2_registry_promote_moves_the_mlflow_alias(self):
        v1, v2 = getattr(type(self), "logged", (None, None))
        if v1 is None:
            self.skipTest("test_1 did not log two versions")
        for target in (v1, v2):
            r = self.ctml("registry", "promote", MODEL, str(target), "--alias", "production",
                          mlflow=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("warning", r.stderr)
            self.assertEqual(self.our_alias("production"), target)
            self.assertEqual(self.mlflow_alias("production"), target)

    def test_3_server_down_warns_but_training_succeeds(self):
        type(self).stop_server()
        version, run_id, out = self.train()
        self.assertIn(WARNING, out)
        self.assertIsNotNone(self.manifest(version))
        tags = self.our_run_tags(run_id)
        self.assertIn("mlflow_error", tags)
        self.assertNotIn("mlflow_run_id", tags)
        status = self.meta("SELECT status FROM runs WHERE run_id=?", run_id)[0][0]
        self.assertEqual(status, "FINISHED")
        # Promoting with the server down: our registry moves, MLflow's alias only warns.
        r = self.ctml("registry", "promote", MODEL, str(version), "--alias", "staging",
                      mlflow=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("MLflow alias not moved", r.stderr)
        self.assertEqual(self.our_alias("staging"), version)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
