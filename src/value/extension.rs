//! Binary forms of the common extension types, recognised by their send functions whatever
//! schema the extension lives in: `hstore` (`hstore_send`), `ltree` (`ltree_send`) and PostGIS
//! `geometry`/`geography` (`geometry_send`/`geography_send`). `citext` sends text
//! (`citextsend`) and needs nothing here.
//!
//! ```text
//! hstore_send:   count:i32 { keylen:i32 key vallen:i32 (-1 = NULL) value }*
//! ltree_send:    version:u8 (1) text
//! geometry_send: EWKB (byte order, type with SRID flag, [srid:i32], coordinates)
//! ```

use super::binary::{utf8, Reader};
use super::container::count;
use super::{Value, ValueError};
use crate::schema::PgType;

/// The EWKB type flag saying a 4-byte SRID follows the type (PostGIS `WKBSRIDFLAG`).
const EWKB_SRID_FLAG: u32 = 0x2000_0000;

/// An hstore from its `hstore_send` form.
pub(super) fn hstore<'a>(ty: &'a PgType, b: &'a [u8]) -> Result<Value<'a>, ValueError> {
    let mut r = Reader::new(ty, b);
    // Each pair takes at least its two lengths.
    let n = count(&mut r, 8)?;
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let key_len = usize::try_from(r.i32()?).map_err(|_| r.error("negative key length"))?;
        let key = utf8(ty, r.take(key_len)?)?;
        let value = match r.i32()? {
            -1 => None,
            len => {
                let len = usize::try_from(len).map_err(|_| r.error("negative value length"))?;
                Some(utf8(ty, r.take(len)?)?)
            }
        };
        pairs.push((key, value));
    }
    r.finish()?;
    Ok(Value::Hstore(pairs))
}

/// An ltree from its `ltree_send` form: the label path's text.
pub(super) fn ltree<'a>(ty: &'a PgType, b: &'a [u8]) -> Result<Value<'a>, ValueError> {
    match b.split_first() {
        Some((1, text)) => utf8(ty, text).map(Value::Text),
        Some(_) => Err(Reader::new(ty, b).error("unsupported ltree version")),
        None => Err(Reader::new(ty, b).error("empty")),
    }
}

/// A geometry or geography from its EWKB send form, checked only as far as its header (byte
/// order and type): the bytes are passed on as they are.
pub(super) fn ewkb<'a>(ty: &'a PgType, b: &'a [u8]) -> Result<Value<'a>, ValueError> {
    match ewkb_header(b) {
        Some(_) => Ok(Value::Ewkb(b)),
        None => Err(Reader::new(ty, b).error("not EWKB")),
    }
}

/// The geometry type word and the SRID (when the EWKB carries one) of an EWKB value.
fn ewkb_header(b: &[u8]) -> Option<(u32, Option<i32>)> {
    let (&order, rest) = b.split_first()?;
    let word = |at: usize| -> Option<[u8; 4]> { rest.get(at..at + 4)?.try_into().ok() };
    let (ty, srid) = match order {
        0 => (
            u32::from_be_bytes(word(0)?),
            word(4).map(i32::from_be_bytes),
        ),
        1 => (
            u32::from_le_bytes(word(0)?),
            word(4).map(i32::from_le_bytes),
        ),
        _ => return None,
    };
    if ty & EWKB_SRID_FLAG == 0 {
        return Some((ty, None));
    }
    Some((ty, Some(srid?)))
}

/// The SRID an EWKB value carries, if any (Debezium's `PostgisGeometry.parseSrid`).
pub fn ewkb_srid(b: &[u8]) -> Option<i32> {
    ewkb_header(b).and_then(|(_, srid)| srid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::TypeKind;

    fn t(kind: TypeKind) -> PgType {
        PgType::new(0, "x", "public", kind)
    }

    #[test]
    fn hstore_pairs_in_stored_order() {
        let ty = t(TypeKind::Hstore);
        let mut b = 2i32.to_be_bytes().to_vec();
        for (k, v) in [("a", Some("1")), ("b c", None)] {
            b.extend((k.len() as i32).to_be_bytes());
            b.extend(k.as_bytes());
            match v {
                Some(v) => {
                    b.extend((v.len() as i32).to_be_bytes());
                    b.extend(v.as_bytes());
                }
                None => b.extend((-1i32).to_be_bytes()),
            }
        }
        assert_eq!(
            hstore(&ty, &b),
            Ok(Value::Hstore(vec![("a", Some("1")), ("b c", None)]))
        );
        assert_eq!(hstore(&ty, &0i32.to_be_bytes()), Ok(Value::Hstore(vec![])));
        for bad in [
            &b[..b.len() - 1],
            &[0, 0, 0, 1][..],
            &[0xff; 4][..],
            &[][..],
        ] {
            assert!(hstore(&ty, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ltree_text_after_the_version() {
        let ty = t(TypeKind::Ltree);
        assert_eq!(ltree(&ty, b"\x01a.b.c"), Ok(Value::Text("a.b.c")));
        assert!(ltree(&ty, b"\x02a").is_err());
        assert!(ltree(&ty, b"").is_err());
    }

    #[test]
    fn ewkb_headers_and_srids() {
        let ty = t(TypeKind::Geometry);
        // SRID=4326;POINT(1 2), little-endian.
        let p = hex::decode("0101000020E6100000000000000000F03F0000000000000040").unwrap();
        assert_eq!(ewkb(&ty, &p), Ok(Value::Ewkb(&p)));
        assert_eq!(ewkb_srid(&p), Some(4326));
        // POINT(1 2) without SRID, big-endian.
        let q = hex::decode("00000000013FF00000000000004000000000000000").unwrap();
        assert_eq!(ewkb_srid(&q), None);
        assert!(ewkb(&ty, &q).is_ok());
        for bad in ["", "01", "0201000000", "0101000020"] {
            let b = hex::decode(bad).unwrap();
            assert!(ewkb(&ty, &b).is_err(), "{bad}");
        }
    }
}
