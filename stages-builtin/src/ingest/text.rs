//! Text as a reader sees it: the adapters' shared clean-up of inline HTML/JATS markup, Markdown
//! and whitespace in the sources' text fields.
//!
//! - [`normalize_whitespace`]: every run of Unicode whitespace (newlines, tabs, no-break and thin
//!   spaces included) becomes one plain space; the ends are trimmed.
//! - [`decode_entities`]: HTML/XML character references (`&amp;`, `&#233;`, `&#x3b1;` and the
//!   common named ones) become their characters; anything else is left as written.
//! - [`markup_to_text`]: inline HTML/JATS markup (`<i>`, `<sup>`, `<jats:p>`, ...) is removed,
//!   keeping words apart where a tag sat between two words (`for<i>ab initio</i>total` →
//!   `for ab initio total`) and gluing a superscript or subscript to what precedes it
//!   (`5 <sup>th</sup>` → `5th`, `CO<sub>2</sub>` → `CO2`). A `<` that does not open a known
//!   tag (`p < 0.05`) is text.
//! - [`markdown_to_paragraphs`] and [`markdown_inline`]: ClinicalTrials.gov's Markdown
//!   (backslash escapes, list items, emphasis, headings) as plain paragraphs, one per list item.
//!
//! Every function is linear in its input (a tag or an entity is looked for in a bounded window)
//! and never panics, whatever the UTF-8 input.
//!
//! ```
//! use stages_builtin::ingest::text::{markup_to_text, markdown_to_paragraphs};
//!
//! assert_eq!(markup_to_text("for<i>ab initio</i>total-energy &amp; the 5 <sup>th</sup>"),
//!            "for ab initio total-energy & the 5th");
//! assert_eq!(markdown_to_paragraphs("Inclusion Criteria:\n\n* Age \\> 18\n* **Signed** consent"),
//!            ["Inclusion Criteria:", "Age > 18", "Signed consent"]);
//! ```

/// How far (in bytes) a tag's `>` or an entity's `;` is looked for: a bound that keeps the
/// scans linear.
const TAG_WINDOW: usize = 1024;
const ENTITY_WINDOW: usize = 40;

/// Every run of whitespace (any Unicode whitespace: newlines, tabs, no-break spaces, thin
/// spaces) as one plain space, trimmed.
///
/// ```
/// assert_eq!(stages_builtin::ingest::text::normalize_whitespace(" 13\u{a0}TeV \npp\n x "), "13 TeV pp x");
/// ```
pub fn normalize_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The character a named entity stands for (XML's five and the common HTML ones).
fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "thinsp" => '\u{2009}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "ndash" => '\u{2013}',
        "mdash" => '\u{2014}',
        "minus" => '\u{2212}',
        "hellip" => '\u{2026}',
        "lsquo" => '\u{2018}',
        "rsquo" => '\u{2019}',
        "ldquo" => '\u{201c}',
        "rdquo" => '\u{201d}',
        "bull" => '\u{2022}',
        "middot" => '\u{b7}',
        "plusmn" => '\u{b1}',
        "times" => '\u{d7}',
        "divide" => '\u{f7}',
        "le" => '\u{2264}',
        "ge" => '\u{2265}',
        "ne" => '\u{2260}',
        "asymp" => '\u{2248}',
        "deg" => '\u{b0}',
        "micro" => '\u{b5}',
        "copy" => '\u{a9}',
        "reg" => '\u{ae}',
        "trade" => '\u{2122}',
        "alpha" => '\u{3b1}',
        "beta" => '\u{3b2}',
        "gamma" => '\u{3b3}',
        "delta" => '\u{3b4}',
        "kappa" => '\u{3ba}',
        "lambda" => '\u{3bb}',
        "mu" => '\u{3bc}',
        "sigma" => '\u{3c3}',
        _ => return None,
    })
}

