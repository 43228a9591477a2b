//! The `pmc` adapter: PubMed Central and publisher JATS XML.

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::json;

use super::text::{decode_entities, normalize_whitespace};
use super::{Adapter, AdapterError, AdapterRequest, Malformed, RecordOrSkip};
use crate::types::{Record, Section};

/// How deep elements may nest in a JATS document. Real articles nest a few dozen levels (MathML
/// included); a deeper document is refused as malformed, naming the file, so that neither the
/// parser nor the tree walks can exhaust the thread's stack on hostile input.
pub const MAX_XML_DEPTH: usize = 256;

/// Reads JATS XML articles (`pmc/<PMCID>.xml` or `.nxml`: PMC OA files, NCBI efetch
/// `<pmc-articleset>` responses of one or several articles, and publishers' own JATS such as
/// PLOS's and eLife's) from the `pmc/` folder.
///
/// From `front/article-meta`:
/// - the id is `article-id[@pub-id-type=pmc|pmcid]` (`PMC` prefixed), else the `pmid`, else the
///   article's DOI (publisher JATS has neither), else the file's stem; `raw.id_from` says which
///   (`pmcid`, `pmid`, `doi`, `file`);
/// - `article-id[@pub-id-type=doi]` (the first without `specific-use`) is the DOI,
///   `title-group/article-title` the title, `contrib/name` (`given-names surname`) or
///   `collab` the authors, the first `pub-date/year` the year; `self-uri` with a PDF content
///   type is the PDF link (a relative one resolved on the PMC article's `pdf/` path);
/// - the abstract is the `abstract` without `abstract-type` (else the first): its paragraphs,
///   each of a structured abstract's sections prefixed with the section's title
///   (`Background: ...`). The other abstracts (teaser, eLife digest...) become sections titled
///   by their own title, else `Abstract (<type>)`.
///
/// The body: each `body/sec` becomes a section of its paragraphs, nested sections flattened
/// with `Parent / Child` titles, paragraphs directly in `body` an untitled first section. A
/// display formula standing between paragraphs is a paragraph of its own; lists give a
/// paragraph per item. Then, in document order, every table (`table-wrap`: title = label and
/// caption title, paragraphs = the caption's paragraphs, the rows as one paragraph of lines
/// with cells separated by ` | `, then the table's footnotes) and every figure (`fig`: label
/// and caption) is a section of its own, taken out of the paragraph it sat in. Then each
/// `sub-article` (eLife's `editor-report`, `referee-report`, `author-comment`, a
/// `reply`...) gives sections titled `<article-type>: <its title>` (with ` / <section>` for its
/// own sections). Supplementary material, `back` matter (acknowledgements, footnotes,
/// references) and nested `response`s are left out.
///
/// Text is what a reader sees: whitespace normalised, a space kept where a removed element
/// (display formula, figure, table, list, break) sat between words, and math linearised:
/// - MathML (`mml:math`; preferred in an `alternatives` that also has `tex-math`): tokens in
///   order, operators spaced (`x = y + 2`), fences and commas tight (`f(x, y)`), `msup` →
///   `x^2`, `msub` → `x_i`, `msubsup` → `x_i^2`, `munder`/`mover`/`munderover` likewise (an
///   accent over a base is named: `bar(x)`, `hat(x)`, `tilde(x)`, `dot(x)`, `vec(v)`),
///   `mfrac` → `a/b`, `msqrt` → `sqrt(x)`, `mroot` → `root_n(x)`; a script or fraction part
///   of several tokens is parenthesised (`e^(−x)`, `(a + b)/(c)`). Adjacent single-letter
///   identifiers are juxtaposed (`CF`), a multi-letter one is spaced (`sin x`). Annotations
///   are left out.
/// - `tex-math` alone: the LaTeX between `\begin{document}` and `\end{document}` (the
///   preamble dropped) without its `$`/`$$`/`\[ \]` delimiters.
///
/// `raw` is a JSON summary (ids and `id_from`, title, authors, year, PDF link, file, the
/// abstract's paragraph count, the section titles, the numbers of tables, figures and
/// sub-articles).
///
/// Hostile input: elements nesting deeper than [`MAX_XML_DEPTH`] make the file malformed (the
/// parser keeps its own stack, and no tree walk goes deeper than the limit); attributes are
/// read in linear time (no pairwise duplicate check); entities are never expanded from a DTD
/// (the XML five, character references and a small fixed table of HTML names are decoded, any
/// other `&name;` stays as written).
#[derive(Debug, Clone, Copy, Default)]
pub struct PmcAdapter;

impl Adapter for PmcAdapter {
    fn name(&self) -> &'static str {
        "pmc"
    }
    fn sources(&self) -> &'static [&'static str] {
        &["pmc", "pmc-fulltext"]
    }
    fn fetch(&self, request: &AdapterRequest) -> Result<Vec<RecordOrSkip>, AdapterError> {
        request.read_files("pmc", &["xml", "nxml"], |path, file| read_file(request, path, file))
    }
}

