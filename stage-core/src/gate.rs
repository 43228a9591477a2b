//! A gate's condition checked against a job's ledger: the one check behind the built-in `gate`
//! stage's evaluations and a host's "does the parked gate hold now?" before it resumes a run.
//!
//! A gate keeps the baselines of its `changed` clauses in the ledger, under
//! `gate.<name>.baselines` ([`baselines_key`]), so that a resumed wait, or the host's check,
//! compares with the value first seen.
//!
//! ```
//! use stage_core::gate::{self, GateCheck};
//! use stage_core::spec::{Baselines, Clause, Condition, Eval, FieldRef, Operator};
//! use stage_core::{InMemoryLedger, Ledger};
//!
//! let ledger = InMemoryLedger::new();
//! let ready = Condition::Clause(Clause {
//!     field: FieldRef::Ledger("ready".into()),
//!     operator: Operator::Equals,
//!     value: Some(serde_json::json!(true)),
//!     previous_value: None,
//! });
//! let mut baselines = gate::load_baselines(&ledger, "job-1", "g").unwrap();
//! assert_eq!(gate::check(&ready, &ledger, "job-1", &mut baselines).eval, Eval::NotYet);
//! ledger.set("job-1", "ready", serde_json::json!(true)).unwrap();
//! let GateCheck { eval, read_error } = gate::check(&ready, &ledger, "job-1", &mut baselines);
//! assert_eq!(eval, Eval::True);
//! assert!(read_error.is_none());
//! ```

use std::cell::RefCell;

use serde_json::Value;

use crate::spec::{Baselines, Condition, Eval, FieldRef};
use crate::{BoxError, Ledger};

/// The ledger field holding gate `gate`'s baselines: `gate.<gate>.baselines`.
pub fn baselines_key(gate: &str) -> String {
    format!("gate.{gate}.baselines")
}

/// The baselines gate `gate` recorded for `job` (none yet: empty). A stored value that is not
/// a baseline map counts as none; a ledger that cannot be read is an error.
pub fn load_baselines(ledger: &dyn Ledger, job: &str, gate: &str) -> Result<Baselines, BoxError> {
    Ok(ledger
        .get(job, &baselines_key(gate))?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

/// One evaluation of a gate condition against the ledger.
#[derive(Debug)]
pub struct GateCheck {
    /// The outcome, with unreadable fields taken as not set.
    pub eval: Eval,
    /// The first ledger read that failed, if any: the `gate` stage fails on it, a host
    /// checking a parked run may log it and go on with `eval`.
    pub read_error: Option<BoxError>,
}

/// Evaluates `condition` once for `job`: ledger fields and ledger metadata are read from
/// `ledger`, `changed` clauses record their first-seen values in `baselines`. Never fails:
/// a field that cannot be read counts as not set, and the first such error is returned in
/// [`GateCheck::read_error`].
pub fn check(condition: &Condition, ledger: &dyn Ledger, job: &str, baselines: &mut Baselines) -> GateCheck {
    let read_error = RefCell::new(None);
    let lookup = |f: &FieldRef| -> Option<Value> {
        let r = match f {
            FieldRef::Ledger(k) => ledger.get(job, k),
            FieldRef::Metadata(k) => ledger.get_metadata(job, k),
        };
        r.unwrap_or_else(|e| {
            read_error.borrow_mut().get_or_insert(e);
            None
        })
    };
    let eval = condition.evaluate(&lookup, baselines);
    GateCheck { eval, read_error: read_error.into_inner() }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::spec::{Clause, Operator};
    use crate::InMemoryLedger;

    fn clause(field: FieldRef, operator: Operator, value: Option<Value>) -> Condition {
        Condition::Clause(Clause { field, operator, value, previous_value: None })
    }

    /// A ledger whose every read fails.
    struct Broken;
    impl Ledger for Broken {
        fn get(&self, _: &str, field: &str) -> Result<Option<Value>, BoxError> {
            Err(format!("cannot read `{field}`").into())
        }
        fn set(&self, _: &str, _: &str, _: Value) -> Result<(), BoxError> {
            Ok(())
        }
        fn get_metadata(&self, _: &str, key: &str) -> Result<Option<Value>, BoxError> {
            Err(format!("cannot read metadata `{key}`").into())
        }
        fn set_metadata(&self, _: &str, _: &str, _: Value) -> Result<(), BoxError> {
            Ok(())
        }
        fn fields(&self, _: &str) -> Result<BTreeMap<String, Value>, BoxError> {
            Ok(BTreeMap::new())
        }
    }

    #[test]
    fn reads_ledger_fields_and_metadata_of_the_job() {
        let ledger = InMemoryLedger::new();
        let both = Condition::All(vec![
            clause(FieldRef::Ledger("status".into()), Operator::Equals, Some(json!("done"))),
            clause(FieldRef::Metadata("owner".into()), Operator::Exists, None),
        ]);
        let mut b = Baselines::new();
        ledger.set("j", "status", json!("done")).unwrap();
        assert_eq!(check(&both, &ledger, "j", &mut b).eval, Eval::NotYet);
        ledger.set_metadata("j", "owner", json!("x")).unwrap();
        assert_eq!(check(&both, &ledger, "j", &mut b).eval, Eval::True);
        // Another job's fields are not this job's.
        assert_ne!(check(&both, &ledger, "other", &mut b).eval, Eval::True);
    }

    #[test]
    fn changed_compares_with_the_stored_baseline() {
        let ledger = InMemoryLedger::new();
        let changed = clause(FieldRef::Ledger("n".into()), Operator::Changed, None);
        ledger.set("j", "n", json!(1)).unwrap();
        let mut first = load_baselines(&ledger, "j", "g").unwrap();
        assert_eq!(check(&changed, &ledger, "j", &mut first).eval, Eval::False);
        ledger.set("j", &baselines_key("g"), serde_json::to_value(&first).unwrap()).unwrap();
        // A later check (a resume) starts from the stored baselines, not from the new value.
        ledger.set("j", "n", json!(2)).unwrap();
        let mut later = load_baselines(&ledger, "j", "g").unwrap();
        assert_eq!(later, first);
        assert_eq!(check(&changed, &ledger, "j", &mut later).eval, Eval::True);
    }

    #[test]
    fn a_failed_read_is_returned_and_the_field_counts_as_unset() {
        let c = clause(FieldRef::Metadata("k".into()), Operator::NotExists, None);
        let GateCheck { eval, read_error } = check(&c, &Broken, "j", &mut Baselines::new());
        assert_eq!(eval, Eval::True);
        assert_eq!(read_error.map(|e| e.to_string()).as_deref(), Some("cannot read metadata `k`"));
        assert!(load_baselines(&Broken, "j", "g").is_err());
    }
}