/// The entity at the start of `s` (which starts with `&`): its character and its length in
/// bytes, when it is a well-formed, known reference.
fn entity_at(s: &str) -> Option<(char, usize)> {
    let window = &s.as_bytes()[..s.len().min(ENTITY_WINDOW)];
    let end = window.iter().position(|&b| b == b';')?;
    // `&` and `;` are ASCII, so 1..end is on char boundaries.
    let body = s.get(1..end)?;
    let c = if let Some(num) = body.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex, 16).ok()?
            }
            _ if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => num.parse::<u32>().ok()?,
            _ => return None,
        };
        char::from_u32(code).filter(|&c| c != '\0')?
    } else {
        named_entity(body)?
    };
    Some((c, end + 1))
}

/// `s` with its character references decoded (`&amp;` → `&`, `&#x3b1;` → `α`, `&nbsp;` → a
/// no-break space); unknown or malformed references are left as written.
///
/// ```
/// assert_eq!(stages_builtin::ingest::text::decode_entities("a &lt; b &amp;c; &#x3b1; &bogus;"), "a < b &c; α &bogus;");
/// ```
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        match entity_at(tail) {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What a recognised tag does to the text around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    /// A superscript or subscript: glued to what precedes it.
    Script,
    /// Inline formatting: a word boundary when it sits between two words.
    Inline,
    /// A block (paragraph, line break, list item...): always a space.
    Block,
}

/// The kind of a tag by its local name (lower case), or `None` for a name that is not markup.
fn tag_kind(local: &str) -> Option<TagKind> {
    Some(match local {
        "sup" | "sub" | "inf" => TagKind::Script,
        "i" | "b" | "em" | "strong" | "u" | "s" | "italic" | "bold" | "sc" | "scp" | "span" | "font"
        | "small" | "big" | "tt" | "code" | "a" | "underline" | "overline" | "monospace" | "strike"
        | "roman" | "sans-serif" | "named-content" | "styled-content" | "xref" | "ext-link" | "uri"
        | "inline-formula" | "abbr" | "mark" | "cite" | "q" | "var" | "math" | "mi" | "mo" | "mn"
        | "mrow" | "mtext" | "ms" | "msub" | "msup" | "msubsup" | "mfrac" | "msqrt" | "mroot" | "mstyle"
        | "semantics" | "tex-math" => TagKind::Inline,
        "p" | "br" | "hr" | "div" | "li" | "ul" | "ol" | "dl" | "dt" | "dd" | "title" | "sec" | "h1"
        | "h2" | "h3" | "h4" | "h5" | "h6" | "table" | "tr" | "td" | "th" | "thead" | "tbody" | "list"
        | "list-item" | "label" | "caption" | "blockquote" | "pre" | "abstract" | "disp-formula"
        | "def-list" | "def-item" | "term" | "def" | "section" => TagKind::Block,
        _ => return None,
    })
}

/// A tag at the start of `s` (which starts with `<`): its kind, whether it opens, and its
/// length in bytes. `None` when `s` does not start with a recognised tag.
fn tag_at(s: &str) -> Option<(TagKind, bool, usize)> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let closing = bytes.get(1) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    if !bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    while bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_' | b'.')) {
        i += 1;
    }
    // ASCII bytes only so far: on char boundaries.
    let name = s.get(name_start..i)?.to_ascii_lowercase();
    let local = name.rsplit(':').next().unwrap_or(&name);
    let kind = tag_kind(local)?;
    match bytes.get(i) {
        Some(b'>') => return Some((kind, !closing, i + 1)),
        Some(b'/') if bytes.get(i + 1) == Some(&b'>') => return Some((kind, false, i + 2)),
        Some(b) if b.is_ascii_whitespace() => {}
        _ => return None,
    }
    let limit = bytes.len().min(TAG_WINDOW);
    let end = bytes.get(i..limit)?.iter().position(|&b| b == b'>' || b == b'<')? + i;
    if bytes[end] != b'>' {
        return None;
    }
    // Attributes have values (`a="b"`): `p <b and x > 3` is text, not a tag.
    let attrs = &bytes[i..end];
    if !attrs.contains(&b'=') && !attrs.iter().all(|b| b.is_ascii_whitespace() || *b == b'/') {
        return None;
    }
    let self_closing = bytes[end - 1] == b'/';
    Some((kind, !closing && !self_closing, end + 1))
}

