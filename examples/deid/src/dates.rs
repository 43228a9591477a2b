//! Dates of a person's care or life, found token by token.
//!
//! A year on its own is never a date here (it is kept: publication and study years are not
//! identifiers), and neither is a citation's `2020 Mar 4;` (a year followed by a month).

use crate::lexicon::month;
use crate::text::{Kind, Text};
use crate::{Cand, Class};

/// Finds numeric dates (`2024-03-15`, `15/03/2024`, `3/15/24`, `15.03.2024`, `03/2024`) and
/// written ones (`15 March 2024`, `3rd of March, 2024`, `15-Mar-2024`, `March 15, 2024`,
/// `Mar 15`, `March 2024`).
pub(crate) fn dates(t: &Text<'_>, out: &mut Vec<Cand>) {
    let mut k = 0;
    while k < t.toks.len() {
        let found = match t.kind(k) {
            Some(Kind::Num) => numeric(t, k).or_else(|| day_first(t, k)),
            Some(Kind::Word) => month_first(t, k),
            _ => None,
        };
        match found {
            Some(end) => {
                out.push(Cand { start: t.toks[k].start, end, class: Class::Date });
                k = t.tok_at(end).unwrap_or(t.toks.len());
            }
            None => k += 1,
        }
    }
}

fn plausible_year(y: u32, len: usize) -> bool {
    match len {
        4 => (1900..=2099).contains(&y),
        2 => true,
        _ => false,
    }
}

/// No letter, digit or number punctuation right before token `k`.
fn left_ok(t: &Text<'_>, k: usize) -> bool {
    match t.before(t.toks[k].start) {
        None => true,
        Some(c) => !(c.is_alphanumeric() || "./-:+_,@#%=".contains(c)),
    }
}

/// Nothing that continues a number at character `e`.
fn right_ok(t: &Text<'_>, e: usize) -> bool {
    match t.at(e) {
        None => true,
        Some(c) if c.is_alphanumeric() || "%°/_@".contains(c) => false,
        Some(c) if "-.:,".contains(c) => !t.at(e + 1).is_some_and(|d| d.is_ascii_digit()),
        Some(_) => true,
    }
}

fn sep(t: &Text<'_>, k: usize) -> Option<char> {
    ['-', '/', '.'].into_iter().find(|&c| t.is_sym(k, c))
}

fn numeric(t: &Text<'_>, k: usize) -> Option<usize> {
    if !left_ok(t, k) {
        return None;
    }
    let s = sep(t, k + 1)?;
    let (a, la) = (t.num(k, 4)?, t.digits(k));
    let (b, lb) = (t.num(k + 2, 4)?, t.digits(k + 2));
    if sep(t, k + 3) == Some(s) && t.kind(k + 4) == Some(Kind::Num) {
        let (c, lc) = (t.num(k + 4, 4)?, t.digits(k + 4));
        let end = t.toks[k + 4].end;
        let ok = if la == 4 {
            plausible_year(a, 4) && lb <= 2 && lc <= 2 && (1..=12).contains(&b) && (1..=31).contains(&c)
        } else {
            la <= 2
                && lb <= 2
                && (lc == 4 || (lc == 2 && s == '/'))
                && plausible_year(c, lc)
                && (((1..=12).contains(&a) && (1..=31).contains(&b))
                    || ((1..=31).contains(&a) && (1..=12).contains(&b)))
        };
        return (ok && right_ok(t, end)).then_some(end);
    }
    // Month and year: `03/2024`.
    let end = t.toks[k + 2].end;
    let ok = s == '/' && la <= 2 && (1..=12).contains(&a) && lb == 4 && plausible_year(b, 4);
    (ok && right_ok(t, end)).then_some(end)
}

/// An ordinal suffix (`st`, `nd`, `rd`, `th`) right after number token `k`: the token after it.
fn ordinal(t: &Text<'_>, k: usize) -> usize {
    if t.kind(k + 1) == Some(Kind::Word) && matches!(t.tok_str(k + 1), "st" | "nd" | "rd" | "th") {
        k + 2
    } else {
        k + 1
    }
}

/// A month word at token `k` (with an abbreviation's optional dot): its number and the token
/// after it.
fn month_at(t: &Text<'_>, k: usize) -> Option<(u32, usize)> {
    if t.kind(k) != Some(Kind::Word) {
        return None;
    }
    let w = t.tok_str(k);
    let m = month(w)?;
    let abbrev = w.chars().count() <= 4 && w != "June" && w != "July";
    let next = if abbrev && t.is_sym(k + 1, '.') { k + 2 } else { k + 1 };
    Some((m, next))
}

/// A 4-digit year at token `k` after `, ` or ` `: the character after it.
fn year_after(t: &Text<'_>, mut k: usize) -> Option<usize> {
    if t.is_sym(k, ',') {
        k += 1;
    }
    if !t.is_inline_space(k) {
        return None;
    }
    let y = t.num(k + 1, 4)?;
    let end = t.toks[k + 1].end;
    (t.digits(k + 1) == 4 && plausible_year(y, 4) && right_ok(t, end)).then_some(end)
}

fn day(t: &Text<'_>, k: usize) -> Option<u32> {
    let d = t.num(k, 2)?;
    (1..=31).contains(&d).then_some(d)
}

/// `15 March 2024`, `3rd of March, 2024`, `15-Mar-2024`, `15 Mar`.
fn day_first(t: &Text<'_>, k: usize) -> Option<usize> {
    if !left_ok(t, k) {
        return None;
    }
    day(t, k)?;
    let mut p = ordinal(t, k);
    if t.is_sym(p, '-') {
        let (_, after) = month_at(t, p + 1)?;
        if !t.is_sym(after, '-') {
            return None;
        }
        let y = t.num(after + 1, 4)?;
        let ly = t.digits(after + 1);
        let end = t.toks[after + 1].end;
        return ((ly == 4 || ly == 2) && plausible_year(y, ly) && right_ok(t, end)).then_some(end);
    }
    if !t.is_inline_space(p) {
        return None;
    }
    p += 1;
    if t.tok_str(p) == "of" && t.is_inline_space(p + 1) {
        p += 2;
    }
    let (_, after) = month_at(t, p)?;
    if let Some(end) = year_after(t, after) {
        return Some(end);
    }
    // Without a year: end at the month (not at its dot, which may end the sentence).
    let end = t.toks[p].end;
    right_ok(t, end).then_some(end)
}

/// `March 15, 2024`, `Mar. 3rd`, `March 2024`; not after a year (`2020 Mar 4;` in citations).
fn month_first(t: &Text<'_>, k: usize) -> Option<usize> {
    let (_, after) = month_at(t, k)?;
    if k >= 2 && t.is_inline_space(k - 1) && t.digits(k - 2) == 4 {
        return None;
    }
    if t.before(t.toks[k].start).is_some_and(char::is_alphanumeric) {
        return None;
    }
    if t.is_inline_space(after) && day(t, after + 1).is_some() && t.digits(after + 1) <= 2 {
        let p = ordinal(t, after + 1);
        if let Some(end) = year_after(t, p) {
            return Some(end);
        }
        let end = t.toks[p - 1].end;
        if t.is_sym(p, ':') || t.is_sym(p, ';') || t.is_sym(p, '(') {
            return None;
        }
        return right_ok(t, end).then_some(end);
    }
    year_after(t, after)
}
