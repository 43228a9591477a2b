//! Tables: fitted to the terminal's width when stdout is one, plain otherwise.

use comfy_table::{presets, ContentArrangement, Table};

/// Formats rows under a header for stdout: fitted to the terminal (borders, cells wrapped to
/// its width) when stdout is a terminal, [`plain`] otherwise.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    match crate::term::stdout_width() {
        Some(width) => fitted(header, rows, width),
        None => plain(header, rows),
    }
}

/// A table at most `width` columns wide: borders drawn; the last column (a description, a
/// note) wraps first, the others keep up to 24 characters unwrapped.
pub(crate) fn fitted(header: &[&str], rows: &[Vec<String>], width: u16) -> String {
    use comfy_table::{ColumnConstraint, Width};
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(header.iter().copied());
    for row in rows {
        t.add_row(row.iter().map(String::as_str));
    }
    // The columns before the last keep their width (up to 24) when that leaves the last one
    // at least 20 characters; otherwise they share what does, evenly.
    let last = header.len().saturating_sub(1);
    let naturals: Vec<usize> = (0..last)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain(header.get(i).map(|h| h.chars().count()))
                .max()
                .unwrap_or(0)
                .min(24)
        })
        .collect();
    let budget = usize::from(width).saturating_sub(3 * header.len() + 1 + 20);
    let share = if naturals.iter().sum::<usize>() <= budget { usize::MAX } else { budget / last.max(1) };
    for (i, natural) in naturals.into_iter().enumerate() {
        let keep = u16::try_from(natural.min(share)).unwrap_or(24);
        if let Some(column) = t.column_mut(i) {
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(keep)));
        }
    }
    t.to_string()
}

/// Plain text: columns padded to their widest cell with two spaces between, a dashed rule under
/// the header, no borders, nothing wrapped (for pipes, files and scripts).
pub(crate) fn plain(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let fmt = |cells: Vec<String>| -> String {
        let line: Vec<String> =
            cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        line.join("  ").trim_end().to_owned()
    };
    let mut out = vec![fmt(header.iter().map(|h| (*h).to_owned()).collect())];
    out.push(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    out.extend(rows.iter().map(|r| fmt(r.clone())));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_are_aligned() {
        let t = super::plain(&["a", "bb"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "a    bb\n---  --\nxxx  y");
    }

    #[test]
    fn a_fitted_table_stays_within_the_width_and_keeps_every_word() {
        let long =
            "Splits each document's text into overlapping chunks of about `size` characters".to_owned();
        let rows = vec![
            vec!["chunk".into(), "chunks".into(), long.clone()],
            vec!["embed".into(), "-".into(), "x".into()],
        ];
        for width in [40u16, 60, 100] {
            let t = super::fitted(&["TYPE", "WRITES", "DESCRIPTION"], &rows, width);
            for line in t.lines() {
                assert!(line.chars().count() <= usize::from(width), "{width}: {line:?}\n{t}");
            }
            let words: String = t.split(|c: char| !c.is_alphanumeric()).collect();
            let expected: String = long.split(|c: char| !c.is_alphanumeric()).collect();
            assert!(words.contains(&expected[..20]), "{t}");
        }
        // Narrow content is not stretched to the terminal.
        let small = super::fitted(&["A"], &[vec!["b".into()]], 200);
        assert!(small.lines().all(|l| l.chars().count() < 20), "{small}");
    }
}