/// Inline HTML/JATS markup as text: known tags removed (module docs), character references
/// decoded, whitespace normalised.
///
/// ```
/// use stages_builtin::ingest::text::markup_to_text;
/// assert_eq!(markup_to_text("Efficient schemes for<i>ab initio</i>total-energy"), "Efficient schemes for ab initio total-energy");
/// assert_eq!(markup_to_text("CO<sub>2</sub> at p < 0.05<br/>next"), "CO2 at p < 0.05 next");
/// ```
pub fn markup_to_text(s: &str) -> String {
    // BibTeX-born abstracts (APS via OpenAlex) end with `\textcopyright{} 1996 ...`.
    let replaced;
    let s = if s.contains("\\textcopyright") {
        replaced = s.replace("\\textcopyright{}", "\u{a9}").replace("\\textcopyright", "\u{a9}");
        replaced.as_str()
    } else {
        s
    };
    let mut out = String::with_capacity(s.len());
    // A tag sat here: `Some(true)` glue (script), `Some(false)` a word boundary.
    let mut pending: Option<bool> = None;
    let mut rest = s;
    while !rest.is_empty() {
        let next_tag = rest.find('<').unwrap_or(rest.len());
        let (text, after) = rest.split_at(next_tag);
        if !text.is_empty() {
            let decoded = decode_entities(text);
            if let (Some(false), Some(first)) = (pending, decoded.chars().next()) {
                if first.is_alphanumeric() && out.chars().next_back().is_some_and(char::is_alphanumeric) {
                    out.push(' ');
                }
            }
            out.push_str(&decoded);
            pending = None;
        }
        if after.is_empty() {
            break;
        }
        match tag_at(after) {
            Some((kind, opens, len)) => {
                match kind {
                    TagKind::Script => {
                        if opens {
                            let kept = out.trim_end().len();
                            out.truncate(kept);
                        }
                        pending = Some(true);
                    }
                    TagKind::Inline => {
                        if pending != Some(true) {
                            pending = Some(false);
                        }
                    }
                    TagKind::Block => {
                        out.push(' ');
                        pending = None;
                    }
                }
                rest = &after[len..];
            }
            None => {
                out.push('<');
                pending = None;
                rest = &after[1..];
            }
        }
    }
    normalize_whitespace(&out)
}

/// Whether `line` (leading whitespace removed) starts with a Markdown list marker (`* `, `- `,
/// `+ `, `• `, `1. `, `1) `); the item's text when it does.
fn list_item(line: &str) -> Option<&str> {
    for marker in ["* ", "- ", "+ ", "\u{2022} "] {
        if let Some(rest) = line.strip_prefix(marker) {
            return Some(rest);
        }
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let rest = &line[digits..];
        for marker in [". ", ") "] {
            if let Some(item) = rest.strip_prefix(marker) {
                return Some(item);
            }
        }
    }
    None
}

