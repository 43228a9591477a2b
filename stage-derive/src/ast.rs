//! A typed view of the user's function: parameters classified, return type taken apart.

use syn::{Attribute, FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type};

use crate::ctxt::Ctxt;

pub(crate) const CONFIG_ATTR: &str = "config";
pub(crate) const RESOURCE_ATTR: &str = "resource";

pub(crate) enum ParamKind<'a> {
    Context,
    /// An input read from the run state. For `&[T]` (`slice`), `ty` is the element type `T`
    /// and the stored value is a `Vec<T>`, lent as a slice.
    Input {
        key: String,
        ty: &'a Type,
        required: bool,
        slice: bool,
    },
    Config {
        ty: &'a Type,
    },
    Resource {
        ty: &'a Type,
    },
}

pub(crate) struct Param<'a> {
    pub(crate) kind: ParamKind<'a>,
    /// The whole parameter type, for spans.
    pub(crate) ty: &'a Type,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetKind {
    Plain,
    Opt,
    Res,
    ResOpt,
}

impl RetKind {
    pub(crate) fn may_skip(self) -> bool {
        matches!(self, RetKind::Opt | RetKind::ResOpt)
    }
}

pub(crate) struct Return<'a> {
    pub(crate) kind: RetKind,
    /// The written return type; `None` for `()`.
    pub(crate) full: Option<&'a Type>,
    /// The value written: the `T` in `T`, `Option<T>`, `Result<T, E>`, `Result<Option<T>, E>`.
    pub(crate) value: Option<&'a Type>,
    /// The `E` of a `Result<T, E>`, when written.
    pub(crate) error: Option<&'a Type>,
}

pub(crate) struct StageFn<'a> {
    pub(crate) item: &'a ItemFn,
    pub(crate) params: Vec<Param<'a>>,
    pub(crate) ret: Return<'a>,
    pub(crate) doc: Option<String>,
}

/// The last path segment's name and its generic arguments, for `a::b::Name<Args>`.
fn last_segment(ty: &Type) -> Option<(&syn::Ident, &PathArguments)> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| (&s.ident, &s.arguments)),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

fn type_args(args: &PathArguments) -> Vec<&Type> {
    match args {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `Name<T, ..>` → the type arguments, when the last segment is `name`.
fn generic_of<'a>(ty: &'a Type, name: &str) -> Option<Vec<&'a Type>> {
    let (ident, args) = last_segment(ty)?;
    (ident == name).then(|| type_args(args))
}

fn is_context(ty: &Type) -> bool {
    matches!(last_segment(ty), Some((ident, PathArguments::None)) if ident == "StageContext")
}

pub(crate) fn doc_of(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta {
            if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &nv.value {
                let v = s.value();
                lines.push(v.strip_prefix(' ').unwrap_or(&v).trim_end().to_owned());
            }
        }
    }
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Tokens as the user would write them: `Vec<String>`, not `Vec < String >`.
pub(crate) fn tokens_string<T: quote::ToTokens>(t: &T) -> String {
    let mut s = t.to_token_stream().to_string();
    for (from, to) in
        [(" <", "<"), ("< ", "<"), (" >", ">"), (" ,", ","), (" :: ", "::"), (":: ", "::"), ("& ", "&")]
    {
        s = s.replace(from, to);
    }
    s
}

const PARAM_HELP: &str = "a stage parameter is one of: `ctx: &StageContext`, an input `name: &T` \
     (the state key `name`), an optional input `name: Option<&T>`, `#[config] cfg: &C`, or `#[resource] r: &R`";

