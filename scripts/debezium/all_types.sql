-- The tables whose Debezium 3.6 output scripts/record-debezium.sh records: every PostgreSQL type
-- tributary decodes (or is about to), one column each, with rows that hit edge cases. Run in an
-- EMPTY database by scripts/debezium/record.py before the connector starts, so every row here is
-- a snapshot read (op r); scripts/debezium/changes.sql then inserts the same rows again (ids + 100)
-- so that the stream's rendering of each value can be compared with the snapshot's.
--
-- Rows: ids 1..n per table, below 100 (changes.sql re-inserts them as id + 100). Mostly id 1 =
-- ordinary values, 2 and 3 = edge cases (min/max, negative, special values) and the last row
-- every column NULL; tables with a `note` column have one row per special value and say which.
-- Changing a row here changes the fixtures: re-record them (scripts/record-debezium.sh) in the
-- same commit.
--
-- The session runs with TimeZone=UTC (record.py sets PGTZ), so literals without an offset are UTC.

\set ON_ERROR_STOP on

CREATE EXTENSION IF NOT EXISTS hstore;
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS ltree;
CREATE EXTENSION IF NOT EXISTS postgis;

-- A label with a space and one with a comma: Debezium lists the labels comma-separated in the
-- schema parameter `allowed`.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'very happy', 'with,comma');
CREATE TYPE complex_t AS (r float8, i float8, label text);
CREATE DOMAIN dom_int AS int4 CHECK (VALUE > 0);
CREATE DOMAIN dom_text AS text;
CREATE DOMAIN dom_numeric AS numeric(10, 2);
CREATE DOMAIN dom_inet AS inet;

-- ---------------------------------------------------------------------------------------------
-- Scalars. REPLICA IDENTITY FULL: updates and deletes carry the whole before image.
CREATE TABLE basic_types (
    id          int4 PRIMARY KEY,
    c_bool      bool,
    c_int2      int2,
    c_int4      int4,
    c_int8      int8,
    c_oid       oid,
    c_float4    float4,
    c_float8    float8,
    c_char      char(5),
    c_varchar   varchar(10),
    c_varchar_u varchar,
    c_text      text,
    c_name      name,
    c_bytea     bytea,
    c_uuid      uuid,
    c_json      json,
    c_jsonb     jsonb,
    c_xml       xml,
    c_bit1      bit(1),
    c_bit8      bit(8),
    c_varbit    varbit,
    c_inet      inet,
    c_cidr      cidr,
    c_macaddr   macaddr,
    c_macaddr8  macaddr8,
    c_tsvector  tsvector,
    c_tsquery   tsquery,
    c_pg_lsn    pg_lsn,
    c_xid8      xid8
);
ALTER TABLE basic_types REPLICA IDENTITY FULL;

-- The bit strings are not palindromes, so that the bit order Debezium uses shows.
INSERT INTO basic_types VALUES
(1, true, 12, 1234, 1234567890123, 12345, 1.5, 3.25, 'ab', 'ünïcödé', 'plain', 'line1
line2	tab "quote" \backslash ✓ 😀', 'some_name', '\xdeadbeef', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
 '{"b": 1, "a": [1, 2.50, {"c": null}]}', '{"b": 1, "a": [1, 2.50, {"c": null}]}',
 '<a b="1">text &amp; more</a>', B'1', B'11000001', B'110',
 '192.168.0.1', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
 'a fat cat sat on a mat', 'fat & (rat | cat)', '16/B374D848', '12345'),
(2, false, -32768, -2147483648, -9223372036854775808, 0, -3.4028235e38, -1.7976931348623157e308,
 '', '', '', '', '', '\x', '00000000-0000-0000-0000-000000000000',
 '"just a string"', 'null', 'plain text, no element', B'0', B'00000000', B'',
 '::1', '2001:db8::/32', '00:00:00:00:00:00', '00:00:00:00:00:00:00:00',
 '', 'a', '0/0', '0'),
