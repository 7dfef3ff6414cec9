-- The changes scripts/debezium/record.py makes while Debezium streams, after the snapshot of the
-- tables of all_types.sql is complete: the streaming path of every type and of every operation.
--
-- 1. Every snapshot row inserted again with id + 100 (one transaction per table): the same value
--    read by the snapshot (JDBC) and by the stream (pgoutput text) side by side, e.g. date
--    'infinity' as snapshot row 4 and stream row 104.
-- 2. Updates: a non-key update under REPLICA IDENTITY FULL (full before image) and under the
--    default identity (before is null), a primary-key change under both (delete + tombstone +
--    create with the __debezium.newkey / __debezium.oldkey headers), an update that leaves TOAST
--    values unchanged (unavailable.value.placeholder), updates of the table without a key.
-- 3. Deletes under both identities, and a delete of a row without a key.
-- 4. TRUNCATE (Debezium skips it unless skipped.operations excludes 't').
-- 5. Several tables in one transaction (transaction metadata: data_collection_order).
-- 6. The marker row last: record.py stops when it has seen it.
--
-- The session runs with TimeZone=UTC (record.py sets PGTZ).

\set ON_ERROR_STOP on

-- 1. The snapshot rows again, streamed. A temporary table is never published.
CREATE TEMP TABLE copy_basic AS SELECT * FROM basic_types;
UPDATE copy_basic SET id = id + 100;
INSERT INTO basic_types SELECT * FROM copy_basic;

CREATE TEMP TABLE copy_float AS SELECT * FROM float_types;
UPDATE copy_float SET id = id + 100;
INSERT INTO float_types SELECT * FROM copy_float;

CREATE TEMP TABLE copy_numeric AS SELECT * FROM numeric_types;
UPDATE copy_numeric SET id = id + 100;
INSERT INTO numeric_types SELECT * FROM copy_numeric;

CREATE TEMP TABLE copy_numeric_special AS SELECT * FROM numeric_special;
UPDATE copy_numeric_special SET id = id + 100;
INSERT INTO numeric_special SELECT * FROM copy_numeric_special;

CREATE TEMP TABLE copy_time AS SELECT * FROM time_types;
UPDATE copy_time SET id = id + 100;
INSERT INTO time_types SELECT * FROM copy_time;

CREATE TEMP TABLE copy_array AS SELECT * FROM array_types;
UPDATE copy_array SET id = id + 100;
INSERT INTO array_types SELECT * FROM copy_array;

CREATE TEMP TABLE copy_range AS SELECT * FROM range_types;
UPDATE copy_range SET id = id + 100;
INSERT INTO range_types SELECT * FROM copy_range;

CREATE TEMP TABLE copy_geo AS SELECT * FROM geo_types;
UPDATE copy_geo SET id = id + 100;
INSERT INTO geo_types SELECT * FROM copy_geo;

CREATE TEMP TABLE copy_custom AS SELECT * FROM custom_types;
UPDATE copy_custom SET id = id + 100;
INSERT INTO custom_types SELECT * FROM copy_custom;

CREATE TEMP TABLE copy_ext AS SELECT * FROM ext_types;
UPDATE copy_ext SET id = id + 100;
INSERT INTO ext_types SELECT * FROM copy_ext;

-- 2. Updates.
-- REPLICA IDENTITY FULL, non-key columns: before = the whole old row (as the stream renders it).
UPDATE basic_types SET c_int4 = c_int4 + 1, c_text = 'updated', c_bool = NOT c_bool,
    c_jsonb = '{"updated": true}' WHERE id = 101;
-- Default identity, non-key columns: before = null.
UPDATE time_types SET note = 'updated', c_interval = '-1 day' WHERE id = 101;
UPDATE custom_types SET c_mood = 'sad', c_dom_int = 7 WHERE id = 101;
-- Primary-key changes, default identity and REPLICA IDENTITY FULL.
UPDATE custom_types SET id = 201 WHERE id = 102;
UPDATE basic_types SET id = 202 WHERE id = 102;
-- Unchanged TOAST values (default identity): only `note` changes.
UPDATE toast_types SET note = 'small, updated' WHERE id = 1;
-- TOAST values changed: the new values are sent in full.
UPDATE toast_types SET c_text = repeat('u', 2100), c_int4_arr = array_fill(8, ARRAY[550])
    WHERE id = 1;
-- The table without a key: the two identical rows are updated together (two events).
UPDATE nopk_types SET c_text = 'one, updated' WHERE id = 1;

-- 3. Deletes: full before image, key-only before image, and a row without a key.
DELETE FROM basic_types WHERE id = 103;
DELETE FROM time_types WHERE id = 103;
DELETE FROM nopk_types WHERE id = 2;

-- 5. One transaction over three tables.
BEGIN;
INSERT INTO custom_types VALUES (300, 'ok', ROW(1, 2, 'tx'), 3, 'tx', 3.00, '127.0.0.1');
UPDATE ext_types SET c_citext = 'updated in tx' WHERE id = 101;
DELETE FROM custom_types WHERE id = 103;
COMMIT;

-- 4. TRUNCATE.
TRUNCATE nopk_types;

-- 6. The end.
INSERT INTO marker VALUES (1, 'changes.sql done');
