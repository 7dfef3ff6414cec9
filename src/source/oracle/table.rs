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

/// One `ALL_TAB_COLUMNS` row's type columns.
#[derive(Debug, Clone, Copy, Default)]
pub struct DictionaryType<'a> {
    /// `DATA_TYPE`, e.g. `NUMBER`, `TIMESTAMP(6) WITH TIME ZONE`, `INTERVAL DAY(2) TO SECOND(6)`.
    pub data_type: &'a str,
    /// `DATA_LENGTH` (bytes).
    pub data_length: u32,
    /// `DATA_PRECISION` and `DATA_SCALE` (NULL for a bare NUMBER).
    pub precision: Option<u32>,
    pub scale: Option<i32>,
    /// `CHAR_LENGTH` (characters) and `CHAR_USED` (`B` or `C`).
    pub char_length: u32,
    pub char_used: Option<&'a str>,
}

impl OraType {
    /// The type an `ALL_TAB_COLUMNS` row describes.
    pub fn from_dictionary(d: &DictionaryType<'_>) -> OraType {
        let chars = d.char_used == Some("C");
        let length = if chars { d.char_length } else { d.data_length };
        let upper = d.data_type.to_ascii_uppercase();
        let fsp = || paren_number(&upper).unwrap_or(6);
        match upper.as_str() {
            "NUMBER" => OraType::Number {
                precision: d.precision.and_then(|p| u8::try_from(p).ok()),
                scale: d.scale.and_then(|s| i8::try_from(s).ok()),
            },
            "FLOAT" => OraType::Float {
                binary_precision: d
                    .precision
                    .and_then(|p| u8::try_from(p).ok())
                    .unwrap_or(126),
            },
            "BINARY_FLOAT" => OraType::BinaryFloat,
            "BINARY_DOUBLE" => OraType::BinaryDouble,
            "CHAR" => OraType::Char { length, chars },
            "VARCHAR2" => OraType::Varchar2 { length, chars },
            "NCHAR" => OraType::NChar {
                length: d.char_length,
            },
            "NVARCHAR2" => OraType::NVarchar2 {
                length: d.char_length,
            },
            "CLOB" => OraType::Clob,
            "NCLOB" => OraType::NClob,
            "BLOB" => OraType::Blob,
            "RAW" => OraType::Raw {
                length: d.data_length,
            },
            "LONG" => OraType::Long,
            "LONG RAW" => OraType::LongRaw,
            "DATE" => OraType::Date,
            "ROWID" => OraType::Rowid,
            "UROWID" => OraType::Urowid,
            "XMLTYPE" => OraType::XmlType,
            t if t.starts_with("TIMESTAMP") && t.ends_with("WITH LOCAL TIME ZONE") => {
                OraType::TimestampLtz { fsp: fsp() }
            }
            t if t.starts_with("TIMESTAMP") && t.ends_with("WITH TIME ZONE") => {
                OraType::TimestampTz { fsp: fsp() }
            }
            t if t.starts_with("TIMESTAMP") => OraType::Timestamp { fsp: fsp() },
            t if t.starts_with("INTERVAL YEAR") => OraType::IntervalYm {
                year_precision: paren_number(t).unwrap_or(2),
            },
            t if t.starts_with("INTERVAL DAY") => {
                let (day, sec) = t.split_once(" TO ").unwrap_or((t, ""));
                OraType::IntervalDs {
                    day_precision: paren_number(day).unwrap_or(2),
                    fsp: paren_number(sec).unwrap_or(6),
                }
            }
            _ => OraType::Other(d.data_type.to_owned()),
        }
    }

