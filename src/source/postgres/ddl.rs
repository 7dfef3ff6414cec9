//! DDL capture: an event trigger pair (`ddl_command_end`, `sql_drop`) whose function writes
//! each statement and its objects into the WAL as a transactional logical message
//! (`pg_logical_emit_message(true, 'tributary:<task>', json)`), and the stream's side that
//! decides whether a captured statement is migrated.
//!
//! The trigger runs inside the user's DDL transaction, so its function catches every exception
//! and only raises a WARNING: a broken capture never makes the user's DDL fail. The message
//! travels in the stream with the DML around it, so the DDL record is produced (and flushed)
//! before any later event. It is created once per task, by shard 0, and every shard of the
//! task reads it; a table's DDL is migrated by the shard that selects the table, any other
//! object's by shard 0, so each statement is migrated once.
//!
//! A statement is migrated when it is one of the `MIGRATED` kinds, was typed by the client as
//! such (its query text starts with the command), is alone in its query string, names neither
//! CASCADE nor RESTRICT, concerns an object of the task, and its transaction changes no rows
//! (the stream checks that at the commit). Anything else is logged as skipped with the reason.

use serde::Deserialize;
use tokio_postgres::Client;

use super::error::PgSourceError;
use super::slot::object_name;
use crate::checkpoint::{ObjectKind, SourceObject};
use crate::config::TableSelection;

/// The schema the capture function is created in.
const FUNCTION_SCHEMA: &str = "public";

/// The statement kinds (command tags) that are migrated. TRUNCATE comes from pgoutput.
pub const MIGRATED: [&str; 13] = [
    "CREATE TABLE",
    "ALTER TABLE",
    "DROP TABLE",
    "CREATE VIEW",
    "ALTER VIEW",
    "DROP VIEW",
    "CREATE PROCEDURE",
    "ALTER PROCEDURE",
    "DROP PROCEDURE",
    "CREATE FUNCTION",
    "DROP FUNCTION",
    "CREATE INDEX",
    "DROP INDEX",
];

/// The logical message prefix of the task's captured DDL.
pub fn prefix(task: &str) -> String {
    format!("tributary:{task}")
}

/// The names of the capture's event triggers and function (shard 0's incarnation).
fn names(task: &str, incarnation: &str) -> (String, String, String) {
    let on_end = object_name(task, &format!("{incarnation}_ddl"), 0);
    let on_drop = object_name(task, &format!("{incarnation}_drop"), 0);
    (on_end.clone(), on_drop, on_end)
}

/// What the capture creates: two event triggers and their function. Only shard 0 of a task
/// with an incremental phase captures DDL.
pub fn plan(task: &str, incarnation: &str, shard: u32, incremental: bool) -> Vec<SourceObject> {
    if shard != 0 || !incremental {
        return Vec::new();
    }
    let (on_end, on_drop, function) = names(task, incarnation);
    vec![
        SourceObject {
            kind: ObjectKind::EventTrigger,
            name: on_end,
        },
        SourceObject {
            kind: ObjectKind::EventTrigger,
            name: on_drop,
        },
        SourceObject {
            kind: ObjectKind::Function,
            name: format!("{FUNCTION_SCHEMA}.{function}"),
        },
    ]
}

/// Creates the capture (function, then both triggers) in one transaction. Without superuser
/// (needed for event triggers) capture is off with a warning naming the lost feature.
/// Returns whether it was created.
pub async fn create(client: &Client, task: &str, incarnation: &str) -> Result<bool, PgSourceError> {
    if !is_superuser(client).await? {
        tracing::warn!(task, "DDL capture is off: creating its event trigger needs a superuser; DDL is not migrated (TRUNCATE still is), and a column added later shows up only in the next events");
        return Ok(false);
    }
    let (on_end, on_drop, function) = names(task, incarnation);
    let qualified = format!("{FUNCTION_SCHEMA}.\"{function}\"");
    let sql = format!(
        "BEGIN;\n{}\nCREATE EVENT TRIGGER \"{on_end}\" ON ddl_command_end EXECUTE FUNCTION {qualified}();\n\
         CREATE EVENT TRIGGER \"{on_drop}\" ON sql_drop EXECUTE FUNCTION {qualified}();\nCOMMIT;",
        function_sql(&qualified, task)
    );
    if let Err(e) = client.batch_execute(&sql).await {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(PgSourceError::sql(
            "creating the DDL capture's event trigger",
            e,
        ));
    }
    tracing::info!(task, trigger = %on_end, "DDL capture on: event triggers {on_end} and {on_drop}");
    Ok(true)
}

