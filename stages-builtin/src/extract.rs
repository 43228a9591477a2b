//! `extract`: finds biomedical entities and simple claims in a [`Document`], by dictionary and
//! pattern (no model, no regular expressions: the matching is written out here).
//!
//! ## Entities
//!
//! The text scanned is the title, then every paragraph, sentence by sentence (sentences as
//! [`crate::chunk::split_sentences`] finds them). At each word start, in this order:
//!
//! 1. **Dictionary**: the [`DICTIONARY`] terms (drugs, diseases, genes) plus `extra_terms`,
//!    matched case-insensitively on word boundaries (a boundary is any character that is not a
//!    letter or a digit; a space in a term matches any run of whitespace). The longest term
//!    wins (`type 2 diabetes` over `diabetes`).
//! 2. **Trial ids**: `NCT` and exactly eight digits → kind `trial`.
//! 3. **Gene-like tokens**: a whole token of an uppercase ASCII letter, then two or more
//!    uppercase letters or digits, ending with a digit (`[A-Z][A-Z0-9]{2,}\d`: `BRCA1`, `TP53`,
//!    `PIK3CA1`), not `NCT` and digits → kind `gene`. A heuristic: `COVID19` is a "gene" too.
//!
//! An entity's id is `<kind>:<normalized name>` (the dictionary term, or the matched text,
//! lowercased with whitespace collapsed); its `name` is the text as first found. Entities are
//! listed once each, in order of first appearance.
//!
//! ## Claims
//!
//! Within one sentence, a `drug` and the `disease` or `gene` mentioned right next to it (no
//! other entity between them), after or before it, with a trigger between them make a claim
//! `drug —predicate→ disease/gene` ("Metformin reduces HbA1c in type 2 diabetes", "Asthma is
//! treated with salbutamol"). Diseases and genes listed with it (joined by `,`, `and`, `or`)
//! share the claim ("Aspirin prevents myocardial infarction and stroke": two claims). The first
//! trigger between them gives the predicate:
//!
//! | triggers | predicate |
//! |---|---|
//! | treat, treats, treated, treating | `treats` |
//! | reduce(s/d), reducing, lower(s/ed/ing) | `reduces` |
//! | inhibit(s/ed/ing), block(s/ed) | `inhibits` |
//! | improve(s/d), improving | `improves` |
//! | prevent(s/ed/ing) | `prevents` |
//! | associated with | `associated_with` |
//! | increase(s/d), increasing | `increases` |
//!
//! No trigger, no claim; negation is not detected. Each (subject, predicate, object) is listed
//! once, in order of first appearance, with the first sentence stating it as its evidence.

use serde::{Deserialize, Serialize};
use stage_core::stage;

use crate::chunk::split_sentences;
use crate::types::{Claim, Document, Entity};

/// The built-in dictionary: `(term, kind)`, terms lowercase.
pub const DICTIONARY: &[(&str, &str)] = &[
    // Drugs.
    ("aspirin", "drug"),
    ("metformin", "drug"),
    ("atorvastatin", "drug"),
    ("simvastatin", "drug"),
    ("ibuprofen", "drug"),
    ("paracetamol", "drug"),
    ("acetaminophen", "drug"),
    ("insulin", "drug"),
    ("warfarin", "drug"),
    ("lisinopril", "drug"),
    ("amlodipine", "drug"),
    ("semaglutide", "drug"),
    ("remdesivir", "drug"),
    ("dexamethasone", "drug"),
    ("salbutamol", "drug"),
    ("tamoxifen", "drug"),
    ("trastuzumab", "drug"),
    ("celecoxib", "drug"),
    // Diseases.
    ("diabetes", "disease"),
    ("type 1 diabetes", "disease"),
    ("type 2 diabetes", "disease"),
    ("hypertension", "disease"),
    ("asthma", "disease"),
    ("covid-19", "disease"),
    ("myocardial infarction", "disease"),
    ("stroke", "disease"),
    ("heart failure", "disease"),
    ("atrial fibrillation", "disease"),
    ("breast cancer", "disease"),
    ("lung cancer", "disease"),
    ("obesity", "disease"),
    ("depression", "disease"),
    ("chronic kidney disease", "disease"),
    ("rheumatoid arthritis", "disease"),
    // Genes.
    ("brca1", "gene"),
    ("brca2", "gene"),
    ("tp53", "gene"),
    ("egfr", "gene"),
    ("cox-2", "gene"),
    ("her2", "gene"),
    ("kras", "gene"),
    ("ace2", "gene"),
    ("apoe", "gene"),
    ("il-6", "gene"),
];