fn read_file(req: &AdapterRequest, path: &Path, file: &str) -> Result<Vec<RecordOrSkip>, AdapterError> {
    let text = match super::read_text(path, file) {
        Ok(text) => text,
        Err(m) => return Ok(vec![RecordOrSkip::Skip(m)]),
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(articles_with_stem(req, &text, file, &stem))
}

/// The articles of one JATS document, as records or malformed entries.
#[cfg(test)]
pub(crate) fn articles(req: &AdapterRequest, xml: &str, file: &str) -> Vec<RecordOrSkip> {
    let stem = Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    articles_with_stem(req, xml, file, &stem)
}

fn articles_with_stem(req: &AdapterRequest, xml: &str, file: &str, stem: &str) -> Vec<RecordOrSkip> {
    // A reason may quote the document (the parser's `expected </a>, but </b ...> was found`):
    // it is logged and reported on one line, so control characters are escaped.
    let skip = |record: String, reason: String| {
        RecordOrSkip::Skip(Malformed { file: file.to_owned(), record, reason: one_line(&reason) })
    };
    let root = match parse_xml(xml) {
        Ok(root) => root,
        Err(e) => return vec![skip("whole file".into(), format!("invalid XML: {e}"))],
    };
    let mut found = Vec::new();
    root.find_all("article", &mut found);
    if found.is_empty() {
        return vec![skip("whole file".into(), "no <article> element".into())];
    }
    // Several articles in one file cannot all take the file's stem as id.
    let stem = if found.len() == 1 { Some(stem) } else { None };
    found
        .iter()
        .enumerate()
        .map(|(i, a)| match article(req, a, file, stem.filter(|s| !s.is_empty())) {
            Ok(r) => RecordOrSkip::Record(r),
            Err(reason) => skip(format!("article {}", i + 1), reason),
        })
        .collect()
}

/// `s` with its control characters (line breaks included) escaped as Rust writes them
/// (`\n`, `\u{1b}`).
fn one_line(s: &str) -> String {
    if !s.contains(char::is_control) {
        return s.to_owned();
    }
    s.chars().fold(String::with_capacity(s.len() + 8), |mut out, c| {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
        out
    })
}

fn article(req: &AdapterRequest, a: &Node, file: &str, stem: Option<&str>) -> Result<Record, String> {
    let meta = a.child("front").and_then(|f| f.child("article-meta")).ok_or("no `front/article-meta`")?;
    let article_ids = |types: &[&str]| -> Vec<&Node> {
        meta.children_named("article-id")
            .filter(|n| n.attr("pub-id-type").is_some_and(|t| types.contains(&t)))
            .filter(|n| !n.text().is_empty())
            .collect()
    };
    let pmcid = article_ids(&["pmc", "pmcid"]).first().map(|n| {
        let id = n.text();
        if id.starts_with("PMC") {
            id
        } else {
            format!("PMC{id}")
        }
    });
    let pmid = article_ids(&["pmid"]).first().map(|n| n.text());
    let dois = article_ids(&["doi"]);
    let doi = dois.iter().find(|n| n.attr("specific-use").is_none()).or(dois.first()).map(|n| n.text());
    let (id, id_from) = match (&pmcid, &pmid, &doi, stem) {
        (Some(p), _, _, _) => (p.clone(), "pmcid"),
        (None, Some(p), _, _) => (p.clone(), "pmid"),
        (None, None, Some(d), _) => (d.clone(), "doi"),
        (None, None, None, Some(s)) => (s.to_owned(), "file"),
        (None, None, None, None) => {
            return Err(
                "no `article-id` of type pmc, pmcid, pmid or doi (and several articles in the file)".into()
            )
        }
    };
    let title = meta
        .descendant("title-group")
        .and_then(|t| t.child("article-title"))
        .map(inline_text)
        .filter(|t| !t.is_empty())
        .ok_or("no `title-group/article-title`")?;

    let authors = authors_of(meta);
    // The first publication date's year; an accepted manuscript without one (eLife POA) gives
    // its history's acceptance (else any) date's year.
    let year_in = |d: &Node| d.child("year").and_then(|y| y.text().parse::<i32>().ok());
    let history: Vec<&Node> =
        meta.child("history").map(|h| h.children_named("date").collect()).unwrap_or_default();
    let year = meta.children_named("pub-date").find_map(year_in).or_else(|| {
        history
            .iter()
            .filter(|d| d.attr("date-type") == Some("accepted"))
            .chain(history.iter())
            .find_map(|d| year_in(d))
    });

    let abstracts: Vec<&Node> = meta.children_named("abstract").collect();
    let main_abstract =
        abstracts.iter().find(|a| a.attr("abstract-type").is_none()).or_else(|| abstracts.first()).copied();
    let main_paragraphs = main_abstract.map(abstract_paragraphs).unwrap_or_default();
    let abstract_text = (!main_paragraphs.is_empty()).then(|| main_paragraphs.join("\n\n"));

    let mut self_uris = Vec::new();
    meta.find_all("self-uri", &mut self_uris);
    let pdf_url = self_uris
        .iter()
        .find(|u| {
            u.attr("content-type").is_some_and(|t| t.to_ascii_lowercase().contains("pdf"))
                || u.attr("href").is_some_and(|h| h.to_ascii_lowercase().ends_with(".pdf"))
        })
        .and_then(|u| u.attr("href"))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|href| {
            if href.starts_with("http://") || href.starts_with("https://") {
                href.to_owned()
            } else {
                format!("https://www.ncbi.nlm.nih.gov/pmc/articles/{id}/pdf/{href}")
            }
        });

    let mut sections = Vec::new();
    for other in abstracts.iter().filter(|x| main_abstract.is_none_or(|m| !std::ptr::eq(**x, m))) {
        let paragraphs = abstract_paragraphs(other);
        if paragraphs.is_empty() {
            continue;
        }
        let title = other
            .child("title")
            .map(inline_text)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| format!("Abstract ({})", other.attr("abstract-type").unwrap_or("other")));
        sections.push(Section { title, paragraphs });
    }
    if let Some(body) = a.child("body") {
        body_sections(body, "", &mut sections);
    }
    let mut floats = Vec::new();
    for part in a.elements().filter(|c| !matches!(c.name.as_str(), "front" | "sub-article" | "response")) {
        part.find_all_of(&["fig", "table-wrap"], &mut floats);
    }
    let (mut tables, mut figures) = (0, 0);
    for f in &floats {
        let section = if f.name == "fig" { figure_section(f) } else { table_section(f) };
        if let Some(section) = section {
            if f.name == "fig" {
                figures += 1;
            } else {
                tables += 1;
            }
            sections.push(section);
        }
    }
    let mut sub_articles = Vec::new();
    sub_article_sections(a, &mut sections, &mut sub_articles);

    let raw = json!({
        "pmcid": pmcid,
        "pmid": pmid,
        "doi": doi,
        "id_from": id_from,
        "title": title,
        "authors": authors,
        "year": year,
        "pdf_url": pdf_url,
        "file": file,
        "abstract_paragraphs": main_paragraphs.len(),
        "sections": sections.iter().map(|s| s.title.clone()).collect::<Vec<_>>(),
        "tables": tables,
        "figures": figures,
        "sub_articles": sub_articles,
    });
    Ok(Record {
        source: req.source.clone(),
        id,
        title,
        abstract_text,
        sections,
        authors,
        year,
        doi,
        pdf_url,
        raw,
    })
}

/// The authors among `meta`'s contributors (`contrib` without a type, or of type `author`).
fn authors_of(meta: &Node) -> Vec<String> {
    let mut contribs = Vec::new();
    meta.find_all("contrib", &mut contribs);
    contribs
        .iter()
        .filter(|c| c.attr("contrib-type").is_none_or(|t| t == "author"))
        .filter_map(|c| {
            if let Some(name) = c.child("name").or_else(|| c.child("string-name")) {
                let given = name.child("given-names").map(Node::text).unwrap_or_default();
                let surname = name.child("surname").map(Node::text).unwrap_or_default();
                let full = format!("{given} {surname}").trim().to_owned();
                if full.is_empty() {
                    let whole = name.text();
                    return (!whole.is_empty()).then_some(whole);
                }
                return Some(full);
            }
            c.child("collab").map(inline_text).filter(|t| !t.is_empty())
        })
        .collect()
}

