use std::sync::Arc;

use stage_core::__private::StageArgs;
use stage_core::{stage, Job, StageContext, StageError, StageRegistry, StateValue};

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Bias {
    pub bias: u64,
}

/// Sums twelve inputs (the most the shared call functions take), the last one optional.
#[stage(type = "sum-12", state_key = "sum")]
#[allow(clippy::too_many_arguments, reason = "a stage takes one parameter per input")]
fn sum_12(
    a: &u64,
    b: &u64,
    c: &u64,
    d: &u64,
    e: &u64,
    f: &u64,
    g: &u64,
    h: &u64,
    i: &u64,
    j: &u64,
    k: &u64,
    l: Option<&u64>,
) -> Result<Option<Vec<u64>>, StageError> {
    let sum = a + b + c + d + e + f + g + h + i + j + k + l.copied().unwrap_or(0);
    if sum == 0 {
        return Err(StageError::msg("nothing to sum"));
    }
    Ok(Some(vec![sum]).filter(|s| s[0] != 1))
}

/// Sums eleven inputs, the length of the context's stage name and the config's bias: thirteen
/// parameters, more than the shared call functions take, so the call is written out.
#[stage(type = "sum-13", state_key = "sum")]
#[allow(clippy::too_many_arguments, reason = "a stage takes one parameter per input")]
fn sum_13(
    a: &u64,
    b: &u64,
    c: &u64,
    d: &u64,
    e: &u64,
    f: &u64,
    ctx: &StageContext,
    g: &u64,
    h: &u64,
    i: &u64,
    j: &u64,
    k: Option<&u64>,
    #[config] cfg: &Bias,
) -> Result<Option<Vec<u64>>, StageError> {
    let sum = a + b + c + d + e + f + g + h + i + j + k.copied().unwrap_or(0);
    if sum == 0 {
        return Err(StageError::msg("nothing to sum"));
    }
    Ok(Some(vec![sum + ctx.stage_name().len() as u64 + cfg.bias]).filter(|s| s[0] != 1))
}

fn run(
    stage_type: &'static str,
    values: &[Option<u64>],
    config: Option<Bias>,
) -> Result<Option<u64>, String> {
    let meta = StageRegistry::global().get_metadata(stage_type).unwrap();
    let ctx = StageContext::new(Arc::new(Job::new("job-1", "test")), "n", stage_type);
    let inputs: Vec<Option<&dyn StateValue>> =
        values.iter().map(|v| v.as_ref().map(|v| v as &dyn StateValue)).collect();
    let keys: Vec<&str> = meta.inputs().iter().map(|i| i.key).collect();
    let config = config.map(|c| Arc::new(c) as stage_core::ConfigValue);
    let out = meta.invoke(&StageArgs::new(&ctx, &inputs, &keys, config.as_ref(), &[]));
    out.map(|v| v.map(|v| v.downcast_ref::<Vec<u64>>().unwrap()[0])).map_err(|e| e.to_string())
}

fn main() {
    let meta = StageRegistry::global().get_metadata("sum-12").unwrap();
    assert_eq!(meta.inputs().len(), 12);
    assert_eq!(meta.inputs()[11].key, "l");
    assert!(!meta.inputs()[11].required);
    assert!(meta.may_skip());

    let ones = [Some(1); 12];
    assert_eq!(run("sum-12", &ones, None), Ok(Some(12)));
    let mut last_absent = ones;
    last_absent[11] = None;
    assert_eq!(run("sum-12", &last_absent, None), Ok(Some(11)));
    let mut one = [Some(0); 12];
    one[0] = Some(1);
    assert_eq!(run("sum-12", &one, None), Ok(None));
    assert_eq!(run("sum-12", &[Some(0); 12], None), Err("nothing to sum".to_owned()));
    let mut missing = ones;
    missing[3] = None;
    assert!(run("sum-12", &missing, None).unwrap_err().contains("`d`"));

    let meta = StageRegistry::global().get_metadata("sum-13").unwrap();
    assert_eq!(meta.inputs().len(), 11);
    assert!(meta.config().is_some());
    let ones = [Some(1); 11];
    assert_eq!(run("sum-13", &ones, Some(Bias { bias: 100 })), Ok(Some(11 + 1 + 100)));
    assert!(run("sum-13", &ones, None).unwrap_err().contains("Bias"));
    let mut missing = ones;
    missing[0] = None;
    assert!(run("sum-13", &missing, Some(Bias::default())).unwrap_err().contains("`a`"));
    assert_eq!(run("sum-13", &[Some(0); 11], Some(Bias::default())), Err("nothing to sum".to_owned()));
}
