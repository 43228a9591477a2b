//! What the terminal allows: colour, width, a live progress bar.

use std::io::IsTerminal;

/// Whether output may be coloured: on a terminal, unless `NO_COLOR` is set and not empty (as
/// <https://no-color.org> says).
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Whether logs and progress on stderr may be coloured: a terminal, and no `NO_COLOR`.
pub(crate) fn stderr_colour() -> bool {
    let colour = colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
    console::set_colors_enabled_stderr(colour);
    colour
}

/// Whether stderr is a terminal (a live progress bar is drawn only there).
pub(crate) fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// The width of the terminal stdout is, or `None` when stdout is not a terminal (then tables
/// are plain).
pub(crate) fn stdout_width() -> Option<u16> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let width = console::Term::stdout().size_checked().map(|(_, w)| w);
    // A terminal that does not say its size: the conventional 80 columns, or `COLUMNS`.
    Some(width.or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok()).unwrap_or(80))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(super::colour(true, None));
        assert!(!super::colour(false, None), "a file or a pipe gets no ANSI escapes");
        assert!(!super::colour(true, Some(OsStr::new("1"))));
        assert!(super::colour(true, Some(OsStr::new(""))), "an empty NO_COLOR is unset");
    }
}
