//! Street addresses: a house number, a street name and a suffix (`221B Baker Street`,
//! `4500 North Lake Shore Dr.`), with an optional direction, unit (`Apt 4B`, `Suite 300`,
//! `#12`) and locality (`, Springfield, IL 62704`); `PO Box 1234`; and a bare locality with a
//! ZIP code (`Boston, MA 02115`).

use crate::lexicon::{is_direction, is_state_code, is_stopword, is_street_suffix, is_unit_word};
use crate::text::{Kind, Text};
use crate::{Cand, Class};

/// Finds addresses.
pub(crate) fn addresses(t: &Text<'_>, out: &mut Vec<Cand>) {
    let mut k = 0;
    while k < t.toks.len() {
        let found = match t.kind(k) {
            Some(Kind::Num) => street(t, k),
            Some(Kind::Word) => unit_first(t, k).or_else(|| po_box(t, k)).or_else(|| bare_locality(t, k)),
            _ => None,
        };
        match found {
            Some(end) => {
                out.push(Cand { start: t.toks[k].start, end, class: Class::Address });
                k = t.tok_at(end).unwrap_or(t.toks.len());
            }
            None => k += 1,
        }
    }
}

/// A capitalised word, an ordinal (`5th`) or a direction usable in a street name, starting at
/// token `k`: the token after it.
fn street_word(t: &Text<'_>, k: usize) -> Option<usize> {
    match t.kind(k)? {
        Kind::Word if t.is_capitalised(k) => Some(k + 1),
        Kind::Num
            if t.digits(k) <= 3
                && t.kind(k + 1) == Some(Kind::Word)
                && matches!(t.tok_str(k + 1), "st" | "nd" | "rd" | "th") =>
        {
            Some(k + 2)
        }
        _ => None,
    }
}

fn street(t: &Text<'_>, k: usize) -> Option<usize> {
    if t.before(t.toks[k].start).is_some_and(|c| !(c.is_whitespace() || "(,:;[\"'".contains(c))) {
        return None;
    }
    if t.digits(k) > 6 {
        return None;
    }
    let mut p = k + 1;
    // `221B`.
    if t.kind(p) == Some(Kind::Word) && t.tok_str(p).chars().count() == 1 && t.is_capitalised(p) {
        p += 1;
    }
    if !t.is_inline_space(p) {
        return None;
    }
    p += 1;
    // Street-name words, then the last suffix seen after at least one of them.
    let mut suffix_end: Option<usize> = None;
    for words in 0..5 {
        let Some(next) = street_word(t, p) else { break };
        if words >= 1 && is_street_suffix(t.tok_str(p)) {
            suffix_end = Some(next);
        }
        if !t.is_inline_space(next) {
            break;
        }
        p = next + 1;
    }
    let mut q = suffix_end?;
    let mut end = t.toks[q - 1].end;
    // An abbreviation's dot is kept when more address follows.
    let dot = usize::from(t.is_sym(q, '.'));
    // Direction.
    if t.is_inline_space(q + dot)
        && t.kind(q + dot + 1) == Some(Kind::Word)
        && is_direction(t.tok_str(q + dot + 1))
    {
        q += dot + 2;
        end = t.toks[q - 1].end;
    }
    let dot = usize::from(t.is_sym(q, '.'));
    if let Some(u) = unit(t, q + dot) {
        q = u;
        end = t.toks[q - 1].end;
    }
    let dot = usize::from(t.is_sym(q, '.'));
    if let Some(l) = locality_after(t, q + dot, false) {
        end = t.toks[l - 1].end;
    }
    Some(end)
}

/// `, Apt 4B`, ` Suite 300`, ` #12` at token `k`: the token after it.
fn unit(t: &Text<'_>, mut k: usize) -> Option<usize> {
    if t.is_sym(k, ',') {
        k += 1;
    }
    if !t.is_inline_space(k) {
        return None;
    }
    k += 1;
    let mut p = if t.is_sym(k, '#') {
        k + 1
    } else if t.kind(k) == Some(Kind::Word) && is_unit_word(t.tok_str(k)) {
        let mut p = k + 1;
        if t.is_sym(p, '.') {
            p += 1;
        }
        if t.is_inline_space(p) {
            p += 1;
        }
        if t.is_sym(p, '#') {
            p += 1;
        }
        p
    } else {
        return None;
    };
    // The unit id: digits and letters, at most two tokens (`4B`, `12`, `B`).
    let first = p;
    while p < first + 2
        && matches!(t.kind(p), Some(Kind::Num | Kind::Word))
        && t.toks[p].end - t.toks[p].start <= 5
    {
        p += 1;
    }
    (p > first).then_some(p)
}

/// `, City[,] ST[ 12345]` or `, City 12345` at token `k`: the token after it. With
/// `need_zip`, only with a ZIP code.
fn locality_after(t: &Text<'_>, k: usize, need_zip: bool) -> Option<usize> {
    if !t.is_sym(k, ',') || !t.is_inline_space(k + 1) {
        return None;
    }
    locality(t, k + 2, need_zip)
}

