//! Exact comparison of integers and PostgreSQL numerics, digit by digit in numeric's own base
//! 10000 (never through `f64`: `0.1 + 0.2` and `0.3` are different floats but equal numerics),
//! with numeric's order of its special values: `-Infinity` < every finite value < `Infinity`
//! < `NaN`, and `NaN` equal to itself (`cmp_numerics` in PostgreSQL's numeric.c). Allocates
//! nothing: an integer's digits live on the stack.

use std::cmp::Ordering;

use crate::value::Numeric;

/// An exact value as the evaluator sees it.
#[derive(Debug, Clone)]
pub enum Exact<'a> {
    Int(i64),
    Num(Numeric<'a>),
}

/// Compares two exact values.
pub fn cmp(a: &Exact<'_>, b: &Exact<'_>) -> Ordering {
    if let (Exact::Int(x), Exact::Int(y)) = (a, b) {
        return x.cmp(y);
    }
    let (ra, rb) = (rank(a), rank(b));
    if ra != 1 || rb != 1 {
        return ra.cmp(&rb);
    }
    cmp_finite(&finite(a), &finite(b))
}

/// -Infinity 0, finite 1, Infinity 2, NaN 3.
fn rank(x: &Exact<'_>) -> u8 {
    match x {
        Exact::Int(_) => 1,
        Exact::Num(Numeric::NegInfinity) => 0,
        Exact::Num(Numeric::Finite { .. }) => 1,
        Exact::Num(Numeric::PosInfinity) => 2,
        Exact::Num(Numeric::NaN) => 3,
    }
}

/// A finite value: sign, the weight (power of 10000) of its first group, and its groups.
struct Finite<'d> {
    negative: bool,
    weight: i64,
    groups: Groups<'d>,
}

enum Groups<'d> {
    /// Big-endian 2-byte groups (numeric's wire form).
    Wire(&'d [u8]),
    /// An integer's groups, most significant first.
    Small { groups: [u16; 5], len: usize },
}

impl Groups<'_> {
    fn len(&self) -> usize {
        match self {
            Groups::Wire(b) => b.len() / 2,
            Groups::Small { len, .. } => *len,
        }
    }

    /// Group `i`, 0 past the end.
    fn get(&self, i: usize) -> u16 {
        match self {
            Groups::Wire(b) => match (b.get(2 * i), b.get(2 * i + 1)) {
                (Some(&hi), Some(&lo)) => u16::from_be_bytes([hi, lo]),
                _ => 0,
            },
            Groups::Small { groups, len } => {
                if i < *len {
                    groups[i]
                } else {
                    0
                }
            }
        }
    }
}

fn finite<'d>(x: &'d Exact<'_>) -> Finite<'d> {
    match x {
        Exact::Int(v) => {
            let mut rest = v.unsigned_abs();
            let mut rev = [0u16; 5];
            let mut len = 0;
            while rest > 0 {
                rev[len] = (rest % 10_000) as u16;
                rest /= 10_000;
                len += 1;
            }
            let mut groups = [0u16; 5];
            for i in 0..len {
                groups[i] = rev[len - 1 - i];
            }
            Finite {
                negative: *v < 0,
                weight: len as i64 - 1,
                groups: Groups::Small { groups, len },
            }
        }
        Exact::Num(Numeric::Finite {
            negative,
            weight,
            digits,
            ..
        }) => Finite {
            negative: *negative,
            weight: i64::from(*weight),
            groups: Groups::Wire(digits),
        },
        // Not reached: `cmp` ranks special values first.
        Exact::Num(_) => Finite {
            negative: false,
            weight: 0,
            groups: Groups::Small {
                groups: [0; 5],
                len: 0,
            },
        },
    }
}

/// The index of the first non-zero group, or `None` for zero.
fn first_nonzero(g: &Groups<'_>) -> Option<usize> {
    (0..g.len()).find(|&i| g.get(i) != 0)
}

fn cmp_finite(a: &Finite<'_>, b: &Finite<'_>) -> Ordering {
    let (fa, fb) = (first_nonzero(&a.groups), first_nonzero(&b.groups));
    let sign = |f: Option<usize>, neg: bool| match (f, neg) {
        (None, _) => 0i8,
        (Some(_), true) => -1,
        (Some(_), false) => 1,
    };
    let (sa, sb) = (sign(fa, a.negative), sign(fb, b.negative));
    if sa != sb || sa == 0 {
        return sa.cmp(&sb);
    }
    let (fa, fb) = (fa.unwrap_or(0), fb.unwrap_or(0));
    let magnitude = cmp_abs(a, fa, b, fb);
    if sa < 0 {
        magnitude.reverse()
    } else {
        magnitude
    }
}

/// Compares magnitudes, each starting at its first non-zero group.
fn cmp_abs(a: &Finite<'_>, fa: usize, b: &Finite<'_>, fb: usize) -> Ordering {
    let wa = a.weight - fa as i64;
    let wb = b.weight - fb as i64;
    if wa != wb {
        return wa.cmp(&wb);
    }
    let n = (a.groups.len() - fa).max(b.groups.len() - fb);
    for i in 0..n {
        let o = a.groups.get(fa + i).cmp(&b.groups.get(fb + i));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// PostgreSQL's float order: `NaN` equal to itself and above everything, `-0 = 0`.
pub fn cmp_float(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}
