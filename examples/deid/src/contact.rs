//! E-mail addresses and phone numbers, found character by character.

use crate::text::{Kind, Text};
use crate::{Cand, Class};

/// Finds e-mail addresses: `local@domain.tld`, the local part of `A-Z a-z 0-9 . _ % + -`,
/// the domain of letters, digits, dots and dashes with an alphabetic top-level domain.
pub(crate) fn emails(t: &Text<'_>, out: &mut Vec<Cand>) {
    let local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    let n = t.len();
    for i in 0..n {
        if t.chars[i] != '@' {
            continue;
        }
        let mut s = i;
        while s > 0 && local(t.chars[s - 1]) {
            s -= 1;
        }
        while s < i && matches!(t.chars[s], '.' | '-' | '+' | '%') {
            s += 1;
        }
        let mut e = i + 1;
        while e < n && domain(t.chars[e]) {
            e += 1;
        }
        while e > i + 1 && matches!(t.chars[e - 1], '.' | '-') {
            e -= 1;
        }
        if s == i || e == i + 1 {
            continue;
        }
        let dom = t.slice(i + 1, e);
        let tld_ok = dom.rsplit_once('.').is_some_and(|(head, tld)| {
            !head.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        });
        if tld_ok && !dom.starts_with(['.', '-']) && !dom.contains("..") {
            out.push(Cand { start: s, end: e, class: Class::Email });
        }
    }
}

/// One group of digits of a candidate phone number.
#[derive(Debug, Clone, Copy)]
struct Group {
    /// Digits in it.
    len: usize,
    /// Written `(555)`.
    paren: bool,
    /// Its first digit is `0`.
    leading_zero: bool,
    /// The separator before it (`None` for the first group or for `(555)123`).
    sep: Option<char>,
    /// One past its last character (after `)` if in parentheses).
    end: usize,
}