/// Whether the session's role is a superuser (event triggers need one).
pub async fn is_superuser(client: &Client) -> Result<bool, PgSourceError> {
    Ok(client
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the role's privileges", e))?
        .get(0))
}

/// The capture function: one message per statement, every error turned into a WARNING.
fn function_sql(qualified: &str, task: &str) -> String {
    let lit = |s: &str| s.replace('\'', "''");
    let prefix = lit(&prefix(task));
    let task = lit(task);
    format!(
        r#"CREATE FUNCTION {qualified}() RETURNS event_trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $tributary$
DECLARE
  objs jsonb := '[]'::jsonb;
  r record;
BEGIN
  -- tributary's own joins of tables created later (`join.rs`) are not the user's DDL.
  IF current_setting('tributary.joining', true) = 'on' THEN
    RETURN;
  END IF;
  IF TG_EVENT = 'ddl_command_end' AND TG_TAG LIKE 'DROP %' THEN
    RETURN;
  END IF;
  IF TG_EVENT = 'sql_drop' THEN
    FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() WHERE original AND NOT is_temporary LOOP
      objs := objs || jsonb_build_object('type', r.object_type, 'schema', r.schema_name,
        'name', r.object_name, 'identity', r.object_identity, 'oid', r.objid::bigint);
    END LOOP;
  ELSE
    FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
      objs := objs || jsonb_build_object('type', r.object_type, 'schema', r.schema_name,
        'name', CASE WHEN r.classid = 'pg_class'::regclass
                       THEN (SELECT relname::text FROM pg_class WHERE oid = r.objid)
                     WHEN r.classid = 'pg_proc'::regclass
                       THEN (SELECT proname::text FROM pg_proc WHERE oid = r.objid) END,
        'identity', r.object_identity, 'oid', r.objid::bigint);
    END LOOP;
  END IF;
  PERFORM pg_logical_emit_message(true, '{prefix}', jsonb_build_object('event', TG_EVENT,
    'tag', TG_TAG, 'query', current_query(), 'depth', pg_trigger_depth(), 'objects', objs)::text);
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'tributary task %: DDL capture failed, this statement is not migrated: % (SQLSTATE %)',
    '{task}', SQLERRM, SQLSTATE;
END
$tributary$;"#
    )
}

/// Drops the event trigger `name` if it exists; returns whether it did.
pub async fn drop_trigger(client: &Client, name: &str) -> Result<bool, PgSourceError> {
    let ctx = || format!("dropping event trigger {name}");
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_event_trigger WHERE evtname = $1",
            &[&name],
        )
        .await
        .map_err(|e| PgSourceError::sql(ctx(), e))?
        .is_some();
    if exists {
        client
            .batch_execute(&format!("DROP EVENT TRIGGER IF EXISTS \"{name}\""))
            .await
            .map_err(|e| PgSourceError::sql(ctx(), e))?;
    }
    Ok(exists)
}

/// Drops the argument-less function `schema.name` if it exists; returns whether it did.
pub async fn drop_function(client: &Client, qualified: &str) -> Result<bool, PgSourceError> {
    let ctx = || format!("dropping function {qualified}");
    let Some((schema, name)) = qualified.split_once('.') else {
        return Ok(false);
    };
    let sql = format!("\"{schema}\".\"{name}\"()");
    let exists = client
        .query_one("SELECT to_regprocedure($1) IS NOT NULL", &[&sql])
        .await
        .map_err(|e| PgSourceError::sql(ctx(), e))?
        .get::<_, bool>(0);
    if exists {
        client
            .batch_execute(&format!("DROP FUNCTION IF EXISTS {sql}"))
            .await
            .map_err(|e| PgSourceError::sql(ctx(), e))?;
    }
    Ok(exists)
}

