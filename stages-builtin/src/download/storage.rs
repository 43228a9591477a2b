//! Where a download goes: the base directory, the file name from the template, and the
//! guarantee that the result stays inside the base directory.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use stage_core::{HostSettings, Job};

use super::time::compact_utc;

/// The placeholders a [`FilenameTemplate`] may use.
pub const PLACEHOLDERS: &[&str] = &["doc_id", "job_id", "tenant_id", "timestamp"];

/// The longest file or directory name the template renders (longer ones are cut).
const MAX_COMPONENT: usize = 150;
/// The longest `filename_template`, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 1024;
/// The most `/`-separated parts a `filename_template` may have (directories and the file
/// name): 8. Checked when the config is read, so nothing is created for a deeper one.
pub const MAX_TEMPLATE_DEPTH: usize = 8;

/// `storage.filename_template`: a file name with placeholders `{doc_id}` (the job's `doc_id`,
/// else its `job_id`), `{job_id}`, `{tenant_id}` (else `default`) and `{timestamp}` (UTC,
/// `YYYYMMDDTHHMMSSZ`). An unknown placeholder is a load-time error.
///
/// Rendering never leaves the base directory: values are flattened (a `/` in a value becomes
/// `-`), every character other than ASCII letters, digits, `.`, `_` and `-` becomes `-`, a
/// leading `.` becomes `-`, `/` in the template itself makes subdirectories but empty, `.`
/// and `..` parts are dropped (so `../../etc/passwd` renders `etc/passwd.pdf`), and `.pdf` is
/// appended when the name does not end with it.
///
/// Bounded: at most [`MAX_TEMPLATE_BYTES`] bytes and [`MAX_TEMPLATE_DEPTH`] parts, checked when
/// the config is read (a located error in `stagectl validate`), so a template 3,000 levels
/// deep is refused before any directory is created. Under a host that rebases paths
/// ([`HostSettings::rebase_absolute_paths`], `stagectl --rebase-paths`), a template with a
/// `..` part or a leading `/` is refused when the stage runs instead of being flattened: the
/// store is the only root.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FilenameTemplate(String);

/// A template that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad filename template `{template}`: {reason}")]
pub struct TemplateError {
    /// The template as given.
    pub template: String,
    /// What is wrong with it.
    pub reason: String,
}

enum Piece<'t> {
    Text(&'t str),
    Placeholder(&'t str),
}

fn pieces(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let err = |reason: String| TemplateError { template: template.to_owned(), reason };
    let mut out = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                out.push(Piece::Text(rest));
                break;
            }
            Some(i) if rest.as_bytes()[i] == b'}' => return Err(err("a `}` without `{`".to_owned())),
            Some(i) => {
                if i > 0 {
                    out.push(Piece::Text(&rest[..i]));
                }
                let Some(close) = rest[i..].find('}') else {
                    return Err(err("a `{` without `}`".to_owned()));
                };
                let name = &rest[i + 1..i + close];
                if !PLACEHOLDERS.contains(&name) {
                    return Err(err(format!(
                        "unknown placeholder `{{{name}}}` (known: {})",
                        PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", ")
                    )));
                }
                out.push(Piece::Placeholder(name));
                rest = &rest[i + close + 1..];
            }
        }
    }
    Ok(out)
}

impl FilenameTemplate {
    /// Parses a template, checking its placeholders.
    pub fn parse(template: &str) -> Result<FilenameTemplate, TemplateError> {
        let err = |reason: String| TemplateError { template: clip(template), reason };
        if template.len() > MAX_TEMPLATE_BYTES {
            return Err(err(format!(
                "it is {} bytes long; a template may have at most {MAX_TEMPLATE_BYTES}",
                template.len()
            )));
        }
        let depth = template.split(['/', '\\']).filter(|p| !p.is_empty()).count();
        if depth > MAX_TEMPLATE_DEPTH {
            return Err(err(format!(
                "it has {depth} `/`-separated parts; a template may have at most {MAX_TEMPLATE_DEPTH} (directories and the file name)"
            )));
        }
        pieces(template)?;
        Ok(FilenameTemplate(template.to_owned()))
    }