/// Finds phone numbers (rules in the crate docs): `+` international numbers, North American
/// `(555) 123-4567` / `555-123-4567` / `555.123.4567` / `555 123 4567` with an optional
/// leading `1`, local `555-0143`, national numbers starting with `0` (`020 7946 0958`), and
/// any 7 to 15 digit number within three words after a cue such as `phone`, `tel`, `call`,
/// `fax`, `pager`; with an optional extension (`ext. 204`, `x204`).
pub(crate) fn phones(t: &Text<'_>, out: &mut Vec<Cand>) {
    let n = t.len();
    let mut i = 0;
    while i < n {
        let c = t.chars[i];
        if (c.is_ascii_digit() || c == '+' || c == '(') && left_ok(t, i) {
            if let Some(end) = phone_at(t, i) {
                out.push(Cand { start: i, end, class: Class::Phone });
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

fn left_ok(t: &Text<'_>, i: usize) -> bool {
    match t.before(i) {
        None => true,
        Some(p) => !(p.is_alphanumeric() || ".-/+_@=#%,&\\$€£¥±~^".contains(p)),
    }
}

fn right_ok(t: &Text<'_>, e: usize) -> bool {
    match t.at(e) {
        None => true,
        Some(c) if c.is_alphanumeric() || "%/°‰+@_".contains(c) => false,
        Some(c) if ".,-:".contains(c) => !t.at(e + 1).is_some_and(|d| d.is_ascii_digit()),
        Some(_) => true,
    }
}

fn count_digits(t: &Text<'_>, from: usize) -> usize {
    let mut d = 0;
    while d <= 16 && t.at(from + d).is_some_and(|c| c.is_ascii_digit()) {
        d += 1;
    }
    d
}

fn phone_at(t: &Text<'_>, start: usize) -> Option<usize> {
    let plus = t.at(start) == Some('+');
    let mut p = if plus { start + 1 } else { start };
    let mut groups: Vec<Group> = Vec::with_capacity(6);
    let mut sep: Option<char> = None;
    while groups.len() < 7 {
        let paren = t.at(p) == Some('(');
        let q = if paren { p + 1 } else { p };
        let d = count_digits(t, q);
        if d == 0 || d > 12 || (paren && t.at(q + d) != Some(')')) {
            break;
        }
        let end = if paren { q + d + 1 } else { q + d };
        groups.push(Group { len: d, paren, leading_zero: t.at(q) == Some('0'), sep, end });
        match t.at(end) {
            Some(s @ (' ' | '-' | '.' | '\u{a0}')) => {
                let next = end + 1;
                let opens = t.at(next) == Some('(') && s != '.';
                if !(t.at(next).is_some_and(|c| c.is_ascii_digit()) || opens) {
                    break;
                }
                sep = Some(if s == '\u{a0}' { ' ' } else { s });
                p = next;
            }
            Some(c) if paren && c.is_ascii_digit() => {
                sep = None;
                p = end;
            }
            _ => break,
        }
    }
    if groups.is_empty() || (plus && groups[0].paren) {
        return None;
    }
    let cue = cue_before(t, start);
    for k in (1..=groups.len()).rev() {
        let g = &groups[..k];
        let end = g[k - 1].end;
        if accept(g, plus, cue) && right_ok(t, end) && !looks_like_date(g) {
            return Some(extension(t, end));
        }
    }
    None
}

fn accept(g: &[Group], plus: bool, cue: bool) -> bool {
    let total: usize = g.iter().map(|x| x.len).sum();
    if total > 15 {
        return false;
    }
    if plus {
        return total >= 8 && (g.len() >= 2 || total >= 10);
    }
    let lens: Vec<usize> = g.iter().map(|x| x.len).collect();
    let core = if lens.len() == 4 && lens[0] == 1 && !g[0].paren { &g[1..] } else { g };
    let core_lens: Vec<usize> = core.iter().map(|x| x.len).collect();
    if core_lens == [3, 3, 4] && !core[1].paren && !core[2].paren {
        if core[0].paren {
            return core[2].sep.is_some();
        }
        let (a, b) = (core[1].sep, core[2].sep);
        if a == b && a.is_some() {
            return true;
        }
    }
    if lens == [3, 4] && g[1].sep == Some('-') && !g[0].paren {
        return true;
    }
    if g[0].leading_zero
        && (10..=11).contains(&total)
        && g.len() >= 2
        && g[1..].iter().all(|x| matches!(x.sep, Some(' ' | '-')) && !x.paren)
    {
        return true;
    }
    cue && (7..=15).contains(&total)
}

fn looks_like_date(g: &[Group]) -> bool {
    let lens: Vec<usize> = g.iter().map(|x| x.len).collect();
    let seps_same = g.len() == 3 && g[1].sep == g[2].sep && matches!(g[1].sep, Some('-' | '.'));
    seps_same
        && (lens == [4, 2, 2]
            || lens == [2, 2, 4]
            || lens == [1, 2, 4]
            || lens == [2, 1, 4]
            || lens == [1, 1, 4])
}

/// Whether one of the three words before character `i` is a phone cue.
fn cue_before(t: &Text<'_>, i: usize) -> bool {
    let Some(mut k) = t.tok_at(i) else { return false };
    let mut words = 0;
    let mut steps = 0;
    while k > 0 && words < 3 && steps < 10 {
        k -= 1;
        steps += 1;
        if t.kind(k) == Some(Kind::Word) {
            if crate::lexicon::is_phone_cue(t.tok_str(k)) {
                return true;
            }
            words += 1;
        }
    }
    false
}

/// Extends a phone number ending at `end` over an extension (`ext. 204`, `x204`).
fn extension(t: &Text<'_>, end: usize) -> usize {
    let mut p = end;
    if t.at(p) == Some(',') {
        p += 1;
    }
    if t.at(p) == Some(' ') {
        p += 1;
    }
    let Some(k) = t.tok_at(p) else { return end };
    if t.kind(k) != Some(Kind::Word) || t.toks[k].start != p {
        return end;
    }
    let w = t.tok_str(k);
    if !matches!(w, "ext" | "Ext" | "x" | "X" | "extension" | "Extension" | "EXT") {
        return end;
    }
    let mut q = t.toks[k].end;
    if t.at(q) == Some('.') {
        q += 1;
    }
    if t.at(q) == Some(' ') {
        q += 1;
    }
    let d = count_digits(t, q);
    if (1..=6).contains(&d) && !t.at(q + d).is_some_and(char::is_alphanumeric) {
        q + d
    } else {
        end
    }
}
