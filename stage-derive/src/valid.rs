//! Cross-field rules, one small function per rule.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{LitStr, Type};

use crate::ast::{ParamKind, StageFn};
use crate::attr::{Args, KeySpec};
use crate::ctxt::Ctxt;
use crate::naming::{is_identifier, is_valid_stage_type, RESERVED_KEYS};

pub(crate) fn check(cx: &mut Ctxt, args: &Args, f: &StageFn<'_>) {
    signature(cx, f);
    stage_type(cx, args);
    state_keys(cx, args);
    output_shape(cx, args, f);
    tuple_value_applies(cx, args, f);
    single_params(cx, f);
    dependencies(cx, args);
    description(cx, args, f);
    version(cx, args);
}

fn signature(cx: &mut Ctxt, f: &StageFn<'_>) {
    let sig = &f.item.sig;
    if let Some(t) = &sig.asyncness {
        cx.error_spanned_by(t, "a stage cannot be `async`: stages are synchronous functions and the runtime runs them on worker threads; remove `async`");
    }
    if let Some(t) = &sig.constness {
        cx.error_spanned_by(t, "a stage cannot be a `const fn`: remove `const`");
    }
    if let Some(t) = &sig.unsafety {
        cx.error_spanned_by(t, "a stage cannot be an `unsafe fn`: the runtime calls it with no safety contract; make it safe and use `unsafe` blocks inside");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "a stage cannot have an `extern` ABI: remove it");
    }
    if let Some(v) = &sig.variadic {
        cx.error_spanned_by(v, "a stage cannot be variadic: remove the `...`");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        cx.error_spanned_by(
            &sig.generics,
            "a stage cannot be generic: the registry needs one concrete function; write a stage per concrete type",
        );
    }
}

fn stage_type(cx: &mut Ctxt, args: &Args) {
    match args.stage_type.get() {
        // Given with a malformed value: already reported.
        None if args.stage_type.is_given() => {}
        None => {
            let msg =
                "missing argument `type`: name the stage type pipelines use, `#[stage(type = \"my-stage\")]`";
            // Point at the arguments written, not at the whole attribute, when there are any.
            if args.tokens.is_empty() {
                cx.error_at(Span::call_site(), msg);
            } else {
                cx.error_spanned_by(&args.tokens, msg);
            }
        }
        Some(lit) if !is_valid_stage_type(&lit.value()) => cx.error_spanned_by(
            lit,
            format_args!(
                "invalid stage type {:?}: use only ASCII letters, digits, `_` and `-` (^[A-Za-z0-9_-]+$)",
                lit.value()
            ),
        ),
        Some(_) => {}
    }
}

pub(crate) fn keys(args: &Args) -> Vec<&LitStr> {
    match args.state_key.get() {
        None => Vec::new(),
        Some(KeySpec::One(k)) => vec![k],
        Some(KeySpec::Many { keys, .. }) => keys.iter().collect(),
    }
}

fn state_keys(cx: &mut Ctxt, args: &Args) {
    if let Some(KeySpec::Many { span, keys }) = args.state_key.get() {
        if keys.is_empty() {
            cx.error_at(
                *span,
                "empty `state_key` list: omit `state_key` for a stage that writes no key, or list the keys",
            );
        }
    }
    let keys = keys(args);
    for (i, k) in keys.iter().enumerate() {
        let v = k.value();
        if !is_identifier(&v) {
            cx.error_spanned_by(k, format_args!("state key {v:?} is not an identifier: use letters, digits and `_`, not starting with a digit"));
        } else if RESERVED_KEYS.contains(&v.as_str()) {
            cx.error_spanned_by(
                k,
                format_args!(
                    "state key `{v}` is reserved: every run starts with {}; choose another key",
                    RESERVED_KEYS.join(", ")
                ),
            );
        }
        if keys[..i].iter().any(|o| o.value() == v) {
            cx.error_spanned_by(k, format_args!("state key `{v}` is listed twice: list each key once"));
        }
    }
}

