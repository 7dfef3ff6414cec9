//! Table and type descriptions: what a Relation message (or the catalog, for a snapshot) says
//! about a table, with every column's type resolved to a wire-format kind.

use std::sync::Arc;

/// How a type's values are laid out on the wire, whatever the type is called.
///
/// Oracle-compatible PostgreSQL ships types such as NUMBER or VARCHAR2 with the wire format of a
/// built-in type (`shared/reference/ORACLE-COMPATIBLE-PG.md`): they resolve to that built-in kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeKind {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    /// text, varchar, bpchar, name and other text-like types.
    Text,
    Bytea,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    /// An enum label (wire format: the label's text), with the enum's labels in sort order.
    Enum(Arc<[String]>),
    /// A one-dimensional or multi-dimensional array of the element type.
    Array(Arc<PgType>),
    /// A range over the subtype (`pg_range.rngsubtype`), built-in or user-defined.
    Range(Arc<PgType>),
    /// A multirange of the range type.
    Multirange(Arc<PgType>),
    /// A composite (row) type: its live attributes in order.
    Composite(Arc<[CompositeField]>),
    /// A domain: the base type's wire format, and the domain's own type modifier
    /// (`pg_type.typtypmod`, -1 if none), which columns of the domain type inherit.
    Domain {
        base: Arc<PgType>,
        typmod: i32,
    },
    /// The `hstore` extension's key/value map (`hstore_send`).
    Hstore,
    /// The `ltree` extension's label path (`ltree_send`: a version byte and the text).
    Ltree,
    /// PostGIS `geometry` (`geometry_send`: EWKB).
    Geometry,
    /// PostGIS `geography` (`geography_send`: EWKB).
    Geography,
    /// No mapping: the value goes out as its text form with the catalog type name.
    Other,
}

/// One attribute of a composite type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompositeField {
    pub name: String,
    pub ty: Arc<PgType>,
}

/// A resolved PostgreSQL type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgType {
    pub oid: u32,
    /// The type's catalog name (`int4`, `varchar`, `number`), of the domain for a domain.
    pub name: String,
    pub namespace: String,
    pub kind: TypeKind,
    /// Whether the type has a binary send function. Values of a type without one (IvorySQL's
    /// `XMLTYPE`) always arrive as their text: pgoutput sends them as text even in binary
    /// mode, and the snapshot reads them cast to `text`.
    pub binary_send: bool,
}

impl PgType {
    pub fn new(oid: u32, name: &str, namespace: &str, kind: TypeKind) -> PgType {
        PgType {
            oid,
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            kind,
            binary_send: true,
        }
    }

    /// The same type, marked as having no binary send function (see `binary_send`).
    pub fn text_only(mut self) -> PgType {
        self.binary_send = false;
        self
    }

    /// The type under any domains: the type whose wire format and mapping a value has.
    pub fn root(&self) -> &PgType {
        let mut t = self;
        while let TypeKind::Domain { base, .. } = &t.kind {
            t = base;
        }
        t
    }

    /// The type modifier a column of this type with modifier `typmod` has: its own, else the
    /// nearest domain's (a column of a domain type has `atttypmod = -1`).
    pub fn effective_typmod(&self, typmod: i32) -> i32 {
        let mut t = self;
        let mut m = typmod;
        while let (-1, TypeKind::Domain { base, typmod }) = (m, &t.kind) {
            m = *typmod;
            t = base;
        }
        m
    }
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: Arc<PgType>,
    /// The type modifier (`atttypmod`): -1 when none.
    pub typmod: i32,
    /// Whether the column is part of the key (the primary key, or the replica identity index).
    pub is_key: bool,
    /// Whether NULL is allowed (`NOT NULL` absent). Key columns are never optional.
    pub nullable: bool,
}

impl Column {
    /// Precision and scale of a `numeric(p, s)` column, if constrained.
    pub fn numeric_precision_scale(&self) -> Option<(i32, i32)> {
        if self.typmod < 4 {
            return None;
        }
        let t = self.typmod - 4;
        let precision = (t >> 16) & 0xFFFF;
        // The scale is an 11-bit signed value since PostgreSQL 15 (negative scales allowed).
        let raw = t & 0x7FF;
        let scale = if raw & 0x400 != 0 { raw - 0x800 } else { raw };
        Some((precision, scale))
    }

    /// Fractional-second precision of a time/timestamp column; `None` means the default (6).
    pub fn time_precision(&self) -> Option<i32> {
        (self.typmod >= 0).then_some(self.typmod)
    }
}

/// The replica identity of a table (`pg_class.relreplident`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaIdentity {
    Default,
    Full,
    Nothing,
    Index,
}

impl ReplicaIdentity {
    pub fn from_code(c: u8) -> ReplicaIdentity {
        match c {
            b'f' => ReplicaIdentity::Full,
            b'n' => ReplicaIdentity::Nothing,
            b'i' => ReplicaIdentity::Index,
            _ => ReplicaIdentity::Default,
        }
    }
}

/// One table as the pipeline sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    /// The table's OID (the pgoutput relation id).
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    pub replica_identity: ReplicaIdentity,
}

impl TableSchema {
    /// `schema.table`, as used in logs, headers and selections.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// Indices of the key columns, in column order.
    pub fn key_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_key)
            .map(|(i, _)| i)
    }

    pub fn has_key(&self) -> bool {
        self.columns.iter().any(|c| c.is_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(typmod: i32) -> Column {
        let ty = Arc::new(PgType::new(
            1700,
            "numeric",
            "pg_catalog",
            TypeKind::Numeric,
        ));
        Column {
            name: "n".into(),
            ty,
            typmod,
            is_key: false,
            nullable: true,
        }
    }

    #[test]
    fn numeric_typmod_decodes_precision_and_scale() {
        assert_eq!(col(-1).numeric_precision_scale(), None);
        assert_eq!(
            col(((12 << 16) | 2) + 4).numeric_precision_scale(),
            Some((12, 2))
        );
        // numeric(5, -2): the scale is stored as an 11-bit two's complement value.
        assert_eq!(
            col(((5 << 16) | (0x800 - 2)) + 4).numeric_precision_scale(),
            Some((5, -2))
        );
    }
}