/// Whether the task's capture trigger is still installed and enabled.
pub async fn capture_active(
    client: &Client,
    task: &str,
    incarnation: &str,
) -> Result<bool, PgSourceError> {
    let (on_end, _, _) = names(task, incarnation);
    let row = client
        .query_opt(
            "SELECT evtenabled <> 'D' FROM pg_event_trigger WHERE evtname = $1",
            &[&on_end],
        )
        .await
        .map_err(|e| PgSourceError::sql("reading the DDL capture's event trigger", e))?;
    Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
}

/// One captured statement, as the capture function wrote it.
#[derive(Debug, Clone, Deserialize)]
pub struct Captured {
    #[serde(default, deserialize_with = "text")]
    pub event: String,
    #[serde(default, deserialize_with = "text")]
    pub tag: String,
    #[serde(default, deserialize_with = "text")]
    pub query: String,
    #[serde(default)]
    pub depth: i32,
    #[serde(default)]
    pub objects: Vec<CapturedObject>,
}

/// One object a captured statement created, changed or dropped.
#[derive(Debug, Clone, Deserialize)]
pub struct CapturedObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub schema: Option<String>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub identity: String,
    pub oid: Option<i64>,
}

/// A JSON string, or null (what SQL gives for an unknown value) as "".
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

impl Captured {
    pub fn parse(content: &[u8]) -> Result<Captured, String> {
        serde_json::from_slice(content).map_err(|e| format!("unreadable DDL capture message: {e}"))
    }

    /// The object the statement is about: the first one of its tag's kind.
    pub fn object(&self) -> Option<&CapturedObject> {
        let kind = self
            .tag
            .split_once(' ')
            .map(|(_, k)| k.to_ascii_lowercase())?;
        self.objects.iter().find(|o| o.kind == kind)
    }
}

/// What the stream does with a captured statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Migrated: the statement text (no trailing `;`).
    Migrate(String),
    /// Not migrated, with the reason.
    Skip(String),
    /// Another shard of the task migrates it: nothing to say.
    OtherShard,
}

/// Who decides whether an object belongs to this shard.
pub struct Scope<'a> {
    pub selection: &'a TableSelection,
    pub shard: u32,
    /// Whether a table with this OID is known to the stream (selected or already streamed).
    pub known_table: &'a dyn Fn(u32) -> bool,
}

/// Decides whether `c` is migrated by this shard (the transaction check comes later).
pub fn judge(c: &Captured, scope: &Scope<'_>) -> Verdict {
    if !MIGRATED.contains(&c.tag.as_str()) {
        return Verdict::Skip(format!("{} statements are not migrated", c.tag));
    }
    let Some(obj) = c.object() else {
        return Verdict::Skip(format!("{}: no object of its kind was reported", c.tag));
    };
    match belongs(obj, scope) {
        Belongs::Here => {}
        Belongs::OtherShard => return Verdict::OtherShard,
        Belongs::Outside => {
            return Verdict::Skip(format!(
                "{} is outside the task's selection (or another shard's)",
                obj.identity
            ))
        }
    }
    if c.depth > 0 || !typed_as(&c.query, &c.tag) {
        return Verdict::Skip(
            "run indirectly (through a function, a DO block or a trigger): the client's statement is not the DDL".into(),
        );
    }
    let Some(statement) = single_statement(&c.query) else {
        return Verdict::Skip(
            "its query string holds several statements, so the DDL's own text cannot be told apart"
                .into(),
        );
    };
    if has_word(&statement, &["CASCADE", "RESTRICT"]) {
        return Verdict::Skip(
            "CASCADE or RESTRICT: its effect on other objects cannot be replayed as written".into(),
        );
    }
    Verdict::Migrate(statement)
}

