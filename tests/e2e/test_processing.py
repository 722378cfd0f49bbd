#!/usr/bin/env python3
"""Level 2 end to end, as a user would: `ctml import sdtm` of the CDISC pilot (99,187 events on
the 7 raw topics), then the streaming services `ctml bronze-sink` and `ctml process`
(micro-batches of 10,000) until both groups have committed every record. Afterwards:
  1. `ctml process report` balances (input = Silver + quarantined + duplicates) with the SDTM row
     counts as input, Silver holds no event_id twice, and no lake file holds a raw USUBJID;
  2. `ctml process --batch --all` rebuilds exactly the Silver content the stream wrote;
  3. `ctml lake compact --date D` leaves one file per partition with the same content;
  4. in a fresh var/, `ctml process` (micro-batches of 500) is SIGKILLed mid-stream several times
     and `ctml bronze-sink` once, each restarted: the result equals the clean run's, with no
     duplicate in Silver and exactly one Bronze row per event.

Own temporary var/ dirs (on /dev/shm when present) and ports (18483, 18484).
Usage: test_processing.py path/to/ctml
Set CTML_E2E_SEED to replay the kill timings of a failed run (the seed is printed).
"""
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import unittest

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from support import PILOT, TMP_BASE, Service, ctml, http, kill_all_services, platform_env

BRONZE_SINK_PORT, PROCESS_PORT = 18483, 18484
RAW_TOPICS = ["patient-vitals", "lab-results", "adverse-events", "medications", "demographics",
              "exposure", "disposition"]
# SDTM rows per domain = input rows per Silver table = events per Bronze type.
INPUT_ROWS = {"subjects": 306, "vitals": 29643, "labs": 59580, "adverse_events": 961,
              "medications": 7510, "exposure": 591, "disposition": 596}
BRONZE_EVENTS = {"demographics": 306, "vital_signs": 29643, "lab_result": 59580,
                 "adverse_event": 961, "medication": 7510, "exposure": 591, "disposition": 596}
TOTAL_EVENTS = sum(INPUT_ROWS.values())  # 99187
USUBJID = r"01-7\d\d-\d{4}"  # CDISC pilot subject ids, e.g. 01-701-1015
SEED = int(os.environ.get("CTML_E2E_SEED", str(int(time.time()))))


def make_env(var, **settings):
    return platform_env(var, {"BRONZE_SINK": BRONZE_SINK_PORT, "PROCESS": PROCESS_PORT},
                        **settings)


def offsets(var):
    """(records on the raw topics, {group: committed records on them})."""
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(var, "eventlog.db"), uri=True,
                          timeout=30)
    try:
        marks = ",".join("?" * len(RAW_TOPICS))
        total = con.execute("SELECT COALESCE(SUM(end_offset), 0) FROM partitions WHERE topic IN "
                            "(%s)" % marks, RAW_TOPICS).fetchone()[0]
        groups = dict(con.execute("SELECT grp, SUM(next_offset) FROM group_offsets WHERE topic "
                                  "IN (%s) GROUP BY grp" % marks, RAW_TOPICS).fetchall())
    finally:
        con.close()
    return total, groups


def committed(var, group):
    return offsets(var)[1].get(group, 0)


def wait_drained(var, services, timeout=300):
    """Until both groups committed every raw record; fails if a service dies meanwhile."""
    deadline = time.time() + timeout
    while True:
        for s in services:
            if not s.alive():
                raise AssertionError("%s died (%s): %s" % (s.name, s.proc.returncode, s.tail()))
        total, groups = offsets(var)
        if total == TOTAL_EVENTS and all(groups.get(g) == total
                                         for g in ("bronze-sink", "process")):
            return
        if time.time() > deadline:
            raise AssertionError("not drained after %d s: %d records, committed %s" %
                                 (timeout, total, groups))
        time.sleep(0.3)