/// Trigger phrases and the predicate each gives.
const TRIGGERS: &[(&str, &str)] = &[
    ("treat", "treats"),
    ("treats", "treats"),
    ("treated", "treats"),
    ("treating", "treats"),
    ("reduce", "reduces"),
    ("reduces", "reduces"),
    ("reduced", "reduces"),
    ("reducing", "reduces"),
    ("lower", "reduces"),
    ("lowers", "reduces"),
    ("lowered", "reduces"),
    ("lowering", "reduces"),
    ("inhibit", "inhibits"),
    ("inhibits", "inhibits"),
    ("inhibited", "inhibits"),
    ("inhibiting", "inhibits"),
    ("block", "inhibits"),
    ("blocks", "inhibits"),
    ("blocked", "inhibits"),
    ("improve", "improves"),
    ("improves", "improves"),
    ("improved", "improves"),
    ("improving", "improves"),
    ("prevent", "prevents"),
    ("prevents", "prevents"),
    ("prevented", "prevents"),
    ("preventing", "prevents"),
    ("associated with", "associated_with"),
    ("increase", "increases"),
    ("increases", "increases"),
    ("increased", "increases"),
    ("increasing", "increases"),
];

/// A term added to the dictionary (`extra_terms[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    /// The term (matched case-insensitively).
    pub name: String,
    /// Its kind (`drug`, `disease`, `gene`, or any other).
    pub kind: String,
}

/// The `extract` stage's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractConfig {
    /// Terms added to the built-in dictionary (an extra term's kind wins over a built-in one's).
    pub extra_terms: Vec<Term>,
}

/// Why `extract` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// An extra term is unusable.
    #[error("extract config: `extra_terms[{index}]` {message}")]
    Config {
        /// Its position.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// An entity found at a place in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// Byte offset of its start.
    pub start: usize,
    /// Byte offset just past its end.
    pub end: usize,
    /// The entity.
    pub entity: Entity,
}

/// The dictionary-and-pattern matcher (module docs).
#[derive(Debug, Clone)]
pub struct Extractor {
    /// `(normalized term, kind)`, longest first.
    terms: Vec<(String, String)>,
}

/// Lowercase, whitespace runs collapsed to one space, trimmed.
fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Whether text character `c` equals lowercase term character `t`, ignoring case.
fn lower_eq(c: char, t: char) -> bool {
    c == t || {
        let mut l = c.to_lowercase();
        l.next() == Some(t) && l.next().is_none()
    }
}

/// Where `term` (normalized) matches `text` at `pos`, ending on a word boundary.
fn match_term(text: &str, pos: usize, term: &str) -> Option<usize> {
    let rest = &text[pos..];
    let mut it = rest.char_indices().peekable();
    for t in term.chars() {
        let (_, c) = it.next()?;
        if t == ' ' {
            if !c.is_whitespace() {
                return None;
            }
            while it.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        } else if !lower_eq(c, t) {
            return None;
        }
    }
    let end = it.peek().map_or(text.len(), |(i, _)| pos + i);
    match text[end..].chars().next() {
        Some(c) if c.is_alphanumeric() => None,
        _ => Some(end),
    }
}

/// Byte offsets of the word starts of `text`: alphanumeric characters after a non-alphanumeric
/// one (or at the start).
fn word_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    let mut prev_alnum = false;
    text.char_indices().filter_map(move |(i, c)| {
        let start = c.is_alphanumeric() && !prev_alnum;
        prev_alnum = c.is_alphanumeric();
        start.then_some(i)
    })
}

/// `NCT` + eight digits at `pos`, on a word boundary.
fn match_nct(text: &str, pos: usize) -> Option<usize> {
    let b = text.as_bytes();
    let end = pos + 11;
    let ok = b.len() >= end
        && b[pos..pos + 3].eq_ignore_ascii_case(b"NCT")
        && b[pos + 3..end].iter().all(u8::is_ascii_digit)
        && !text[end..].chars().next().is_some_and(char::is_alphanumeric);
    ok.then_some(end)
}

