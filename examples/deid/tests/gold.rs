//! Measures the masker on realistic clinical notes with a gold annotation of every identifier.
//!
//! `tests/data/gold_notes.txt` holds four notes (a discharge summary, a referral letter, a
//! rheumatology clinic note, a telephone encounter with a transfer form), written for this
//! test, with every identifier marked inline as `[[CLASS:text]]` (`CLASS` is a placeholder
//! label: `NAME`, `MRN`, `ADDRESS`, `PHONE`, `DATE`, `EMAIL`). The test strips the markup, so
//! the text and its gold spans cannot drift apart, masks the plain text, and scores the spans
//! found per class.
//!
//! Matching rule (span level): a found span is a true positive if a gold span has the same
//! class and exactly the same byte range; every other found span is a false positive and
//! every unmatched gold span a false negative. Precision and recall must be at least 0.9 for
//! every class. The lenient figures (same class, ranges overlap) are printed too.

use deid_plugin::{find, Class, DeidConfig, Span};

const NOTES: &str = include_str!("data/gold_notes.txt");

/// The text without markup, and the gold spans (byte ranges in that text).
fn strip(marked: &str) -> Result<(String, Vec<Span>), String> {
    let mut text = String::with_capacity(marked.len());
    let mut gold = Vec::new();
    let mut rest = marked;
    while let Some(open) = rest.find("[[") {
        text.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let line = marked[..marked.len() - rest.len() + open].lines().count();
        let close = after.find("]]").ok_or(format!("line {line}: `[[` without `]]`"))?;
        let inner = &after[..close];
        let (label, span_text) =
            inner.split_once(':').ok_or(format!("line {line}: `[[{inner}]]` has no `CLASS:`"))?;
        let class = Class::from_label(label).ok_or(format!("line {line}: unknown class `{label}`"))?;
        if span_text.is_empty() || span_text.contains("[[") {
            return Err(format!("line {line}: empty or nested span `[[{inner}]]`"));
        }
        gold.push(Span { start: text.len(), end: text.len() + span_text.len(), class });
        text.push_str(span_text);
        rest = &after[close + 2..];
    }
    text.push_str(rest);
    Ok((text, gold))
}

/// True positives, false positives and false negatives of one class.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn precision(self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    fn recall(self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
}

fn score(found: &[Span], gold: &[Span], class: Class, matches: impl Fn(&Span, &Span) -> bool) -> Counts {
    let found: Vec<&Span> = found.iter().filter(|s| s.class == class).collect();
    let gold: Vec<&Span> = gold.iter().filter(|s| s.class == class).collect();
    let mut used = vec![false; gold.len()];
    let mut c = Counts::default();
    for f in &found {
        match (0..gold.len()).find(|&i| !used[i] && matches(f, gold[i])) {
            Some(i) => {
                used[i] = true;
                c.tp += 1;
            }
            None => c.fp += 1,
        }
    }
    c.fn_ = used.iter().filter(|u| !**u).count();
    c
}

fn exact(a: &Span, b: &Span) -> bool {
    a.start == b.start && a.end == b.end
}

fn overlap(a: &Span, b: &Span) -> bool {
    a.start < b.end && b.start < a.end
}

#[test]
fn the_markup_strips_to_the_notes_and_their_gold_spans() {
    let (text, gold) = strip(NOTES).unwrap_or_else(|e| panic!("tests/data/gold_notes.txt: {e}"));
    assert!(!text.contains("[[") && !text.contains("]]"));
    assert_eq!(gold.len(), 100, "identifiers annotated");
    assert!(text.contains("Patient name: Okonkwo, Adaeze"));
    let first = gold[0];
    assert_eq!((&text[first.start..first.end], first.class), ("Okonkwo, Adaeze", Class::Name));
    assert!(strip("a [[NAME:x").is_err() && strip("[[WHO:x]]").is_err() && strip("[[NAME]]").is_err());
}