(3, true, 32767, 2147483647, 9223372036854775807, 4294967295, 'NaN', 'NaN',
 'abcde', 'ten chars!', repeat('v', 20), E'\u0001 control, \u00e9 and \\ end', repeat('n', 63),
 '\x00ff7f80', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
 '[1.0, 1e3, -0, true, null]', '[1.0, 1e3, -0, true, null]', '<?xml version="1.0"?><r/>',
 B'1', B'00000001', B'1101000000000',
 '2001:db8::1/64', '192.168.0.0/24', 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff',
 to_tsvector('english', 'The quick brown foxes jumped'), to_tsquery('english', '!jumping & fox:*'),
 'FFFFFFFF/FFFFFFFF', '18446744073709551615'),
(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- Floating point specials in their own table: one row per value, so each is easy to find.
CREATE TABLE float_types (
    id       int4 PRIMARY KEY,
    note     text,
    c_float4 float4,
    c_float8 float8
);
INSERT INTO float_types VALUES
(1, 'zero', 0, 0),
(2, 'negative zero', '-0', '-0'),
(3, 'NaN', 'NaN', 'NaN'),
(4, 'Infinity', 'Infinity', 'Infinity'),
(5, '-Infinity', '-Infinity', '-Infinity'),
(6, 'smallest subnormal', 1.4e-45, 4.9e-324),
(7, 'largest finite', 3.4028235e38, 1.7976931348623157e308),
(8, 'one tenth', 0.1, 0.1),
(9, 'tiny and huge', 1e-9, 1e300),
(10, 'integral', 16777216, 9007199254740993),
(11, 'NULL', NULL, NULL);

-- ---------------------------------------------------------------------------------------------
-- Numbers that decimal.handling.mode changes: numeric in every shape, money, a numeric domain.
CREATE TABLE numeric_types (
    id          int4 PRIMARY KEY,
    note        text,
    c_numeric   numeric,
    c_num_10_2  numeric(10, 2),
    c_num_38_9  numeric(38, 9),
    c_num_20_0  numeric(20, 0),
    c_num_neg   numeric(5, -2),
    c_money     money,
    c_dom_num   dom_numeric
);
INSERT INTO numeric_types VALUES
(1, 'ordinary', 12345.678, 12345.67, 1.5, 42, 12300, 1234.56, 99.99),
(2, 'negative', -0.001, -99999999.99, -123456789.123456789, -99999999999999999999, -9999900,
 '-92233720368547758.08', -0.01),
(3, 'extremes', 123456789012345678901234567890.123, 0.01, 0.000000001, 99999999999999999999,
 9999900, '92233720368547758.07', 12345678.90),
(4, 'tiny, zero, trailing zeros', 1E-9, 0, 100.000000000, 0, 0, 0, 0.00),
(5, 'NULL', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(6, 'display scale kept: 100.500, 0E-20', 100.500, 0.5, 0.5, 7, 100, 0.5, 0.5),
(7, 'zero with a scale', 0.00000000000000000000, 0, 0, 0, 0, 0, 0);

-- numeric's special values. In their own table because Debezium might not survive them; rows
-- that PostgreSQL refuses (Infinity in a numeric(p,s) column) are NULL there.
CREATE TABLE numeric_special (
    id          int4 PRIMARY KEY,
    note        text,
    c_numeric   numeric,
    c_num_10_2  numeric(10, 2)
);
INSERT INTO numeric_special VALUES
(1, 'NaN', 'NaN', 'NaN'),
(2, 'Infinity', 'Infinity', NULL),
(3, '-Infinity', '-Infinity', NULL),
(4, 'ordinary', 1.5, 1.5);

-- ---------------------------------------------------------------------------------------------
-- Dates, times and intervals (interval.handling.mode changes interval).
CREATE TABLE time_types (
    id              int4 PRIMARY KEY,
    note            text,
    c_date          date,
    c_time          time,
    c_time0         time(0),
    c_time3         time(3),
    c_timetz        timetz,
    c_timestamp     timestamp,
    c_timestamp0    timestamp(0),
    c_timestamp3    timestamp(3),
    c_timestamp6    timestamp(6),
    c_timestamptz   timestamptz,
    c_timestamptz0  timestamptz(0),
    c_timestamptz3  timestamptz(3),
    c_timestamptz6  timestamptz(6),
    c_interval      interval
);
INSERT INTO time_types VALUES
(1, 'ordinary', '2024-02-29', '12:34:56.789012', '12:34:56.789012', '12:34:56.789512',
 '12:34:56.789012+05:30',
 '2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789512',
 '2024-02-29 12:34:56.789012',
 '2024-02-29 12:34:56.789012+02', '2024-02-29 12:34:56.789012+02', '2024-02-29 12:34:56.789512+02',
 '2024-02-29 12:34:56.789012+02',
 '1 year 2 months 3 days 04:05:06.789012'),
(2, 'epoch and zeroes', '1970-01-01', '00:00:00', '00:00:00', '00:00:00', '00:00:00+00',
 '1970-01-01 00:00:00', '1970-01-01 00:00:00', '1970-01-01 00:00:00', '1970-01-01 00:00:00',
 '1970-01-01 00:00:00+00', '1970-01-01 00:00:00+00', '1970-01-01 00:00:00+00',
 '1970-01-01 00:00:00+00', '0'),
(3, 'before 1970, BC, negative interval', '0001-12-31 BC', '23:59:59.999999', '23:59:59',
 '23:59:59.999', '23:59:59.999999-14:59',
 '1969-12-31 23:59:59.999999', '0001-01-01 00:00:00', '1900-01-01 00:00:00.5',
 '4713-01-01 00:00:00 BC',
 '1969-12-31 23:59:59.999999+00', '0001-01-01 00:00:00+00', '1900-01-01 00:00:00.5+00',
 '4713-01-01 00:00:00+00 BC', '-1 year -2 mons +3 days -04:05:06.000001'),
(4, 'infinity', 'infinity', '24:00:00', '24:00:00', '24:00:00', '24:00:00+00',
 'infinity', 'infinity', 'infinity', 'infinity',
 'infinity', 'infinity', 'infinity', 'infinity', '1 mon'),
(5, '-infinity and the largest values', '-infinity', '00:00:00.000001', '00:00:01', '00:00:00.001',
 '00:00:00.000001+15:59',
 '-infinity', '294276-12-31 23:59:59', '294276-12-31 23:59:59.999', '294276-12-31 23:59:59.999999',
 '-infinity', '294276-12-31 23:59:59+00', '294276-12-31 23:59:59.999+00',
 '294276-12-31 23:59:59.999999+00', '178000000 years'),
(6, 'largest date, half seconds, 1 day vs 24 hours', '5874897-12-31', '12:00:00.5', NULL, NULL,
 '12:00:00.5-01:30',
 '2000-01-01 00:00:00.5', NULL, NULL, NULL, '2000-01-01 00:00:00.5+00', NULL, NULL, NULL,
 '1 day -24 hours'),
(7, 'NULL', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- ---------------------------------------------------------------------------------------------
-- Arrays.
CREATE TABLE array_types (
    id              int4 PRIMARY KEY,
    c_int4_arr      int4[],
    c_int2_arr      int2[],
    c_int8_arr      int8[],
    c_text_arr      text[],
    c_varchar_arr   varchar(5)[],
    c_bool_arr      bool[],
    c_float8_arr    float8[],
    c_numeric_arr   numeric[],
    c_num_arr_10_2  numeric(10, 2)[],
    c_mood_arr      mood[],
    c_int4_2d       int4[][],
    c_uuid_arr      uuid[],
    c_date_arr      date[],
    c_timestamptz_arr timestamptz[],
    c_jsonb_arr     jsonb[],
    c_bytea_arr     bytea[],
    c_inet_arr      inet[]
);
INSERT INTO array_types VALUES
(1, '{1,2,3}', '{-1,1}', '{9223372036854775807}', '{"a","b,c","d\"e","","NULL"}', '{"ab","cde"}',
 '{true,false}', '{1.5,-0.25}', '{1.5,-0.001,100}', '{1.50,2}', '{sad,"very happy","with,comma"}',
 '{{1,2},{3,4}}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{2024-02-29,1970-01-01}',
 '{"2024-02-29 12:34:56.789012+00"}', '{"{\"k\": 1}","[]"}', '{"\\x00ff"}', '{192.168.0.1,::1/128}'),
(2, '{1,NULL,3}', '{NULL}', '{NULL,1}', '{NULL,"x"}', '{NULL}', '{NULL,true}', '{NaN,Infinity,-Infinity}',
 '{NaN,1}', '{NULL}', '{NULL,ok}', '{{1,NULL},{NULL,4}}', '{NULL}', '{infinity,-infinity}',
 '{infinity}', '{NULL,"null"}', '{NULL,"\\x"}', '{NULL}'),
(3, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'),
(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- ---------------------------------------------------------------------------------------------
-- Ranges and multiranges.
CREATE TABLE range_types (
    id          int4 PRIMARY KEY,
    c_int4range int4range,
    c_int8range int8range,
    c_numrange  numrange,
    c_tsrange   tsrange,
    c_tstzrange tstzrange,
    c_daterange daterange,
    c_int4multirange int4multirange,
    c_int8multirange int8multirange,
    c_nummultirange  nummultirange,
    c_tsmultirange   tsmultirange,
    c_tstzmultirange tstzmultirange,
    c_datemultirange datemultirange
);
INSERT INTO range_types VALUES
(1, '[1,10)', '(1,10]', '(1.5,2.5]', '[2024-01-01 00:00,2024-01-02 12:30:00.5)',
 '[2024-01-01 00:00+00,2024-01-02 00:00+02)', '[2024-01-01,2024-02-01)',
 '{[1,3),[5,7)}', '{[1,3)}', '{[1.5,2.5],(3,4)}', '{[2024-01-01 00:00,2024-01-02 00:00)}',
 '{[2024-01-01 00:00+00,2024-01-02 00:00+00)}', '{[2024-01-01,2024-01-05),[2024-02-01,2024-02-03)}'),
(2, 'empty', 'empty', 'empty', 'empty', 'empty', 'empty', '{}', '{}', '{}', '{}', '{}', '{}'),
(3, '(,)', '[5,)', '(,0]', '(,"2024-01-01 00:00")', '["2024-01-01 00:00+00",infinity]', '[-infinity,2024-01-01)',
 '{(,5),[10,)}', '{(,)}', '{(,0]}', '{(,)}', '{[2024-01-01 00:00+00,)}', '{[2024-01-01,)}'),
(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- ---------------------------------------------------------------------------------------------
-- Geometry: PostgreSQL's geometric types and PostGIS.
CREATE TABLE geo_types (
    id          int4 PRIMARY KEY,
    c_point     point,
    c_line      line,
    c_lseg      lseg,
    c_box       box,
    c_path_open path,
    c_path_closed path,
    c_polygon   polygon,
    c_circle    circle,
    c_geometry  geometry,
    c_geom_point_4326 geometry(Point, 4326),
    c_geography geography,
    c_geog_point geography(Point, 4326)
);
INSERT INTO geo_types VALUES
(1, '(1.5,-2.25)', '{1,-1,0}', '[(0,0),(1,1)]', '((1,1),(0,0))', '[(0,0),(1,1),(2,0)]',
 '((0,0),(1,1),(2,0))', '((0,0),(1,1),(1,0))', '<(1,1),2>',
 'POINT(1 2)', 'SRID=4326;POINT(13.4 52.5)', 'POINT(-71.06 42.36)', 'SRID=4326;POINT(13.4 52.5)'),
(2, '(0,0)', '{0,1,-2.5}', '[(-1.5,2),(3,-4.25)]', '((0,0),(0,0))', '[(0,0)]', '((0,0))',
 '((0,0))', '<(0,0),0>',
 'SRID=4326;POINT(13.4 52.5)', 'SRID=4326;POINT(-180 -90)', 'LINESTRING(0 0,1 1)',
 'SRID=4326;POINT(-180 -90)'),
(3, '(1e300,-1e-300)', '{1,0,-3}', '[(0,0),(0,0)]', '((-1,-1),(1,1))',
 '[(0,0),(1,1),(2,0),(3,3)]', '((0,0),(1,1))', '((0,0),(1,1),(2,0),(1,-1))', '<(-1.5,2.5),0.5>',
 'LINESTRING(0 0,1 1,2 1)', NULL, 'POLYGON((0 0,1 0,1 1,0 1,0 0))', NULL),
(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'POLYGON((0 0,1 0,1 1,0 1,0 0))', NULL, NULL, NULL),
(5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'SRID=3857;POINT Z (1 2 3)', NULL, NULL, NULL),
(6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- ---------------------------------------------------------------------------------------------
-- User-defined types: enum, composite, domains. The primary key is changed in changes.sql.
CREATE TABLE custom_types (
    id          int4 PRIMARY KEY,
    c_mood      mood,
    c_complex   complex_t,
    c_dom_int   dom_int,
    c_dom_text  dom_text,
    c_dom_numeric dom_numeric,
    c_dom_inet  dom_inet
);
INSERT INTO custom_types VALUES
(1, 'happy', ROW(1.5, -2, 'a "quoted", (text)'), 1, 'domain text', 12345.67, '10.1.2.3'),
(2, 'very happy', ROW(NULL, NULL, NULL), 2147483647, '', -0.01, '::ffff:1.2.3.4/128'),
(3, 'with,comma', ROW(0, 0, ''), 42, 'x', 99999999.99, '192.168.0.0/16'),
(4, NULL, NULL, NULL, NULL, NULL, NULL);

-- ---------------------------------------------------------------------------------------------
-- Extension types (hstore.handling.mode changes hstore).
CREATE TABLE ext_types (
    id          int4 PRIMARY KEY,
    c_hstore    hstore,
    c_citext    citext,
    c_ltree     ltree,
    c_ltree_arr ltree[]
);
INSERT INTO ext_types VALUES
(1, '"a"=>"1", "b"=>NULL, "c d"=>"x\"y", "ü"=>"ö"', 'MiXeD Case', 'Top.Science.Astronomy',
 '{Top.Science,Top.Hobbies}'),
(2, '', '', '', '{}'),
(3, '"key"=>"value"', 'ünïcödé ÄÖÜ', 'a', '{NULL,a.b}'),
(4, NULL, NULL, NULL, NULL);

-- ---------------------------------------------------------------------------------------------
-- Large values stored out of line (TOAST, no compression): an update that leaves them unchanged
-- streams them as "unchanged TOAST" (Debezium's unavailable.value.placeholder). Default replica
-- identity, as in most real tables.
CREATE TABLE toast_types (
    id          int4 PRIMARY KEY,
    note        text,
    c_text      text,
    c_varchar   varchar,
    c_bytea     bytea,
    c_jsonb     jsonb,
    c_int4_arr  int4[],
    c_text_arr  text[]
);
ALTER TABLE toast_types
    ALTER c_text SET STORAGE EXTERNAL,
    ALTER c_varchar SET STORAGE EXTERNAL,
    ALTER c_bytea SET STORAGE EXTERNAL,
    ALTER c_jsonb SET STORAGE EXTERNAL,
    ALTER c_int4_arr SET STORAGE EXTERNAL,
    ALTER c_text_arr SET STORAGE EXTERNAL;
INSERT INTO toast_types VALUES
(1, 'small', repeat('t', 2100), repeat('v', 2100), decode(repeat('ab', 2100), 'hex'),
 jsonb_build_object('k', repeat('j', 2100)), array_fill(7, ARRAY[550]),
 array_fill('x'::text, ARRAY[420]));

-- ---------------------------------------------------------------------------------------------
-- A table without a primary key (REPLICA IDENTITY FULL, else PostgreSQL refuses its updates once
-- it is published): Debezium's key is null.
CREATE TABLE nopk_types (
    id          int4,
    c_text      text,
    c_num       numeric(10, 2),
    c_date      date
);
ALTER TABLE nopk_types REPLICA IDENTITY FULL;
INSERT INTO nopk_types VALUES
(1, 'one', 1.10, '2024-01-01'),
(1, 'one', 1.10, '2024-01-01'),
(2, NULL, NULL, NULL);

-- ---------------------------------------------------------------------------------------------
-- changes.sql ends with an insert here; record.py stops when it has seen it.
CREATE TABLE marker (
    id          int4 PRIMARY KEY,
    label       text
);
