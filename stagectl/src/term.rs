//! What the terminal allows: colour, width, a live progress bar.

use std::io::IsTerminal;

/// Whether `NO_COLOR` asks for no colour (set and not empty, as <https://no-color.org> says).
pub(crate) fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether logs and progress on stderr may be coloured: a terminal, and no `NO_COLOR`.
pub(crate) fn stderr_colour() -> bool {
    let colour = std::io::stderr().is_terminal() && !no_color();
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
