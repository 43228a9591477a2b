//! The text as the detectors see it: characters with their byte offsets, and word tokens.
//!
//! Every position a detector handles is a *character* index, and every span it reports is
//! turned into byte offsets through [`Text::byte`], so a span can never split a character.

/// What kind of run a [`Tok`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Letters (`char::is_alphabetic`).
    Word,
    /// ASCII digits.
    Num,
    /// Whitespace.
    Space,
    /// Any other single character (punctuation, symbols, non-ASCII digits).
    Sym,
}

/// A token: `start..end` in character indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tok {
    /// First character.
    pub(crate) start: usize,
    /// One past the last character.
    pub(crate) end: usize,
    /// What it is.
    pub(crate) kind: Kind,
}

/// A text split into characters (with byte offsets) and tokens.
#[derive(Debug)]
pub(crate) struct Text<'a> {
    /// The text.
    pub(crate) src: &'a str,
    /// Its characters.
    pub(crate) chars: Vec<char>,
    /// Byte offset of each character, plus `src.len()` at the end.
    offsets: Vec<usize>,
    /// Its tokens, covering every character in order.
    pub(crate) toks: Vec<Tok>,
    /// For each character, the index of its token.
    tok_of: Vec<usize>,
}

impl<'a> Text<'a> {
    /// Splits `src`.
    pub(crate) fn new(src: &'a str) -> Self {
        let mut chars = Vec::with_capacity(src.len());
        let mut offsets = Vec::with_capacity(src.len() + 1);
        for (i, c) in src.char_indices() {
            chars.push(c);
            offsets.push(i);
        }
        offsets.push(src.len());
        let kind = |c: char| {
            if c.is_ascii_digit() {
                Kind::Num
            } else if c.is_alphabetic() {
                Kind::Word
            } else if c.is_whitespace() {
                Kind::Space
            } else {
                Kind::Sym
            }
        };
        let mut toks = Vec::new();
        let mut tok_of = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            let k = kind(chars[i]);
            let mut j = i + 1;
            if k != Kind::Sym {
                while j < chars.len() && kind(chars[j]) == k {
                    j += 1;
                }
            }
            for _ in i..j {
                tok_of.push(toks.len());
            }
            toks.push(Tok { start: i, end: j, kind: k });
            i = j;
        }
        Text { src, chars, offsets, toks, tok_of }
    }

    /// Number of characters.
    pub(crate) fn len(&self) -> usize {
        self.chars.len()
    }

    /// The byte offset of character index `i` (`i == len()` gives the text's length).
    pub(crate) fn byte(&self, i: usize) -> usize {
        self.offsets[i.min(self.chars.len())]
    }

    /// The text of characters `start..end`.
    pub(crate) fn slice(&self, start: usize, end: usize) -> &'a str {
        let (s, e) = (self.byte(start), self.byte(end.max(start)));
        self.src.get(s..e).unwrap_or("")
    }

    /// The text of token `t`.
    pub(crate) fn tok_str(&self, t: usize) -> &'a str {
        self.toks.get(t).map_or("", |t| self.slice(t.start, t.end))
    }

    /// The kind of token `t` (`None` past the end).
    pub(crate) fn kind(&self, t: usize) -> Option<Kind> {
        self.toks.get(t).map(|t| t.kind)
    }

    /// Whether token `t` is the single character `c`.
    pub(crate) fn is_sym(&self, t: usize, c: char) -> bool {
        self.toks.get(t).is_some_and(|k| k.kind == Kind::Sym && self.chars[k.start] == c)
    }

    /// Whether token `t` is a single space-like run on one line (no line break).
    pub(crate) fn is_inline_space(&self, t: usize) -> bool {
        self.toks.get(t).is_some_and(|k| {
            k.kind == Kind::Space && !self.chars[k.start..k.end].iter().any(|c| matches!(c, '\n' | '\r'))
        })
    }

    /// The token holding character `i`.
    pub(crate) fn tok_at(&self, i: usize) -> Option<usize> {
        self.tok_of.get(i).copied()
    }

    /// The character before index `i`, if any.
    pub(crate) fn before(&self, i: usize) -> Option<char> {
        i.checked_sub(1).and_then(|j| self.chars.get(j).copied())
    }

    /// The character at index `i`, if any.
    pub(crate) fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    /// Whether token `t` is a word starting with an upper-case letter.
    pub(crate) fn is_capitalised(&self, t: usize) -> bool {
        self.kind(t) == Some(Kind::Word) && self.chars[self.toks[t].start].is_uppercase()
    }

    /// The value of number token `t` if it has at most `max_len` digits.
    pub(crate) fn num(&self, t: usize, max_len: usize) -> Option<u32> {
        let tok = self.toks.get(t)?;
        if tok.kind != Kind::Num || tok.end - tok.start > max_len {
            return None;
        }
        self.tok_str(t).parse().ok()
    }

    /// The number of digits of number token `t` (0 if it is not one).
    pub(crate) fn digits(&self, t: usize) -> usize {
        self.toks.get(t).filter(|k| k.kind == Kind::Num).map_or(0, |k| k.end - k.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cover_the_text_on_char_boundaries() {
        let t = Text::new("Dr. Zoë 19ème 30–40% 😀");
        let joined: String = (0..t.toks.len()).map(|i| t.tok_str(i)).collect();
        assert_eq!(joined, "Dr. Zoë 19ème 30–40% 😀");
        let words: Vec<&str> =
            (0..t.toks.len()).filter(|&i| t.kind(i) == Some(Kind::Word)).map(|i| t.tok_str(i)).collect();
        assert_eq!(words, ["Dr", "Zoë", "ème"]);
        assert_eq!(t.slice(4, 7), "Zoë");
        assert_eq!(t.tok_at(4).map(|i| t.tok_str(i)), Some("Zoë"));
    }
}
