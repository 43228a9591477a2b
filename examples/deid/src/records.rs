//! Record numbers: medical record, account, social security, NHS, member and similar
//! numbers, found after a cue (`MRN`, `Account No.`, `SSN`), and SSN-shaped numbers
//! (`123-45-6789`) anywhere.

use crate::lexicon::RECORD_CUES;
use crate::text::{Kind, Text};
use crate::{Cand, Class};

/// Finds record numbers. With a cue the span covers the cue and the number (`MRN 4471234`
/// becomes `[MRN]`); the number must hold at least 4 digits, may mix letters, digits and
/// dashes (`AC-22871`), and must not be a trial id (`NCT…`).
pub(crate) fn records(t: &Text<'_>, out: &mut Vec<Cand>) {
    let mut k = 0;
    while k < t.toks.len() {
        let found = match t.kind(k) {
            Some(Kind::Word) => cued(t, k),
            Some(Kind::Num) => ssn(t, k).map(|end| (t.toks[k].start, end)),
            _ => None,
        };
        match found {
            Some((start, end)) => {
                out.push(Cand { start, end, class: Class::Record });
                k = t.tok_at(end).unwrap_or(t.toks.len());
            }
            None => k += 1,
        }
    }
}

/// The longest cue starting at token `k`: the token after it and whether it needs an
/// explicit `#`, `:`, `no` or `number` before the number.
fn cue_at(t: &Text<'_>, k: usize) -> Option<(usize, bool)> {
    let mut best: Option<(usize, bool)> = None;
    for (words, needs) in RECORD_CUES {
        let mut p = k;
        let mut ok = true;
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                if !t.is_inline_space(p) {
                    ok = false;
                    break;
                }
                p += 1;
            }
            if t.kind(p) != Some(Kind::Word) || !t.tok_str(p).eq_ignore_ascii_case(w) {
                ok = false;
                break;
            }
            p += 1;
        }
        if ok && best.is_none_or(|(b, _)| p > b) {
            best = Some((p, *needs));
        }
    }
    best
}

fn cued(t: &Text<'_>, k: usize) -> Option<(usize, usize)> {
    if t.before(t.toks[k].start).is_some_and(char::is_alphanumeric) {
        return None;
    }
    let (mut p, needs) = cue_at(t, k)?;
    let mut explicit = false;
    for _ in 0..8 {
        match t.kind(p) {
            Some(Kind::Space) if t.is_inline_space(p) => p += 1,
            Some(Kind::Sym) if [':', '#', '.', '=', '-'].iter().any(|&c| t.is_sym(p, c)) => {
                explicit |= !t.is_sym(p, '.');
                p += 1;
            }
            Some(Kind::Word)
                if ["no", "number", "num", "nr", "is", "of", "id"]
                    .iter()
                    .any(|w| t.tok_str(p).eq_ignore_ascii_case(w)) =>
            {
                explicit |= t.tok_str(p) != "is" && t.tok_str(p) != "of";
                p += 1;
            }
            _ => break,
        }
    }
    if needs && !explicit {
        return None;
    }
    let start = t.toks.get(p)?.start;
    let end = identifier(t, start)?;
    Some((t.toks[k].start, end))
}

/// A record identifier starting at character `s`: ASCII letters, digits and inner dashes or
/// slashes, at least 4 digits; `123 45 6789` and `943 476 5919` (NHS) too. Returns its end.
fn identifier(t: &Text<'_>, s: usize) -> Option<usize> {
    let mut e = s;
    let mut digits = 0;
    while e < t.len() && e - s < 32 {
        let c = t.chars[e];
        if c.is_ascii_alphanumeric() {
            digits += usize::from(c.is_ascii_digit());
            e += 1;
        } else if (c == '-' || c == '/') && e > s && t.at(e + 1).is_some_and(|d| d.is_ascii_alphanumeric()) {
            e += 1;
        } else {
            break;
        }
    }
    if t.at(e).is_some_and(char::is_alphanumeric) {
        return None;
    }
    if t.slice(s, (s + 3).min(e)).eq_ignore_ascii_case("NCT") {
        return None;
    }
    // `123 45 6789`, `943 476 5919`.
    if e - s == 3 && digits == 3 {
        if let Some(k) = t.tok_at(s) {
            if t.is_inline_space(k + 1)
                && matches!(t.digits(k + 2), 2 | 3)
                && t.is_inline_space(k + 3)
                && t.digits(k + 4) == 4
            {
                let end = t.toks[k + 4].end;
                return (!t.at(end).is_some_and(char::is_alphanumeric)).then_some(end);
            }
        }
    }
    (digits >= 4).then_some(e)
}

/// `123-45-6789` with nothing number-like around it.
fn ssn(t: &Text<'_>, k: usize) -> Option<usize> {
    let before = t.before(t.toks[k].start);
    if before.is_some_and(|c| c.is_alphanumeric() || "-./".contains(c)) {
        return None;
    }
    let shape = t.digits(k) == 3
        && t.is_sym(k + 1, '-')
        && t.digits(k + 2) == 2
        && t.is_sym(k + 3, '-')
        && t.digits(k + 4) == 4;
    if !shape {
        return None;
    }
    let end = t.toks[k + 4].end;
    let after = t.at(end);
    let continues = after.is_some_and(|c| c.is_alphanumeric())
        || (after.is_some_and(|c| "-./".contains(c)) && t.at(end + 1).is_some_and(|c| c.is_ascii_digit()));
    (!continues).then_some(end)
}