/// One to three place-name words (capitalised, with a lower-case letter, not common words)
/// at token `k`: the token after them.
fn place_words(t: &Text<'_>, k: usize) -> Option<usize> {
    let word = |p: usize| {
        let w = t.tok_str(p);
        t.is_capitalised(p) && w.chars().any(char::is_lowercase) && !is_stopword(w)
    };
    let mut p = k;
    let mut words = 0;
    while words < 3 && word(p) {
        words += 1;
        p += 1;
        if !(t.is_inline_space(p) && word(p + 1)) {
            break;
        }
        p += 1;
    }
    (words > 0).then_some(p)
}

/// `City[,] ST[ 12345]`, `City 12345`, `City M20 2RE` (UK postcode), also with a second
/// place name (`Didsbury, Manchester M20 2RE`), at token `k`: the token after it. With
/// `need_zip`, only with a ZIP code or postcode.
fn locality(t: &Text<'_>, k: usize, need_zip: bool) -> Option<usize> {
    let p = place_words(t, k)?;
    if t.is_sym(p, ',') && t.is_inline_space(p + 1) {
        if let Some(end) = place_words(t, p + 2).and_then(|q| locality_tail(t, q, need_zip)) {
            return Some(end);
        }
    }
    locality_tail(t, p, need_zip)
}

/// The state, ZIP code or postcode after a place name ending before token `p`.
fn locality_tail(t: &Text<'_>, mut p: usize, need_zip: bool) -> Option<usize> {
    if t.is_sym(p, ',') {
        p += 1;
    }
    if !t.is_inline_space(p) {
        return None;
    }
    p += 1;
    let ends_here =
        |p: usize| !t.toks.get(p).is_some_and(|x| t.at(x.start).is_some_and(char::is_alphanumeric));
    if let Some(e) = uk_postcode(t, p) {
        return ends_here(e).then_some(e);
    }
    let state = t.kind(p) == Some(Kind::Word) && is_state_code(t.tok_str(p));
    if state {
        p += 1;
    }
    let zip_at = if state { p + 1 } else { p };
    let has_zip = (!state || t.is_inline_space(p)) && t.digits(zip_at) == 5;
    if has_zip {
        p = zip_at + 1;
        if t.is_sym(p, '-') && t.digits(p + 1) == 4 {
            p += 2;
        }
    }
    if !ends_here(p) {
        return None;
    }
    (has_zip || (state && !need_zip)).then_some(p)
}

/// A UK postcode at token `k` (`M20 2RE`, `LS6 2AB`, `EC1A 1BB`): the token after it.
fn uk_postcode(t: &Text<'_>, k: usize) -> Option<usize> {
    let upper = |p: usize, n: std::ops::RangeInclusive<usize>| {
        t.kind(p) == Some(Kind::Word)
            && n.contains(&t.tok_str(p).len())
            && t.tok_str(p).chars().all(|c| c.is_ascii_uppercase())
    };
    if !upper(k, 1..=2) || !(1..=2).contains(&t.digits(k + 1)) {
        return None;
    }
    let mut p = k + 2;
    if upper(p, 1..=1) {
        p += 1;
    }
    (t.is_inline_space(p) && t.digits(p + 1) == 1 && upper(p + 2, 2..=2)).then_some(p + 3)
}

/// `Flat 3, 27 Elm Grove, ...`: a unit before the street address.
fn unit_first(t: &Text<'_>, k: usize) -> Option<usize> {
    if !is_unit_word(t.tok_str(k)) || t.before(t.toks[k].start).is_some_and(char::is_alphanumeric) {
        return None;
    }
    let mut p = k + 1;
    if t.is_sym(p, '.') {
        p += 1;
    }
    if !t.is_inline_space(p) {
        return None;
    }
    p += 1;
    let first = p;
    while p < first + 2
        && matches!(t.kind(p), Some(Kind::Num | Kind::Word))
        && t.toks[p].end - t.toks[p].start <= 5
    {
        p += 1;
    }
    if p == first || !t.is_sym(p, ',') || !t.is_inline_space(p + 1) || t.kind(p + 2) != Some(Kind::Num) {
        return None;
    }
    street(t, p + 2)
}

/// `PO Box 1234`, `P.O. Box 1234`, with an optional locality.
fn po_box(t: &Text<'_>, k: usize) -> Option<usize> {
    let mut p = match t.tok_str(k) {
        "PO" => k + 1,
        "P" if t.is_sym(k + 1, '.') && t.tok_str(k + 2) == "O" && t.is_sym(k + 3, '.') => k + 4,
        _ => return None,
    };
    if !t.is_inline_space(p) || t.tok_str(p + 1) != "Box" || !t.is_inline_space(p + 2) || t.digits(p + 3) == 0
    {
        return None;
    }
    p += 4;
    let mut end = t.toks[p - 1].end;
    if let Some(l) = locality_after(t, p, false) {
        end = t.toks[l - 1].end;
    }
    Some(end)
}

/// `Boston, MA 02115`: a locality with a ZIP code and no street.
fn bare_locality(t: &Text<'_>, k: usize) -> Option<usize> {
    if !t.is_capitalised(k) {
        return None;
    }
    let l = locality(t, k, true)?;
    Some(t.toks[l - 1].end)
}