/// Per-class exact counts, the overall exact and overlap counts, and a Markdown table of
/// the figures; misses and wrong masks go to stderr.
fn measure(name: &str, marked: &str) -> (Vec<(Class, Counts)>, Counts, Counts, String) {
    let (text, gold) = strip(marked).unwrap_or_else(|e| panic!("{name}: {e}"));
    let found = find(&text, &DeidConfig::default());
    let mut table = String::from(
        "| class | gold | found | exact P | exact R | overlap P | overlap R |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut per_class = Vec::new();
    let (mut all_e, mut all_o) = (Counts::default(), Counts::default());
    for class in Class::ALL {
        let e = score(&found, &gold, class, exact);
        let o = score(&found, &gold, class, overlap);
        for (a, b) in [(&mut all_e, e), (&mut all_o, o)] {
            a.tp += b.tp;
            a.fp += b.fp;
            a.fn_ += b.fn_;
        }
        table.push_str(&row(&format!("`{}`", class.placeholder()), e, o));
        per_class.push((class, e));
    }
    table.push_str(&row("all", all_e, all_o));
    eprintln!("{name}\n{table}");
    // What was missed and what was masked wrongly, to read when a figure moves.
    for g in &gold {
        if !found.iter().any(|f| f.class == g.class && exact(f, g)) {
            eprintln!("missed {:?}: {:?}", g.class, &text[g.start..g.end]);
        }
    }
    for f in &found {
        if !gold.iter().any(|g| f.class == g.class && exact(f, g)) {
            eprintln!("wrong  {:?}: {:?}", f.class, &text[f.start..f.end]);
        }
    }
    (per_class, all_e, all_o, table)
}

fn row(label: &str, e: Counts, o: Counts) -> String {
    format!(
        "| {label} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
        e.tp + e.fn_,
        e.tp + e.fp,
        e.precision(),
        e.recall(),
        o.precision(),
        o.recall()
    )
}

#[test]
fn precision_and_recall_are_at_least_0_9_for_every_class() {
    let (per_class, _, _, table) = measure("tests/data/gold_notes.txt", NOTES);
    let failures: Vec<Class> = per_class
        .iter()
        .filter(|(_, c)| c.precision() < 0.9 || c.recall() < 0.9)
        .map(|(class, _)| *class)
        .collect();
    assert!(failures.is_empty(), "below 0.9: {failures:?}\n{table}");
}

/// Notes in other styles (a UK GP letter, a terse nursing handover, an ED triage note),
/// written after the rules and measured once without tuning the rules to them: the figures
/// in `README.md` are an honest estimate of what the rules miss. The test keeps them from
/// getting worse.
const HELD_OUT: &str = include_str!("data/heldout_notes.txt");

#[test]
fn held_out_notes_do_not_get_worse() {
    let (_, e, o, table) = measure("tests/data/heldout_notes.txt", HELD_OUT);
    assert_eq!(e.tp + e.fn_, 27, "identifiers annotated");
    // Measured: exact P 0.870 R 0.741 at first; 1.000 / 0.889 after the rules were revised.
    assert!(e.precision() >= 0.95 && e.recall() >= 0.85 && o.recall() >= 0.85, "{table}");
}

/// A second set of notes in other styles (an operative note, a psychiatry progress note, a
/// pathology report), written after the rules had been revised on the first held-out set and
/// measured once without tuning.
const HELD_OUT_B: &str = include_str!("data/heldout2_notes.txt");

#[test]
fn second_held_out_notes_do_not_get_worse() {
    let (_, e, o, table) = measure("tests/data/heldout2_notes.txt", HELD_OUT_B);
    assert_eq!(e.tp + e.fn_, 27, "identifiers annotated");
    // Measured: exact P 0.963 R 0.963 at first.
    assert!(e.precision() >= 0.95 && e.recall() >= 0.95 && o.recall() >= 0.95, "{table}");
}
