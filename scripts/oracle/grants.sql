-- tributary's LogMiner user on an Oracle multitenant database (12.1 and later): a common user
-- in CDB$ROOT (LogMiner runs there) that can read the pluggable database's tables.
-- Run as SYSDBA in CDB$ROOT; replace the password. For a non-CDB, drop the C## prefix and the
-- CONTAINER clauses. The tables' SELECT can be narrowed from SELECT ANY TABLE to each table.
CREATE USER c##tributary IDENTIFIED BY "change-me" CONTAINER=ALL;

-- Connect, and switch to the PDB for the snapshot.
GRANT CREATE SESSION, SET CONTAINER TO c##tributary CONTAINER=ALL;
-- LogMiner: start and read it, and the dictionary it renders SQL_REDO with.
GRANT LOGMINING TO c##tributary CONTAINER=ALL;
GRANT EXECUTE ON DBMS_LOGMNR TO c##tributary CONTAINER=ALL;
GRANT EXECUTE_CATALOG_ROLE, SELECT_CATALOG_ROLE TO c##tributary CONTAINER=ALL;
GRANT SELECT ON V_$LOGMNR_CONTENTS TO c##tributary CONTAINER=ALL;
GRANT SELECT ON V_$LOGMNR_LOGS TO c##tributary CONTAINER=ALL;
-- The redo logs to mine: online and archived, and the current SCN.
GRANT SELECT ON V_$DATABASE TO c##tributary CONTAINER=ALL;
GRANT SELECT ON V_$LOG TO c##tributary CONTAINER=ALL;
GRANT SELECT ON V_$LOGFILE TO c##tributary CONTAINER=ALL;
GRANT SELECT ON V_$ARCHIVED_LOG TO c##tributary CONTAINER=ALL;
GRANT SELECT ON V_$ARCHIVE_DEST_STATUS TO c##tributary CONTAINER=ALL;
-- Transactions open at the snapshot SCN (mining starts at the oldest one's start).
GRANT SELECT ANY TRANSACTION TO c##tributary CONTAINER=ALL;
GRANT SELECT ON V_$TRANSACTION TO c##tributary CONTAINER=ALL;
GRANT SELECT ON GV_$TRANSACTION TO c##tributary CONTAINER=ALL;
-- The snapshot: each table read AS OF SCN (flashback query), and the tables' definitions.
GRANT FLASHBACK ANY TABLE TO c##tributary CONTAINER=ALL;
GRANT SELECT ANY TABLE TO c##tributary CONTAINER=ALL;
GRANT SELECT ANY DICTIONARY TO c##tributary CONTAINER=ALL;
-- logminer_dictionary = "redo_logs" only: write LogMiner's dictionary into the redo
-- (DBMS_LOGMNR_D.BUILD). The second grant is optional: with it the first build is archived at
-- once (ALTER SYSTEM ARCHIVE LOG CURRENT); without it, it is used after the next log switch.
GRANT EXECUTE ON DBMS_LOGMNR_D TO c##tributary CONTAINER=ALL;
-- GRANT ALTER SYSTEM TO c##tributary CONTAINER=ALL;