    /// Why the template could point outside its base directory if taken literally (a `..`
    /// part, a leading `/` or `\`), if it could. Rendering flattens these; a confined host
    /// refuses them.
    pub fn escape(&self) -> Option<&'static str> {
        if self.0.starts_with(['/', '\\']) {
            Some("it starts with `/` (an absolute path)")
        } else if self.0.split(['/', '\\']).any(|p| p == "..") {
            Some("it has a `..` part")
        } else {
            None
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The relative path (one or more safe names) the template gives for `job` at `now`.
    pub fn render(&self, job: &Job, now: SystemTime) -> PathBuf {
        let mut text = String::new();
        for piece in pieces(&self.0).unwrap_or_default() {
            match piece {
                Piece::Text(t) => text.push_str(t),
                Piece::Placeholder(name) => {
                    let value = match name {
                        "doc_id" => job.doc_id.clone().unwrap_or_else(|| job.job_id.clone()),
                        "job_id" => job.job_id.clone(),
                        "tenant_id" => job.tenant_id.clone().unwrap_or_else(|| "default".to_owned()),
                        _ => compact_utc(now),
                    };
                    // Values never make directories.
                    text.push_str(&clean_chars(&value.replace(['/', '\\'], "-")));
                }
            }
        }
        let mut parts: Vec<String> = text
            .split(['/', '\\'])
            .filter(|p| !p.is_empty() && !p.bytes().all(|b| b == b'.'))
            .map(sanitize)
            .collect();
        if parts.is_empty() {
            let fallback = sanitize(&job.job_id.replace(['/', '\\'], "-"));
            let fallback = if fallback.bytes().all(|b| b == b'.' || b == b'-') {
                "download".to_owned()
            } else {
                fallback
            };
            parts.push(fallback);
        }
        let last = parts.last_mut().expect("not empty");
        if !last.to_ascii_lowercase().ends_with(".pdf") {
            last.truncate(MAX_COMPONENT - 4);
            last.push_str(".pdf");
        }
        parts.iter().collect()
    }
}

/// A template for messages: at most 80 characters.
fn clip(template: &str) -> String {
    match template.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &template[..i]),
        None => template.to_owned(),
    }
}

/// Replaces every character other than ASCII letters, digits, `.`, `_` and `-` by `-`.
fn clean_chars(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .collect()
}

/// Makes one path component safe: [`clean_chars`], a leading `.` becomes `-`, long names are cut.
fn sanitize(s: &str) -> String {
    let mut out = clean_chars(s);
    if out.starts_with('.') {
        out.replace_range(..1, "-");
    }
    if out.len() > MAX_COMPONENT {
        // ASCII only by now: any byte index is a character boundary.
        let ext = if out.to_ascii_lowercase().ends_with(".pdf") { ".pdf" } else { "" };
        out.truncate(MAX_COMPONENT - ext.len());
        out.push_str(ext);
    }
    out
}

impl Default for FilenameTemplate {
    fn default() -> Self {
        FilenameTemplate("{job_id}.pdf".to_owned())
    }
}

impl TryFrom<String> for FilenameTemplate {
    type Error = TemplateError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        FilenameTemplate::parse(&s)
    }
}

impl From<FilenameTemplate> for String {
    fn from(t: FilenameTemplate) -> String {
        t.0
    }
}

impl fmt::Debug for FilenameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FilenameTemplate({:?})", self.0)
    }
}