enum Belongs {
    Here,
    OtherShard,
    Outside,
}

/// Not this shard's: shard 0 says so once (a sharded task's other shards may select it).
fn outside(scope: &Scope<'_>) -> Belongs {
    if scope.shard == 0 {
        Belongs::Outside
    } else {
        Belongs::OtherShard
    }
}

fn belongs(obj: &CapturedObject, scope: &Scope<'_>) -> Belongs {
    let schema = obj.schema.as_deref().unwrap_or_default();
    if obj.kind == "table" {
        let known = obj
            .oid
            .and_then(|o| u32::try_from(o).ok())
            .is_some_and(|o| (scope.known_table)(o));
        let name = obj.name.as_deref().unwrap_or_default();
        if known || scope.selection.includes(schema, name) {
            return Belongs::Here;
        }
        return outside(scope);
    }
    if !scope.selection.covers_schema(schema) {
        return outside(scope);
    }
    if scope.shard == 0 {
        Belongs::Here
    } else {
        Belongs::OtherShard
    }
}

/// Whether the client's query text is the command itself: its first word is the tag's verb
/// and the tag's object word follows within a few words (`CREATE OR REPLACE FUNCTION`,
/// `CREATE UNIQUE INDEX CONCURRENTLY`, `CREATE UNLOGGED TABLE`).
fn typed_as(query: &str, tag: &str) -> bool {
    let text = strip_leading_comments(query).to_ascii_uppercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .take(5)
        .collect();
    let mut tag_words = tag.split(' ');
    let (Some(verb), Some(kind)) = (tag_words.next(), tag_words.next()) else {
        return false;
    };
    words.first() == Some(&verb) && words.contains(&kind)
}

fn strip_leading_comments(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return s;
        }
    }
}

/// The query text as one statement without its trailing `;`, or `None` when it holds
/// several. Quotes, dollar quotes and comments are skipped.
pub fn single_statement(query: &str) -> Option<String> {
    let code = code_only(query);
    let trimmed = query.trim().trim_end_matches(';').trim_end();
    let code_trimmed = code.trim().trim_end_matches(';');
    if code_trimmed.contains(';') {
        return None;
    }
    Some(trimmed.to_owned())
}

/// Whether `text`, outside quotes and comments, has one of `words` as a whole word.
fn has_word(text: &str, words: &[&str]) -> bool {
    code_only(text)
        .to_ascii_uppercase()
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|w| words.contains(&w))
}

