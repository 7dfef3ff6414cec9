//! Whether a table's UPDATE and DELETE can be published: its replica identity, judged from
//! facts read elsewhere, so that the rule is one pure function the preflight and the precheck
//! share and unit tests can cover case by case.

use crate::schema::ReplicaIdentity;

/// PostgreSQL refuses UPDATE and DELETE on a published table without one of these: the primary
/// key under the default identity, `USING INDEX`, or FULL. A unique index alone is not one.
pub fn has_usable_identity(identity: ReplicaIdentity, has_primary_key: bool) -> bool {
    match identity {
        ReplicaIdentity::Default => has_primary_key,
        ReplicaIdentity::Full | ReplicaIdentity::Index => true,
        ReplicaIdentity::Nothing => false,
    }
}

/// What the judgement needs to know about one selected table.
#[derive(Debug, Clone)]
pub struct IdentityFacts {
    /// `schema.table`.
    pub table: String,
    pub identity: ReplicaIdentity,
    pub has_primary_key: bool,
    /// A unique index over NOT NULL columns only (it could serve as `USING INDEX`).
    pub unique_index: Option<String>,
    /// Published for inserts only (`objects.insert_only`): no identity needed.
    pub insert_only: bool,
    /// Listed in `objects.replica_identity_full`: tributary sets FULL.
    pub sets_full: bool,
    /// Why the table's row filter needs full before images, when it does and the identity is
    /// not FULL (`crate::filter::place`'s refusal).
    pub filter_needs_full: Option<String>,
}

/// The table's identity is usable (with what tributary will set, if anything), or the
/// problem and the fix. `auto`: tributary sets a usable identity itself
/// (`objects.replica_identity = "auto"`): `USING INDEX` over a unique NOT NULL index, else
/// FULL, and FULL where a row filter needs full before images.
pub fn judge_identity(f: &IdentityFacts, auto: bool) -> Result<Option<String>, (String, String)> {
    if f.insert_only {
        return Ok(None);
    }
    if f.sets_full {
        return Ok(Some(format!(
            "{}: tributary sets REPLICA IDENTITY FULL (objects.replica_identity_full)",
            f.table
        )));
    }
    if let Some(reason) = &f.filter_needs_full {
        if auto {
            return Ok(Some(format!(
                "{}: tributary sets REPLICA IDENTITY FULL for its row filter",
                f.table
            )));
        }
        return Err((
            format!("table {}: its row filter {reason}", f.table),
            String::new(),
        ));
    }
    if has_usable_identity(f.identity, f.has_primary_key) {
        return Ok(None);
    }
    if auto {
        let set = match &f.unique_index {
            Some(idx) => format!("REPLICA IDENTITY USING INDEX {idx}"),
            None => "REPLICA IDENTITY FULL".into(),
        };
        return Ok(Some(format!("{}: tributary sets {set}", f.table)));
    }
    Err(unusable(f))
}

fn unusable(f: &IdentityFacts) -> (String, String) {
    let t = &f.table;
    let options = format!("set objects.replica_identity = \"auto\" (tributary sets a usable identity), list it in objects.replica_identity_full (tributary sets REPLICA IDENTITY FULL) or in objects.insert_only, or run ALTER TABLE {t} REPLICA IDENTITY FULL");
    let found = match (f.identity, &f.unique_index) {
        (ReplicaIdentity::Nothing, _) => format!("table {t} has REPLICA IDENTITY NOTHING, so its UPDATE and DELETE would fail once it is published"),
        (_, Some(idx)) => format!("table {t} has no primary key, and its unique index {idx} alone is not a replica identity, so its UPDATE and DELETE would fail once it is published"),
        _ => format!("table {t} has no primary key and no REPLICA IDENTITY FULL, so its UPDATE and DELETE would fail once it is published"),
    };
    let fix = match &f.unique_index {
        Some(idx) => format!("run ALTER TABLE {t} REPLICA IDENTITY USING INDEX {idx}, add a primary key, or {options}"),
        None => format!("add a primary key, or {options}"),
    };
    (found, fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(identity: ReplicaIdentity, pk: bool, unique: Option<&str>) -> IdentityFacts {
        IdentityFacts {
            table: "public.t".into(),
            identity,
            has_primary_key: pk,
            unique_index: unique.map(str::to_owned),
            insert_only: false,
            sets_full: false,
            filter_needs_full: None,
        }
    }

    #[test]
    fn a_primary_key_an_identity_index_or_full_is_usable() {
        use ReplicaIdentity::*;
        assert_eq!(judge_identity(&facts(Default, true, None), false), Ok(None));
        assert_eq!(
            judge_identity(&facts(Index, false, Some("u")), false),
            Ok(None)
        );
        assert_eq!(judge_identity(&facts(Full, false, None), false), Ok(None));
    }

    #[test]
    fn a_unique_index_alone_is_not_an_identity_and_the_fix_names_it() {
        let (found, fix) =
            judge_identity(&facts(ReplicaIdentity::Default, false, Some("t_u")), false)
                .unwrap_err();
        assert!(
            found.contains("unique index t_u alone is not a replica identity"),
            "{found}"
        );
        assert!(fix.contains("REPLICA IDENTITY USING INDEX t_u"), "{fix}");
        let (found, _) =
            judge_identity(&facts(ReplicaIdentity::Nothing, true, None), false).unwrap_err();
        assert!(found.contains("NOTHING"), "{found}");
    }

    #[test]
    fn tributary_setting_the_identity_makes_it_usable() {
        let mut f = facts(ReplicaIdentity::Default, false, None);
        let auto = judge_identity(&f, true).unwrap().unwrap();
        assert!(auto.contains("REPLICA IDENTITY FULL"), "{auto}");
        f.unique_index = Some("t_u".into());
        let auto = judge_identity(&f, true).unwrap().unwrap();
        assert!(auto.contains("USING INDEX t_u"), "{auto}");
        f.sets_full = true;
        assert!(judge_identity(&f, false).unwrap().is_some());
        let mut f = facts(ReplicaIdentity::Default, false, None);
        f.insert_only = true;
        assert_eq!(judge_identity(&f, false), Ok(None));
    }

    #[test]
    fn a_row_filter_that_needs_full_images_needs_full() {
        let mut f = facts(ReplicaIdentity::Default, true, None);
        f.filter_needs_full = Some("uses \"v\" outside the key".into());
        let (found, _) = judge_identity(&f, false).unwrap_err();
        assert!(found.contains("row filter"), "{found}");
        assert!(judge_identity(&f, true).unwrap().is_some());
    }
}