/// The base directory for `base_path` (as configured, `None` for the default) under `host`:
/// the run directory by default (else `./downloads`); a relative path is taken under the run
/// directory (else the current directory); an absolute path is honoured, or rebased under the
/// run directory when the host asks for it.
pub(crate) fn base_dir(base_path: Option<&str>, host: &HostSettings) -> io::Result<PathBuf> {
    let cwd = || std::env::current_dir();
    let base = match base_path.filter(|p| !p.trim().is_empty()).map(Path::new) {
        None => match &host.run_dir {
            Some(run) => run.clone(),
            None => cwd()?.join("downloads"),
        },
        Some(p) if confined(host).is_some() && p.components().any(|c| c == Component::ParentDir) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "`base_path` `{}` has a `..` part, refused: with rebased paths every download stays inside the run directory; remove the `..`",
                    p.display()
                ),
            ));
        }
        Some(p) if p.is_absolute() => match (&host.run_dir, host.rebase_absolute_paths) {
            (Some(run), true) => {
                run.join(p.components().filter(|c| matches!(c, Component::Normal(_))).collect::<PathBuf>())
            }
            _ => p.to_path_buf(),
        },
        Some(p) => match &host.run_dir {
            Some(run) => run.join(p),
            None => cwd()?.join(p),
        },
    };
    Ok(if base.is_absolute() { base } else { cwd()?.join(base) })
}

/// The root every download must stay in, when the host confines them: the run directory,
/// under [`HostSettings::rebase_absolute_paths`].
pub(crate) fn confined(host: &HostSettings) -> Option<&Path> {
    host.run_dir.as_deref().filter(|_| host.rebase_absolute_paths)
}

/// Creates `base` and the directories of `relative` inside it, one at a time, checking after
/// each that it resolves (symlinks followed) inside `base`, and `base` itself inside `root`
/// when given. Returns the file's full path, whose parent is canonical. Nothing is created
/// for a `relative` deeper than [`MAX_TEMPLATE_DEPTH`].
pub(crate) fn prepare_target(base: &Path, relative: &Path, root: Option<&Path>) -> Result<PathBuf, String> {
    let parts: Vec<_> = relative.components().collect();
    if parts.len() > MAX_TEMPLATE_DEPTH {
        return Err(format!(
            "`{}` has {} parts; at most {MAX_TEMPLATE_DEPTH} are allowed",
            relative.display(),
            parts.len()
        ));
    }
    if let Some(outer) = root {
        std::fs::create_dir_all(outer).map_err(|e| format!("cannot create {}: {e}", outer.display()))?;
        let given = if outer.is_absolute() {
            outer.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| format!("cannot resolve {}: {e}", outer.display()))?
                .join(outer)
        };
        let outer = outer.canonicalize().map_err(|e| format!("cannot resolve {}: {e}", outer.display()))?;
        // Walk down from the root one directory at a time, so that a symlink on the way is
        // caught before anything is created through it.
        let inside = base
            .strip_prefix(&given)
            .or_else(|_| base.strip_prefix(&outer))
            .ok()
            .map(Path::to_path_buf)
            .or_else(|| base.canonicalize().ok()?.strip_prefix(&outer).ok().map(Path::to_path_buf));
        let Some(inside) = inside else {
            return Err(format!(
                "the base directory {} is outside the run directory {}, refused (paths are rebased)",
                base.display(),
                outer.display()
            ));
        };
        walk_inside(&outer, &inside, "the run directory")?;
    }
    std::fs::create_dir_all(base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let root = base.canonicalize().map_err(|e| format!("cannot resolve {}: {e}", base.display()))?;
    let Some((file, dirs)) = parts.split_last() else {
        return Err("the file name is empty".to_owned());
    };
    let dir = walk_inside(&root, &dirs.iter().collect::<PathBuf>(), "the base directory").map_err(|e| {
        if dirs.iter().all(|c| matches!(c, Component::Normal(_))) {
            e
        } else {
            format!("`{}` is not a plain name", relative.display())
        }
    })?;
    let Component::Normal(file) = file else {
        return Err(format!("`{}` is not a plain name", relative.display()));
    };
    let target = dir.join(file);
    if target.is_dir() {
        return Err(format!("{} is a directory", target.display()));
    }
    Ok(target)
}