/// An abstract's paragraphs; the first paragraph of a titled section is prefixed with its title.
fn abstract_paragraphs(a: &Node) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(n: &Node, heading: Option<String>, out: &mut Vec<String>) {
        let mut heading = heading;
        for c in n.elements() {
            match c.name.as_str() {
                "sec" => {
                    let t = c.child("title").map(inline_text).filter(|t| !t.is_empty());
                    walk(c, t, out);
                }
                "title" | "label" | "object-id" => {}
                "p" | "disp-formula" | "list" => {
                    let mut ps = Vec::new();
                    collect_paragraphs(c, &mut ps);
                    for p in ps {
                        match heading.take() {
                            Some(h) => {
                                let sep = if h.ends_with([':', '.', '?', '!']) { " " } else { ": " };
                                out.push(format!("{h}{sep}{p}"));
                            }
                            None => out.push(p),
                        }
                    }
                }
                _ => walk(c, None, out),
            }
        }
    }
    walk(a, None, &mut out);
    out
}

/// The sections of a `body` (or a sub-article's), titles prefixed with `prefix`.
fn body_sections(body: &Node, prefix: &str, out: &mut Vec<Section>) {
    let mut loose = Vec::new();
    let start = out.len();
    for child in body.elements() {
        if child.name == "sec" {
            flatten_sec(child, prefix, out);
        } else {
            collect_paragraphs(child, &mut loose);
        }
    }
    if !loose.is_empty() {
        out.insert(start, Section { title: prefix.to_owned(), paragraphs: loose });
    }
}

/// A `sec` and its nested ones, as sections titled `Parent / Child`.
fn flatten_sec(sec: &Node, prefix: &str, out: &mut Vec<Section>) {
    let own = sec.child("title").map(inline_text).unwrap_or_default();
    let title = match (prefix.is_empty(), own.is_empty()) {
        (true, _) => own,
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix} / {own}"),
    };
    let mut paragraphs = Vec::new();
    for child in sec.elements().filter(|c| c.name != "sec" && c.name != "title") {
        collect_paragraphs(child, &mut paragraphs);
    }
    if !paragraphs.is_empty() {
        out.push(Section { title: title.clone(), paragraphs });
    }
    for child in sec.elements().filter(|c| c.name == "sec") {
        flatten_sec(child, &title, out);
    }
}

/// Elements taken out of the running text (they become sections of their own, or are left out).
const FLOATS: &[&str] =
    &["fig", "fig-group", "table-wrap", "table-wrap-group", "supplementary-material", "graphic", "media"];

/// The paragraphs in `node` (itself when a `p`), leaving out nested sections, figures and
/// tables; a display formula between paragraphs is a paragraph.
fn collect_paragraphs(node: &Node, out: &mut Vec<String>) {
    let name = node.name.as_str();
    match name {
        "p" => {
            let t = inline_text(node);
            if !t.is_empty() {
                out.push(t);
            }
        }
        "disp-formula" => {
            let t = normalize_whitespace(&formula_text(node));
            if !t.is_empty() {
                out.push(t);
            }
        }
        "sec" | "title" | "label" | "ref-list" | "object-id" | "alt-text" => {}
        _ if FLOATS.contains(&name) => {}
        _ => node.elements().for_each(|c| collect_paragraphs(c, out)),
    }
}

/// A figure as a section: `Figure 1. Title` and the caption's paragraphs.
fn figure_section(fig: &Node) -> Option<Section> {
    let (title, paragraphs) = caption_parts(fig, "Figure");
    (!paragraphs.is_empty()).then_some(Section { title, paragraphs })
}

/// A table as a section: `Table 1. Title`, the caption's paragraphs, the rows (one line each,
/// cells separated by ` | `) and the footnotes.
fn table_section(tw: &Node) -> Option<Section> {
    let (title, mut paragraphs) = caption_parts(tw, "Table");
    let mut rows = Vec::new();
    tw.find_all("tr", &mut rows);
    let lines: Vec<String> = rows
        .iter()
        .map(|tr| {
            tr.elements()
                .filter(|c| c.name == "td" || c.name == "th")
                .map(inline_text)
                .collect::<Vec<_>>()
                .join(" | ")
                .trim_end()
                .to_owned()
        })
        .filter(|l| l.chars().any(|c| c != '|' && !c.is_whitespace()))
        .collect();
    if !lines.is_empty() {
        paragraphs.push(lines.join("\n"));
    }
    if let Some(foot) = tw.child("table-wrap-foot") {
        collect_paragraphs(foot, &mut paragraphs);
    }
    (!paragraphs.is_empty()).then_some(Section { title, paragraphs })
}

/// A float's section title (label and caption title, else `default`) and caption paragraphs
/// (the caption's title alone when the caption has no paragraphs).
fn caption_parts(node: &Node, default: &str) -> (String, Vec<String>) {
    let label = node.child("label").map(inline_text).unwrap_or_default();
    let label = label.trim_end_matches([':', '.']).trim_end().to_owned();
    let caption = node.child("caption");
    let caption_title = caption.and_then(|c| c.child("title")).map(inline_text).unwrap_or_default();
    let title = match (label.is_empty(), caption_title.is_empty()) {
        (true, true) => default.to_owned(),
        (false, true) => label,
        (true, false) => caption_title.clone(),
        (false, false) => {
            format!("{label}. {caption_title}")
        }
    };
    let mut paragraphs = Vec::new();
    if let Some(c) = caption {
        for child in c.elements().filter(|c| c.name != "title") {
            collect_paragraphs(child, &mut paragraphs);
        }
    }
    if paragraphs.is_empty() && !caption_title.is_empty() {
        paragraphs.push(caption_title);
    }
    (title, paragraphs)
}

/// The `sub-article`s of `node` (and theirs) as sections; their types and titles go to `seen`.
fn sub_article_sections(node: &Node, out: &mut Vec<Section>, seen: &mut Vec<serde_json::Value>) {
    for sub in node.children_named("sub-article") {
        let kind = sub.attr("article-type").unwrap_or("sub-article");
        let own_title = sub
            .child("front-stub")
            .or_else(|| sub.child("front"))
            .and_then(|f| f.descendant("title-group"))
            .and_then(|t| t.child("article-title"))
            .map(inline_text)
            .unwrap_or_default();
        let prefix = if own_title.is_empty() { kind.to_owned() } else { format!("{kind}: {own_title}") };
        seen.push(json!({"type": kind, "title": own_title}));
        if let Some(body) = sub.child("body") {
            body_sections(body, &prefix, out);
        }
        sub_article_sections(sub, out, seen);
    }
}

/// Text with word spacing that survives removed elements: a `soft` boundary becomes a space
/// only between two word characters, a `hard` one always.
#[derive(Default)]
struct TextBuf {
    s: String,
    soft: bool,
}

impl TextBuf {
    fn text(&mut self, t: &str) {
        if self.soft && !t.is_empty() {
            let glued = t.chars().next().is_some_and(char::is_alphanumeric)
                && self.s.chars().next_back().is_some_and(char::is_alphanumeric);
            if glued {
                self.s.push(' ');
            }
            self.soft = false;
        }
        self.s.push_str(t);
    }
    fn soft(&mut self) {
        self.soft = true;
    }
    fn hard(&mut self) {
        self.s.push(' ');
        self.soft = false;
    }
}

