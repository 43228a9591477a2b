//! Property tests of the masker over generated text: thousands of seeded strings mixing
//! ASCII words, digits, punctuation, multi-byte characters (`–°≥è漢😀`, combining marks)
//! and identifier-like fragments (`Dr.`, `MRN:`, `555-`, `2024-03-`, `@`, `Street`, ...).
//!
//! For every string and a random configuration: no panic; the spans are sorted,
//! non-overlapping, non-empty, on char boundaries and of enabled classes; the output is
//! exactly the text with each span replaced by its placeholder (so the text outside the
//! masks is preserved, in order); each masked piece holds an ASCII letter, digit or `@`;
//! and masking is deterministic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use deid_plugin::{find, mask, Class, DeidConfig, Span};

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

const FRAGMENTS: &[&str] = &[
    "Dr.",
    "Dr",
    "Mr. ",
    "Mrs ",
    "Patient ",
    "patient ",
    "Prof.",
    "Jane",
    "Doe",
    "John",
    "Smith",
    "Q.",
    "O'",
    "-",
    "'s",
    ", MD",
    " RN",
    "Name:",
    "Attending: ",
    "signed by ",
    "wife ",
    "son, ",
    "MRN",
    "MRN:",
    "MRN ",
    "#",
    "No.",
    "Account ",
    "SSN ",
    "123-45-",
    "6789",
    "NCT0",
    "555",
    "-123-",
    "4567",
    "(555) ",
    "+1 ",
    "+44 ",
    "020 ",
    "ext. ",
    "x",
    "Tel: ",
    "call ",
    "2024-03-",
    "15",
    "/",
    "03/",
    "2024",
    "31",
    "March ",
    "Mar.",
    "May ",
    "of ",
    "st",
    "th",
    "12 ",
    "Oak ",
    "Street",
    "St.",
    "Ave",
    "Apt ",
    "4B",
    ", Boston, MA 02115",
    "PO Box ",
    "Unit ",
    "@",
    "a.b",
    "@example.org",
    ".com",
    "mailto:",
    "–",
    "°C",
    "≥",
    "è",
    "ème",
    "漢字",
    "😀",
    "e\u{301}",
    "\u{200d}",
    "\u{a0}",
    "\u{202e}",
    "’",
    "30–40%",
    "37°C",
    "≥4-Fold",
    "19ème",
    "\n",
    "\r\n",
    "\t",
    "  ",
    ". ",
    ", ",
    ";",
    ":",
    "(",
    ")",
    "[NAME]",
    "Parkinson disease",
    "Hodgkin lymphoma",
    "p = 0.001",
    "10.1056/NEJM",
    "mg/dL",
];

fn random_char(rng: &mut Rng) -> char {
    let ranges: &[(u32, u32)] = &[
        (0x20, 0x7f),
        (0xa0, 0x250),
        (0x300, 0x370),
        (0x2000, 0x2070),
        (0x2190, 0x2300),
        (0x4e00, 0x4e80),
        (0x1f600, 0x1f650),
        (0, 0x11_0000),
    ];
    loop {
        let (lo, hi) = ranges[rng.below(ranges.len())];
        if let Some(c) = char::from_u32(lo + (rng.next() % u64::from(hi - lo)) as u32) {
            return c;
        }
    }
}

fn generate(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(48) {
        match rng.below(10) {
            0..=4 => s.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]),
            5 | 6 => s.push(random_char(rng)),
            7 => {
                for _ in 0..1 + rng.below(9) {
                    s.push(char::from(b'0' + rng.below(10) as u8));
                }
            }
            8 => {
                let cap = rng.coin();
                for i in 0..1 + rng.below(8) {
                    let c = char::from(b'a' + rng.below(26) as u8);
                    s.push(if cap && i == 0 { c.to_ascii_uppercase() } else { c });
                }
            }
            _ => s.push(' '),
        }
    }
    s
}

fn random_config(rng: &mut Rng) -> DeidConfig {
    if rng.below(3) == 0 {
        return DeidConfig::default();
    }
    DeidConfig {
        emails: rng.coin(),
        phones: rng.coin(),
        dates: rng.coin(),
        record_numbers: rng.coin(),
        names: rng.coin(),
        addresses: rng.coin(),
    }
}