/// `text` with quoted strings, quoted identifiers, dollar-quoted bodies and comments blanked.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        let skip = if rest.starts_with("--") {
            rest.find('\n').unwrap_or(rest.len())
        } else if rest.starts_with("/*") {
            rest.find("*/").map_or(rest.len(), |e| e + 2)
        } else if b[i] == b'\'' || b[i] == b'"' {
            let q = b[i] as char;
            rest[1..].find(q).map_or(rest.len(), |e| e + 2)
        } else if let Some(tag) = dollar_tag(rest) {
            rest[tag.len()..]
                .find(tag)
                .map_or(rest.len(), |e| e + 2 * tag.len())
        } else {
            0
        };
        if skip > 0 {
            out.push(' ');
            i += skip;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `$tag$` or `$$` at the start of `s`.
fn dollar_tag(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('$')?;
    let end = rest.find('$')?;
    let tag = &rest[..end];
    tag.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then(|| &s[..end + 2])
        .filter(|_| !tag.starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_is_told_from_several() {
        assert_eq!(
            single_statement("ALTER TABLE t ADD c int;").as_deref(),
            Some("ALTER TABLE t ADD c int")
        );
        assert!(single_statement("ALTER TABLE t ADD c int; INSERT INTO t VALUES (1)").is_none());
        let body = "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$";
        assert_eq!(single_statement(body).as_deref(), Some(body));
        assert!(single_statement("COMMENT ON TABLE t IS 'a;b'").is_some());
    }

    #[test]
    fn null_texts_are_read_as_empty() {
        let c = Captured::parse(br#"{"event":"sql_drop","tag":"DROP FUNCTION","query":null,"depth":0,"objects":[{"type":"event trigger","schema":null,"name":null,"identity":null,"oid":1}]}"#).unwrap();
        assert_eq!(c.query, "");
        assert_eq!(c.objects[0].identity, "");
    }

    #[test]
    fn cascade_counts_only_outside_quotes() {
        assert!(has_word("DROP TABLE t CASCADE", &["CASCADE"]));
        assert!(!has_word("ALTER TABLE t ADD \"cascade\" int", &["CASCADE"]));
        assert!(!has_word("COMMENT ON TABLE t IS 'cascade'", &["CASCADE"]));
        assert!(!has_word("ALTER TABLE cascades ADD c int", &["CASCADE"]));
    }

    fn captured(tag: &str, query: &str, kind: &str, schema: &str, name: &str) -> Captured {
        Captured {
            event: "ddl_command_end".into(),
            tag: tag.into(),
            query: query.into(),
            depth: 0,
            objects: vec![CapturedObject {
                kind: kind.into(),
                schema: Some(schema.into()),
                name: Some(name.into()),
                identity: format!("{schema}.{name}"),
                oid: Some(42),
            }],
        }
    }

    fn selection(tables: &[&str]) -> TableSelection {
        let list: Vec<String> = tables.iter().map(|t| format!("{t:?}")).collect();
        let spec: crate::config::ObjectsSpec =
            toml::from_str(&format!("tables = [{}]", list.join(", "))).unwrap();
        TableSelection::from_spec(&spec).unwrap()
    }

    /// A sharded task migrates each statement once: a table's on the shard selecting it,
    /// anything else on shard 0.
    #[test]
    fn each_statement_is_migrated_by_one_shard() {
        let alter = captured(
            "ALTER TABLE",
            "ALTER TABLE app.a ADD c int",
            "table",
            "app",
            "a",
        );
        let view = captured(
            "CREATE VIEW",
            "CREATE VIEW app.v AS SELECT 1",
            "view",
            "app",
            "v",
        );
        let unknown = |_: u32| false;
        let shards = [selection(&["app.b"]), selection(&["app.a"])];
        let verdicts = |c: &Captured| -> Vec<Verdict> {
            shards
                .iter()
                .enumerate()
                .map(|(i, sel)| {
                    judge(
                        c,
                        &Scope {
                            selection: sel,
                            shard: i as u32,
                            known_table: &unknown,
                        },
                    )
                })
                .collect()
        };
        let migrated = |v: &[Verdict]| {
            v.iter()
                .filter(|v| matches!(v, Verdict::Migrate(_)))
                .count()
        };
        let a = verdicts(&alter);
        assert_eq!(migrated(&a), 1, "{a:?}");
        assert!(matches!(a[1], Verdict::Migrate(_)), "{a:?}");
        let v = verdicts(&view);
        assert_eq!(migrated(&v), 1, "{v:?}");
        assert!(matches!(v[0], Verdict::Migrate(_)), "{v:?}");
        let elsewhere = captured(
            "ALTER TABLE",
            "ALTER TABLE x.t ADD c int",
            "table",
            "x",
            "t",
        );
        let e = verdicts(&elsewhere);
        assert!(
            matches!(e[0], Verdict::Skip(_)) && e[1] == Verdict::OtherShard,
            "{e:?}"
        );
    }

    #[test]
    fn indirect_ddl_is_recognised() {
        assert!(typed_as("alter table t add c int", "ALTER TABLE"));
        assert!(typed_as(
            "-- note\nCREATE OR REPLACE FUNCTION f() ...",
            "CREATE FUNCTION"
        ));
        assert!(typed_as(
            "CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)",
            "CREATE INDEX"
        ));
        assert!(!typed_as("SELECT add_column()", "ALTER TABLE"));
        assert!(!typed_as(
            "DO $$ BEGIN EXECUTE 'ALTER TABLE t ADD c int'; END $$",
            "ALTER TABLE"
        ));
    }
}