/// Elements that are blocks of their own inside running text: spaced from their neighbours.
const BLOCKS: &[&str] = &[
    "p",
    "list",
    "list-item",
    "title",
    "label",
    "caption",
    "def-list",
    "def-item",
    "term",
    "def",
    "disp-quote",
    "boxed-text",
    "sec",
    "statement",
    "fn",
    "attrib",
    "verse-group",
    "verse-line",
    "address",
    "array",
    "table",
    "tr",
    "td",
    "th",
    "break",
    "speech",
    "disp-formula-group",
];

/// An element's text as a reader sees it (module docs), whitespace normalised.
fn inline_text(node: &Node) -> String {
    let mut buf = TextBuf::default();
    render(node, &mut buf);
    normalize_whitespace(&buf.s)
}

fn render(node: &Node, buf: &mut TextBuf) {
    for c in &node.children {
        let e = match c {
            Child::Text(t) => {
                buf.text(t);
                continue;
            }
            Child::Element(e) => e,
        };
        let name = e.name.as_str();
        match name {
            "inline-formula" | "math" | "alternatives" | "tex-math" => {
                let f = formula_text(e);
                buf.soft();
                buf.text(&f);
                buf.soft();
            }
            "disp-formula" => {
                buf.hard();
                buf.text(&formula_text(e));
                buf.hard();
            }
            "alt-text" | "long-desc" | "object-id" | "inline-graphic" => {}
            // A cross-reference is a word of its own (`shown in<xref>Fig 1</xref>`).
            "xref" => {
                buf.soft();
                render(e, buf);
                buf.soft();
            }
            _ if FLOATS.contains(&name) => buf.hard(),
            _ if BLOCKS.contains(&name) => {
                buf.hard();
                render(e, buf);
                buf.hard();
            }
            _ => render(e, buf),
        }
    }
}

/// A formula's text (`inline-formula`, `disp-formula`, `alternatives`, `mml:math`,
/// `tex-math`): MathML preferred, else the TeX without its preamble; a display formula's
/// label follows.
fn formula_text(node: &Node) -> String {
    let text = match node.name.as_str() {
        "math" => math_text(node),
        "tex-math" => tex_text(&node.text_raw()),
        _ => {
            if let Some(m) = node.descendant("math") {
                math_text(m)
            } else if let Some(t) = node.descendant("tex-math") {
                tex_text(&t.text_raw())
            } else {
                let mut buf = TextBuf::default();
                for c in &node.children {
                    match c {
                        Child::Text(t) => buf.text(t),
                        Child::Element(e) if e.name == "label" || FLOATS.contains(&e.name.as_str()) => {}
                        Child::Element(e) => render(e, &mut buf),
                    }
                }
                buf.s
            }
        }
    };
    let text = normalize_whitespace(&text);
    match node.child("label").map(Node::text).filter(|l| !l.is_empty()) {
        Some(label) if node.name == "disp-formula" => format!("{text} {label}"),
        _ => text,
    }
}

/// LaTeX from a `tex-math`: the document's body when it has a preamble, without `$`, `$$`,
/// `\[ \]` or `\( \)` delimiters.
fn tex_text(tex: &str) -> String {
    let mut t = tex;
    if let Some(i) = t.find("\\begin{document}") {
        t = &t[i + "\\begin{document}".len()..];
        if let Some(j) = t.find("\\end{document}") {
            t = &t[..j];
        }
    } else if t.contains("\\documentclass") {
        // A preamble without a document body: nothing readable.
        return String::new();
    }
    let mut t = t.trim();
    for (open, close) in [("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")] {
        if t.len() >= open.len() + close.len() && t.starts_with(open) && t.ends_with(close) {
            t = t[open.len()..t.len() - close.len()].trim();
            break;
        }
    }
    normalize_whitespace(t)
}

/// A token of linearised MathML.
enum MathPiece {
    /// An identifier, number, text or built-up expression; `word` when it should be spaced
    /// from a neighbouring atom (a multi-letter identifier, text).
    Atom { text: String, word: bool },
    /// An operator, fence or separator.
    Op(String),
}

/// MathML as linear text (scheme in [`PmcAdapter`]'s docs).
fn math_text(node: &Node) -> String {
    let mut pieces = Vec::new();
    math_pieces(node, &mut pieces);
    join_math(&pieces)
}

/// A script, fraction or root part: parenthesised when it is more than one token.
fn math_group(node: Option<&Node>) -> String {
    let Some(node) = node else { return String::new() };
    let s = math_text(node);
    let simple = s.chars().count() == 1
        || s.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '^' | '\u{2032}'))
        || (s.starts_with('(') && s.ends_with(')') && s.matches('(').count() == 1);
    if simple || s.is_empty() {
        s
    } else {
        format!("({s})")
    }
}

