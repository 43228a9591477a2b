//! Person names. A name is a run of one to four capitalised name words, initials (`Q.`) and
//! particles (`van`, `de la`), and is only taken for a name after a cue:
//!
//! - a title (`Dr.`, `Mr.`, `Mrs.`, `Ms.`, `Prof.`, `Patient`, ...): the title is kept,
//!   `Dr. Jane Q. Doe` becomes `Dr. [NAME]`;
//! - a label ending in `:` (`Name:`, `Attending:`, `PCP:`, `Emergency contact:`, `cc:`),
//!   also as `Doe, Jane`;
//! - `signed by`, `referred by`, `dictated by`, ... and `Dear`;
//! - a relative (`wife Maria Lopez`, `son, Michael`);
//! - a credential after it (`Jane Doe, MD`, `John Smith RN`): at least two name words;
//! - a common given name first (`Mary Johnson`): at least two name words;
//! - a name of two or more words joined to a found one by `and`, `or`, `&` or `,`;
//! - and, once a name is found, its words elsewhere in the same text (`Alvarez`), with the
//!   capitalised word before a known surname (`Naomi Kaye` once `Deborah Kaye` is known).
//!
//! A word followed by a word such as `disease`, `lymphoma`, `syndrome`, `sign`, `test` is an
//! eponym, not a person (`Parkinson disease`, `Hodgkin lymphoma`), and ends or rejects the
//! name; capitalised common words (`The`, `History`, `Education`, month names, ...) are never
//! name words.

use std::collections::HashSet;

use crate::lexicon::{
    is_by_verb, is_credential, is_eponym_follower, is_given_name, is_institution_word, is_name_label,
    is_particle, is_place_prefix, is_relation, is_state_code, is_stopword, is_title,
};
use crate::text::{Kind, Text};
use crate::{Cand, Class};

/// A name found: characters `start..end` and the tokens of its name words.
#[derive(Debug, Clone)]
struct Found {
    start: usize,
    end: usize,
    words: Vec<usize>,
}

/// Whether token `k` is a name word: capitalised, with a lower-case letter, not a stopword nor
/// an institution word (`Hospital`, `Cancer`, `Children`).
fn name_word(t: &Text<'_>, k: usize) -> bool {
    if !t.is_capitalised(k) {
        return false;
    }
    let w = t.tok_str(k);
    w.chars().count() >= 2
        && w.chars().skip(1).any(char::is_lowercase)
        && !is_stopword(w)
        && !is_institution_word(w)
}

/// Whether token `k` is an initial (`Q`).
fn initial(t: &Text<'_>, k: usize) -> bool {
    t.is_capitalised(k) && t.tok_str(k).chars().count() == 1
}

/// A name word with its joined parts (`O'Brien`, `Smith-Jones`) at token `k`: the token
/// after it.
fn joined_word(t: &Text<'_>, k: usize) -> Option<usize> {
    let apostrophe = |p: usize| t.is_sym(p, '\'') || t.is_sym(p, '’');
    // `O'Brien`, `D'Angelo`.
    let prefix = initial(t, k) && apostrophe(k + 1) && t.is_capitalised(k + 2);
    if !name_word(t, k) && !prefix {
        return None;
    }
    let mut p = k + 1;
    while (t.is_sym(p, '-') || apostrophe(p)) && t.is_capitalised(p + 1) {
        p += 2;
    }
    Some(p)
}

/// The name starting at token `k`: up to four name words, initials and inner particles.
fn name_run(t: &Text<'_>, k: usize) -> Option<Found> {
    let mut words = Vec::new();
    let mut p = k;
    let mut end: Option<usize> = None;
    while words.len() < 4 {
        if let Some(n) = joined_word(t, p) {
            words.push(p);
            end = Some(t.toks[n - 1].end);
            if !t.is_inline_space(n) {
                break;
            }
            p = n + 1;
        } else if initial(t, p) && name_follows(t, p) {
            let after = initials_end(t, p);
            end = Some(t.toks[after - 1].end);
            p = after + 1;
        } else if !words.is_empty() && t.kind(p) == Some(Kind::Word) && is_particle(t.tok_str(p)) {
            let mut q = p;
            while t.kind(q) == Some(Kind::Word) && is_particle(t.tok_str(q)) && t.is_inline_space(q + 1) {
                q += 2;
            }
            if q == p || joined_word(t, q).is_none() {
                break;
            }
            p = q;
        } else {
            break;
        }
    }
    let end = end?;
    let last = *words.last()?;
    // An eponym: `Parkinson disease`, `Hodgkin's lymphoma`.
    let mut q = joined_word(t, last).unwrap_or(last + 1);
    if (t.is_sym(q, '\'') || t.is_sym(q, '’')) && t.tok_str(q + 1) == "s" {
        q += 2;
    }
    if t.is_inline_space(q) && t.kind(q + 1) == Some(Kind::Word) && is_eponym_follower(t.tok_str(q + 1)) {
        return None;
    }
    Some(Found { start: t.toks[k].start, end, words })
}

