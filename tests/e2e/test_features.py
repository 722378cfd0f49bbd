#!/usr/bin/env python3
"""Level 3 end to end, as a user would, on ONE import of the CDISC pilot (99,187 events):
`ctml features` (the streaming service) is started first, then `ctml bronze-sink` and
`ctml process` (micro-batches of 10,000); once every group has drained (features included), the
services are stopped and `ctml features --batch --all` writes the daily offline snapshots.
  1. the online store, built from the silver.<table> topics only, equals the offline snapshot
     value for value (`ctml features compare-stores --json`), and the snapshots are what the
     spec says they are (one per day with a Silver row; as_of = latest event of the subject);
  2. `./pipeline-manager.sh --level 3 --compare-stores` forwards there (OK, exit 0; exit 1 when
     the online store is not comparable with an older snapshot);
  3. `ctml features training-set --label ae_discontinuation_30d --grid visits`: grid, labels,
     censoring and the after-event cut re-derived from Silver in Python; features spot-checked
     against Silver (training set and snapshots);
  4. no leakage: with every Silver partition after a cut date T deleted, the training set up to
     T holds the same feature values (a subset of the examples: only censoring differs);
     `--strict` (received_at <= as_of) leaves only count features (0) on the pilot;
  5. query-online (never echoes the raw id), query-offline, volume, monitor, and their
     pipeline-manager.sh flags;
  6. in a fresh var/, `ctml features` is SIGKILLed mid-stream and restarted: compare-stores is
     still exact.

Own temporary var/ dirs (on /dev/shm when present) and ports (18683-18685). pipeline-manager.sh
runs through a symlink in a sandbox whose build/bin/ctml is the binary under test (the script
rebuilds build/bin/ctml when sources are newer: a test must never do that).
Usage: test_features.py path/to/ctml
Set CTML_E2E_SEED to replay the kill timing of a failed run (the seed is printed).
"""
import bisect
import datetime
import json
import math
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from support import (CTML, PILOT, ROOT, TMP_BASE, Service, ctml, http, kill_all_services, out_of,
                     platform_env, retry_busy)

BRONZE_SINK_PORT, PROCESS_PORT, FEATURES_PORT = 18683, 18684, 18685
FEATURES_GROUP = "features"
RAW_TOPICS = ["patient-vitals", "lab-results", "adverse-events", "medications", "demographics",
              "exposure", "disposition"]
TOTAL_EVENTS = 99187
# Silver rows per table of the pilot: every input row but 20 CM natural-key duplicates.
SILVER_ROWS = {"subjects": 306, "vitals": 29643, "labs": 59580, "adverse_events": 961,
               "medications": 7490, "exposure": 591, "disposition": 596}
SILVER_TOTAL = sum(SILVER_ROWS.values())  # 99167
SUBJECTS = 306
PATIENT = "01-701-1015"
LABEL = "ae_discontinuation_30d"
DISC = "ADVERSE EVENT"  # the label's where: {decod: ADVERSE EVENT}
US = 1_000_000
DAY = 86400 * US
HORIZON = 30 * DAY
CUT = "2013-06-01"  # test 4: Silver partitions after this date are deleted
SEED = int(os.environ.get("CTML_E2E_SEED", str(int(time.time()))))


def make_env(var, **settings):
    return platform_env(var, {"BRONZE_SINK": BRONZE_SINK_PORT, "PROCESS": PROCESS_PORT,
                              "FEATURES": FEATURES_PORT},
                        features_group=FEATURES_GROUP,
                        # Big micro-batches keep the run (and the lake's file count) small.
                        process_batch_records=10000, bronze_sink_batch_records=10000,
                        **settings)


def features_stats():
    code, body = http("GET", FEATURES_PORT, "/stats", timeout=5)
    assert code == 200, body
    return json.loads(body)


def wait_features_ready(service, timeout=120):
    deadline = time.time() + timeout
    while True:
        assert service.alive(), service.tail()
        code, body = http("GET", FEATURES_PORT, "/stats", timeout=5)
        if code == 200 and json.loads(body).get("ready"):
            return
        assert time.time() < deadline, "features not ready: " + service.tail()
        time.sleep(0.1)