fn math_pieces(node: &Node, out: &mut Vec<MathPiece>) {
    let kids: Vec<&Node> = node.elements().collect();
    let atom = |text: String, out: &mut Vec<MathPiece>| {
        if !text.is_empty() {
            out.push(MathPiece::Atom { text, word: false });
        }
    };
    match node.name.as_str() {
        "mi" | "mn" | "ms" | "mtext" => {
            let text = node.text();
            let word = node.name == "mtext" || (node.name == "mi" && text.chars().count() > 1);
            if !text.is_empty() {
                out.push(MathPiece::Atom { text, word });
            }
        }
        "mo" => {
            let text = node.text();
            if !text.is_empty() {
                out.push(MathPiece::Op(text));
            }
        }
        // An accent over a base: `bar(x)`, `hat(x)`, `tilde(x)`, `dot(x)`, `vec(x)`.
        "mover" if kids.get(1).and_then(|k| accent_name(&k.text())).is_some() => {
            let name = kids.get(1).and_then(|k| accent_name(&k.text())).unwrap_or("accent");
            atom(format!("{name}({})", math_text_opt(kids.first().copied())), out)
        }
        "msup" | "mover" => {
            atom(format!("{}^{}", math_group(kids.first().copied()), math_group(kids.get(1).copied())), out)
        }
        "msub" | "munder" => {
            atom(format!("{}_{}", math_group(kids.first().copied()), math_group(kids.get(1).copied())), out)
        }
        // A scripted large operator (`∑_(i = 1)^n`) is spaced from its operand.
        "msubsup" | "munderover" if kids.first().is_some_and(|k| k.name == "mo") => {
            out.push(MathPiece::Atom {
                text: format!(
                    "{}_{}^{}",
                    math_group(kids.first().copied()),
                    math_group(kids.get(1).copied()),
                    math_group(kids.get(2).copied())
                ),
                word: true,
            })
        }
        "msubsup" | "munderover" => atom(
            format!(
                "{}_{}^{}",
                math_group(kids.first().copied()),
                math_group(kids.get(1).copied()),
                math_group(kids.get(2).copied())
            ),
            out,
        ),
        "mfrac" => {
            atom(format!("{}/{}", math_group(kids.first().copied()), math_group(kids.get(1).copied())), out)
        }
        "msqrt" => {
            let inner: Vec<MathPiece> = kids
                .iter()
                .flat_map(|k| {
                    let mut v = Vec::new();
                    math_pieces(k, &mut v);
                    v
                })
                .collect();
            atom(format!("sqrt({})", join_math(&inner)), out)
        }
        "mroot" => atom(
            format!("root_{}({})", math_group(kids.get(1).copied()), math_text_opt(kids.first().copied())),
            out,
        ),
        "mfenced" => {
            let open = node.attr("open").unwrap_or("(");
            let close = node.attr("close").unwrap_or(")");
            let sep = node.attr("separators").and_then(|s| s.trim().chars().next()).unwrap_or(',');
            let inner: Vec<String> = kids.iter().map(|k| math_text(k)).collect();
            atom(format!("{open}{}{close}", inner.join(&format!("{sep} "))), out)
        }
        "mtable" => {
            let rows: Vec<String> = kids
                .iter()
                .map(|row| {
                    row.elements()
                        .filter(|c| c.name != "mlabeledtr")
                        .map(math_text)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .filter(|r| !r.is_empty())
                .collect();
            atom(rows.join("; "), out)
        }
        "semantics" => {
            if let Some(first) = kids.first() {
                math_pieces(first, out);
            }
        }
        "annotation" | "annotation-xml" | "mphantom" | "none" | "mprescripts" | "mspace" | "malignmark" => {}
        _ => kids.iter().for_each(|k| math_pieces(k, out)),
    }
}

/// The name of an accent character placed over a base (`mover`), when it is one.
fn accent_name(over: &str) -> Option<&'static str> {
    Some(match over.trim() {
        "\u{af}" | "\u{2c9}" | "\u{305}" | "\u{203e}" | "-" | "\u{2212}" | "_" => "bar",
        "^" | "\u{2c6}" | "\u{302}" => "hat",
        "~" | "\u{2dc}" | "\u{303}" | "\u{223c}" => "tilde",
        "\u{2d9}" | "\u{307}" | "." | "\u{b7}" => "dot",
        "\u{a8}" | "\u{308}" | ".." => "ddot",
        "\u{2192}" | "\u{20d7}" => "vec",
        _ => return None,
    })
}

fn math_text_opt(node: Option<&Node>) -> String {
    node.map(math_text).unwrap_or_default()
}

/// Joins MathML pieces: binary operators and relations spaced, fences and separators tight,
/// a prefix operator (at the start, after a fence or another operator) tight.
fn join_math(pieces: &[MathPiece]) -> String {
    #[derive(PartialEq, Clone, Copy)]
    enum Prev {
        Start,
        Atom { word: bool },
        Open,
        Close,
        Sep,
        Binary,
    }
    let mut out = String::new();
    let mut prev = Prev::Start;
    for p in pieces {
        match p {
            MathPiece::Atom { text, word } => {
                match prev {
                    Prev::Atom { word: pw } if pw || *word => out.push(' '),
                    Prev::Sep | Prev::Binary => out.push(' '),
                    _ => {}
                }
                out.push_str(text);
                prev = Prev::Atom { word: *word };
            }
            MathPiece::Op(op) => {
                let op = op.trim();
                match op {
                    // Invisible times, function application, separator, plus.
                    "" | "\u{2061}" | "\u{2062}" | "\u{2063}" | "\u{2064}" => {}
                    "(" | "[" | "{" | "\u{27e8}" | "\u{2329}" => {
                        if matches!(prev, Prev::Sep | Prev::Binary)
                            || matches!(prev, Prev::Atom { word: true })
                        {
                            out.push(' ');
                        }
                        out.push_str(op);
                        prev = Prev::Open;
                    }
                    ")" | "]" | "}" | "\u{27e9}" | "\u{232a}" => {
                        out.push_str(op);
                        prev = Prev::Close;
                    }
                    "," | ";" | ":" if op != ":" || matches!(prev, Prev::Atom { .. } | Prev::Close) => {
                        out.push_str(op);
                        prev = Prev::Sep;
                    }
                    "|" | "\u{2016}" | "!" | "\u{2032}" | "'" | "." => {
                        out.push_str(op);
                        prev = Prev::Close;
                    }
                    _ => {
                        if matches!(prev, Prev::Atom { .. } | Prev::Close) {
                            out.push(' ');
                            out.push_str(op);
                            prev = Prev::Binary;
                        } else {
                            if matches!(prev, Prev::Sep | Prev::Binary) {
                                out.push(' ');
                            }
                            out.push_str(op);
                            // A prefix operator (or a large one: `∑`): tight to what follows.
                            prev = Prev::Open;
                        }
                    }
                }
            }
        }
    }
    normalize_whitespace(&out)
}

/// An XML element: its local name, attributes (qualified names) and children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Child>,
}

#[derive(Debug)]
enum Child {
    Element(Node),
    Text(String),
}

impl Node {
    /// An attribute, by qualified name or by local name (`href` finds `xlink:href`).
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name || k.rsplit(':').next() == Some(name))
            .map(|(_, v)| v.as_str())
    }
    fn elements(&self) -> impl Iterator<Item = &Node> {
        self.children.iter().filter_map(|c| match c {
            Child::Element(n) => Some(n),
            Child::Text(_) => None,
        })
    }
    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> {
        self.elements().filter(move |n| n.name == name)
    }
    fn child<'a>(&'a self, name: &str) -> Option<&'a Node> {
        self.elements().find(|n| n.name == name)
    }
    /// The first descendant named `name`, depth first.
    fn descendant(&self, name: &str) -> Option<&Node> {
        self.elements().find_map(|c| if c.name == name { Some(c) } else { c.descendant(name) })
    }
    /// Every descendant named `name`, depth first, not looking inside a match.
    fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Node>) {
        for c in self.elements() {
            if c.name == name {
                out.push(c);
            } else {
                c.find_all(name, out);
            }
        }
    }
    /// Every descendant named one of `names`, depth first, not looking inside a match.
    fn find_all_of<'a>(&'a self, names: &[&str], out: &mut Vec<&'a Node>) {
        for c in self.elements() {
            if names.contains(&c.name.as_str()) {
                out.push(c);
            } else {
                c.find_all_of(names, out);
            }
        }
    }
    /// The text of the element and its descendants, whitespace collapsed.
    fn text(&self) -> String {
        normalize_whitespace(&self.text_raw())
    }
    /// The text of the element and its descendants, as written.
    fn text_raw(&self) -> String {
        fn gather(n: &Node, out: &mut String) {
            for c in &n.children {
                match c {
                    Child::Text(t) => out.push_str(t),
                    Child::Element(e) => gather(e, out),
                }
            }
        }
        let mut s = String::new();
        gather(self, &mut s);
        s
    }
}