/// A gene-like token (`[A-Z][A-Z0-9]{2,}\d`, the whole token) at `pos`.
fn match_gene_like(text: &str, pos: usize) -> Option<usize> {
    let rest = &text[pos..];
    let len = rest.find(|c: char| !c.is_alphanumeric()).unwrap_or(rest.len());
    let token = &rest[..len];
    let b = token.as_bytes();
    let ok = b.len() >= 4
        && b[0].is_ascii_uppercase()
        && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && b[b.len() - 1].is_ascii_digit()
        // A malformed trial id is not a gene.
        && !(token.starts_with("NCT") && b[3].is_ascii_digit());
    ok.then_some(pos + len)
}

fn entity(kind: &str, normalized: &str, found: &str) -> Entity {
    Entity {
        id: format!("{kind}:{normalized}"),
        name: found.split_whitespace().collect::<Vec<_>>().join(" "),
        kind: kind.to_owned(),
    }
}

impl Extractor {
    /// The built-in dictionary plus `extra` terms.
    pub fn new(extra: &[Term]) -> Result<Self, ExtractError> {
        let mut terms: Vec<(String, String)> = Vec::new();
        for (index, t) in extra.iter().enumerate() {
            let name = normalize(&t.name);
            let kind = t.kind.trim();
            if name.is_empty() {
                return Err(ExtractError::Config { index, message: "has an empty `name`".into() });
            }
            if kind.is_empty() {
                return Err(ExtractError::Config {
                    index,
                    message: format!("(`{name}`) has an empty `kind`"),
                });
            }
            if !terms.iter().any(|(n, _)| *n == name) {
                terms.push((name, kind.to_owned()));
            }
        }
        for (name, kind) in DICTIONARY {
            if !terms.iter().any(|(n, _)| n == name) {
                terms.push(((*name).to_owned(), (*kind).to_owned()));
            }
        }
        // Longest first; ties by name, for determinism.
        terms.sort_by(|a, b| b.0.chars().count().cmp(&a.0.chars().count()).then_with(|| a.0.cmp(&b.0)));
        Ok(Extractor { terms })
    }

    /// The entities mentioned in `text`, in order.
    pub fn mentions(&self, text: &str) -> Vec<Mention> {
        let mut out = Vec::new();
        let mut next_free = 0;
        for pos in word_starts(text) {
            if pos < next_free {
                continue;
            }
            let found = self
                .terms
                .iter()
                .find_map(|(term, kind)| {
                    match_term(text, pos, term).map(|end| (end, entity(kind, term, &text[pos..end])))
                })
                .or_else(|| {
                    match_nct(text, pos)
                        .map(|end| (end, entity("trial", &text[pos..end].to_lowercase(), &text[pos..end])))
                })
                .or_else(|| {
                    match_gene_like(text, pos)
                        .map(|end| (end, entity("gene", &text[pos..end].to_lowercase(), &text[pos..end])))
                });
            if let Some((end, entity)) = found {
                out.push(Mention { start: pos, end, entity });
                next_free = end;
            }
        }
        out
    }