fn param<'a>(cx: &mut Ctxt, arg: &'a FnArg) -> Option<Param<'a>> {
    let pt = match arg {
        FnArg::Receiver(r) => {
            cx.error_spanned_by(
                r,
                "a stage is a free function, not a method: move it out of the `impl` block",
            );
            return None;
        }
        FnArg::Typed(pt) => pt,
    };
    let ty = &*pt.ty;
    let config = pt.attrs.iter().find(|a| a.path().is_ident(CONFIG_ATTR));
    let resource = pt.attrs.iter().find(|a| a.path().is_ident(RESOURCE_ATTR));
    for a in &pt.attrs {
        for marker in [CONFIG_ATTR, RESOURCE_ATTR] {
            if a.path().is_ident(marker) && !matches!(a.meta, syn::Meta::Path(_)) {
                cx.error_spanned_by(
                    a,
                    format_args!("`#[{marker}]` takes no arguments: write `#[{marker}]` alone"),
                );
            }
        }
    }
    if let (Some(_), Some(r)) = (config, resource) {
        cx.error_spanned_by(
            r,
            "ambiguous parameter: it is marked both `#[config]` and `#[resource]`; keep one",
        );
        return None;
    }
    let referent = match ty {
        Type::Reference(r) if r.mutability.is_some() => {
            cx.error_spanned_by(
                ty,
                "stages read their parameters by shared reference: write `&T`, not `&mut T`, and return what the stage produces",
            );
            return None;
        }
        Type::Reference(r) => Some(&*r.elem),
        _ => None,
    };
    if config.is_some() || resource.is_some() {
        let marker = if config.is_some() { CONFIG_ATTR } else { RESOURCE_ATTR };
        return match referent {
            Some(inner) if config.is_some() => Some(Param { kind: ParamKind::Config { ty: inner }, ty }),
            Some(inner) => Some(Param { kind: ParamKind::Resource { ty: inner }, ty }),
            None => {
                let pat = &pt.pat;
                cx.error_spanned_by(
                    ty,
                    format_args!(
                        "a `#[{marker}]` parameter is borrowed, not taken by value: write `#[{marker}] {}: &{}`",
                        tokens_string(pat),
                        tokens_string(ty)
                    ),
                );
                None
            }
        };
    }
    if let Some(inner) = referent {
        if is_context(inner) {
            return Some(Param { kind: ParamKind::Context, ty });
        }
    }
    let key = match &*pt.pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
            let name = p.ident.to_string();
            name.strip_prefix("r#").unwrap_or(&name).to_owned()
        }
        other => {
            cx.error_spanned_by(
                other,
                "an input parameter must be a plain name: the name is the state key it reads (`document: &Document`)",
            );
            return None;
        }
    };
    if let Some(inner) = referent {
        let (inner, slice) = slice_element(inner);
        return Some(Param { kind: ParamKind::Input { key, ty: inner, required: true, slice }, ty });
    }
    if let Some(args) = generic_of(ty, "Option") {
        if let [Type::Reference(r)] = args.as_slice() {
            if r.mutability.is_none() {
                let (inner, slice) = slice_element(&r.elem);
                return Some(Param { kind: ParamKind::Input { key, ty: inner, required: false, slice }, ty });
            }
        }
        let inner = match args.as_slice() {
            [Type::Reference(r)] => tokens_string(&r.elem),
            [t] => tokens_string(t),
            _ => "T".to_owned(),
        };
        cx.error_spanned_by(
            ty,
            format_args!("an optional input is borrowed from the run state: write `{key}: Option<&{inner}>`"),
        );
        return None;
    }
    if let Type::ImplTrait(_) = ty {
        cx.error_spanned_by(ty, format_args!("unsupported parameter type `impl Trait`; {PARAM_HELP}"));
        return None;
    }
    cx.error_spanned_by(
        ty,
        format_args!(
            "unsupported parameter: inputs are borrowed from the run state, write `{key}: &{}`; {PARAM_HELP}",
            tokens_string(ty)
        ),
    );
    None
}

/// `[T]` → (`T`, true): a slice input is stored as a `Vec<T>`; any other type → (itself, false).
fn slice_element(ty: &Type) -> (&Type, bool) {
    match ty {
        Type::Slice(s) => (&s.elem, true),
        Type::Group(g) => slice_element(&g.elem),
        Type::Paren(p) => slice_element(&p.elem),
        _ => (ty, false),
    }
}

fn ret<'a>(cx: &mut Ctxt, output: &'a ReturnType) -> Return<'a> {
    let ty = match output {
        ReturnType::Default => return Return { kind: RetKind::Plain, full: None, value: None, error: None },
        ReturnType::Type(_, ty) => &**ty,
    };
    if let Type::Tuple(t) = ty {
        if t.elems.is_empty() {
            return Return { kind: RetKind::Plain, full: Some(ty), value: None, error: None };
        }
    }
    if let Type::ImplTrait(_) = ty {
        cx.error_spanned_by(
            ty,
            "a stage cannot return `impl Trait`: name the output type, it is stored in the run state",
        );
    }
    if let Some(args) = generic_of(ty, "Result") {
        let Some(ok) = args.first().copied() else {
            cx.error_spanned_by(ty, "write the `Result`'s type arguments: `Result<T, E>`");
            return Return { kind: RetKind::Res, full: Some(ty), value: None, error: None };
        };
        let error = args.get(1).copied();
        if let Some(inner) = generic_of(ok, "Option") {
            if let [inner] = inner.as_slice() {
                return Return { kind: RetKind::ResOpt, full: Some(ty), value: Some(inner), error };
            }
        }
        return Return { kind: RetKind::Res, full: Some(ty), value: Some(ok), error };
    }
    if let Some(args) = generic_of(ty, "Option") {
        if let [inner] = args.as_slice() {
            return Return { kind: RetKind::Opt, full: Some(ty), value: Some(inner), error: None };
        }
    }
    Return { kind: RetKind::Plain, full: Some(ty), value: Some(ty), error: None }
}

impl<'a> StageFn<'a> {
    pub(crate) fn from_item(cx: &mut Ctxt, item: &'a ItemFn) -> StageFn<'a> {
        let params = item.sig.inputs.iter().filter_map(|a| param(cx, a)).collect();
        StageFn { item, params, ret: ret(cx, &item.sig.output), doc: doc_of(&item.attrs) }
    }
}

/// Removes the `#[config]` / `#[resource]` markers, which are not real attributes.
pub(crate) fn strip_param_attrs(item: &mut ItemFn) {
    for arg in &mut item.sig.inputs {
        if let FnArg::Typed(pt) = arg {
            pt.attrs.retain(|a| !(a.path().is_ident(CONFIG_ATTR) || a.path().is_ident(RESOURCE_ATTR)));
        }
    }
}