/// Parses XML into a tree under a nameless root.
fn parse_xml(xml: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack = vec![Node::default()];
    fn push_text(stack: &mut [Node], t: &str) {
        let top = stack.last_mut().expect("the root stays on the stack");
        match top.children.last_mut() {
            Some(Child::Text(prev)) => prev.push_str(t),
            _ => top.children.push(Child::Text(t.to_owned())),
        }
    }
    let element = |e: &quick_xml::events::BytesStart<'_>| -> Result<Node, String> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let mut attrs = Vec::new();
        // Without quick-xml's duplicate check, which compares every attribute with every
        // earlier one (quadratic in an element's attribute count).
        for a in e.attributes().with_checks(false) {
            let a = a.map_err(|e| e.to_string())?;
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = decode_entities(&String::from_utf8_lossy(&a.value));
            attrs.push((key, value));
        }
        Ok(Node { name, attrs, children: vec![] })
    };
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| format!("at byte {pos}: {e}"))?;
        match event {
            Event::Start(e) => {
                if stack.len() > MAX_XML_DEPTH {
                    return Err(format!(
                        "at byte {pos}: elements nest deeper than {MAX_XML_DEPTH} levels (a hostile or broken document)"
                    ));
                }
                stack.push(element(&e)?)
            }
            Event::Empty(e) => {
                let node = element(&e)?;
                stack.last_mut().expect("root").children.push(Child::Element(node));
            }
            Event::End(_) => {
                let node = stack.pop().expect("the reader checks end names");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Child::Element(node)),
                    None => return Err("unbalanced end tag".into()),
                }
            }
            Event::Text(t) => push_text(&mut stack, &t.xml_content().map_err(|e| e.to_string())?),
            Event::CData(t) => push_text(&mut stack, &t.decode().map_err(|e| e.to_string())?),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| e.to_string())?;
                        // Named entities from a small fixed table, never from the DTD; an unknown
                        // one stays as written.
                        decode_entities(&format!("&{name};"))
                    }
                };
                push_text(&mut stack, &resolved);
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if stack.len() != 1 {
        return Err(format!("unclosed element `{}`", stack.last().map_or("", |n| n.name.as_str())));
    }
    Ok(stack.pop().expect("root"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{data_dir, fetch};
    use super::*;
    use serde_json::json;

    const JATS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.2 20190208//EN" "JATS-archivearticle1.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="research-article">
  <front><article-meta>
    <article-id pub-id-type="pmid">111</article-id>
    <article-id pub-id-type="pmc">4242</article-id>
    <article-id pub-id-type="doi">10.1/jats</article-id>
    <title-group><article-title>Aspirin &amp; <italic>COX-2</italic></article-title></title-group>
    <contrib-group>
      <contrib contrib-type="author"><name><surname>Doe</surname><given-names>Jane</given-names></name></contrib>
      <contrib contrib-type="editor"><name><surname>Ed</surname><given-names>Itor</given-names></name></contrib>
      <contrib contrib-type="author"><collab>The Group</collab></contrib>
    </contrib-group>
    <pub-date pub-type="epub"><day>1</day><year>2019</year></pub-date>
    <self-uri xlink:href="art.pdf" content-type="pdf"/>
    <abstract><sec><title>Background</title><p>First &#x3b1; para.</p></sec><p>Second
      para.</p></abstract>
    <abstract abstract-type="teaser"><p>Teaser.</p></abstract>
  </article-meta></front>
  <body>
    <p>Loose paragraph.</p>
    <sec><title>Methods</title><p>M1.</p>
      <sec><title>Design</title><p>D1 <xref ref-type="bibr">[1]</xref>.</p>
        <fig><caption><p>Figure caption.</p></caption></fig></sec>
      <sec><title>Stats</title><list><list-item><p>L1.</p></list-item></list></sec>
    </sec>
    <sec><title>Results</title><p><![CDATA[R1 < R2.]]></p></sec>
  </body>
</article>"#;

    /// Found by the `jats_adapter` fuzz target: the parser's error quoted the document,
    /// line break included, so the skipped record's reason (logged on one line) spanned lines.
    #[test]
    fn regression_invalid_xml_reason_is_one_line() {
        let req = AdapterRequest::new("pmc", data_dir());
        let xml = "<article><front><title>T</titl<?xml version=\"1.0\"?:\nMC1</article-id></article>";
        let out = articles(&req, xml, "pmc/x.xml");
        let [RecordOrSkip::Skip(m)] = &out[..] else { panic!("{out:?}") };
        assert!(m.reason.starts_with("invalid XML: "), "{m:?}");
        assert!(!m.reason.contains(char::is_control), "{m:?}");
        assert!(m.reason.contains("\\nMC1"), "the line break is shown escaped: {m:?}");
        assert_eq!((m.file.as_str(), m.record.as_str()), ("pmc/x.xml", "whole file"));
    }

    #[test]
    fn parses_a_jats_article() {
        let req = AdapterRequest::new("pmc-fulltext", data_dir());
        let out = articles(&req, JATS, "pmc/x.xml");
        let RecordOrSkip::Record(r) = &out[0] else { panic!("{out:?}") };
        assert_eq!(r.id, "PMC4242");
        assert_eq!(r.source, "pmc-fulltext");
        assert_eq!(r.doi.as_deref(), Some("10.1/jats"));
        assert_eq!(r.title, "Aspirin & COX-2");
        assert_eq!(r.authors, ["Jane Doe", "The Group"]);
        assert_eq!(r.year, Some(2019));
        // A structured abstract's section title leads its first paragraph.
        assert_eq!(r.abstract_text.as_deref(), Some("Background: First \u{3b1} para.\n\nSecond para."));
        assert_eq!(
            r.pdf_url.as_deref(),
            Some("https://www.ncbi.nlm.nih.gov/pmc/articles/PMC4242/pdf/art.pdf")
        );
        let secs: Vec<(&str, Vec<&str>)> = r
            .sections
            .iter()
            .map(|s| (s.title.as_str(), s.paragraphs.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            secs,
            [
                ("Abstract (teaser)", vec!["Teaser."]),
                ("", vec!["Loose paragraph."]),
                ("Methods", vec!["M1."]),
                ("Methods / Design", vec!["D1 [1]."]),
                ("Methods / Stats", vec!["L1."]),
                ("Results", vec!["R1 < R2."]),
                ("Figure", vec!["Figure caption."]),
            ]
        );
        assert_eq!(r.raw["pmcid"], "PMC4242");
        assert_eq!(r.raw["sections"][3], "Methods / Design");
    }

    #[test]
    fn malformed_xml_and_missing_fields_are_skips() {
        let req = AdapterRequest::new("pmc", data_dir());
        let out = articles(&req, "<article><front>", "pmc/bad.xml");
        assert!(
            matches!(&out[..], [RecordOrSkip::Skip(m)] if m.record == "whole file" && m.reason.contains("invalid XML"))
        );
        // Without any id, one article takes the file's stem; several in one file cannot.
        let no_id = "<article><front><article-meta><title-group><article-title>T</article-title></title-group></article-meta></front></article>";
        let out = articles(&req, no_id, "pmc/stem.xml");
        assert!(
            matches!(&out[..], [RecordOrSkip::Record(r)] if r.id == "stem" && r.raw["id_from"] == "file"),
            "{out:?}"
        );
        let out = articles(&req, &format!("<pmc-articleset>{no_id}{no_id}</pmc-articleset>"), "pmc/two.xml");
        assert!(
            matches!(&out[..], [RecordOrSkip::Skip(a), RecordOrSkip::Skip(b)] if a.reason.contains("article-id") && b.record == "article 2"),
            "{out:?}"
        );
        let out = articles(&req, "<root/>", "f");
        assert!(matches!(&out[..], [RecordOrSkip::Skip(m)] if m.reason.contains("no <article>")));
    }

    /// The time a hostile-input test may take: generous, but a hang or a quadratic blow-up
    /// goes well past it.
    const HOSTILE_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

    #[test]
    fn a_very_deep_document_is_refused_without_recursion() {
        let depth = 50_000;
        let xml = format!("{}{}", "<article>".repeat(depth), "</article>".repeat(depth));
        let req = AdapterRequest::new("pmc", data_dir());
        let start = std::time::Instant::now();
        let out = articles(&req, &xml, "pmc/deep.xml");
        assert!(start.elapsed() < HOSTILE_BOUND, "{:?}", start.elapsed());
        assert!(
            matches!(&out[..], [RecordOrSkip::Skip(m)] if m.file == "pmc/deep.xml" && m.reason.contains(&format!("deeper than {MAX_XML_DEPTH}"))),
            "{out:?}"
        );
        // Just within the limit is fine.
        let ok = format!(
            "<article><front><article-meta><article-id pub-id-type=\"pmc\">1</article-id><title-group><article-title>T</article-title></title-group></article-meta></front><body><sec><p>{}deep{}</p></sec></body></article>",
            "<bold>".repeat(MAX_XML_DEPTH - 8),
            "</bold>".repeat(MAX_XML_DEPTH - 8)
        );
        let out = articles(&req, &ok, "pmc/ok.xml");
        assert!(
            matches!(&out[..], [RecordOrSkip::Record(r)] if r.sections[0].paragraphs == ["deep"]),
            "{out:?}"
        );
    }

    #[test]
    fn an_element_with_100000_attributes_is_read_in_linear_time() {
        // With quick-xml's duplicate check this took 8.2 s for 12,500 attributes and 26.6 s
        // for 25,000 (debug); without it, 0.7 s for 100,000.
        let n = 100_000;
        let mut attrs = String::with_capacity(n * 16);
        for i in 0..n {
            attrs.push_str(&format!(" a{i}=\"v{i}\""));
        }
        let xml = format!(
            "<article><front><article-meta{attrs}><article-id pub-id-type=\"pmc\">7</article-id><title-group><article-title>Many</article-title></title-group></article-meta></front></article>"
        );
        let req = AdapterRequest::new("pmc", data_dir());
        let start = std::time::Instant::now();
        let out = articles(&req, &xml, "pmc/attrs.xml");
        assert!(start.elapsed() < HOSTILE_BOUND, "{:?}", start.elapsed());
        assert!(
            matches!(&out[..], [RecordOrSkip::Record(r)] if r.id == "PMC7" && r.title == "Many"),
            "{out:?}"
        );
    }

    #[test]
    fn dtd_entities_are_never_expanded() {
        // A "billion laughs" DTD: its entities stay as written, nothing is expanded.
        let mut dtd = String::from("<!DOCTYPE article [<!ENTITY lol \"lol\">");
        for i in 1..10 {
            let prev = if i == 1 { "lol".to_owned() } else { format!("lol{}", i - 1) };
            dtd.push_str(&format!("<!ENTITY lol{i} \"{}\">", format!("&{prev};").repeat(10)));
        }
        dtd.push_str("<!ENTITY ext SYSTEM \"file:///etc/passwd\">]>");
        let xml = format!(
            "{dtd}<article><front><article-meta><article-id pub-id-type=\"pmc\">9</article-id><title-group><article-title>Laughs &lol9; &ext; &amp;</article-title></title-group></article-meta></front></article>"
        );
        let req = AdapterRequest::new("pmc", data_dir());
        let start = std::time::Instant::now();
        let out = articles(&req, &xml, "pmc/lol.xml");
        assert!(start.elapsed() < HOSTILE_BOUND, "{:?}", start.elapsed());
        assert!(
            matches!(&out[..], [RecordOrSkip::Record(r)] if r.title == "Laughs &lol9; &ext; &"),
            "{out:?}"
        );
    }

    #[test]
    fn math_tables_figures_and_sub_articles() {
        let xml = r#"<article xmlns:mml="http://www.w3.org/1998/Math/MathML"><front><article-meta>
          <article-id pub-id-type="doi">10.1/pub</article-id>
          <title-group><article-title>Math</article-title></title-group></article-meta></front>
          <body><sec><title>M</title>
            <p>The model is written<disp-formula><label>(1)</label><mml:math><mml:mi>y</mml:mi><mml:mo>=</mml:mo><mml:msup><mml:mi>x</mml:mi><mml:mn>2</mml:mn></mml:msup><mml:mo>+</mml:mo><mml:mover><mml:mi>z</mml:mi><mml:mo>¯</mml:mo></mml:mover><mml:mo>+</mml:mo><mml:mfrac><mml:mrow><mml:mi>a</mml:mi><mml:mo>+</mml:mo><mml:mi>b</mml:mi></mml:mrow><mml:msub><mml:mi>c</mml:mi><mml:mi>i</mml:mi></mml:msub></mml:mfrac></mml:math></disp-formula>in which <inline-formula><alternatives><tex-math>\documentclass{minimal}\begin{document}$$\alpha$$\end{document}</tex-math><mml:math><mml:mi>α</mml:mi></mml:math></alternatives></inline-formula> and <inline-formula><tex-math>\documentclass[12pt]{minimal}\usepackage{amsmath}\begin{document}$\beta_1$\end{document}</tex-math></inline-formula> vary<xref ref-type="fig" rid="f1">Fig 1</xref>.</p>
            <p>See<table-wrap><label>Table 1</label><caption><title>Counts</title><p>By group.</p></caption>
              <table><thead><tr><th>Group</th><th>n</th></tr></thead><tbody><tr><td>A</td><td>3</td></tr></tbody></table>
              <table-wrap-foot><fn><p>Note.</p></fn></table-wrap-foot></table-wrap>the table.</p>
            <fig><label>Figure 1:</label><caption><p>A picture.</p></caption></fig>
          </sec></body>
          <sub-article article-type="referee-report"><front-stub><title-group><article-title>Reviewer #1</article-title></title-group></front-stub>
            <body><p>Fine.</p></body></sub-article>
        </article>"#;
        let req = AdapterRequest::new("pmc", data_dir());
        let out = articles(&req, xml, "pmc/math.xml");
        let RecordOrSkip::Record(r) = &out[0] else { panic!("{out:?}") };
        assert_eq!((r.id.as_str(), &r.raw["id_from"]), ("10.1/pub", &json!("doi")));
        let secs: Vec<(&str, Vec<&str>)> = r
            .sections
            .iter()
            .map(|s| (s.title.as_str(), s.paragraphs.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            secs,
            [
                (
                    "M",
                    vec![
                        "The model is written y = x^2 + bar(z) + (a + b)/c_i (1) in which α and \\beta_1 vary Fig 1.",
                        "See the table."
                    ]
                ),
                ("Table 1. Counts", vec!["By group.", "Group | n\nA | 3", "Note."]),
                ("Figure 1", vec!["A picture."]),
                ("referee-report: Reviewer #1", vec!["Fine."]),
            ]
        );
        assert_eq!(r.raw["tables"], 1);
        assert_eq!(r.raw["sub_articles"][0]["type"], "referee-report");
    }

    /// Random documents built from JATS and MathML pieces never panic the adapter.
    #[test]
    fn random_documents_never_panic() {
        const PIECES: &[&str] = &[
            "<article>",
            "</article>",
            "<front><article-meta>",
            "</article-meta></front>",
            "<article-id pub-id-type=\"pmc\">1</article-id>",
            "<title-group><article-title>",
            "</article-title></title-group>",
            "<body>",
            "</body>",
            "<sec>",
            "</sec>",
            "<p>",
            "</p>",
            "<mml:math>",
            "</mml:math>",
            "<mml:msup>",
            "</mml:msup>",
            "<mml:mfrac>",
            "</mml:mfrac>",
            "<mml:mi>x</mml:mi>",
            "<mml:mo>=</mml:mo>",
            "<mml:mfenced open=\"[\">",
            "</mml:mfenced>",
            "<tex-math>\\documentclass{x}\\begin{document}$a$",
            "\\end{document}</tex-math>",
            "<table-wrap><table><tr><td>",
            "</td></tr></table></table-wrap>",
            "<fig><caption><title>",
            "</title></caption></fig>",
            "<sub-article article-type=\"reply\">",
            "</sub-article>",
            "&amp;",
            "&bogus;",
            "&#x0;",
            "é😀",
            " ",
            "\n",
            "<",
            ">",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let req = AdapterRequest::new("pmc", data_dir());
        for _ in 0..1500 {
            let len = (next() % 60) as usize;
            let xml: String = (0..len).map(|_| PIECES[(next() % PIECES.len() as u64) as usize]).collect();
            let out = articles(&req, &xml, "pmc/random.xml");
            assert!(!out.is_empty(), "{xml}");
        }
    }

    #[test]
    fn math_linearisation() {
        let math = |xml: &str| {
            let root = parse_xml(&format!("<math>{xml}</math>")).unwrap();
            math_text(root.child("math").unwrap())
        };
        for (xml, want) in [
            ("<mi>sin</mi><mo>\u{2061}</mo><mi>x</mi>", "sin x"),
            ("<mi>C</mi><mi>F</mi><mo>=</mo><mn>2</mn><mi>x</mi>", "CF = 2x"),
            ("<msqrt><mi>a</mi><mo>+</mo><mi>b</mi></msqrt>", "sqrt(a + b)"),
            ("<mroot><mi>x</mi><mn>3</mn></mroot>", "root_3(x)"),
            ("<mfenced open=\"[\" close=\"]\"><mi>a</mi><mi>b</mi></mfenced>", "[a, b]"),
            ("<mo>\u{2212}</mo><mi>x</mi><mo>&lt;</mo><msup><mi>e</mi><mrow><mo>\u{2212}</mo><mi>t</mi></mrow></msup>", "\u{2212}x < e^(\u{2212}t)"),
            ("<munderover><mo>\u{2211}</mo><mrow><mi>i</mi><mo>=</mo><mn>1</mn></mrow><mi>n</mi></munderover><msub><mi>x</mi><mi>i</mi></msub>", "\u{2211}_(i = 1)^n x_i"),
            ("<mtable><mtr><mtd><mi>a</mi></mtd><mtd><mi>b</mi></mtd></mtr><mtr><mtd><mi>c</mi></mtd></mtr></mtable>", "a, b; c"),
            ("<semantics><mi>y</mi><annotation encoding=\"TeX\">y</annotation></semantics>", "y"),
            ("<mi>f</mi><mo>(</mo><mi>x</mi><mo>,</mo><mi>y</mi><mo>)</mo>", "f(x, y)"),
        ] {
            assert_eq!(math(xml), want, "{xml}");
        }
        assert_eq!(tex_text("\\documentclass[12pt]{minimal}\n\\usepackage{amsmath}\n\\begin{document}$$a_1$$\\end{document}"), "a_1");
        assert_eq!(tex_text("\\[ x^2 \\]"), "x^2");
        assert_eq!(tex_text("\\documentclass{minimal}\\usepackage{x}"), "");
    }

    #[test]
    fn articleset_gives_several_records() {
        let req = AdapterRequest::new("pmc", data_dir());
        let one = |id: &str| {
            format!("<article><front><article-meta><article-id pub-id-type=\"pmcid\">PMC{id}</article-id><title-group><article-title>T{id}</article-title></title-group></article-meta></front></article>")
        };
        let xml = format!("<pmc-articleset>{}{}</pmc-articleset>", one("1"), one("2"));
        let ids: Vec<String> = articles(&req, &xml, "f")
            .into_iter()
            .map(|r| match r {
                RecordOrSkip::Record(r) => r.id,
                RecordOrSkip::Skip(m) => panic!("{m}"),
            })
            .collect();
        assert_eq!(ids, ["PMC1", "PMC2"]);
    }

    #[test]
    fn reads_the_sample_articles() {
        let recs = fetch(&PmcAdapter, &AdapterRequest::new("pmc", data_dir()));
        assert_eq!(recs.len(), 2);
        for r in &recs {
            assert!(r.id.starts_with("PMC") && r.abstract_text.is_some() && r.sections.len() >= 2, "{r:?}");
        }
        // By id, with or without the PMC prefix.
        let req =
            AdapterRequest::new("pmc", data_dir()).with_param("id", recs[1].id.trim_start_matches("PMC"));
        assert_eq!(fetch(&PmcAdapter, &req)[0].id, recs[1].id);
    }
}