    /// The claims of one sentence, given its mentions.
    pub fn claims(&self, sentence: &str, mentions: &[Mention]) -> Vec<Claim> {
        let is_object = |m: &Mention| matches!(m.entity.kind.as_str(), "disease" | "gene");
        let between = |a: usize, b: usize| &sentence[mentions[a].end..mentions[b].start];
        let mut out: Vec<Claim> = Vec::new();
        let mut push = |d: &Mention, o: &Mention, predicate: &str| {
            let claim = Claim {
                subject: d.entity.id.clone(),
                predicate: predicate.to_owned(),
                object: o.entity.id.clone(),
                evidence: sentence.trim().to_owned(),
                chunk_id: None,
            };
            if !out.iter().any(|c| same_triple(c, &claim)) {
                out.push(claim);
            }
        };
        for (i, d) in mentions.iter().enumerate().filter(|(_, m)| m.entity.kind == "drug") {
            // Forward: "Aspirin prevents myocardial infarction and stroke".
            if let Some(predicate) =
                mentions.get(i + 1).filter(|o| is_object(o)).and_then(|_| first_trigger(between(i, i + 1)))
            {
                let mut j = i + 1;
                loop {
                    push(d, &mentions[j], predicate);
                    if j + 1 < mentions.len()
                        && is_object(&mentions[j + 1])
                        && is_coordinator(between(j, j + 1))
                    {
                        j += 1;
                    } else {
                        break;
                    }
                }
            }
            // Backward: "Asthma and COPD are treated with salbutamol".
            if i > 0 && is_object(&mentions[i - 1]) {
                if let Some(predicate) = first_trigger(between(i - 1, i)) {
                    let mut j = i - 1;
                    loop {
                        push(d, &mentions[j], predicate);
                        if j > 0 && is_object(&mentions[j - 1]) && is_coordinator(between(j - 1, j)) {
                            j -= 1;
                        } else {
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// The entities (once each, in order of first appearance) and claims of `doc`.
    pub fn extract(&self, doc: &Document) -> (Vec<Entity>, Vec<Claim>) {
        let mut entities: Vec<Entity> = Vec::new();
        let mut claims: Vec<Claim> = Vec::new();
        let texts = std::iter::once(doc.title.as_str())
            .chain(doc.sections.iter().flat_map(|s| s.paragraphs.iter().map(String::as_str)));
        for text in texts {
            for sentence in split_sentences(text) {
                let mentions = self.mentions(sentence);
                for m in &mentions {
                    if !entities.iter().any(|e| e.id == m.entity.id) {
                        entities.push(m.entity.clone());
                    }
                }
                for c in self.claims(sentence, &mentions) {
                    if !claims.iter().any(|k| same_triple(k, &c)) {
                        claims.push(c);
                    }
                }
            }
        }
        (entities, claims)
    }
}

fn same_triple(a: &Claim, b: &Claim) -> bool {
    a.subject == b.subject && a.predicate == b.predicate && a.object == b.object
}

/// Whether the text between two mentions only joins them in a list (`,`, `and`, `or`).
fn is_coordinator(text: &str) -> bool {
    let words: Vec<&str> =
        text.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).collect();
    match words.as_slice() {
        [] => text.contains(','),
        [w] => w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or"),
        _ => false,
    }
}

/// The predicate of the first trigger in `text`.
fn first_trigger(text: &str) -> Option<&'static str> {
    word_starts(text)
        .find_map(|pos| TRIGGERS.iter().find(|(t, _)| match_term(text, pos, t).is_some()).map(|(_, p)| *p))
}

/// Finds biomedical `entities` (dictionary terms, NCT ids, gene-like tokens) and `claims`
/// (a drug, a trigger verb and a disease or gene in one sentence) in the `document`.
#[stage(type = "extract", state_key = ["entities", "claims"])]
pub fn extract(
    document: &Document,
    #[config] config: &ExtractConfig,
) -> Result<(Vec<Entity>, Vec<Claim>), ExtractError> {
    Ok(Extractor::new(&config.extra_terms)?.extract(document))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Section;

    fn doc(title: &str, paragraphs: &[&str]) -> Document {
        Document {
            id: "d".into(),
            title: title.into(),
            source: String::new(),
            metadata: Default::default(),
            sections: vec![Section {
                title: "S".into(),
                paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
            }],
        }
    }

    fn ids(es: &[Entity]) -> Vec<&str> {
        es.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn the_dictionary_has_about_forty_terms_of_three_kinds() {
        assert!((40..=50).contains(&DICTIONARY.len()));
        for kind in ["drug", "disease", "gene"] {
            assert!(DICTIONARY.iter().filter(|(_, k)| *k == kind).count() >= 10, "{kind}");
        }
        assert!(DICTIONARY.iter().all(|(t, _)| *t == normalize(t)));
    }

    #[test]
    fn dictionary_matches_case_insensitively_on_word_boundaries_longest_first() {
        let x = Extractor::new(&[]).unwrap();
        let ms =
            x.mentions("METFORMIN and Type  2\nDiabetes; aspirinate, COX-2-selective, anti-EGFR, diabetes.");
        let got: Vec<(&str, &str)> =
            ms.iter().map(|m| (m.entity.id.as_str(), m.entity.name.as_str())).collect();
        assert_eq!(
            got,
            [
                ("drug:metformin", "METFORMIN"),
                ("disease:type 2 diabetes", "Type 2 Diabetes"),
                ("gene:cox-2", "COX-2"),
                ("gene:egfr", "EGFR"),
                ("disease:diabetes", "diabetes"),
            ]
        );
        assert_eq!(&"x METFORMIN"[ms[0].start + 2..ms[0].end + 2], "METFORMIN");
    }

    #[test]
    fn patterns_find_trials_and_gene_like_tokens() {
        let x = Extractor::new(&[]).unwrap();
        let ms = x.mentions("See NCT01234567 and NCT0123456, PIK3CA1 but not CD4, Abc123, A1B or 2023.");
        let got: Vec<(&str, &str)> =
            ms.iter().map(|m| (m.entity.id.as_str(), m.entity.kind.as_str())).collect();
        assert_eq!(got, [("trial:nct01234567", "trial"), ("gene:pik3ca1", "gene")]);
    }

    #[test]
    fn claims_need_a_trigger_between_a_drug_and_a_disease_or_gene() {
        let d = doc(
            "Metformin reduces HbA1c in type 2 diabetes",
            &[
                "Asthma is treated with salbutamol. Aspirin and hypertension were both studied.",
                "Celecoxib inhibits COX-2 and aspirin prevents myocardial infarction.",
                "Metformin was associated with lower BRCA1 expression.",
            ],
        );
        let (entities, claims) = extract(&d, &ExtractConfig::default()).unwrap();
        assert_eq!(
            ids(&entities),
            [
                "drug:metformin",
                "disease:type 2 diabetes",
                "disease:asthma",
                "drug:salbutamol",
                "drug:aspirin",
                "disease:hypertension",
                "drug:celecoxib",
                "gene:cox-2",
                "disease:myocardial infarction",
                "gene:brca1",
            ]
        );
        let triples: Vec<(&str, &str, &str)> =
            claims.iter().map(|c| (c.subject.as_str(), c.predicate.as_str(), c.object.as_str())).collect();
        assert_eq!(
            triples,
            [
                ("drug:metformin", "reduces", "disease:type 2 diabetes"),
                ("drug:salbutamol", "treats", "disease:asthma"),
                ("drug:celecoxib", "inhibits", "gene:cox-2"),
                ("drug:aspirin", "prevents", "disease:myocardial infarction"),
                ("drug:metformin", "associated_with", "gene:brca1"),
            ]
        );
        assert_eq!(claims[1].evidence, "Asthma is treated with salbutamol.");
    }

    #[test]
    fn claims_go_to_the_adjacent_mention_and_its_list() {
        let d = doc(
            "T",
            &[
                "Aspirin prevents myocardial infarction, stroke and heart failure in adults with hypertension.",
                "Asthma or COVID-19 is treated with dexamethasone.",
                "Ibuprofen inhibits COX-2 but increases the risk of heart failure.",
                "Aspirin prevents stroke in older adults.",
            ],
        );
        let (_, claims) = extract(&d, &ExtractConfig::default()).unwrap();
        let triples: Vec<String> =
            claims.iter().map(|c| format!("{} {} {}", c.subject, c.predicate, c.object)).collect();
        assert_eq!(
            triples,
            [
                "drug:aspirin prevents disease:myocardial infarction",
                "drug:aspirin prevents disease:stroke",
                "drug:aspirin prevents disease:heart failure",
                "drug:dexamethasone treats disease:covid-19",
                "drug:dexamethasone treats disease:asthma",
                "drug:ibuprofen inhibits gene:cox-2",
            ]
        );
        assert!(
            claims[1].evidence.starts_with("Aspirin prevents myocardial infarction"),
            "first evidence kept"
        );
    }

    #[test]
    fn extra_terms_extend_the_dictionary() {
        let cfg = ExtractConfig {
            extra_terms: vec![
                Term { name: "Empagliflozin".into(), kind: "drug".into() },
                Term { name: "gout".into(), kind: "disease".into() },
                Term { name: "heart  failure".into(), kind: "condition".into() },
            ],
        };
        let text = "Empagliflozin improves heart failure. Empagliflozin reduces gout.";
        let (entities, claims) = extract(&doc("T", &[text]), &cfg).unwrap();
        assert_eq!(ids(&entities), ["drug:empagliflozin", "condition:heart failure", "disease:gout"]);
        let triples: Vec<(&str, &str)> =
            claims.iter().map(|c| (c.predicate.as_str(), c.object.as_str())).collect();
        assert_eq!(triples, [("reduces", "disease:gout")], "a `condition` is not a claim object");
        let bad = ExtractConfig { extra_terms: vec![Term { name: " ".into(), kind: "drug".into() }] };
        assert!(extract(&doc("T", &[]), &bad).unwrap_err().to_string().contains("extra_terms[0]"));
        assert!(serde_json::from_str::<ExtractConfig>(r#"{"extra_terms": [{"name": "x", "type": "drug"}]}"#)
            .is_err());
    }

    #[test]
    fn utf8_text_never_panics() {
        let x = Extractor::new(&[]).unwrap();
        let ms = x.mentions("Ünïcödé İnsulin — ınsulin, straße INSULIN→diabetes");
        assert!(ms.iter().any(|m| m.entity.id == "drug:insulin"));
        assert!(ms.iter().any(|m| m.entity.id == "disease:diabetes"));
    }
}
