//! The jobs-file reader of `stagectl run` (`stagectl::parse_jobs`, as JSON Lines and as a JSON
//! file) and the job-id check (`Job::check_id`) on arbitrary bytes (as UTF-8, lossily).
//!
//! Must hold: no panic; a refused JSON Lines file names the file and the line of the first bad
//! job, a refused JSON file names the file; errors are non-empty; every job read round-trips
//! through JSON; `check_id` accepts exactly the documented syntax (1 to `MAX_ID_LEN` ASCII
//! letters, digits and `.` `_` `-` `:` `#` `/`, not `.` or `..` alone) and its error quotes the
//! id in one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stage_core::Job;

fn check_id(id: &str) {
    let valid = !id.is_empty()
        && id.chars().count() <= Job::MAX_ID_LEN
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:#/".contains(c));
    match Job::check_id(id) {
        Ok(()) => assert!(valid, "accepted an invalid id: {id:?}"),
        Err(e) => {
            assert!(!valid, "refused a valid id: {id:?}: {e}");
            assert!(!e.trim().is_empty(), "empty error for {id:?}");
            assert!(!e.contains(char::is_control), "error spans lines: {e:?}");
            assert!(e.contains("job id"), "error does not say what it is about: {e}");
        }
    }
}

fn check_jobs(jobs: &[Job]) {
    for job in jobs {
        check_id(&job.job_id);
        let json = serde_json::to_string(job).expect("a job serializes");
        let back: Job = serde_json::from_str(&json).expect("a serialized job reads back");
        assert_eq!(&back, job, "a job does not round-trip through JSON");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_id(&text);
    if let Some(first_line) = text.lines().next() {
        check_id(first_line);
    }
    match stagectl::parse_jobs(&text, "jobs.jsonl", true) {
        Ok(jobs) => {
            let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
            assert_eq!(jobs.len(), lines, "one job per non-blank line");
            check_jobs(&jobs);
        }
        Err(e) => {
            let e = e.to_string();
            let line = e
                .strip_prefix("jobs.jsonl:")
                .and_then(|rest| rest.split_once(": not a job: "))
                .and_then(|(n, _)| n.parse::<usize>().ok());
            let line =
                line.unwrap_or_else(|| panic!("a JSON Lines error without `file:line: not a job: `: {e}"));
            let bad =
                text.lines().nth(line - 1).unwrap_or_else(|| panic!("line {line} is past the end: {e}"));
            assert!(serde_json::from_str::<Job>(bad).is_err(), "line {line} is a valid job: {e}");
        }
    }
    match stagectl::parse_jobs(&text, "jobs.json", false) {
        Ok(jobs) => check_jobs(&jobs),
        Err(e) => {
            let e = e.to_string();
            assert!(e.starts_with("jobs.json: not a"), "a JSON error that does not name the file: {e}");
        }
    }
});