def offsets(var):
    """(records on the raw topics, records on the silver.* topics,
        {group: committed records on the raw topics}, committed records of the features group)."""
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(var, "eventlog.db"), uri=True,
                          timeout=30)
    try:
        marks = ",".join("?" * len(RAW_TOPICS))
        raw = con.execute("SELECT COALESCE(SUM(end_offset), 0) FROM partitions WHERE topic IN "
                          "(%s)" % marks, RAW_TOPICS).fetchone()[0]
        silver = con.execute("SELECT COALESCE(SUM(end_offset), 0) FROM partitions WHERE topic "
                             "LIKE 'silver.%'").fetchone()[0]
        groups = dict(con.execute("SELECT grp, SUM(next_offset) FROM group_offsets WHERE topic "
                                  "IN (%s) GROUP BY grp" % marks, RAW_TOPICS).fetchall())
        feats = con.execute("SELECT COALESCE(SUM(next_offset), 0) FROM group_offsets WHERE grp = "
                            "? AND topic LIKE 'silver.%'", (FEATURES_GROUP,)).fetchone()[0]
    finally:
        con.close()
    return raw, silver, groups, feats


def wait_drained(var, services, timeout=400):
    """Until bronze-sink and process committed every raw record, process published every Silver
    row and the features group committed all of them; fails if a service dies meanwhile."""
    deadline = time.time() + timeout
    while True:
        for s in services:
            if not s.alive():
                raise AssertionError("%s died (%s): %s" % (s.name, s.proc.returncode, s.tail()))
        raw, silver, groups, feats = offsets(var)
        if (raw == TOTAL_EVENTS and all(groups.get(g) == raw for g in ("bronze-sink", "process"))
                and silver == SILVER_TOTAL and feats == silver):
            return
        if time.time() > deadline:
            raise AssertionError("not drained after %d s: raw %d, silver %d, committed %s, "
                                 "features %d" % (timeout, raw, silver, groups, feats))
        time.sleep(0.3)


def import_pilot(env):
    r = ctml(env, "import", "sdtm", PILOT, timeout=600)
    assert r.returncode == 0, out_of(r)
    assert re.search(r"^total\s+%d\s+%d\s+0\b" % (TOTAL_EVENTS, TOTAL_EVENTS), r.stdout, re.M), \
        r.stdout


def micros(col):
    return pc.cast(col, pa.int64()).to_pylist()


def silver_dates(var):
    """Every date=D partition of the Silver tables."""
    out = set()
    for table in SILVER_ROWS:
        d = os.path.join(var, "lake", "silver", table)
        out.update(p[len("date="):] for p in os.listdir(d) if p.startswith("date="))
    return out


def day_end(date):
    """YYYY-MM-DD -> its last microsecond (UTC)."""
    days = (datetime.date.fromisoformat(date) - datetime.date(1970, 1, 1)).days
    return days * DAY + DAY - 1


def known_from(t, precision):
    """When an event placed at the start of its period is known to have happened (the engine's
    KnownFrom: a day, a month as 31 days, a year as 366 days; finer precisions at once)."""
    span = {"day": 1, "month": 31, "year": 366}.get(precision)
    return t + span * DAY - 1 if span else t