def import_pilot(env):
    r = ctml(env, "import", "sdtm", PILOT, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert re.search(r"^total\s+%d\s+%d\s+0\b" % (TOTAL_EVENTS, TOTAL_EVENTS), r.stdout, re.M), \
        r.stdout


def tables_of(var, area):
    root = os.path.join(var, "lake", area)
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def read_area(var, area, columns=None):
    """{table: its rows over every date (with column `date`), sorted on all columns}."""
    out = {}
    for table in tables_of(var, area):
        t = ds.dataset(os.path.join(var, "lake", area, table), format="parquet",
                       partitioning="hive").to_table(columns=columns)
        out[table] = t.sort_by([(n, "ascending") for n in t.column_names]).combine_chunks()
    return out


def parquet_files(directory):
    return sorted(f for f in os.listdir(directory) if f.endswith(".parquet"))


def diff_hint(a, b, limit=2):
    """A short description of how two tables differ, for failure messages."""
    if a.schema != b.schema:
        return "schemas differ:\n%s\n---\n%s" % (a.schema, b.schema)
    ra = {json.dumps(r, default=str, sort_keys=True) for r in a.to_pylist()}
    rb = {json.dumps(r, default=str, sort_keys=True) for r in b.to_pylist()}
    return "%d vs %d rows; only before: %s; only after: %s" % (
        a.num_rows, b.num_rows, sorted(ra - rb)[:limit], sorted(rb - ra)[:limit])


def report(env, *args):
    r = ctml(env, "process", "report", "--json", *args)
    try:
        j = json.loads(r.stdout)
    except ValueError:
        raise AssertionError("report output is not JSON (exit %d): %s %s" %
                             (r.returncode, r.stdout[-1000:], r.stderr[-1000:]))
    return r.returncode, j, {t["table"]: t for t in j["tables"]}


class ProcessingEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ctml-e2e-process-", dir=TMP_BASE)
        cls.var = os.path.join(cls.tmp, "var")
        # Big micro-batches keep this run (and the file count) small; test 4 uses small ones.
        cls.env = make_env(cls.var, process_batch_records=10000,
                           bronze_sink_batch_records=10000)
        try:
            import_pilot(cls.env)
            cls.sink = Service("bronze-sink", cls.env, BRONZE_SINK_PORT, cls.tmp)
            cls.proc = Service("process", cls.env, PROCESS_PORT, cls.tmp)
            cls.sink.start()
            cls.proc.start()
            wait_drained(cls.var, [cls.sink, cls.proc])
            cls.metrics = http("GET", PROCESS_PORT, "/metrics")[1]
            cls.stop_codes = (cls.sink.stop(), cls.proc.stop())
            # What the stream wrote, before any test rewrites files.
            cls.stream_silver = read_area(cls.var, "silver")
            cls.stream_duplicates = read_area(cls.var, "duplicates", ["event_id"])
            cls.stream_quarantine = read_area(cls.var, "quarantine", ["log_topic",
                                                                      "log_partition",
                                                                      "log_offset"])
            cls.clean_code, cls.clean_report, cls.clean_totals = report(cls.env)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        kill_all_services()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        # A failed test must not leave services behind for the next one.
        kill_all_services()

    def test_1_stream_balances_without_duplicates_or_subject_ids(self):
        self.assertEqual(self.stop_codes, (0, 0), "SIGTERM must stop both services cleanly")
        for table, n in INPUT_ROWS.items():
            m = re.search(r'^ctml_process_input_rows_total\{table="%s"\} (\S+)$' % table,
                          self.metrics, re.M)
            self.assertIsNotNone(m, "no input counter for %s in /metrics" % table)
            self.assertEqual(float(m.group(1)), n, table)
        code, j, totals = self.clean_code, self.clean_report, self.clean_totals
        self.assertEqual(code, 0, json.dumps(j)[:3000])
        self.assertTrue(j["balanced"])
        self.assertEqual(j["unbalanced"], [])
        self.assertEqual(set(totals), set(INPUT_ROWS))
        for table, n in INPUT_ROWS.items():
            t = totals[table]
            self.assertEqual(t["input_rows"], n, table)
            self.assertEqual(t["silver"] + t["quarantined"] + t["duplicates"], n, table)
            # The report's Silver count is what a Parquet reader finds in silver/<table>/.
            silver = self.stream_silver.get(table)
            self.assertEqual(silver.num_rows if silver is not None else 0, t["silver"], table)
            dups = self.stream_duplicates.get(table)
            self.assertEqual(dups.num_rows if dups is not None else 0, t["duplicates"], table)
        # One measurement per VS/LB row: every one reaches Silver unless the report says why.
        for table in ("vitals", "labs"):
            t = totals[table]
            self.assertEqual(t["silver"], INPUT_ROWS[table] - t["quarantined"] - t["duplicates"])
            self.assertGreater(t["silver"], 0.99 * INPUT_ROWS[table], t)
        for table, t in self.stream_silver.items():
            ids = t.column("event_id")
            self.assertEqual(ids.null_count, 0, table)
            self.assertEqual(pc.count_distinct(ids).as_py(), t.num_rows,
                             "an event_id appears twice in silver/%s" % table)
        # Bronze: one row per event.
        bronze = read_area(self.var, "bronze")
        self.assertEqual({k: v.num_rows for k, v in bronze.items()}, BRONZE_EVENTS)
        for typ, t in bronze.items():
            self.assertEqual(pc.count_distinct(t.column("event_id")).as_py(), t.num_rows, typ)
        self.assert_no_usubjid_in_lake(bronze)

    def assert_no_usubjid_in_lake(self, bronze):
        with open(os.path.join(PILOT, "dm.xpt"), "rb") as f:
            self.assertGreater(len(set(re.findall(USUBJID.encode(), f.read()))), 250,
                               "the pattern must match the pilot's subject ids")
        raw = re.compile(USUBJID.encode())
        lake = os.path.join(self.var, "lake")
        parquet = 0
        for dirpath, _, files in os.walk(lake):
            for name in files:
                path = os.path.join(dirpath, name)
                if name.endswith(".parquet"):
                    parquet += 1
                    continue
                with open(path, "rb") as f:  # intents, anything else: bytes as stored
                    m = raw.search(f.read())
                self.assertIsNone(m, "raw USUBJID %r in %s" % (m and m.group(0), path))
        self.assertGreater(parquet, 1000)
        # Parquet pages are compressed: search the decoded strings of every column (footer
        # statistics are made of these values).
        areas = {"silver": self.stream_silver, "bronze": bronze}
        for area in ("quarantine", "duplicates"):
            areas[area] = read_area(self.var, area)
        self.assertEqual(sum(t.num_rows for tables in areas.values() for t in tables.values()),
                         2 * TOTAL_EVENTS, "every input row once in Bronze, once elsewhere")
        for area, tables in areas.items():
            for table, t in tables.items():
                for name, col in zip(t.column_names, t.columns):
                    if not pa.types.is_string(col.type) or col.null_count == col.length():
                        continue
                    hits = pc.match_substring_regex(col, USUBJID)
                    if pc.any(hits).as_py():
                        first = col.filter(hits)[0].as_py()
                        self.fail("raw USUBJID in %s/%s column %s: %r" % (
                            area, table, name, re.search(USUBJID, first).group(0)))

    def test_2_batch_rebuild_equals_stream(self):
        r = ctml(self.env, "process", "--batch", "--all", timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        for table, n in INPUT_ROWS.items():
            self.assertRegex(r.stdout, r"(?m)^%s: %d input rows -> " % (table, n))
        batch = read_area(self.var, "silver")
        self.assertEqual(sorted(batch), sorted(self.stream_silver))
        for table, stream in self.stream_silver.items():
            self.assertTrue(stream.equals(batch[table]),
                            "silver/%s differs after --batch: %s" % (
                                table, diff_hint(stream, batch[table])))
        # The same rows are removed as duplicates (a reason may differ: the stream saw some
        # natural-key twins arrive in order and superseded the older one).
        dups = read_area(self.var, "duplicates", ["event_id"])
        self.assertEqual(sorted(dups), sorted(self.stream_duplicates))
        for table, stream in self.stream_duplicates.items():
            self.assertTrue(stream.equals(dups[table]), "duplicates/%s differ" % table)
        quarantine = read_area(self.var, "quarantine", ["log_topic", "log_partition",
                                                        "log_offset"])
        self.assertEqual({k: v.num_rows for k, v in quarantine.items()},
                         {k: v.num_rows for k, v in self.stream_quarantine.items()})
        code, j, totals = report(self.env)
        self.assertEqual(code, 0, json.dumps(j)[:3000])
        for table in INPUT_ROWS:
            self.assertEqual(totals[table], self.clean_totals[table], table)

    def test_3_compaction_keeps_content_and_leaves_one_file_per_partition(self):
        # The date whose partitions hold the most files (micro-batches; Bronze keeps them even
        # after a --batch rebuild of Silver).
        files = {}
        for area in ("bronze", "silver", "quarantine", "duplicates"):
            for table in tables_of(self.var, area):
                tdir = os.path.join(self.var, "lake", area, table)
                for part in os.listdir(tdir):
                    n = len(parquet_files(os.path.join(tdir, part)))
                    files[part] = files.get(part, 0) + (n if n > 1 else 0)
        part = max(sorted(files), key=lambda p: files[p])
        self.assertGreater(files[part], 1, "no partition with several files to compact")
        date = part[len("date="):]

        def snapshot():
            out = {}
            for area in ("bronze", "silver", "quarantine", "duplicates"):
                for table in tables_of(self.var, area):
                    d = os.path.join(self.var, "lake", area, table, part)
                    if os.path.isdir(d):
                        t = ds.dataset(d, format="parquet").to_table()
                        out[area + "/" + table] = (
                            t.sort_by([(n, "ascending") for n in t.column_names]),
                            len(parquet_files(d)))
            return out

        before = snapshot()
        code, report_before, _ = report(self.env, "--date", date)
        self.assertEqual(code, 0, json.dumps(report_before)[:2000])
        r = ctml(self.env, "lake", "compact", "--date", date)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        m = re.search(r"(\d+) partitions compacted, (\d+) files -> (\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        n_before = sum(n for _, n in before.values())
        self.assertEqual((int(m.group(2)), int(m.group(3))), (n_before, len(before)), r.stdout)
        self.assertEqual(int(m.group(1)), sum(1 for _, n in before.values() if n > 1))
        self.assertNotIn("skipped", r.stdout)
        after = snapshot()
        self.assertEqual(sorted(after), sorted(before))
        for key, (t, _) in before.items():
            self.assertEqual(after[key][1], 1, "%s/%s has %d files" % (key, part, after[key][1]))
            self.assertTrue(t.equals(after[key][0]), "%s/%s changed: %s" % (
                key, part, diff_hint(t, after[key][0])))
        self.assertFalse(os.path.exists(os.path.join(self.var, "lake", "_state", "compact",
                                                     "intent.json")))
        code, report_after, _ = report(self.env, "--date", date)
        self.assertEqual(code, 0)
        self.assertEqual(report_after, report_before)
        # A second run has nothing left to merge.
        r = ctml(self.env, "lake", "compact", "--date", date)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("0 partitions compacted", r.stdout)

    def test_4_sigkill_mid_stream_changes_nothing(self):
        rng = random.Random(SEED)
        note = "(CTML_E2E_SEED=%d)" % SEED
        var = os.path.join(self.tmp, "var-kill")
        # The clean run's privacy key: same pseudonyms and event ids, so Silver can be compared
        # row id by row id.
        os.makedirs(os.path.join(var, "secrets"), mode=0o700)
        shutil.copy2(os.path.join(self.var, "secrets", "privacy.key"),
                     os.path.join(var, "secrets", "privacy.key"))
        env = make_env(var, process_batch_records=500)
        import_pilot(env)
        sink = Service("bronze-sink", env, BRONZE_SINK_PORT, self.tmp)
        proc = Service("process", env, PROCESS_PORT, self.tmp)
        sink.start()
        proc.start()

        def wait_progress(group, service, since):
            deadline = time.time() + 120
            while committed(var, group) <= since:
                self.assertTrue(service.alive(), service.tail())
                self.assertLess(time.time(), deadline, "%s makes no progress" % group)
                time.sleep(0.05)

        # Bronze-sink: one crash mid-stream.
        wait_progress("bronze-sink", sink, 0)
        time.sleep(rng.uniform(0.3, 1.0))
        at_kill = committed(var, "bronze-sink")
        sink.kill()
        self.assertLess(at_kill, TOTAL_EVENTS, "bronze-sink finished before its kill " + note)
        sink.start()
        # Process: four crashes, each after progress since the previous restart.
        kills, intents_left = [], 0
        for _ in range(4):
            wait_progress("process", proc, kills[-1] if kills else 0)
            time.sleep(rng.uniform(0.3, 1.5))
            at_kill = committed(var, "process")
            if at_kill >= TOTAL_EVENTS:
                break
            proc.kill()
            kills.append(at_kill)
            if os.path.exists(os.path.join(var, "lake", "_state", "process", "intent.json")):
                intents_left += 1  # killed between Begin() and the commit: a replay is due
            proc.start()
        self.assertGreaterEqual(len(kills), 3, "process drained before 3 kills %s" % note)
        print("\n  process killed at committed offsets %s (%d mid-batch), %s" %
              (kills, intents_left, note), file=sys.stderr)
        wait_drained(var, [sink, proc])
        self.assertEqual((sink.stop(), proc.stop()), (0, 0))

        code, j, totals = report(env)
        self.assertEqual(code, 0, "%s %s" % (note, json.dumps(j)[:3000]))
        for table in INPUT_ROWS:
            self.assertEqual(totals[table], self.clean_totals[table], "%s %s" % (table, note))
        silver = read_area(var, "silver", ["event_id"])
        self.assertEqual(sorted(silver), sorted(self.stream_silver))
        for table, t in silver.items():
            ids = t.column("event_id")
            self.assertEqual(pc.count_distinct(ids).as_py(), t.num_rows,
                             "an event_id appears twice in silver/%s %s" % (table, note))
            clean = self.stream_silver[table].column("event_id")
            self.assertEqual(t.num_rows, len(clean), "silver/%s %s" % (table, note))
            self.assertTrue(pc.all(pc.is_in(ids, value_set=clean.combine_chunks())).as_py(),
                            "silver/%s holds other rows than the clean run %s" % (table, note))
        bronze = read_area(var, "bronze", ["event_id"])
        self.assertEqual({k: v.num_rows for k, v in bronze.items()}, BRONZE_EVENTS, note)
        for typ, t in bronze.items():
            self.assertEqual(pc.count_distinct(t.column("event_id")).as_py(), t.num_rows,
                             "an event_id appears twice in bronze/%s %s" % (typ, note))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