/// The token after the initials starting at `k` (`Q`, `Q.`, `J.N.`).
fn initials_end(t: &Text<'_>, k: usize) -> usize {
    let mut q = if t.is_sym(k + 1, '.') { k + 2 } else { k + 1 };
    while q > k + 1 && initial(t, q) && t.is_sym(q + 1, '.') {
        q += 2;
    }
    q
}

/// Whether a name word (after the initials' dots and a space) follows the initials at `k`.
fn name_follows(t: &Text<'_>, k: usize) -> bool {
    let after = initials_end(t, k);
    t.is_inline_space(after) && (joined_word(t, after + 1).is_some() || initial(t, after + 1))
}

/// Finds names (rules in the module docs).
pub(crate) fn names(t: &Text<'_>, out: &mut Vec<Cand>) {
    let mut found: Vec<Found> = Vec::new();
    let n = t.toks.len();
    let mut k = 0;
    while k < n {
        let hit = match t.kind(k) {
            Some(Kind::Word) => cued(t, k),
            _ => None,
        };
        match hit {
            Some(mut f) => {
                // Names joined to a found one: `J.N. Mark Glover or Alvaro N.A. Monteiro`.
                loop {
                    k = t.tok_at(f.end).unwrap_or(n);
                    let next = coordinated(t, k);
                    found.push(f);
                    match next {
                        Some(g) => f = g,
                        None => break,
                    }
                }
            }
            None => k += 1,
        }
    }
    // The words of the names found, elsewhere in the text.
    let known: HashSet<&str> = found
        .iter()
        .flat_map(|f| f.words.iter().map(|&w| t.tok_str(w)))
        .filter(|w| w.chars().count() >= 2)
        .collect();
    // Surnames: the last words of names of two or more words.
    let surnames: HashSet<&str> = found
        .iter()
        .filter(|f| f.words.len() >= 2)
        .filter_map(|f| f.words.last().map(|&w| t.tok_str(w)))
        .collect();
    let taken: Vec<(usize, usize)> = found.iter().map(|f| (f.start, f.end)).collect();
    for f in &found {
        out.push(Cand { start: f.start, end: f.end, class: Class::Name });
    }
    if known.is_empty() {
        return;
    }
    let inside = |i: usize| {
        let j = taken.partition_point(|&(s, _)| s <= i);
        j > 0 && taken[j - 1].1 > i
    };
    let mut k = 0;
    while k < n {
        if t.kind(k) == Some(Kind::Word) && known.contains(t.tok_str(k)) && !inside(t.toks[k].start) {
            if let Some(f) = name_run(t, k) {
                let end = if f.words.iter().all(|&w| known.contains(t.tok_str(w))) {
                    f.end
                } else {
                    // Only the known word.
                    t.toks[joined_word(t, k).unwrap_or(k + 1) - 1].end
                };
                // A name word right before a known surname is its given name: `Naomi Kaye`.
                let start = if surnames.contains(t.tok_str(k))
                    && k >= 2
                    && t.is_inline_space(k - 1)
                    && name_word(t, k - 2)
                    && !inside(t.toks[k - 2].start)
                {
                    t.toks[k - 2].start
                } else {
                    f.start
                };
                out.push(Cand { start, end, class: Class::Name });
                k = t.tok_at(end).unwrap_or(n);
                continue;
            }
        }
        k += 1;
    }
}

/// A name of at least two name words after `and`, `or`, `&` or `,` at token `k` (right
/// after a name).
fn coordinated(t: &Text<'_>, k: usize) -> Option<Found> {
    let p = if t.is_sym(k, ',') && t.is_inline_space(k + 1) {
        k + 2
    } else if t.is_inline_space(k)
        && (matches!(t.tok_str(k + 1), "and" | "or") || t.is_sym(k + 1, '&'))
        && t.is_inline_space(k + 2)
    {
        k + 3
    } else {
        return None;
    };
    name_run(t, p).filter(|f| f.words.len() >= 2 && !place_or_institution(t, p, f))
}