/// Creates the directories of `relative` under the canonical `root`, one at a time, checking
/// after each that it resolves (symlinks followed) inside `root`. Returns the last one,
/// canonical.
fn walk_inside(root: &Path, relative: &Path, what: &str) -> Result<PathBuf, String> {
    let mut dir = root.to_path_buf();
    for part in relative.components() {
        let Component::Normal(name) = part else {
            return Err(format!("`{}` is not a plain name", relative.display()));
        };
        let next = dir.join(name);
        match std::fs::create_dir(&next) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", next.display())),
        }
        let resolved = next.canonicalize().map_err(|e| format!("cannot resolve {}: {e}", next.display()))?;
        if !resolved.starts_with(root) || !resolved.is_dir() {
            return Err(format!(
                "{} resolves to {}, outside {what} {}",
                next.display(),
                resolved.display(),
                root.display()
            ));
        }
        dir = resolved;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, job: &Job) -> String {
        let t = FilenameTemplate::parse(template).unwrap();
        t.render(job, SystemTime::UNIX_EPOCH).to_string_lossy().into_owned()
    }

    #[test]
    fn placeholders_and_defaults() {
        let mut job = Job::new("job-1", "openalex");
        assert_eq!(render("{job_id}.pdf", &job), "job-1.pdf");
        assert_eq!(render("{doc_id}", &job), "job-1.pdf", "doc_id falls back to job_id; .pdf appended");
        assert_eq!(render("{tenant_id}/{doc_id}.PDF", &job), "default/job-1.PDF");
        assert_eq!(render("{timestamp}-{job_id}", &job), "19700101T000000Z-job-1.pdf");
        job.doc_id = Some("10.1000/xyz (v2)".to_owned());
        job.tenant_id = Some("t 1".to_owned());
        assert_eq!(render("{tenant_id}/{doc_id}.pdf", &job), "t-1/10.1000-xyz--v2-.pdf");
    }

    #[test]
    fn traversal_stays_relative() {
        let mut job = Job::new("j", "s");
        assert_eq!(render("../../etc/passwd", &job), "etc/passwd.pdf");
        assert_eq!(render("/etc/passwd", &job), "etc/passwd.pdf");
        assert_eq!(render("..", &job), "j.pdf");
        assert_eq!(render(".hidden", &job), "-hidden.pdf");
        job.doc_id = Some("../../etc/passwd".to_owned());
        assert_eq!(render("{doc_id}", &job), "-.-..-etc-passwd.pdf");
        job.doc_id = Some("..".to_owned());
        assert_eq!(render("{doc_id}", &job), "j.pdf");
        let long = "x".repeat(400);
        let job = Job::new(long, "s");
        let name = render("{job_id}", &job);
        assert_eq!(name.len(), MAX_COMPONENT);
        assert!(name.ends_with(".pdf"));
    }

    #[test]
    fn bad_templates() {
        for bad in ["{nope}.pdf", "{job_id", "job_id}", "{}"] {
            assert!(FilenameTemplate::parse(bad).is_err(), "{bad}");
        }
        assert!(FilenameTemplate::parse("{nope}").unwrap_err().to_string().contains("{job_id}"));
    }

    #[test]
    fn base_dirs() {
        let run = PathBuf::from("/run/dir");
        let host = HostSettings { run_dir: Some(run.clone()), ..HostSettings::default() };
        assert_eq!(base_dir(None, &host).unwrap(), run);
        assert_eq!(base_dir(Some("pdfs"), &host).unwrap(), run.join("pdfs"));
        assert_eq!(base_dir(Some("/var/pdfs"), &host).unwrap(), PathBuf::from("/var/pdfs"));
        let rebase = HostSettings { rebase_absolute_paths: true, ..host };
        assert_eq!(base_dir(Some("/var/pdfs"), &rebase).unwrap(), run.join("var/pdfs"));
        let none = HostSettings::default();
        assert_eq!(base_dir(None, &none).unwrap(), std::env::current_dir().unwrap().join("downloads"));
    }
}
