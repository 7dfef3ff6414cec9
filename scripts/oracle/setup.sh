#!/bin/bash
# Prepares the compose service's Oracle Database Free for tributary (run once, by the image's
# init hook, as the oracle OS user): ARCHIVELOG mode (a restart into MOUNT), minimal
# database-level supplemental logging, the LogMiner user (grants.sql) and a sample SHOP schema
# in FREEPDB1 whose tables log ALL COLUMNS, so every UPDATE carries the whole row.
# Not run in this project's CI (no Oracle Database can run there): see README, "Oracle source".
set -euo pipefail
here=${TRIBUTARY_ORACLE_SCRIPTS:-$(cd "$(dirname "$0")" && pwd)}
password=${TRIBUTARY_ORACLE_PASSWORD:-tributary}

sqlplus -S / as sysdba <<SQL
WHENEVER SQLERROR EXIT FAILURE
ALTER SYSTEM SET db_recovery_file_dest_size = 10G;
SHUTDOWN IMMEDIATE
STARTUP MOUNT
ALTER DATABASE ARCHIVELOG;
ALTER DATABASE OPEN;
ALTER PLUGGABLE DATABASE ALL OPEN;
ALTER DATABASE ADD SUPPLEMENTAL LOG DATA;
SQL

sed "s/change-me/${password}/" "$here/grants.sql" | sqlplus -S / as sysdba

sqlplus -S / as sysdba <<SQL
WHENEVER SQLERROR EXIT FAILURE
ALTER SESSION SET CONTAINER = FREEPDB1;
CREATE USER shop IDENTIFIED BY "${password}" QUOTA UNLIMITED ON users;
GRANT CREATE SESSION, CREATE TABLE TO shop;
CREATE TABLE shop.orders (
  id NUMBER(10) PRIMARY KEY,
  customer VARCHAR2(100 CHAR) NOT NULL,
  amount NUMBER(12, 2),
  placed DATE DEFAULT SYSDATE,
  note CLOB
);
ALTER TABLE shop.orders ADD SUPPLEMENTAL LOG DATA (ALL) COLUMNS;
INSERT INTO shop.orders (id, customer, amount) VALUES (1, 'Ann', 12.50);
INSERT INTO shop.orders (id, customer, amount) VALUES (2, 'Bob', 99.99);
COMMIT;
SQL
echo "tributary: ARCHIVELOG, supplemental logging, user C##TRIBUTARY and SHOP.ORDERS are ready"