class Silver:
    """The Silver rows the spot-checked features and the label read, per subject, sorted by
    event_time (µs): what Python recomputes the engine's results from. A row counts as of t only
    once its period is over (known_from <= t)."""

    LABEL_ONLY = ("disposition",)  # tables no feature reads: they do not move a vector's as_of

    def __init__(self, var):
        root = os.path.join(var, "lake", "silver")

        def read(table, cols):
            t = ds.dataset(os.path.join(root, table), format="parquet",
                           partitioning="hive").to_table(
                columns=["subject_key", "event_time", "precision"] + cols)
            rows = zip(t.column("subject_key").to_pylist(), micros(t.column("event_time")),
                       t.column("precision").to_pylist(),
                       *[t.column(c).to_pylist() for c in cols])
            return t.num_rows, rows

        self.counts = {}
        self.times = {}          # subject -> sorted event times of every row of every table
        self.feature_times = {}  # subject -> sorted event times of rows of feature tables
        self.series = {}         # (name, subject) -> sorted [(time, value, known_from)]
        for table in SILVER_ROWS:
            cols = {"vitals": ["test_code", "value"], "labs": ["test_code", "value"],
                    "subjects": ["age"], "disposition": ["decod"]}.get(table, [])
            n, rows = read(table, cols)
            self.counts[table] = n
            for row in rows:
                subject, t, known = row[0], row[1], known_from(row[1], row[2])
                self.times.setdefault(subject, []).append(t)
                if table not in self.LABEL_ONLY:
                    self.feature_times.setdefault(subject, []).append(t)
                if table in ("vitals", "labs"):
                    self._add("%s_days" % table, subject, t // DAY * DAY, None, known)
                    if row[4] is not None:
                        self._add("%s:%s" % (table, row[3]), subject, t, row[4], known)
                elif table == "subjects":
                    if row[3] is not None:
                        self._add("age", subject, t, row[3], known)
                elif table == "disposition":
                    if row[3] == DISC:
                        self._add("disc", subject, t, None, known)
                else:
                    self._add(table, subject, t, None, known)
        for v in list(self.times.values()) + list(self.feature_times.values()):
            v.sort()
        for v in self.series.values():
            v.sort(key=lambda o: o[0])

    def _add(self, name, subject, t, value, known):
        self.series.setdefault((name, subject), []).append((t, value, known))

    def window(self, name, subject, lo, hi):
        """Observations with event_time in (lo, hi] (lo None: everything up to hi) known at hi."""
        s = self.series.get((name, subject), [])
        times = [o[0] for o in s]
        a = 0 if lo is None else bisect.bisect_right(times, lo)
        return [o for o in s[a:bisect.bisect_right(times, hi)] if o[2] <= hi]

    def last_event_at_or_before(self, subject, t):
        ts = self.feature_times.get(subject, [])
        i = bisect.bisect_right(ts, t)
        return ts[i - 1] if i else None

    def visit_grid(self, subject):
        days = {t for t, _, _ in self.series.get(("vitals_days", subject), [])}
        days |= {t for t, _, _ in self.series.get(("labs_days", subject), [])}
        return [d + DAY - 1 for d in sorted(days)]

    def label(self, subject, as_of):
        """The engine's outcome for the terminal 30-day ADVERSE EVENT discontinuation label."""
        end = as_of + HORIZON
        disc = self.series.get(("disc", subject), [])
        past = any(k <= as_of for t, _, k in disc if t <= end)
        positive = any(t > as_of and k <= end for t, _, k in disc)
        uncertain = any(t <= end and k > as_of and not (t > as_of and k <= end)
                        for t, _, k in disc)
        if past:
            return "after_terminal"
        if positive:
            return 1
        if uncertain or self.times[subject][-1] < end:
            return "censored"
        return 0

    def expected(self, subject, as_of):
        """Spot-checked features as of `as_of`: {name: value or None}. `last` averages the rows
        of the latest instant (e.g. supine and standing readings of one visit)."""

        def last(obs):
            if not obs:
                return None
            at = [v for t, v, _ in obs if t == obs[-1][0]]
            return sum(at) / len(at)

        sysbp = [v for _, v, _ in self.window("vitals:SYSBP", subject, as_of - 7 * DAY, as_of)]
        return {
            "vs_sysbp_mean_7d": sum(sysbp) / len(sysbp) if sysbp else None,
            "vs_sysbp_max_30d": max((v for _, v, _ in self.window(
                "vitals:SYSBP", subject, as_of - 30 * DAY, as_of)), default=None),
            "lb_alt_last_30d": last(self.window("labs:ALT", subject, as_of - 30 * DAY, as_of)),
            "ae_count_30d": len(self.window("adverse_events", subject, as_of - 30 * DAY, as_of)),
            "ae_count_7d": len(self.window("adverse_events", subject, as_of - 7 * DAY, as_of)),
            "cm_count_30d": len(self.window("medications", subject, as_of - 30 * DAY, as_of)),
            "ctx_age": last(self.window("age", subject, None, as_of)),
        }


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


class FeaturesEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t0 = time.time()
        cls.tmp = tempfile.mkdtemp(prefix="ctml-e2e-features-", dir=TMP_BASE)
        cls.var = os.path.join(cls.tmp, "var")
        cls.env = make_env(cls.var)
        sandbox = os.path.join(cls.tmp, "manager")
        os.makedirs(os.path.join(sandbox, "build", "bin"))
        os.symlink(os.path.join(ROOT, "pipeline-manager.sh"),
                   os.path.join(sandbox, "pipeline-manager.sh"))
        os.symlink(CTML, os.path.join(sandbox, "build", "bin", "ctml"))
        cls.manager_script = os.path.join(sandbox, "pipeline-manager.sh")
        try:
            import_pilot(cls.env)
            cls.feat = Service("features", cls.env, FEATURES_PORT, cls.tmp)
            cls.sink = Service("bronze-sink", cls.env, BRONZE_SINK_PORT, cls.tmp)
            cls.proc = Service("process", cls.env, PROCESS_PORT, cls.tmp)
            # Features first: its state is rebuilt from an empty lake, then comes from the
            # silver.<table> topics only.
            cls.feat.start()
            wait_features_ready(cls.feat)
            cls.stats_at_start = features_stats()
            cls.sink.start()
            cls.proc.start()
            wait_drained(cls.var, [cls.feat, cls.sink, cls.proc])
            cls.stats = features_stats()
            cls.stop_codes = (cls.feat.stop(), cls.sink.stop(), cls.proc.stop())
            with open(cls.feat.log, errors="replace") as f:
                cls.feat_log = f.read()
            cls.t_stream = time.time() - cls.t0
            cls.batch = ctml(cls.env, "features", "--batch", "--all", timeout=900)
            cls.t_batch = time.time() - cls.t0
            cls.silver = Silver(cls.var)
            cls.ts = ctml(cls.env, "features", "training-set", "--label", LABEL, "--grid",
                          "visits")
            print("\n  streaming drained at %.0f s, --batch --all done at %.0f s" %
                  (cls.t_stream, cls.t_batch), file=sys.stderr)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        kill_all_services()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        kill_all_services()

    # ------------------------------------------------------------------ helpers

    def compare_stores(self, env, *args):
        r = ctml(env, "features", "compare-stores", "--json", *args)
        try:
            j = json.loads(r.stdout)
        except ValueError:
            self.fail("compare-stores output is not JSON: " + out_of(r))
        return r, j

    def assert_exact(self, r, j, what):
        self.assertEqual(r.returncode, 0, "%s: %s" % (what, out_of(r)))
        self.assertTrue(j["exact"], what)
        self.assertGreaterEqual(j["features"], 120, what)
        self.assertEqual((j["offline_subjects"], j["online_subjects"], j["compared"]),
                         (SUBJECTS, SUBJECTS, SUBJECTS), what)
        self.assertEqual(j["mismatched_cells"], 0, "%s: %s" % (what, j["examples"]))
        self.assertEqual(j["subjects_with_mismatch"], 0, what)
        self.assertEqual((j["missing_online"], j["online_only"], j["online_newer"],
                          j["online_behind"], j["spec_hash_differs"]), (0, 0, 0, 0, 0), what)
        self.assertEqual(j["cells"], SUBJECTS * j["features"], what)

    def read_dataset(self, env_var, stdout):
        dataset_id = stdout.strip()
        self.assertRegex(dataset_id, r"^[0-9a-f]{16}$")
        d = os.path.join(env_var, "lake", "datasets", LABEL, dataset_id)
        with open(os.path.join(d, "manifest.json")) as f:
            manifest = json.load(f)
        return pq.read_table(os.path.join(d, "part-0.parquet")), manifest

    def spot_check(self, rows, what):
        """rows: dicts with subject_key, as_of (µs) and feature values. Returns checks made."""
        checked = 0
        for row in rows:
            exp = self.silver.expected(row["subject_key"], row["as_of"])
            for name, want in exp.items():
                got = row[name]
                self.assertTrue(same(got, want), "%s: %s of %s as of %d: engine %r, Silver says %r" % (
                    what, name, row["subject_key"], row["as_of"], got, want))
                checked += 1
        return checked

    @staticmethod
    def rows_of(table):
        t = table.set_column(table.schema.get_field_index("as_of"), "as_of",
                             pc.cast(table.column("as_of"), pa.int64()))
        return t.to_pylist()

    # ------------------------------------------------------------------ tests

    def test_1_streaming_online_store_equals_batch_offline_store(self):
        self.assertEqual(self.stop_codes, (0, 0, 0), "SIGTERM must stop the services cleanly")
        # The state came from the topics: the lake was empty when the service started.
        self.assertEqual((self.stats_at_start["events"], self.stats_at_start["subjects"]), (0, 0))
        self.assertRegex(self.feat_log, r'msg="state rebuilt from silver" tables=7 rows=0 ')
        # Silver as a Parquet reader sees it; every row was consumed exactly once, lag 0.
        self.assertEqual(self.silver.counts, SILVER_ROWS)
        s = self.stats
        self.assertTrue(s["ready"])
        self.assertEqual(s["events"], SILVER_TOTAL, s)
        self.assertEqual((s["subjects"], s["invalid"], s["duplicates"]), (SUBJECTS, 0, 0), s)
        self.assertGreaterEqual(s["vectors_written"], SUBJECTS, s)
        self.assertGreaterEqual(s["features"], 120, s)
        _, silver_records, _, committed = offsets(self.var)
        self.assertEqual((silver_records, committed), (SILVER_TOTAL, SILVER_TOTAL))

        r = self.batch
        self.assertEqual(r.returncode, 0, out_of(r))
        offline = os.path.join(self.var, "lake", "features", "offline", "clinical")
        dates = sorted(p[len("date="):] for p in os.listdir(offline))
        self.assertEqual(set(dates), silver_dates(self.var),
                         "--all writes one snapshot per day with a Silver row")
        self.assertRegex(r.stderr, r"wrote %d file\(s\)" % len(dates))

        rc, j = self.compare_stores(self.env)
        self.assert_exact(rc, j, "compare-stores")
        self.assertEqual(j["date"], dates[-1])

        # Snapshot semantics, independently of the engine: as_of = the subject's latest event at
        # or before the end of D; the spot-checked features agree with Silver.
        checks = 0
        for date in (dates[-1], max(d for d in dates if d <= CUT)):
            snap = pq.read_table(os.path.join(offline, "date=" + date, "part-0.parquet"))
            self.assertEqual(snap.column_names[:3], ["subject_key", "as_of", "spec_hash"])
            self.assertEqual(len(snap.column_names) - 3, j["features"])
            rows = self.rows_of(snap)
            end = day_end(date)
            want = {k for k, ts in self.silver.times.items() if ts[0] <= end}
            self.assertEqual({row["subject_key"] for row in rows}, want, date)
            for row in rows:
                self.assertEqual(row["as_of"],
                                 self.silver.last_event_at_or_before(row["subject_key"], end),
                                 "%s %s" % (date, row["subject_key"]))
            checks += self.spot_check(rows, "snapshot " + date)
        self.assertGreater(checks, 1000)

    def test_2_pipeline_manager_compare_stores(self):
        r = self.manager("--level", "3", "--compare-stores")
        self.assertEqual(r.returncode, 0, out_of(r))
        self.assertIn("OK", r.stdout)
        self.assertRegex(r.stdout, r"compared %d\b" % SUBJECTS)
        self.assertRegex(r.stdout, r"mismatches\s+0 values")
        # An older snapshot: the subjects without events since then are compared (and agree),
        # the others are "online newer" (not comparable), which is not a mismatch.
        r = self.manager("--level", "3", "--compare-stores", CUT)
        self.assertEqual(r.returncode, 0, out_of(r))
        m = re.search(r"offline (\d+), online (\d+), compared (\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        m2 = re.search(r"(\d+) online only, (\d+) online newer, 0 online behind", r.stdout)
        self.assertIsNotNone(m2, r.stdout)
        offline, online, compared = map(int, m.groups())
        self.assertEqual(online, SUBJECTS)
        self.assertTrue(0 < compared < offline < SUBJECTS, r.stdout)
        self.assertEqual(compared + int(m2.group(2)), offline, r.stdout)
        self.assertRegex(r.stdout, r"mismatches\s+0 values")
        # One value changed in (a copy of) the latest snapshot: MISMATCH, exit 1.
        var = os.path.join(self.tmp, "var-tampered")
        offline_dir = os.path.join("lake", "features", "offline", "clinical")
        last = max(os.listdir(os.path.join(self.var, offline_dir)))
        shutil.copytree(os.path.join(self.var, offline_dir, last),
                        os.path.join(var, offline_dir, last))
        for name in os.listdir(self.var):
            if name.startswith("online.db"):
                shutil.copy2(os.path.join(self.var, name), os.path.join(var, name))
        path = os.path.join(var, offline_dir, last, "part-0.parquet")
        snap = pq.read_table(path)
        i = snap.schema.get_field_index("vs_sysbp_mean_7d")
        values = snap.column(i).to_pylist()
        row = next(k for k, v in enumerate(values) if v is not None)
        values[row] += 0.5
        pq.write_table(snap.set_column(i, snap.schema.field(i), pa.array(values, pa.float64())),
                       path)
        env, self.env = self.env, make_env(var)
        try:
            r = self.manager("--level", "3", "--compare-stores")
        finally:
            self.env = env
        self.assertEqual(r.returncode, 1, out_of(r))
        self.assertIn("MISMATCH", r.stdout)
        self.assertRegex(r.stdout, r"mismatches\s+1 values .*, 1 subjects")
        self.assertIn("%s vs_sysbp_mean_7d offline=" % snap.column("subject_key")[row],
                      r.stdout)
        # No snapshot on or before the date: an error, not OK.
        r = self.manager("--level", "3", "--compare-stores", "1900-01-01")
        self.assertNotEqual(r.returncode, 0, out_of(r))
        self.assertNotIn("OK", r.stdout)

    def manager(self, *args):
        """./pipeline-manager.sh ARGS, through the sandbox (build/bin/ctml = the binary under
        test, and no sources next to it: the script never rebuilds)."""
        return retry_busy(lambda: subprocess.run(
            [self.manager_script] + list(args), env=self.env, cwd=ROOT, capture_output=True,
            text=True, timeout=300))

    def test_3_training_set_labels_and_features_from_silver(self):
        r = self.ts
        self.assertEqual(r.returncode, 0, out_of(r))
        m = re.search(r"examples=(\d+) positives=(\d+) subjects=(\d+) features=(\d+) \(skipped "
                      r"grid points: (\d+) censored, (\d+) after the event\)", r.stderr)
        self.assertIsNotNone(m, r.stderr[-2000:])
        examples, positives, subjects, nfeat, censored, after = map(int, m.groups())
        self.assertGreater(examples, 1000)
        self.assertTrue(0 < positives < examples, m.group(0))
        self.assertGreaterEqual(nfeat, 120)
        table, manifest = self.read_dataset(self.var, r.stdout)
        self.assertEqual(table.column_names[:3], ["subject_key", "as_of", "label"])
        self.assertEqual(table.column_names[3:], manifest["feature_names"])
        self.assertEqual(len(manifest["feature_names"]), nfeat)
        self.assertEqual(table.num_rows, examples)
        self.assertEqual(pc.sum(table.column("label")).as_py(), positives)
        self.assertEqual((manifest["rows"], manifest["positives"], manifest["subjects"],
                          manifest["censored"], manifest["after_terminal"]),
                         (examples, positives, subjects, censored, after))
        self.assertEqual(manifest["label"], LABEL)
        self.assertEqual(manifest["options"]["grid"], "visits")

        rows = self.rows_of(table)
        # Re-derive every grid point from Silver: end of each day with vitals or labs; the
        # label looks only at (as_of, as_of + 30 d]; no example once the subject has been
        # discontinued for an adverse event; censored when the data ends before the horizon.
        want, skipped = {}, {"censored": 0, "after_terminal": 0}
        for subject in self.silver.times:
            for as_of in self.silver.visit_grid(subject):
                y = self.silver.label(subject, as_of)
                if y in skipped:
                    skipped[y] += 1
                else:
                    want[(subject, as_of)] = y
        got = {(row["subject_key"], row["as_of"]): row["label"] for row in rows}
        self.assertEqual(len(got), len(rows), "an example appears twice")
        self.assertEqual(set(got) - set(want), set(), "examples Silver does not explain")
        self.assertEqual(set(want) - set(got), set(), "grid points missing from the set")
        wrong = [(k, got[k], want[k]) for k in got if got[k] != want[k]]
        self.assertEqual(wrong[:5], [], "%d labels differ from Silver" % len(wrong))
        self.assertEqual((skipped["censored"], skipped["after_terminal"]), (censored, after))
        self.assertEqual(len({k[0] for k in want}), subjects)
        # Explicitly: positives have a discontinuation in (as_of, as_of+30d], negatives none,
        # and no example is at or after its subject's discontinuation.
        for (subject, as_of), y in got.items():
            future = self.silver.window("disc", subject, as_of, as_of + HORIZON)
            self.assertEqual(bool(future), y == 1, (subject, as_of))
            self.assertEqual(self.silver.window("disc", subject, None, as_of), [])
        # Feature values: independent recomputation from Silver for every example.
        self.assertGreater(self.spot_check(rows, "training set"), 5 * examples)

    def test_4_no_leakage_from_rows_after_as_of(self):
        cut_var = os.path.join(self.tmp, "var-cut")
        src = os.path.join(self.var, "lake", "silver")
        shutil.copytree(src, os.path.join(cut_var, "lake", "silver"),
                        ignore=lambda d, names: [n for n in names
                                                 if n.startswith("date=") and n[5:] > CUT])
        shutil.copytree(os.path.join(self.var, "secrets"), os.path.join(cut_var, "secrets"))
        self.assertLess(max(silver_dates(cut_var)), max(silver_dates(self.var)))
        self.assertEqual(max(silver_dates(cut_var)), CUT)
        env_cut = make_env(cut_var)

        full_r = ctml(self.env, "features", "training-set", "--label", LABEL, "--grid", "visits",
                      "--to", CUT)
        self.assertEqual(full_r.returncode, 0, out_of(full_r))
        cut_r = ctml(env_cut, "features", "training-set", "--label", LABEL, "--grid", "visits",
                     "--to", CUT)
        self.assertEqual(cut_r.returncode, 0, out_of(cut_r))
        full, _ = self.read_dataset(self.var, full_r.stdout)
        cut, _ = self.read_dataset(cut_var, cut_r.stdout)
        self.assertEqual(full.column_names, cut.column_names)
        names = full.column_names[3:]
        full_rows = {(r["subject_key"], r["as_of"]): r for r in self.rows_of(full)}
        cut_rows = {(r["subject_key"], r["as_of"]): r for r in self.rows_of(cut)}
        end = day_end(CUT)
        self.assertLessEqual(max(k[1] for k in full_rows), end)
        self.assertGreater(len(cut_rows), 500)
        # The truncated lake can only censor more (its data ends at T): every one of its
        # examples is in the full set with the same label and the same feature values.
        self.assertEqual(set(cut_rows) - set(full_rows), set())
        differ = []
        for key, row in cut_rows.items():
            other = full_rows[key]
            for n in ["label"] + names:
                if not same(row[n], other[n]):
                    differ.append((key, n, row[n], other[n]))
        self.assertEqual(differ[:5], [], "%d values depend on rows after T" % len(differ))
        # The examples the cut lost are exactly those censored there: the subject's data in the
        # truncated lake ends before as_of + 30 d.
        for subject, as_of in set(full_rows) - set(cut_rows):
            last_in_cut = self.silver.last_event_at_or_before(subject, end)
            self.assertLess(last_in_cut, as_of + HORIZON, (subject, as_of))
        self.assertGreater(len(full_rows), len(cut_rows), "the cut changed nothing")

        # --strict: features also require received_at <= as_of. The pilot was received at
        # import time, after every event: only the count features (0 = no occurrence) remain.
        strict_r = ctml(self.env, "features", "training-set", "--label", LABEL, "--grid",
                        "visits", "--to", CUT, "--strict")
        self.assertEqual(strict_r.returncode, 0, out_of(strict_r))
        strict, manifest = self.read_dataset(self.var, strict_r.stdout)
        self.assertTrue(manifest["options"]["strict"])
        self.assertNotEqual(strict_r.stdout.strip(), full_r.stdout.strip())
        key = ["subject_key", "as_of", "label"]
        self.assertTrue(strict.select(key).equals(full.select(key)),
                        "--strict must not change the examples or their labels")
        counts = [n for n in names if "_count_" in n]
        self.assertGreaterEqual(len(counts), 10)
        for n in names:
            col = strict.column(n)
            if n in counts:
                self.assertEqual((col.null_count, pc.max(col).as_py()), (0, 0), n)
            else:
                self.assertEqual(col.null_count, strict.num_rows, n)

    def test_5_query_and_inspection_tools(self):
        r = ctml(self.env, "features", "query-online", PATIENT)
        self.assertEqual(r.returncode, 0, out_of(r))
        self.assertNotIn(PATIENT, r.stdout)
        self.assertNotIn(PATIENT, r.stderr)
        self.assertRegex(r.stdout, r"as_of \S+")
        self.assertIn("vs_sysbp_mean_7d", r.stdout)
        self.assertIn("ctx_age", r.stdout)
        online = ctml(self.env, "features", "query-online", PATIENT, "--json")
        self.assertEqual(online.returncode, 0, out_of(online))
        self.assertNotIn(PATIENT, online.stdout)
        on = json.loads(online.stdout)
        self.assertIn(on["subject_key"], r.stdout)
        self.assertGreaterEqual(len(on["features"]), 120)
        self.assertIn(on["subject_key"], self.silver.times)
        # The latest snapshot's row of the same patient holds the same vector.
        offline = ctml(self.env, "features", "query-offline", "--patient", PATIENT, "--json")
        self.assertEqual(offline.returncode, 0, out_of(offline))
        self.assertNotIn(PATIENT, offline.stdout)
        off = json.loads(offline.stdout)["rows"]
        self.assertEqual(len(off), 1)
        self.assertEqual((off[0]["subject_key"], off[0]["as_of"], off[0]["features"]),
                         (on["subject_key"], on["as_of"], on["features"]))
        unknown = ctml(self.env, "features", "query-online", "01-999-9999")
        self.assertNotEqual(unknown.returncode, 0, out_of(unknown))
        self.assertNotIn("01-999-9999", unknown.stdout + unknown.stderr)

        r = ctml(self.env, "features", "query-offline", "--limit", "3")
        self.assertEqual(r.returncode, 0, out_of(r))
        self.assertEqual(len(re.findall(r"(?m)^  [A-Z2-7]{26}  as_of ", r.stdout)), 3, r.stdout)

        r = ctml(self.env, "features", "volume")
        self.assertEqual(r.returncode, 0, out_of(r))
        self.assertIn("partitions", r.stdout)
        r = ctml(self.env, "features", "volume", "--json")
        self.assertEqual(r.returncode, 0, out_of(r))
        v = json.loads(r.stdout)
        self.assertEqual(v["partitions"], len(silver_dates(self.var)))
        self.assertEqual((v["files"], v["online_vectors"]), (v["partitions"], SUBJECTS))
        self.assertTrue(any(d["path"].startswith("datasets/%s/" % LABEL) for d in v["datasets"]))

        r = ctml(self.env, "features", "monitor")
        self.assertEqual(r.returncode, 0, out_of(r))
        lags = re.findall(r"(?m)^\s+(\w+)\s+(\d+) rows\s+silver\.\w+\s+lag (-?\d+)$", r.stdout)
        self.assertEqual({t: (int(n), int(lag)) for t, n, lag in lags},
                         {t: (n, 0) for t, n in SILVER_ROWS.items()}, r.stdout)
        r = ctml(self.env, "features", "monitor", "--json")
        self.assertEqual(r.returncode, 0, out_of(r))
        mon = json.loads(r.stdout)
        self.assertEqual((mon["lag"], mon["silver_rows"], mon["online"]["vectors"]),
                         (0, SILVER_TOTAL, SUBJECTS))

        # The same tools through pipeline-manager.sh --level 3.
        for flags, expect in ((["--query-online-features", PATIENT], "vs_sysbp_mean_7d"),
                              (["--query-offline-features"], "Offline snapshot"),
                              (["--inspect-feature-volume"], "partitions"),
                              (["--monitor-feature-pipeline"], "lag 0")):
            r = self.manager("--level", "3", *flags)
            self.assertEqual(r.returncode, 0, "%s: %s" % (flags, out_of(r)))
            self.assertIn(expect, r.stdout, flags)
            self.assertNotIn(PATIENT, r.stdout, flags)

    def test_6_sigkill_mid_stream_keeps_the_stores_equal(self):
        rng = random.Random(SEED)
        note = "(CTML_E2E_SEED=%d)" % SEED
        var = os.path.join(self.tmp, "var-kill")
        env = make_env(var)
        import_pilot(env)
        feat = Service("features", env, FEATURES_PORT, self.tmp)
        sink = Service("bronze-sink", env, BRONZE_SINK_PORT, self.tmp)
        proc = Service("process", env, PROCESS_PORT, self.tmp)
        feat.start()
        wait_features_ready(feat)
        sink.start()
        proc.start()
        target = int(rng.uniform(0.15, 0.6) * SILVER_TOTAL)
        deadline = time.time() + 300
        while offsets(var)[3] < target:
            self.assertTrue(feat.alive() and sink.alive() and proc.alive(), feat.tail())
            self.assertLess(time.time(), deadline, "features makes no progress")
            time.sleep(0.05)
        at_kill = offsets(var)[3]
        feat.kill()
        print("\n  features killed at %d committed silver records %s" % (at_kill, note),
              file=sys.stderr)
        self.assertLess(at_kill, SILVER_TOTAL, "features drained before its kill " + note)
        feat.start()
        wait_drained(var, [feat, sink, proc])
        self.assertEqual((feat.stop(), sink.stop(), proc.stop()), (0, 0, 0))
        with open(feat.log, errors="replace") as f:
            m = re.search(r'msg="state rebuilt from silver" tables=7 rows=(\d+) ', f.read())
        self.assertIsNotNone(m, feat.tail())
        self.assertGreater(int(m.group(1)), 0, "the restart must rebuild from the lake")
        # The latest day is all compare-stores reads.
        last = max(silver_dates(var))
        r = ctml(env, "features", "--batch", "--date", last)
        self.assertEqual(r.returncode, 0, out_of(r))
        rc, j = self.compare_stores(env)
        self.assertEqual(j["date"], last)
        self.assert_exact(rc, j, "compare-stores after a SIGKILL " + note)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
