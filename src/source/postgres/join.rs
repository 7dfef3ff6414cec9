//! Tables created later: a per-shard event trigger (`ddl_command_end` of `CREATE TABLE`,
//! `CREATE TABLE AS`, `SELECT INTO`) that, inside the creating transaction, makes a new table
//! matching the shard's selection part of its stream.
//!
//! - A table in a schema published whole (`FOR TABLES IN SCHEMA`) is in the publication
//!   already; any other is added to the shard's `FOR TABLE` publication (its insert-only one
//!   for an insert-only table), so its rows are captured from its first one.
//! - Under `objects.replica_identity = "auto"` it gets the identity `auto` gives a table at the
//!   start (`USING INDEX` its unique index on NOT NULL columns, FULL without one or where full
//!   before images are needed), so the application's UPDATE and DELETE never fail for want of
//!   one. Each identity set is announced as a transactional logical message the shard's stream
//!   turns into an identity record in the checkpoint (previous: `default`), so deleting the
//!   task restores it like any other (`super::identity`).
//! - Under `keep`, a keyless table is not added to a `FOR TABLE` publication (its UPDATE and
//!   DELETE would start failing); a WARNING says so.
//!
//! Like the DDL capture it runs in the user's transaction, so every error becomes a WARNING
//! and the block's work is undone: the user's `CREATE TABLE` never fails because of it. Its
//! own `ALTER` statements set `tributary.joining`, which the capture skips: they are not the
//! user's DDL. Event triggers need a superuser; without one, tables created later are joined
//! only through a schema published whole (and get no identity).

use tokio_postgres::Client;

use super::error::PgSourceError;
use super::slot::object_name;
use crate::checkpoint::{IdentityRecord, ObjectKind, SourceObject};
use crate::config::{TableSelection, TableSelector};

/// The schema the join function is created in (as the capture's).
const FUNCTION_SCHEMA: &str = "public";

/// The logical message prefix of a shard's identity records.
pub fn prefix(task: &str, shard: u32) -> String {
    format!("tributary-identity:{task}:{shard}")
}

fn name(task: &str, incarnation: &str, shard: u32) -> String {
    object_name(task, &format!("{incarnation}_join"), shard)
}

/// What the join creates: an event trigger and its function, on every shard with an
/// incremental phase.
pub fn plan(task: &str, incarnation: &str, shard: u32, incremental: bool) -> Vec<SourceObject> {
    if !incremental {
        return Vec::new();
    }
    let name = name(task, incarnation, shard);
    vec![
        SourceObject {
            kind: ObjectKind::EventTrigger,
            name: name.clone(),
        },
        SourceObject {
            kind: ObjectKind::Function,
            name: format!("{FUNCTION_SCHEMA}.{name}"),
        },
    ]
}

/// What the join function needs to know of the shard.
pub struct JoinSpec<'a> {
    pub task: &'a str,
    pub incarnation: &'a str,
    pub shard: u32,
    pub selection: &'a TableSelection,
    /// The schemas the main publication holds whole.
    pub whole_schemas: &'a [&'a str],
    /// The publications that exist: (main, insert-only), `None` where not created.
    pub main: Option<&'a str>,
    pub insert_only: Option<&'a str>,
    /// `objects.replica_identity = "auto"`.
    pub auto: bool,
    /// The format needs full before images (with `auto`: FULL everywhere).
    pub full_images: bool,
}

/// Creates the join (function, then trigger) in one transaction; without a superuser it is
/// off with a warning naming what is lost. Returns whether it was created.
pub async fn create(client: &Client, spec: &JoinSpec<'_>) -> Result<bool, PgSourceError> {
    if !super::ddl::is_superuser(client).await? {
        tracing::warn!(task = spec.task, shard = spec.shard, "tables created later are joined only through a schema published whole, and get no replica identity: the event trigger that joins them needs a superuser");
        return Ok(false);
    }
    let name = name(spec.task, spec.incarnation, spec.shard);
    let qualified = format!("{FUNCTION_SCHEMA}.\"{name}\"");
    let sql = format!(
        "BEGIN;\n{}\nCREATE EVENT TRIGGER \"{name}\" ON ddl_command_end \
         WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') EXECUTE FUNCTION {qualified}();\nCOMMIT;",
        function_sql(&qualified, spec)
    );
    if let Err(e) = client.batch_execute(&sql).await {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(PgSourceError::sql(
            "creating the event trigger that joins tables created later",
            e,
        ));
    }
    tracing::info!(task = spec.task, shard = spec.shard, trigger = %name, "tables created later that the selection names join the stream in their creating transaction");
    Ok(true)
}

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL condition on `t.s` (schema) and `t.n` (table) true when a selector names the table.
fn matches_sql(selectors: &[TableSelector]) -> String {
    let one = |s: &TableSelector| {
        format!(
            "(t.s ~ {} AND t.n ~ {})",
            lit(&s.schema_regex()),
            lit(&s.table_regex())
        )
    };
    let all: Vec<String> = selectors.iter().map(one).collect();
    if all.is_empty() {
        "false".into()
    } else {
        all.join(" OR ")
    }
}

/// A publication's name as a SQL literal, or NULL where it does not exist.
fn publication(p: Option<&str>) -> String {
    p.map_or_else(|| "NULL".to_owned(), lit)
}