/// Markdown text (ClinicalTrials.gov's descriptions and eligibility criteria) as paragraphs:
/// blank lines separate paragraphs, the lines of a paragraph are joined with spaces, every
/// list item (`* `, `- `, `+ `, `1. `, `1) `, at any nesting depth) is a paragraph of its own
/// (its continuation lines joined to it), `#` headings are paragraphs, and each paragraph's
/// inline Markdown is removed ([`markdown_inline`]). Empty paragraphs are dropped.
///
/// ```
/// use stages_builtin::ingest::text::markdown_to_paragraphs;
/// assert_eq!(markdown_to_paragraphs("Criteria:\n\n1. First\n   * nested \\[a\\]\n     more\n\n## Notes\nok"),
///            ["Criteria:", "First", "nested [a] more", "Notes", "ok"]);
/// ```
pub fn markdown_to_paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<String>| {
        let p = normalize_whitespace(&markdown_inline(current));
        if !p.is_empty() {
            out.push(p);
        }
        current.clear();
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            flush(&mut current, &mut out);
            continue;
        }
        let hashes = line.bytes().take_while(|&b| b == b'#').count();
        if (1..=6).contains(&hashes) && (line.len() == hashes || line[hashes..].starts_with(' ')) {
            flush(&mut current, &mut out);
            current.push_str(&line[hashes..]);
            flush(&mut current, &mut out);
            continue;
        }
        if let Some(item) = list_item(line) {
            flush(&mut current, &mut out);
            current.push_str(item);
            continue;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(line);
    }
    flush(&mut current, &mut out);
    out
}