fn output_shape(cx: &mut Ctxt, args: &Args, f: &StageFn<'_>) {
    let keys = keys(args);
    let value = f.ret.value;
    let ret_span = f.ret.full.map(|t| t.span()).unwrap_or_else(|| f.item.sig.ident.span());
    match (keys.len(), value) {
        (0, _) => {}
        (_, None) => cx.error_at(
            ret_span,
            format_args!(
                "the stage writes {} but returns nothing: return the value to write, or remove `state_key`",
                keys.iter().map(|k| format!("`{}`", k.value())).collect::<Vec<_>>().join(", ")
            ),
        ),
        (1, Some(ty)) => match strip_group(ty) {
            Type::Tuple(t) if !t.elems.is_empty() && args.tuple_value.get().is_none() => {
                let key = keys.first().map(|k| k.value()).unwrap_or_default();
                let n = t.elems.len();
                let names: Vec<String> = (1..=n).map(|i| format!("\"{key}_{i}\"")).collect();
                cx.error_spanned_by(
                    ty,
                    format_args!(
                        "`state_key` names one key, `{key}`, but the stage returns a {n}-tuple: to write one key per element, list {n} keys (`state_key = [{}]`); to store the tuple whole under `{key}`, mark the stage `#[stage(..., tuple_value)]`",
                        names.join(", ")
                    ),
                );
            }
            _ => {}
        },
        (n, Some(ty)) => match strip_group(ty) {
            Type::Tuple(t) if t.elems.len() == n => {}
            Type::Tuple(t) => cx.error_spanned_by(
                ty,
                format_args!(
                    "`state_key` lists {n} keys, so the stage returns a {n}-tuple (one element per key), but this tuple has {} element{}: make the keys and the tuple's elements match",
                    t.elems.len(),
                    if t.elems.len() == 1 { "" } else { "s" }
                ),
            ),
            _ => cx.error_spanned_by(
                ty,
                format_args!("`state_key` lists {n} keys, so the stage returns a {n}-tuple, one element per key: `({})`",
                    vec!["_"; n].join(", ")),
            ),
        },
    }
}

/// `tuple_value` only means something on a one-key stage that returns a tuple.
fn tuple_value_applies(cx: &mut Ctxt, args: &Args, f: &StageFn<'_>) {
    if args.tuple_value.get().is_none() {
        return;
    }
    let one_key = keys(args).len() == 1;
    let tuple =
        f.ret.value.is_some_and(|ty| matches!(strip_group(ty), Type::Tuple(t) if !t.elems.is_empty()));
    if !(one_key && tuple) {
        cx.error_at(
            args.tuple_value.span().unwrap_or_else(Span::call_site),
            "`tuple_value` applies to a stage with one `state_key` that returns a tuple: remove it",
        );
    }
}

fn strip_group(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => strip_group(&g.elem),
        Type::Paren(p) => strip_group(&p.elem),
        _ => ty,
    }
}

fn single_params(cx: &mut Ctxt, f: &StageFn<'_>) {
    let mut seen_context = false;
    let mut seen_config = false;
    for p in &f.params {
        match p.kind {
            ParamKind::Context if seen_context => cx.error_spanned_by(
                p.ty,
                "ambiguous parameter: a stage takes the context once; remove this `&StageContext`",
            ),
            ParamKind::Context => seen_context = true,
            ParamKind::Config { .. } if seen_config => cx.error_spanned_by(
                p.ty,
                "ambiguous parameter: a stage takes one `#[config]`; put every setting in one config type",
            ),
            ParamKind::Config { .. } => seen_config = true,
            _ => {}
        }
    }
}

fn dependencies(cx: &mut Ctxt, args: &Args) {
    let Some(deps) = args.dependencies.get() else { return };
    for (i, d) in deps.iter().enumerate() {
        let v = d.value();
        if !is_valid_stage_type(v.strip_prefix('@').unwrap_or(&v)) {
            cx.error_spanned_by(
                d,
                format_args!(
                    "dependency {v:?} is neither a stage type nor a resource: name a stage type (ASCII letters, digits, `_` and `-`: \"extract-text\") or a resource with `@` (\"@ledger\")"
                ),
            );
        }
        if deps[..i].iter().any(|o| o.value() == v) {
            cx.error_spanned_by(
                d,
                format_args!("dependency `{v}` is listed twice: list each dependency once"),
            );
        }
    }
}

fn description(cx: &mut Ctxt, args: &Args, f: &StageFn<'_>) {
    match args.description.get() {
        Some(lit) if lit.value().trim().is_empty() => {
            cx.error_spanned_by(lit, "the description is empty: say what the stage does")
        }
        Some(_) => {}
        None if f.doc.is_none() && !args.description.is_given() => cx.error_spanned_by(
            &f.item.sig.ident,
            format_args!(
                "stage `{}` has no description: add a doc comment (`/// What it does.`) or `description = \"...\"`",
                f.item.sig.ident
            ),
        ),
        None => {}
    }
}

fn version(cx: &mut Ctxt, args: &Args) {
    if let Some(lit) = args.version.get() {
        if lit.value().trim().is_empty() {
            cx.error_spanned_by(lit, "the version is empty: omit `version` to use the crate's version");
        }
    }
}