/// The join function for `spec`.
fn function_sql(qualified: &str, spec: &JoinSpec<'_>) -> String {
    let sel = spec.selection;
    let whole: Vec<String> = spec.whole_schemas.iter().map(|s| lit(s)).collect();
    let whole = if whole.is_empty() {
        "false".into()
    } else {
        format!("t.s IN ({})", whole.join(", "))
    };
    let task = lit(spec.task);
    format!(
        r#"CREATE FUNCTION {qualified}() RETURNS event_trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $tributary$
DECLARE
  r record;
  t record;
  idx text;
  ident text;
  pub text;
  kind text;
BEGIN
  FOR r IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE object_type = 'table' LOOP
    SELECT n.nspname::text AS s, c.relname::text AS n, c.relkind, c.relispartition, c.relpersistence,
      EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS pk
      INTO t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = r.objid;
    CONTINUE WHEN NOT FOUND OR t.relkind NOT IN ('r', 'p') OR t.relispartition OR t.relpersistence <> 'p';
    CONTINUE WHEN NOT ({include});
    BEGIN
      ident := NULL; idx := NULL; pub := NULL; kind := NULL;
      IF {insert_only} THEN
        IF NOT ({whole}) THEN pub := {ins}; kind := 'insert-only'; END IF;
      ELSE
        IF {wants_full} THEN
          ident := 'full';
        ELSIF NOT t.pk AND {auto} THEN
          SELECT ic.relname::text INTO idx FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
            WHERE i.indrelid = r.objid AND i.indisunique AND i.indimmediate AND i.indisvalid
            AND i.indpred IS NULL AND i.indexprs IS NULL AND NOT EXISTS (
              SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid
              AND a.attnum = ANY(i.indkey) AND NOT a.attnotnull)
            ORDER BY ic.relname LIMIT 1;
          ident := CASE WHEN idx IS NULL THEN 'full' ELSE 'index:' || idx END;
        ELSIF NOT t.pk AND NOT ({whole}) THEN
          RAISE WARNING 'tributary task %: table %.% created later has no primary key, so it is not captured (in the publication its UPDATE and DELETE would fail): set objects.replica_identity = "auto", or give it a key and recreate the task', {task}, t.s, t.n;
          CONTINUE;
        END IF;
        IF NOT ({whole}) THEN pub := {main}; kind := 'main'; END IF;
      END IF;
      IF kind IS NOT NULL AND pub IS NULL THEN
        RAISE WARNING 'tributary task %: table %.% created later is not captured: the shard has no % publication to add it to (recreate the task to include it)', {task}, t.s, t.n, kind;
        CONTINUE;
      END IF;
      PERFORM set_config('tributary.joining', 'on', true);
      IF pub IS NOT NULL THEN
        EXECUTE format('ALTER PUBLICATION %I ADD TABLE %I.%I', pub, t.s, t.n);
      END IF;
      IF ident IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %I.%I REPLICA IDENTITY %s', t.s, t.n,
          CASE WHEN idx IS NULL THEN 'FULL' ELSE 'USING INDEX ' || quote_ident(idx) END);
        IF {auto} THEN
          PERFORM pg_logical_emit_message(true, {prefix}, jsonb_build_object('schema', t.s,
            'table', t.n, 'previous', 'default', 'set', ident)::text);
        END IF;
      END IF;
      PERFORM set_config('tributary.joining', '', true);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'tributary task %: table %.% created later is not captured: % (SQLSTATE %)',
        {task}, t.s, t.n, SQLERRM, SQLSTATE;
    END;
  END LOOP;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'tributary task %: tables created by this statement are not captured: % (SQLSTATE %)',
    {task}, SQLERRM, SQLSTATE;
END
$tributary$;"#,
        include = matches_sql(&sel.include),
        insert_only = matches_sql(&sel.insert_only),
        wants_full = if spec.auto && spec.full_images {
            "true".to_owned()
        } else {
            matches_sql(&sel.replica_identity_full)
        },
        auto = spec.auto,
        ins = publication(spec.insert_only),
        main = publication(spec.main),
        prefix = lit(&prefix(spec.task, spec.shard)),
    )
}

/// The identity record a join message carries.
pub fn parse_record(content: &[u8]) -> Result<IdentityRecord, String> {
    serde_json::from_slice(content).map_err(|e| format!("unreadable identity record message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(tables: &[&str]) -> TableSelection {
        TableSelection {
            include: tables
                .iter()
                .map(|t| TableSelector::parse(t).unwrap())
                .collect(),
            replica_identity_full: Vec::new(),
            insert_only: Vec::new(),
        }
    }

    #[test]
    fn selectors_become_anchored_regular_expressions() {
        let sel = selection(&["public.order_*", "\"a.b\".t?", "s.{x,y}"]);
        let sql = matches_sql(&sel.include);
        assert!(
            sql.contains("t.s ~ '^public$' AND t.n ~ '^order_.*$'"),
            "{sql}"
        );
        assert!(sql.contains("t.s ~ '^a\\.b$' AND t.n ~ '^t.$'"), "{sql}");
        assert!(sql.contains("t.n ~ '^(?:x|y)$'"), "{sql}");
        assert_eq!(matches_sql(&[]), "false");
    }

    #[test]
    fn a_missing_publication_is_null_and_names_are_quoted() {
        assert_eq!(publication(Some("p'x")), "'p''x'");
        assert_eq!(publication(None), "NULL");
    }

    #[test]
    fn records_read_back_from_the_message() {
        let r = parse_record(br#"{"schema":"s","table":"t","previous":"default","set":"full"}"#)
            .unwrap();
        assert_eq!((r.qualified_name(), r.set.as_str()), ("s.t".into(), "full"));
        assert!(parse_record(b"{").is_err());
    }
}