/// A name cued at token `k` (a title, label, `… by`, `Dear`, relative, given name or
/// credential after it).
fn cued(t: &Text<'_>, k: usize) -> Option<Found> {
    let w = t.tok_str(k);
    // Title: `Dr. Jane Q. Doe`.
    if is_title(w) && !t.before(t.toks[k].start).is_some_and(char::is_alphanumeric) {
        let p = if t.is_sym(k + 1, '.') { k + 2 } else { k + 1 };
        if t.is_inline_space(p) {
            if let Some(f) = name_run(t, p + 1) {
                return Some(f);
            }
        }
    }
    // Label: `Attending: Jane Doe`, `Name: Doe, Jane`.
    if is_name_label(w) && t.is_sym(k + 1, ':') && t.is_inline_space(k + 2) {
        let p = k + 3;
        if t.kind(p) == Some(Kind::Word) && is_title(t.tok_str(p)) {
            return None; // The title rule takes it from there.
        }
        // `DOE, Jane`: a surname in capitals before a comma.
        let caps = |p: usize| {
            let w = t.tok_str(p);
            t.kind(p) == Some(Kind::Word)
                && w.chars().count() >= 2
                && w.chars().all(char::is_uppercase)
                && !is_stopword(w)
                && !is_state_code(w)
        };
        if caps(p) && t.is_sym(p + 1, ',') && t.is_inline_space(p + 2) {
            if let Some(g) = name_run(t, p + 3) {
                let mut words = vec![p];
                words.extend(g.words);
                return Some(Found { start: t.toks[p].start, end: g.end, words });
            }
        }
        let f = name_run(t, p)?;
        // `Doe, Jane`.
        let after = t.tok_at(f.end).unwrap_or(t.toks.len());
        if f.words.len() == 1 && t.is_sym(after, ',') && t.is_inline_space(after + 1) {
            if let Some(g) = name_run(t, after + 2) {
                let mut words = f.words.clone();
                words.extend(g.words);
                return Some(Found { start: f.start, end: g.end, words });
            }
        }
        return Some(f);
    }
    // `signed by Jane Doe`, `Dear Jane`.
    if is_by_verb(w) && t.is_inline_space(k + 1) && t.tok_str(k + 2) == "by" && t.is_inline_space(k + 3) {
        return name_run(t, k + 4);
    }
    if w == "Dear" && t.is_inline_space(k + 1) {
        return name_run(t, k + 2);
    }
    // Relative: `wife Maria Lopez`, `son, Michael`.
    // Capitalised (`Wife (Lucia)`) only before a parenthesis.
    let capitalised_relation =
        w.chars().next().is_some_and(char::is_uppercase) && is_relation(&w.to_lowercase());
    if is_relation(w) || capitalised_relation {
        let p = if t.is_sym(k + 1, ',') { k + 2 } else { k + 1 };
        if t.is_inline_space(p) && (!capitalised_relation || t.is_sym(p + 1, '(')) {
            // `wife (Lucia)`.
            let q = if t.is_sym(p + 1, '(') { p + 2 } else { p + 1 };
            if let Some(f) = name_run(t, q) {
                return Some(f);
            }
        }
    }
    // Given name: `Mary Johnson`, not `San Luis Obispo` nor `Henry Ford Hospital`.
    if is_given_name(w) && !t.before(t.toks[k].start).is_some_and(char::is_alphanumeric) {
        if let Some(f) = name_run(t, k) {
            if f.words.len() >= 2 && !place_or_institution(t, k, &f) {
                return Some(f);
            }
        }
    }
    // Credential after: `Jane Doe, MD`.
    let credential_near = || {
        (k + 1..(k + 16).min(t.toks.len()))
            .any(|j| t.kind(j) == Some(Kind::Word) && is_credential(t.tok_str(j)))
    };
    if name_word(t, k) && !t.before(t.toks[k].start).is_some_and(char::is_alphanumeric) && credential_near() {
        if let Some(f) = name_run(t, k) {
            if f.words.len() >= 2 && credential_after(t, f.end) && !place_or_institution(t, k, &f) {
                return Some(f);
            }
        }
    }
    None
}

/// Whether the name `f` starting at token `k` is part of a place (`San Luis Obispo`, `St.
/// Louis Park`) or an institution (`Henry Ford Hospital`, `Henry Ford Saint John Hospital`).
fn place_or_institution(t: &Text<'_>, k: usize, f: &Found) -> bool {
    let mut before = k.saturating_sub(2);
    if k >= 3 && t.is_sym(k - 2, '.') {
        before = k - 3;
    }
    let place = k >= 2 && t.is_inline_space(k - 1) && is_place_prefix(t.tok_str(before));
    // An institution word within the next four capitalised words: `Henry Ford Saint John
    // Hospital`.
    let mut p = t.tok_at(f.end).unwrap_or(t.toks.len());
    let mut institution = false;
    for _ in 0..4 {
        if !(t.is_inline_space(p) && t.is_capitalised(p + 1)) {
            break;
        }
        if is_institution_word(t.tok_str(p + 1)) {
            institution = true;
            break;
        }
        p += 2;
    }
    place || institution
}

/// Whether a credential (`, MD`, ` RN`) follows character `end`, and not a ZIP code after it
/// (`Silver Spring, MD 20910` is a place).
fn credential_after(t: &Text<'_>, end: usize) -> bool {
    let Some(mut p) = t.tok_at(end) else { return false };
    if t.is_sym(p, ',') {
        p += 1;
    }
    if !t.is_inline_space(p) || t.kind(p + 1) != Some(Kind::Word) || !is_credential(t.tok_str(p + 1)) {
        return false;
    }
    let q = p + 2;
    !(t.is_inline_space(q) && t.digits(q + 1) == 5)
}
