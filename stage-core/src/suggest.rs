//! Nearest-name suggestions for error messages ("did you mean `state_key`?").

pub use crate::naming::edit_distance;

/// The candidates close enough to `name` to be worth suggesting, nearest first
/// (ties keep the candidates' order), at most `max` of them.
///
/// "Close enough" is an edit distance of at most a third of the longer name
/// (and at least 1), or one name containing the other.
pub fn nearest<'a, I>(name: &str, candidates: I, max: usize) -> Vec<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = name.to_ascii_lowercase();
    let mut scored: Vec<(usize, usize, &'a str)> = candidates
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let cl = c.to_ascii_lowercase();
            let d = edit_distance(&lower, &cl);
            let limit = (lower.len().max(cl.len()) / 3).max(1);
            let contains = !lower.is_empty() && (cl.contains(&lower) || lower.contains(&cl));
            (d <= limit || contains).then_some((d, i, c))
        })
        .collect();
    scored.sort_unstable();
    scored.dedup_by(|a, b| a.2 == b.2);
    scored.into_iter().take(max).map(|(_, _, c)| c).collect()
}

/// Formats suggestions as a sentence tail: "; did you mean `a`?" or "; did you mean
/// one of `a`, `b`?", or nothing when there are none.
pub fn did_you_mean(suggestions: &[&str]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        many => {
            let list: Vec<String> = many.iter().map(|s| format!("`{s}`")).collect();
            format!("; did you mean one of {}?", list.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_orders_by_distance_and_filters_far_names() {
        let c = ["chunk", "embed", "chunker", "index"];
        assert_eq!(nearest("chunck", c, 3), vec!["chunk"]);
        assert_eq!(nearest("chunke", c, 3), vec!["chunk", "chunker"]);
        assert!(nearest("zzzzzz", c, 3).is_empty());
    }

    #[test]
    fn did_you_mean_formats() {
        assert_eq!(did_you_mean(&[]), "");
        assert_eq!(did_you_mean(&["a"]), "; did you mean `a`?");
        assert_eq!(did_you_mean(&["a", "b"]), "; did you mean one of `a`, `b`?");
    }
}