/// The checks on one text; `Err` says what broke.
fn check(text: &str, cfg: &DeidConfig) -> Result<(), String> {
    let (spans, out) = catch_unwind(AssertUnwindSafe(|| (find(text, cfg), mask(text, cfg))))
        .map_err(|_| "panicked".to_owned())?;
    let mut expected = String::new();
    let mut prev = 0;
    for s in &spans {
        let Span { start, end, class } = *s;
        if start >= end || start < prev {
            return Err(format!("span {s:?} empty or out of order (previous end {prev})"));
        }
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) || end > text.len() {
            return Err(format!("span {s:?} not on char boundaries"));
        }
        if !cfg.masks(class) {
            return Err(format!("span {s:?} of a class the config turns off"));
        }
        let piece = &text[start..end];
        if !piece.chars().any(|c| c.is_ascii_alphanumeric() || c == '@') {
            return Err(format!("masked piece {piece:?} holds no letter, digit or @"));
        }
        expected.push_str(&text[prev..start]);
        expected.push_str(class.placeholder());
        prev = end;
    }
    expected.push_str(&text[prev..]);
    if out != expected {
        return Err(format!("output {out:?} is not the text with its spans replaced ({expected:?})"));
    }
    if mask(text, cfg) != out {
        return Err("not deterministic".to_owned());
    }
    Ok(())
}

#[test]
fn masking_generated_text_never_panics_and_only_replaces_spans() {
    let mut rng = Rng(0x5EED_DE1D_2026_1205);
    let mut masked_cases = 0;
    let mut classes = std::collections::BTreeSet::new();
    for case in 0..6000 {
        let text = generate(&mut rng);
        let cfg = random_config(&mut rng);
        if let Err(e) = check(&text, &cfg) {
            panic!("case {case}, config {cfg:?}, text {:?}: {e}", text);
        }
        let spans = find(&text, &cfg);
        masked_cases += usize::from(!spans.is_empty());
        classes.extend(spans.iter().map(|s| s.class));
    }
    // The generator reaches the detectors: many cases mask something, of every class.
    assert!(masked_cases > 500, "only {masked_cases} cases masked anything");
    assert_eq!(classes.into_iter().collect::<Vec<_>>(), Class::ALL.to_vec());
}

#[test]
fn with_every_class_off_the_text_is_unchanged() {
    let off = DeidConfig {
        emails: false,
        phones: false,
        dates: false,
        record_numbers: false,
        names: false,
        addresses: false,
    };
    let mut rng = Rng(42);
    for _ in 0..1000 {
        let text = generate(&mut rng);
        assert_eq!(mask(&text, &off), text);
    }
}

#[test]
fn text_without_capitals_digits_or_at_signs_is_unchanged() {
    let mut rng = Rng(7);
    let cfg = DeidConfig::default();
    for _ in 0..2000 {
        let text: String = generate(&mut rng)
            .chars()
            .filter(|c| !(c.is_uppercase() || c.is_ascii_digit() || *c == '@'))
            .collect();
        assert_eq!(mask(&text, &cfg), text, "{text:?}");
    }
}

/// Time of the fastest of three runs of `mask` over `text`.
fn fastest(text: &str) -> f64 {
    let cfg = DeidConfig::default();
    (0..3)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(mask(text, &cfg));
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn time_grows_linearly_with_the_text_even_on_pathological_input() {
    // Repetitions that keep a naive scanner looking ahead or back: long number chains, many
    // `@`, runs of capitalised words after a title, endless street names, nested cues.
    let units = [
        "1-1-1.1 (1) ",
        "a.b@c.d@e@",
        "Dr. Aa Bb Cc Dd Ee ",
        "12 Oak Elm Ash Pine ",
        "MRN MRN # no number ",
        "March 1 March 2 15 March ",
        "Jane Doe Jane Doe, MD ",
        "漢😀–°≥è ",
    ];
    for unit in units {
        let small = unit.repeat(250);
        let large = unit.repeat(2_000);
        let (a, b) = (fastest(&small), fastest(&large));
        eprintln!("{unit:?}: {a:.4}s, {b:.4}s");
        // Linear: about 8 times as long; quadratic would be about 64 times.
        assert!(b < 32.0 * a.max(1e-4), "{unit:?}: {a:.4}s for 250 repeats, {b:.4}s for 2000");
    }
}
