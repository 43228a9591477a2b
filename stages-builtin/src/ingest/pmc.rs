//! The `pmc` adapter: PubMed Central JATS XML.

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::json;

use super::{Adapter, AdapterError, AdapterRequest, Malformed, RecordOrSkip};
use crate::types::{Record, Section};

/// Reads PubMed Central JATS XML articles (`pmc/<PMCID>.xml` or `.nxml`; a file may also be a
/// `<pmc-articleset>` of several) from the `pmc/` folder.
///
/// From `front/article-meta`: `article-id[@pub-id-type=pmc|pmcid]` (else `pmid`) is the id,
/// `article-id[@pub-id-type=doi]` the DOI, `title-group/article-title` the title,
/// `contrib/name` (`given-names surname`) the authors, the first `pub-date/year` the year, the
/// paragraphs of `abstract` the abstract; `self-uri` with a PDF content type is the PDF link
/// (a relative one is resolved on the PMC article's `pdf/` path). Each `body/sec` becomes a
/// section of its paragraphs; nested sections are flattened with `Parent / Child` titles;
/// paragraphs directly in `body` form an untitled section. Figures and tables are left out.
/// `raw` is a JSON summary (ids, title, authors, year, PDF link, file, section titles).
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
    let text =
        std::fs::read_to_string(path).map_err(|e| AdapterError::Io { path: file.to_owned(), source: e })?;
    Ok(articles(req, &text, file))
}