/// One paragraph's inline Markdown as text: backslash escapes (`\>` → `>`, `\[`, `\*`, `\~`,
/// `\^`, ... any ASCII punctuation) become the character, and emphasis markers (`*`, `**`,
/// `_`, `__` next to a word; not `_` inside a word nor a `*` between spaces) are removed.
///
/// ```
/// use stages_builtin::ingest::text::markdown_inline;
/// assert_eq!(markdown_inline(r"**Age** \>= 18 and snake_case, 2 * 3 \*"), "Age >= 18 and snake_case, 2 * 3 *");
/// ```
pub fn markdown_inline(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            match chars.get(i + 1) {
                Some(&n) if n.is_ascii_punctuation() => {
                    out.push(n);
                    i += 2;
                }
                _ => {
                    out.push('\\');
                    i += 1;
                }
            }
            continue;
        }
        if c == '*' || c == '_' {
            let run = chars[i..].iter().take_while(|&&x| x == c).count();
            let before = i.checked_sub(1).map(|j| chars[j]);
            let after = chars.get(i + run).copied();
            let left_flanking = after.is_some_and(|a| !a.is_whitespace());
            let right_flanking = before.is_some_and(|b| !b.is_whitespace());
            let intraword =
                before.is_some_and(char::is_alphanumeric) && after.is_some_and(char::is_alphanumeric);
            let keep = !(left_flanking || right_flanking) || (c == '_' && intraword);
            if keep {
                out.extend(std::iter::repeat_n(c, run));
            }
            i += run;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn whitespace_and_entities() {
        assert_eq!(normalize_whitespace("\n a\u{2009}b\u{202f}c\t\r\n d \u{a0}"), "a b c d");
        assert_eq!(normalize_whitespace(""), "");
        assert_eq!(
            decode_entities("&amp;amp; &#38; &#x26; &#0; &#xD800; &#; &; &"),
            "&amp; & & &#0; &#xD800; &#; &; &"
        );
        assert_eq!(decode_entities("&nbsp;&ndash;&beta;"), "\u{a0}\u{2013}\u{3b2}");
    }

    #[test]
    fn markup() {
        for (input, want) in [
            (
                "Efficient iterative schemes for<i>ab initio</i>total-energy calculations",
                "Efficient iterative schemes for ab initio total-energy calculations",
            ),
            ("the 5 <sup>th</sup> edition", "the 5th edition"),
            ("H<sub>2</sub>O and Ca<sup>2+</sup>", "H2O and Ca2+"),
            ("<jats:p>First.</jats:p><jats:p>Second.</jats:p>", "First. Second."),
            ("a<br>b<br/>c<br />d", "a b c d"),
            ("<i>E. coli</i>-specific", "E. coli-specific"),
            ("p < 0.05 and a<b and x > 3", "p < 0.05 and a<b and x > 3"),
            ("<unknown>kept</unknown>", "<unknown>kept</unknown>"),
            ("<span class=\"x\">styled</span>text", "styled text"),
            ("f<sub><i>k</i></sub>(k)", "fk(k)"),
            ("A &amp; B &lt;i&gt;", "A & B <i>"),
            ("<i", "<i"),
            ("<", "<"),
            ("reliable. \\textcopyright{} 1996 The APS.", "reliable. \u{a9} 1996 The APS."),
        ] {
            assert_eq!(markup_to_text(input), want, "{input}");
        }
    }

    #[test]
    fn markdown() {
        let text = "Inclusion Criteria:\n\n* Age \\>= 18\n* Able to consent\n  (continued)\n\nExclusion Criteria:\n\n1. Pregnancy\n   - nested \\< 2 \\[x\\]\n2. **Bold** _it_ \\~ \\^ \\& \\*";
        assert_eq!(
            markdown_to_paragraphs(text),
            [
                "Inclusion Criteria:",
                "Age >= 18",
                "Able to consent (continued)",
                "Exclusion Criteria:",
                "Pregnancy",
                "nested < 2 [x]",
                "Bold it ~ ^ & *",
            ]
        );
        assert_eq!(markdown_inline("a\\b \\"), "a\\b \\");
        assert_eq!(markdown_inline("__x__ y_z *"), "x y_z *");
        assert_eq!(markdown_to_paragraphs("line one\nline two\n\n\n"), ["line one line two"]);
        assert_eq!(markdown_to_paragraphs("  \n# \n"), Vec::<String>::new());
    }

    /// A small seeded generator (xorshift64*) of strings over an alphabet rich in the
    /// characters the parsers react to.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn string(&mut self, max_len: usize) -> String {
            const PIECES: &[&str] = &[
                "<",
                ">",
                "/",
                "&",
                ";",
                "#",
                "x",
                "*",
                "**",
                "_",
                "\\",
                "\n",
                " ",
                "\u{a0}",
                "a",
                "Z",
                "9",
                "é",
                "€",
                "😀",
                "\u{301}",
                "<i>",
                "</i>",
                "<sup>",
                "</sub>",
                "&amp;",
                "&#x",
                "&#",
                "1. ",
                "* ",
                "- ",
                "# ",
                "<br/>",
                "<span a='>'",
                "\t",
                "\r",
                "\u{200b}",
                "[",
                "]",
            ];
            let len = (self.next() % max_len as u64) as usize;
            (0..len).map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize]).collect()
        }
    }

    #[test]
    fn never_panics_on_random_utf8() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let s = g.string(60);
            let t = markup_to_text(&s);
            assert_eq!(t, normalize_whitespace(&t), "{s:?}");
            let _ = decode_entities(&s);
            for p in markdown_to_paragraphs(&s) {
                assert!(!p.is_empty() && p == normalize_whitespace(&p), "{s:?} -> {p:?}");
            }
            let _ = markdown_inline(&s);
        }
        // Arbitrary code points too, not only the alphabet above.
        for _ in 0..2000 {
            let s: String =
                (0..(g.next() % 40)).filter_map(|_| char::from_u32((g.next() % 0x11_0000) as u32)).collect();
            let _ = (markup_to_text(&s), markdown_to_paragraphs(&s), decode_entities(&s));
        }
    }

    #[test]
    fn linear_on_hostile_input() {
        // Quadratic work on these would be billions of steps; linear work is milliseconds.
        let n = 50_000;
        for s in [
            "<".repeat(n),
            "<i ".repeat(n),
            "&".repeat(n),
            "&#x".repeat(n),
            "*".repeat(n),
            "_a".repeat(n),
            "\\".repeat(n),
            "* \n".repeat(n),
        ] {
            let start = Instant::now();
            let _ = (markup_to_text(&s), markdown_to_paragraphs(&s));
            assert!(start.elapsed() < Duration::from_secs(2), "{:?} took {:?}", &s[..6], start.elapsed());
        }
    }
}
