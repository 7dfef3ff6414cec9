//! An Oracle table as the data dictionary describes it (`ALL_TAB_COLUMNS`, constraints): the
//! column types the SQL_REDO parser decodes values by, and the schema phase publishes.

/// An Oracle column type (`ALL_TAB_COLUMNS.DATA_TYPE` with its length, precision and scale).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OraType {
    /// `NUMBER(p, s)`; `NUMBER` alone has neither (`precision: None`), `NUMBER(*, s)` only s.
    /// Scale may be negative (`NUMBER(6, -2)`).
    Number {
        precision: Option<u8>,
        scale: Option<i8>,
    },
    /// `FLOAT(b)`: binary precision b (1–126), a NUMBER underneath.
    Float {
        binary_precision: u8,
    },
    BinaryFloat,
    BinaryDouble,
    /// `CHAR(n [BYTE|CHAR])`, `VARCHAR2`, `NCHAR`, `NVARCHAR2`: length and whether it counts
    /// characters.
    Char {
        length: u32,
        chars: bool,
    },
    Varchar2 {
        length: u32,
        chars: bool,
    },
    NChar {
        length: u32,
    },
    NVarchar2 {
        length: u32,
    },
    Clob,
    NClob,
    Blob,
    Raw {
        length: u32,
    },
    Long,
    LongRaw,
    Date,
    /// `TIMESTAMP(fsp)`, with time zone, with local time zone: fractional-second precision.
    Timestamp {
        fsp: u8,
    },
    TimestampTz {
        fsp: u8,
    },
    TimestampLtz {
        fsp: u8,
    },
    /// `INTERVAL YEAR(p) TO MONTH`.
    IntervalYm {
        year_precision: u8,
    },
    /// `INTERVAL DAY(p) TO SECOND(fsp)`.
    IntervalDs {
        day_precision: u8,
        fsp: u8,
    },
    Rowid,
    Urowid,
    XmlType,
    /// Anything else, by its dictionary name.
    Other(String),
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OraColumn {
    /// The stored (usually upper-case) name.
    pub name: String,
    pub ty: OraType,
    pub nullable: bool,
    /// Part of the primary key (or the unique key standing in for it).
    pub is_key: bool,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OraTable {
    /// Owner (schema) and name as stored.
    pub owner: String,
    pub name: String,
    /// `ALL_OBJECTS.OBJECT_ID`: stable across renames, as an OID is.
    pub object_id: u32,
    pub columns: Vec<OraColumn>,
}

impl OraTable {
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.owner, self.name)
    }

    /// The column named `name` (stored names compare exactly, as SQL_REDO quotes them).
    pub fn column(&self, name: &str) -> Option<(usize, &OraColumn)> {
        self.columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
    }
}