/// The articles of one JATS document, as records or malformed entries.
pub(crate) fn articles(req: &AdapterRequest, xml: &str, file: &str) -> Vec<RecordOrSkip> {
    let skip = |record: String, reason: String| {
        RecordOrSkip::Skip(Malformed { file: file.to_owned(), record, reason })
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
    found
        .iter()
        .enumerate()
        .map(|(i, a)| match article(req, a, file) {
            Ok(r) => RecordOrSkip::Record(r),
            Err(reason) => skip(format!("article {}", i + 1), reason),
        })
        .collect()
}

fn article(req: &AdapterRequest, a: &Node, file: &str) -> Result<Record, String> {
    let meta = a.child("front").and_then(|f| f.child("article-meta")).ok_or("no `front/article-meta`")?;
    let article_id = |types: &[&str]| {
        meta.children_named("article-id")
            .find(|n| n.attr("pub-id-type").is_some_and(|t| types.contains(&t)))
            .map(Node::text)
            .filter(|t| !t.is_empty())
    };
    let pmcid =
        article_id(&["pmc", "pmcid"]).map(|id| if id.starts_with("PMC") { id } else { format!("PMC{id}") });
    let pmid = article_id(&["pmid"]);
    let doi = article_id(&["doi"]);
    let id = pmcid.clone().or_else(|| pmid.clone()).ok_or("no `article-id` of type pmc, pmcid or pmid")?;
    let title = meta
        .descendant("title-group")
        .and_then(|t| t.child("article-title"))
        .map(Node::text)
        .filter(|t| !t.is_empty())
        .ok_or("no `title-group/article-title`")?;

    let mut contribs = Vec::new();
    meta.find_all("contrib", &mut contribs);
    let authors: Vec<String> = contribs
        .iter()
        .filter(|c| c.attr("contrib-type").is_none_or(|t| t == "author"))
        .filter_map(|c| {
            if let Some(name) = c.child("name") {
                let given = name.child("given-names").map(Node::text).unwrap_or_default();
                let surname = name.child("surname").map(Node::text).unwrap_or_default();
                let full = format!("{given} {surname}").trim().to_owned();
                return (!full.is_empty()).then_some(full);
            }
            c.child("collab").map(Node::text).filter(|t| !t.is_empty())
        })
        .collect();

    let year = meta
        .children_named("pub-date")
        .find_map(|d| d.child("year").and_then(|y| y.text().parse::<i32>().ok()));

    let abstracts: Vec<&Node> = meta.children_named("abstract").collect();
    let main_abstract =
        abstracts.iter().find(|a| a.attr("abstract-type").is_none()).or_else(|| abstracts.first()).copied();
    let abstract_text = main_abstract.and_then(|a| {
        let mut ps = Vec::new();
        a.find_all("p", &mut ps);
        let text = ps.iter().map(|p| p.text()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n\n");
        (!text.is_empty()).then_some(text)
    });

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
    if let Some(body) = a.child("body") {
        let mut loose = Vec::new();
        for child in body.elements() {
            if child.name == "sec" {
                flatten_sec(child, "", &mut sections);
            } else {
                collect_paragraphs(child, &mut loose);
            }
        }
        if !loose.is_empty() {
            sections.insert(0, Section { title: String::new(), paragraphs: loose });
        }
    }

    let raw = json!({
        "pmcid": pmcid,
        "pmid": pmid,
        "doi": doi,
        "title": title,
        "authors": authors,
        "year": year,
        "pdf_url": pdf_url,
        "file": file,
        "abstract_paragraphs": abstract_text.as_ref().map_or(0, |t| t.split("\n\n").count()),
        "sections": sections.iter().map(|s| s.title.clone()).collect::<Vec<_>>(),
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

/// A `sec` and its nested ones, as sections titled `Parent / Child`.
fn flatten_sec(sec: &Node, prefix: &str, out: &mut Vec<Section>) {
    let own = sec.child("title").map(Node::text).unwrap_or_default();
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

/// The paragraphs in `node` (itself when a `p`), leaving out nested sections, figures and tables.
fn collect_paragraphs(node: &Node, out: &mut Vec<String>) {
    match node.name.as_str() {
        "p" => {
            let t = node.text();
            if !t.is_empty() {
                out.push(t);
            }
        }
        "sec" | "fig" | "fig-group" | "table-wrap" | "table-wrap-group" | "title" | "label" => {}
        _ => node.elements().for_each(|c| collect_paragraphs(c, out)),
    }
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
    /// The text of the element and its descendants, whitespace collapsed.
    fn text(&self) -> String {
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
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// The few named entities found in JATS text beyond XML's own.
fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "ndash" => "\u{2013}",
        "mdash" => "\u{2014}",
        "plusmn" => "\u{b1}",
        "times" => "\u{d7}",
        "le" => "\u{2264}",
        "ge" => "\u{2265}",
        "deg" => "\u{b0}",
        "micro" => "\u{b5}",
        _ => return None,
    })
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
        for a in e.attributes() {
            let a = a.map_err(|e| e.to_string())?;
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
            attrs.push((key, value));
        }
        Ok(Node { name, attrs, children: vec![] })
    };
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| format!("at byte {pos}: {e}"))?;
        match event {
            Event::Start(e) => stack.push(element(&e)?),
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
                        named_entity(&name).map(str::to_owned).unwrap_or_else(|| format!("&{name};"))
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
        assert_eq!(r.abstract_text.as_deref(), Some("First \u{3b1} para.\n\nSecond para."));
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
                ("", vec!["Loose paragraph."]),
                ("Methods", vec!["M1."]),
                ("Methods / Design", vec!["D1 [1]."]),
                ("Methods / Stats", vec!["L1."]),
                ("Results", vec!["R1 < R2."]),
            ]
        );
        assert_eq!(r.raw["pmcid"], "PMC4242");
        assert_eq!(r.raw["sections"][2], "Methods / Design");
    }

    #[test]
    fn malformed_xml_and_missing_fields_are_skips() {
        let req = AdapterRequest::new("pmc", data_dir());
        let out = articles(&req, "<article><front>", "pmc/bad.xml");
        assert!(
            matches!(&out[..], [RecordOrSkip::Skip(m)] if m.record == "whole file" && m.reason.contains("invalid XML"))
        );
        let out = articles(&req, "<article><front><article-meta><title-group><article-title>T</article-title></title-group></article-meta></front></article>", "f");
        assert!(matches!(&out[..], [RecordOrSkip::Skip(m)] if m.reason.contains("article-id")));
        let out = articles(&req, "<root/>", "f");
        assert!(matches!(&out[..], [RecordOrSkip::Skip(m)] if m.reason.contains("no <article>")));
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
