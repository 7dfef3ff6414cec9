-- Probe (scripts/debezium/record.py): a domain over an enum type. Debezium's TypeRegistry reads
-- every type of the database when the connector starts and takes the labels of every type whose
-- typcategory is 'E'; a domain inherits that category from its enum but has no labels of its own.
-- The domain need not be used by any captured table.
\set ON_ERROR_STOP on

CREATE TYPE probe_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN probe_dom_mood AS probe_mood;
CREATE TABLE probe (id int4 PRIMARY KEY, c_mood probe_mood, c_dom_mood probe_dom_mood);
INSERT INTO probe VALUES (1, 'ok', 'happy');
CREATE TABLE marker (id int4 PRIMARY KEY, label text);
