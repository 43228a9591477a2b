//! Diagnostics: one located message type for every problem found in a file.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::yaml::Loc;

/// How serious a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The file cannot be used as written.
    Error,
    /// The file is used, but something in it is probably not what its author meant.
    Warning,
    /// Worth knowing; nothing is wrong.
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// One problem (or note) located in a file.
///
/// Displays in the compiler convention, `path:line:column: error: message`. A diagnostic
/// about the file as a whole (it cannot be read, say) has line 0 and displays as
/// `path: error: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// How serious it is.
    pub severity: Severity,
    /// The file it is about.
    pub path: Arc<Path>,
    /// 1-based line; 0 when the diagnostic is about the whole file.
    pub line: u32,
    /// 1-based column; 0 when the diagnostic is about the whole file.
    pub column: u32,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic of the given severity at `loc` in `path`.
    ///
    /// The message is kept to one line: control characters and line separators in it (from
    /// quoted file text, as in ``unknown key `a\nb` ``) are escaped (`\n`, `\u{1b}`), so that
    /// a diagnostic always displays as one `path:line:column: severity: message` line.
    pub fn new(severity: Severity, path: &Arc<Path>, loc: Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            path: Arc::clone(path),
            line: loc.line,
            column: loc.column,
            message: one_line(message.into()),
        }
    }

    /// An error at `loc` in `path`.
    pub fn error(path: &Arc<Path>, loc: Loc, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, path, loc, message)
    }

    /// A warning at `loc` in `path`.
    pub fn warning(path: &Arc<Path>, loc: Loc, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, path, loc, message)
    }

    /// An info note at `loc` in `path`.
    pub fn info(path: &Arc<Path>, loc: Loc, message: impl Into<String>) -> Self {
        Self::new(Severity::Info, path, loc, message)
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The location as a [`Loc`].
    pub fn loc(&self) -> Loc {
        Loc { line: self.line, column: self.column }
    }
}

/// Whether `c` would break a one-line message (or the terminal showing it).
fn breaks_line(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// `message` with every character that [`breaks_line`] escaped (`\n`, `\t`, `\u{1b}`).
fn one_line(message: String) -> String {
    if !message.contains(breaks_line) {
        return message;
    }
    let mut out = String::with_capacity(message.len() + 8);
    for c in message.chars() {
        if breaks_line(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}: {}", self.path.display(), self.severity, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.severity,
                self.message
            )
        }
    }
}

/// A file that loaded, with the warnings and notes found while loading it.
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    /// What was loaded.
    pub value: T,
    /// Warnings and info notes, in file order.
    pub warnings: Vec<Diagnostic>,
}

/// A file that did not load: every error found in it, one per line when displayed.
#[derive(Clone, Debug, thiserror::Error)]
pub struct LoadError {
    /// The errors, in file order (never empty).
    pub errors: Vec<Diagnostic>,
    /// Warnings and info notes found alongside the errors, in file order.
    pub warnings: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_lines(f, &self.errors)
    }
}

/// Writes diagnostics one per line (the `Display` of the loaders' error types).
pub(crate) fn write_lines(f: &mut fmt::Formatter<'_>, diagnostics: &[Diagnostic]) -> fmt::Result {
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            f.write_str("\n")?;
        }
        write!(f, "{d}")?;
    }
    Ok(())
}

impl LoadError {
    /// A load error made of one diagnostic about the whole file (line 0).
    pub fn whole_file(path: &Arc<Path>, message: impl Into<String>) -> Self {
        LoadError {
            errors: vec![Diagnostic::error(path, Loc { line: 0, column: 0 }, message)],
            warnings: Vec::new(),
        }
    }
}

/// Collects the diagnostics of one file.
#[derive(Debug)]
pub(crate) struct Sink {
    pub(crate) path: Arc<Path>,
    pub(crate) diags: Vec<Diagnostic>,
}

impl Sink {
    pub(crate) fn new(path: &Arc<Path>) -> Self {
        Sink { path: Arc::clone(path), diags: Vec::new() }
    }

    pub(crate) fn error(&mut self, loc: Loc, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(&self.path, loc, message));
    }

    pub(crate) fn warning(&mut self, loc: Loc, message: impl Into<String>) {
        self.diags.push(Diagnostic::warning(&self.path, loc, message));
    }

    pub(crate) fn info(&mut self, loc: Loc, message: impl Into<String>) {
        self.diags.push(Diagnostic::info(&self.path, loc, message));
    }

    /// All diagnostics in file order (stable for one location).
    pub(crate) fn sorted(mut self) -> Vec<Diagnostic> {
        sort_diagnostics(&mut self.diags);
        self.diags
    }

    /// `Ok(value)` with the non-errors when there is no error, else the [`LoadError`].
    pub(crate) fn finish<T>(self, value: T) -> Result<Loaded<T>, LoadError> {
        let (errors, warnings): (Vec<_>, Vec<_>) = self.sorted().into_iter().partition(Diagnostic::is_error);
        if errors.is_empty() {
            Ok(Loaded { value, warnings })
        } else {
            Err(LoadError { errors, warnings })
        }
    }
}

/// Sorts by line and column, keeping the emission order for one location.
pub(crate) fn sort_diagnostics(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| (d.line, d.column));
}