    /// The type as a `CREATE TABLE` writes it (the schema phase's `type_sql`).
    pub fn sql(&self) -> String {
        let unit = |chars: bool| if chars { " CHAR" } else { " BYTE" };
        match self {
            OraType::Number {
                precision: None,
                scale: None,
            } => "NUMBER".into(),
            OraType::Number {
                precision: None,
                scale: Some(s),
            } => format!("NUMBER(*,{s})"),
            OraType::Number {
                precision: Some(p),
                scale,
            } => {
                format!("NUMBER({p},{})", scale.unwrap_or(0))
            }
            OraType::Float { binary_precision } => format!("FLOAT({binary_precision})"),
            OraType::BinaryFloat => "BINARY_FLOAT".into(),
            OraType::BinaryDouble => "BINARY_DOUBLE".into(),
            OraType::Char { length, chars } => format!("CHAR({length}{})", unit(*chars)),
            OraType::Varchar2 { length, chars } => format!("VARCHAR2({length}{})", unit(*chars)),
            OraType::NChar { length } => format!("NCHAR({length})"),
            OraType::NVarchar2 { length } => format!("NVARCHAR2({length})"),
            OraType::Clob => "CLOB".into(),
            OraType::NClob => "NCLOB".into(),
            OraType::Blob => "BLOB".into(),
            OraType::Raw { length } => format!("RAW({length})"),
            OraType::Long => "LONG".into(),
            OraType::LongRaw => "LONG RAW".into(),
            OraType::Date => "DATE".into(),
            OraType::Timestamp { fsp } => format!("TIMESTAMP({fsp})"),
            OraType::TimestampTz { fsp } => format!("TIMESTAMP({fsp}) WITH TIME ZONE"),
            OraType::TimestampLtz { fsp } => format!("TIMESTAMP({fsp}) WITH LOCAL TIME ZONE"),
            OraType::IntervalYm { year_precision } => {
                format!("INTERVAL YEAR({year_precision}) TO MONTH")
            }
            OraType::IntervalDs { day_precision, fsp } => {
                format!("INTERVAL DAY({day_precision}) TO SECOND({fsp})")
            }
            OraType::Rowid => "ROWID".into(),
            OraType::Urowid => "UROWID".into(),
            OraType::XmlType => "XMLTYPE".into(),
            OraType::Other(name) => name.clone(),
        }
    }
}

/// The number in the first parentheses of `s` (`TIMESTAMP(3)` → 3).
fn paren_number(s: &str) -> Option<u8> {
    let open = s.find('(')?;
    let close = s[open..].find(')')? + open;
    s[open + 1..close].trim().parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn of(data_type: &str, precision: Option<u32>, scale: Option<i32>) -> OraType {
        OraType::from_dictionary(&DictionaryType {
            data_type,
            data_length: 40,
            precision,
            scale,
            char_length: 10,
            char_used: Some("C"),
        })
    }

    #[test]
    fn dictionary_rows_become_types_and_read_back_as_sql() {
        let cases: [(&str, Option<u32>, Option<i32>, &str); 18] = [
            ("NUMBER", None, None, "NUMBER"),
            ("NUMBER", None, Some(0), "NUMBER(*,0)"),
            ("NUMBER", Some(38), Some(0), "NUMBER(38,0)"),
            ("NUMBER", Some(6), Some(-2), "NUMBER(6,-2)"),
            ("FLOAT", Some(126), None, "FLOAT(126)"),
            ("BINARY_DOUBLE", None, None, "BINARY_DOUBLE"),
            ("VARCHAR2", None, None, "VARCHAR2(10 CHAR)"),
            ("CHAR", None, None, "CHAR(10 CHAR)"),
            ("NVARCHAR2", None, None, "NVARCHAR2(10)"),
            ("RAW", None, None, "RAW(40)"),
            ("LONG RAW", None, None, "LONG RAW"),
            ("DATE", None, None, "DATE"),
            ("TIMESTAMP(3)", None, Some(3), "TIMESTAMP(3)"),
            (
                "TIMESTAMP(6) WITH TIME ZONE",
                None,
                Some(6),
                "TIMESTAMP(6) WITH TIME ZONE",
            ),
            (
                "TIMESTAMP(9) WITH LOCAL TIME ZONE",
                None,
                Some(9),
                "TIMESTAMP(9) WITH LOCAL TIME ZONE",
            ),
            (
                "INTERVAL YEAR(4) TO MONTH",
                None,
                None,
                "INTERVAL YEAR(4) TO MONTH",
            ),
            (
                "INTERVAL DAY(3) TO SECOND(2)",
                None,
                None,
                "INTERVAL DAY(3) TO SECOND(2)",
            ),
            ("SDO_GEOMETRY", None, None, "SDO_GEOMETRY"),
        ];
        for (data_type, p, s, sql) in cases {
            assert_eq!(of(data_type, p, s).sql(), sql, "{data_type}");
        }
        let bytes = OraType::from_dictionary(&DictionaryType {
            data_type: "VARCHAR2",
            data_length: 40,
            char_used: Some("B"),
            ..Default::default()
        });
        assert_eq!(bytes.sql(), "VARCHAR2(40 BYTE)");
    }
}
