#!/usr/bin/env python3
"""Level 1 end to end, as a user would: `ctml manager --start --level 1` with API keys required,
then every clinical input against the real fixtures in ../shared/data: the gateway's four
message types and batch endpoint, a FHIR R4 Bundle of the Synthea patients, every HL7 v2 file
over MLLP, and `ctml import sdtm` of the CDISC pilot. Afterwards nothing identifying from those
files may be found under var/ or in the logs, and `ctml audit verify` must detect an edit.

Own temporary var/ and ports. Usage: test_ingestion.py path/to/ctml
"""
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

from support import CONFIG, CTML, DATA, PILOT, ctml, platform_env
from support import http as http_to

GATEWAY, MLLP, MLLP_HTTP = 18282, 12575, 18286


def http(method, path, body=None, key=None, content_type="application/json"):
    """A call to the gateway, with the API key `key` when given."""
    headers = {"Content-Type": content_type}
    if key:
        headers["X-API-Key"] = key
    return http_to(method, GATEWAY, path, body, timeout=60, headers=headers)


def mllp_send(messages):
    """Sends framed messages on one connection; returns the ACK texts."""
    acks = []
    with socket.create_connection(("127.0.0.1", MLLP), timeout=30) as s:
        buf = b""
        for m in messages:
            frame = b"\x0b" + m + b"\x1c\x0d"
            # Partial writes: the listener must reassemble the frame.
            s.sendall(frame[:7])
            s.sendall(frame[7:])
            while b"\x1c\x0d" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise AssertionError("connection closed before the ACK")
                buf += chunk
            ack, buf = buf.split(b"\x1c\x0d", 1)
            acks.append(ack.lstrip(b"\x0b").decode("latin-1"))
    return acks


def segment(message, name):
    for seg in re.split(r"[\r\n]+", message):
        if seg.startswith(name + "|"):
            return seg.split("|")
    return None


class IngestionEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ctml-e2e-ingest-")
        cls.var = os.path.join(cls.tmp, "var")
        cls.env = platform_env(cls.var, {"GATEWAY": GATEWAY, "MLLP": MLLP,
                                         "MLLP_HTTP": MLLP_HTTP}, auth_required="true")
        r = cls.ctml("auth", "add-key", "--id", "site-e2e", "--roles", "ingest")
        assert r.returncode == 0, r.stderr
        cls.key = r.stdout.strip()
        r = cls.ctml("auth", "add-key", "--id", "reader", "--roles", "read")
        cls.read_key = r.stdout.strip()
        cls.start = cls.ctml("manager", "--start", "--level", "1", timeout=300)

    @classmethod
    def tearDownClass(cls):
        cls.ctml("manager", "--stop", "--level", "1", timeout=120)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def ctml(cls, *args, timeout=300):
        return ctml(cls.env, *args, timeout=timeout)

    def test_0_level1_starts_with_gateway_and_mllp(self):
        self.assertEqual(self.start.returncode, 0, self.start.stdout + self.start.stderr)
        r = self.ctml("manager", "-s", "-h", "--level", "1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("mllp", r.stdout)

    def test_1_gateway_needs_a_key_with_the_ingest_role(self):
        msg = {"vital_signs": {"patient_id": "PTKEY00001", "measurement_time":
                               "2024-01-01T00:00:00Z", "systolic_bp": 120, "diastolic_bp": 80,
                               "heart_rate": 70, "temperature_celsius": 36.6}}
        self.assertEqual(http("POST", "/api/clinical/data", msg)[0], 401)
        self.assertEqual(http("POST", "/api/clinical/data", msg, key="wrong")[0], 401)
        self.assertEqual(http("POST", "/api/clinical/data", msg, key=self.read_key)[0], 403)
        status, body = http("POST", "/api/clinical/data", msg, key=self.key)
        self.assertEqual(status, 200, body)
        status, body = http("GET", "/stats", key=self.read_key)
        self.assertEqual(status, 200, body)

    def test_2_four_types_and_a_mixed_batch(self):
        pid = "PTE2EING01"
        batch = [
            {"patient_demographics": {"patient_id": pid, "age": 93, "gender": "Female",
                                      "study_id": "ONC-1", "enrollment_date": "2024-01-02"}},
            {"lab_result": {"patient_id": pid, "test_type": "Liver Enzyme (ALT)",
                            "result_value": 400, "unit": "U/L", "reference_range": "7-56",
                            "test_date": "2024-01-03T08:00:00Z", "lab_technician_id": "LAB0042",
                            "is_abnormal": True}},
            {"adverse_event": {"patient_id": pid, "event_description": "Severe rash",
                               "severity": "Severe", "start_date": "2024-01-04",
                               "related_to_study_drug": True, "action_taken": "Dose held"}},
            {"vital_signs": {"patient_id": pid, "measurement_time": "2024-01-04T08:00:00Z",
                             "systolic_bp": 120, "diastolic_bp": 80, "heart_rate": 900,
                             "temperature_celsius": 36.6}},
        ]
        status, body = http("POST", "/api/clinical/batch", batch, key=self.key)
        self.assertEqual(status, 200, body)
        j = json.loads(body)
        self.assertEqual((j["accepted"], j["rejected"]), (3, 1), body)
        self.assertEqual(j["results"][3]["error"]["field"], "vital_signs.heart_rate")
        self.assertGreaterEqual(j["alerts"], 2)  # lab >= 3x ULN, severe AE
        self.assertEqual([r["topic"] for r in j["results"][:3]],
                         ["demographics", "lab-results", "adverse-events"])

    def test_3_fhir_bundle_of_synthea_patients_and_a_mixed_bundle(self):
        with open(os.path.join(DATA, "fhir", "Patient.10.ndjson")) as f:
            patients = [json.loads(line) for line in f if line.strip()]
        bundle = {"resourceType": "Bundle", "type": "batch",
                  "entry": [{"fullUrl": "urn:uuid:%s" % p["id"], "resource": p,
                             "request": {"method": "POST", "url": "Patient"}} for p in patients]}
        status, body = http("POST", "/fhir/r4", bundle, key=self.key,
                            content_type="application/fhir+json")
        self.assertEqual(status, 200, body[:500])
        resp = json.loads(body)
        self.assertEqual(resp["type"], "batch-response")
        self.assertEqual([e["response"]["status"][:3] for e in resp["entry"]],
                         ["201"] * len(patients))
        first = patients[0]
        obs_ok = {"resourceType": "Observation", "status": "final",
                  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                            "observation-category", "code": "vital-signs"}]}],
                  "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                  "subject": {"reference": "urn:uuid:%s" % first["id"]},
                  "effectiveDateTime": "2024-01-05T10:00:00Z",
                  "valueQuantity": {"value": 88, "unit": "/min", "code": "/min"}}
        obs_bad = dict(obs_ok, valueQuantity={"value": "eighty", "unit": "/min"})
        mixed = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"fullUrl": "urn:uuid:%s" % first["id"], "resource": first},
            {"resource": obs_ok}, {"resource": obs_bad}]}
        status, body = http("POST", "/fhir/r4", mixed, key=self.key,
                            content_type="application/fhir+json")
        self.assertEqual(status, 200, body[:500])
        statuses = [e["response"]["status"][:3] for e in json.loads(body)["entry"]]
        self.assertEqual(statuses[:2], ["201", "201"])
        self.assertIn(statuses[2], ("400", "422"))
        self.assertIn("valueQuantity", json.dumps(json.loads(body)["entry"][2]["response"]))

    def test_4_every_hl7_file_over_mllp(self):
        files = sorted(os.listdir(os.path.join(DATA, "hl7")))
        self.assertGreaterEqual(len(files), 5)
        messages = []
        for name in files:
            with open(os.path.join(DATA, "hl7", name), "rb") as f:
                raw = f.read().replace(b"\r\n", b"\r").replace(b"\n", b"\r").strip(b"\r")
            messages.append((name, raw))
        acks = mllp_send([m for _, m in messages])
        for (name, raw), ack in zip(messages, acks):
            msa = segment(ack, "MSA")
            self.assertIsNotNone(msa, ack)
            control_id = segment(raw.decode("latin-1"), "MSH")[9]
            self.assertEqual(msa[2], control_id, name)
            if name.startswith("invalid"):
                self.assertIn(msa[1], ("AE", "AR"), name)
                self.assertIsNotNone(segment(ack, "ERR"), ack)
            else:
                self.assertEqual(msa[1], "AA", "%s: %s" % (name, ack))
        status, body = http_to("GET", MLLP_HTTP, "/stats", timeout=10)
        self.assertEqual(status, 200, body)

    def test_5_sdtm_import_of_the_cdisc_pilot(self):
        r = self.ctml("import", "sdtm", PILOT, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        expected = {"DM": 306, "VS": 29643, "LB": 59580, "AE": 961, "DS": 596, "EX": 591,
                    "CM": 7510}
        for domain, rows in expected.items():
            line = next((l for l in r.stdout.splitlines() if l.startswith(domain + " ")), None)
            self.assertIsNotNone(line, r.stdout)
            nums = [int(x) for x in re.findall(r"\s(\d+)(?=\s|$)", line)]
            read, accepted, rejected = nums[0], nums[1], nums[2]
            self.assertEqual(read, rows, line)
            self.assertEqual(accepted + rejected, rows, line)
            if rejected:
                self.assertRegex(line, r"[A-Z_]+ \d+", "rejections must be explained: " + line)

    def test_6_nothing_identifying_under_var_or_in_logs(self):
        secrets = set()
        with open(os.path.join(DATA, "fhir", "Patient.10.ndjson")) as f:
            for line in f:
                if not line.strip():
                    continue
                p = json.loads(line)
                secrets.add(p["id"])
                for n in p.get("name", []):
                    secrets.update(x for x in n.get("given", []) + [n.get("family", "")] if x)
                for a in p.get("address", []):
                    secrets.update(a.get("line", []))
                    if a.get("postalCode"):
                        secrets.add(a["postalCode"])
                for t in p.get("telecom", []):
                    secrets.add(t["value"])
                for i in p.get("identifier", []):
                    secrets.add(i["value"])
                secrets.add(p["birthDate"])
        # HL7 PID names, birth dates, MRNs, phones.
        secrets.update(["Someone", "Gloria", "19501104", "1434768", "(123) 123-1234",
                        "1234 Some Street", "V001047", "19870711"])
        # SDTM subject ids.
        with open(os.path.join(PILOT, "dm.xpt"), "rb") as f:
            usubjids = set(re.findall(rb"01-7\d\d-\d{4}", f.read()))
        self.assertGreater(len(usubjids), 250)
        secrets.update(u.decode() for u in usubjids)
        secrets.add("PTE2EING01")
        secrets = {s for s in secrets if len(s) >= 5}
        # Digit-only secrets (ZIP codes, MRNs) are matched as whole numbers: "66202" inside a
        # timestamp (1366202...) or a hex hash is not a ZIP code.
        patterns = [re.compile(r"(?<![0-9A-Za-z])%s(?![0-9A-Za-z])" % re.escape(s)) if s.isdigit()
                    else re.compile(re.escape(s)) for s in secrets]
        scanned = 0
        for dirpath, _, files in os.walk(self.var):
            for fname in files:
                path = os.path.join(dirpath, fname)
                with open(path, "rb") as fh:
                    text = fh.read().decode("latin-1")
                if fname.endswith(".db"):
                    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
                    text += "\n".join(con.iterdump())
                    con.close()
                scanned += 1
                for p in patterns:
                    m = p.search(text)
                    self.assertIsNone(m, "%r found in %s: ...%s..." % (
                        p.pattern, path, text[max(0, m.start() - 80):m.end() + 80] if m else ""))
        self.assertGreater(scanned, 3)

    def test_7_audit_chain_verifies_and_detects_an_edit(self):
        r = self.ctml("audit", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"audit chain OK: \d+ records")
        n = int(re.search(r"(\d+) records", r.stdout).group(1))
        self.assertGreater(n, 20)  # batches of every source + key creation
        meta = os.path.join(self.var, "meta.db")
        con = sqlite3.connect(meta)
        con.execute("UPDATE audit SET detail = replace(detail, '\"accepted\"', '\"acepted\"') "
                    "WHERE seq = 5")
        con.commit()
        con.close()
        r = self.ctml("audit", "verify")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("seq 5", r.stdout + r.stderr)

    def test_8_gateway_serves_https_when_given_a_certificate(self):
        import ssl
        import time
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                            "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", cert], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        env = dict(self.env, CTML_GATEWAY_PORT="18283", CTML_GATEWAY_TLS_CERT_FILE=cert,
                   CTML_GATEWAY_TLS_KEY_FILE=key)
        proc = subprocess.Popen([CTML, "--config", CONFIG, "gateway"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            ctx = ssl.create_default_context(cafile=cert)
            msg = json.dumps({"vital_signs": {
                "patient_id": "PTTLS00001", "measurement_time": "2024-01-01T00:00:00Z",
                "systolic_bp": 120, "diastolic_bp": 80, "heart_rate": 70,
                "temperature_celsius": 36.6}}).encode()
            status = None
            for _ in range(100):
                try:
                    req = urllib.request.Request("https://127.0.0.1:18283/api/clinical/data",
                                                 data=msg, method="POST",
                                                 headers={"Content-Type": "application/json",
                                                          "X-API-Key": self.key})
                    with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
                        status = resp.status
                    break
                except urllib.error.URLError as e:
                    if "refused" not in str(e.reason):
                        raise
                    time.sleep(0.1)
            self.assertEqual(status, 200)
            # Plain HTTP on the TLS port gets no HTTP answer.
            with self.assertRaises(Exception):
                urllib.request.urlopen("http://127.0.0.1:18283/health", timeout=5).read()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
