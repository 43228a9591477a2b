//! Code generation: the metadata constant, the call glue and the registration static. Little
//! is generated: the glue is one call of a shared function of stage-core's `__private`.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Item, ItemFn, Type};

use crate::ast::{self, ParamKind, RetKind, StageFn};
use crate::attr::Args;
use crate::ctxt::Ctxt;
use crate::{fallback, valid};

pub(crate) fn stage(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let parsed_args = Args::parse(&mut cx, args);
    // The usual case, a function: its signature is parsed, its body passed through unparsed
    // (nothing here reads it).
    if let Ok(FnWithBody { item, body }) = syn::parse2::<FnWithBody>(input.clone()) {
        let f = StageFn::from_item(&mut cx, &item);
        valid::check(&mut cx, &parsed_args, &f);
        if let Err(errors) = cx.check() {
            return fallback::expand(input, errors);
        }
        return generate(&parsed_args, &f, Some(&body));
    }
    let item = match syn::parse2::<Item>(input.clone()) {
        Ok(Item::Fn(f)) => f,
        Ok(other) => {
            cx.error_spanned_by(
                item_head(&other),
                "`#[stage]` goes on a function: `#[stage(type = \"...\")] fn my_stage(..) -> T { .. }`",
            );
            let errors = cx.check().err().unwrap_or_default();
            return quote!(#input #errors);
        }
        Err(e) => {
            cx.syn_error(e);
            let errors = cx.check().err().unwrap_or_default();
            return quote!(#input #errors);
        }
    };
    let f = StageFn::from_item(&mut cx, &item);
    valid::check(&mut cx, &parsed_args, &f);
    if let Err(errors) = cx.check() {
        return fallback::expand(input, errors);
    }
    generate(&parsed_args, &f, None)
}

/// A function item, its body kept as tokens: `item` has an empty block.
struct FnWithBody {
    item: ItemFn,
    body: Group,
}

impl Parse for FnWithBody {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(syn::Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body: Group = input.parse()?;
        if body.delimiter() != Delimiter::Brace || !input.is_empty() {
            return Err(input.error("expected a function body"));
        }
        let block = syn::Block { brace_token: syn::token::Brace(body.delim_span()), stmts: Vec::new() };
        Ok(FnWithBody { item: ItemFn { attrs, vis, sig, block: Box::new(block) }, body })
    }
}

fn item_head(item: &Item) -> TokenStream {
    match item {
        Item::Struct(s) => {
            let (k, i) = (&s.struct_token, &s.ident);
            quote!(#k #i)
        }
        Item::Enum(e) => {
            let (k, i) = (&e.enum_token, &e.ident);
            quote!(#k #i)
        }
        Item::Impl(i) => {
            let k = &i.impl_token;
            quote!(#k)
        }
        Item::Static(s) => {
            let (k, i) = (&s.static_token, &s.ident);
            quote!(#k #i)
        }
        Item::Const(c) => {
            let (k, i) = (&c.const_token, &c.ident);
            quote!(#k #i)
        }
        Item::Mod(m) => {
            let (k, i) = (&m.mod_token, &m.ident);
            quote!(#k #i)
        }
        Item::Trait(t) => {
            let (k, i) = (&t.trait_token, &t.ident);
            quote!(#k #i)
        }
        other => quote!(#other),
    }
}

/// Parameters a stage may have for its call to go through one shared call function in
/// `stage_core::__private` (`call<N>`, `call<N>_opt`, `call<N>_res`, `call<N>_res_opt`); a
/// stage with more gets its call written out in its glue.
const MAX_SHARED_CALL_ARITY: usize = 12;

fn generate(args: &Args, f: &StageFn<'_>, body: Option<&Group>) -> TokenStream {
    let krate: TokenStream = match args.krate.get() {
        Some(path) => quote!(#path),
        None => quote!(::stage_core),
    };
    let p = quote!(#krate::__private);
    let fn_name = &f.item.sig.ident;
    let static_name = static_name(fn_name);

    let stage_type = args.stage_type.get().expect("validated").value();
    let description = match args.description.get() {
        Some(lit) => lit.value(),
        None => f.doc.clone().expect("validated"),
    };
    let version = match args.version.get() {
        Some(lit) => quote!(#lit),
        None => quote!(#p::core::env!("CARGO_PKG_VERSION")),
    };

    // Everything below is type-checked as one body (the static's initializer, with closures
    // rather than nested items), each check spanned at the type it is about: a type that breaks
    // a rule is then reported once, at that type, and not once per place the generated code
    // uses it.

    let core = quote!(#p::core);
    // Per parameter: the metadata describing it, and how the glue fetches it (a shared,
    // per-type function of `__private`, and the same fetch written out for the long form).
    let mut fetchers = Vec::new();
    let mut call_args = Vec::new();
    let mut inputs = Vec::new();
    let mut resources = Vec::new();
    let mut config = None;
    for param in &f.params {
        match &param.kind {
            ParamKind::Context => {
                fetchers.push(quote!(#p::fetch_context));
                call_args.push(quote!(#p::StageArgs::context(__args)));
            }
            ParamKind::Input { key, ty, required, slice } => {
                let i = inputs.len();
                let span = ty.span();
                let (spec, fetch, method) = if *required {
                    ("required", "fetch_input", "input")
                } else {
                    ("optional", "fetch_optional_input", "optional_input")
                };
                let (spec, fetch, method) =
                    (Ident::new(spec, span), Ident::new(fetch, span), Ident::new(method, span));
                // A `&[T]` input reads the `Vec<T>` stored under its key, lent as a slice.
                let stored = if *slice { quote_spanned!(span=> ::std::vec::Vec<#ty>) } else { quote!(#ty) };
                inputs.push(quote_spanned!(span=> #krate::InputSpec::#spec::<#stored>(#key)));
                fetchers.push(if *slice {
                    let fetch = Ident::new(&fetch.to_string().replace("input", "slice_input"), span);
                    quote_spanned!(span=> #p::#fetch::<#ty, #i>)
                } else {
                    quote_spanned!(span=> #p::#fetch::<#stored, #i>)
                });
                let arg = quote_spanned!(span=> #p::StageArgs::#method::<#stored>(__args, #i)?);
                call_args.push(match (*slice, *required) {
                    (false, _) => arg,
                    (true, true) => quote_spanned!(span=> ::std::vec::Vec::as_slice(#arg)),
                    (true, false) => {
                        quote_spanned!(span=> ::std::option::Option::map(#arg, ::std::vec::Vec::as_slice))
                    }
                });
            }
            ParamKind::Config { ty } => {
                let span = ty.span();
                config = Some(quote_spanned!(span=> #krate::ConfigSpec::of::<#ty>()));
                fetchers.push(quote_spanned!(span=> #p::fetch_config::<#ty>));
                call_args.push(quote_spanned!(span=> #p::StageArgs::config::<#ty>(__args)?));
            }
            ParamKind::Resource { ty } => {
                let i = resources.len();
                let span = ty.span();
                resources.push(quote_spanned!(span=> #krate::ResourceSpec::of::<#ty>()));
                fetchers.push(quote_spanned!(span=> #p::fetch_resource::<#ty, #i>));
                call_args.push(quote_spanned!(span=> #p::StageArgs::resource::<#ty>(__args, #i)?));
            }
        }
    }

    // The return: the value written, and one output type per key.
    let unit: Type = syn::parse_quote!(());
    let value_ty: &Type = f.ret.value.unwrap_or(&unit);
    let value_span = f.ret.value.map(|t| t.span()).unwrap_or_else(|| fn_name.span());
    let keys: Vec<String> = valid::keys(args).iter().map(|k| k.value()).collect();
    let element_types: Vec<&Type> = match (keys.len(), value_ty) {
        (0 | 1, ty) => vec![ty],
        (_, Type::Tuple(t)) => t.elems.iter().collect(),
        (_, Type::Paren(p)) => vec![&*p.elem],
        _ => vec![value_ty],
    };
    let outputs = element_types.iter().map(|ty| {
        let span = ty.span();
        quote_spanned!(span=> #krate::OutputType::of::<#ty>())
    });
    let state_value_checks = element_types.iter().map(|ty| {
        let span = ty.span();
        quote_spanned!(span=> let _: fn(&#ty) -> &dyn #krate::StateValue = |__v| __v;)
    });
    let may_skip = f.ret.kind.may_skip();
    let state_key = match keys.as_slice() {
        [] => quote!(#krate::StateKey::None),
        [one] if matches!(args.state_key.get(), Some(crate::attr::KeySpec::One(_))) => {
            quote!(#krate::StateKey::One(#one))
        }
        many => quote!(#krate::StateKey::Many(&[#(#many),*])),
    };

    // The output handler and counter: a name for listings, and the function.
    let handler = match (args.handler.get(), keys.len()) {
        (Some(path), _) => {
            let name = path_string(path);
            let span = path.span();
            // Spanned whole at the path (the crate path too): a function of the wrong type is
            // reported there, with no label on the attribute.
            let p = respan(p.clone(), span);
            quote_spanned! {span=>
                #name, |__v, __keys, __sink| #p::apply_with::<#value_ty>(__v, __keys, __sink, #path)
            }
        }
        (None, 0) => quote!("none", #p::apply_none),
        (None, 1) if matches!(args.state_key.get(), Some(crate::attr::KeySpec::One(_))) => {
            quote!("default", #p::apply_one)
        }
        (None, _) => quote_spanned!(value_span=> "default", #p::apply_split::<#value_ty>),
    };
    let counter = match args.counter.get() {
        Some(path) => {
            let name = path_string(path);
            let span = path.span();
            let p = respan(p.clone(), span);
            quote_spanned!(span=> #name, |__v| #p::count_with::<#value_ty>(__v, #path))
        }
        None => quote_spanned!(value_span=> "default", #p::count_default::<#value_ty>),
    };

    // The conversion of the return, taken apart here rather than through `Returns<Kind>` on
    // the whole return type, so that a bad value type is reported at the value type (as
    // `StateValue`) and a bad error type at the error type (as `StageFailure`).
    let write = quote_spanned!(value_span=> <#value_ty as #p::Returns<#p::kind::Plain>>::into_output);
    // Spanned whole at the error type (the crate path too), so a bad `E` is reported there
    // alone, with `StageFailure`'s message, and no label on the attribute.
    let fail_span = f.ret.error.map(|t| t.span()).unwrap_or(value_span);
    let p_fail = respan(p.clone(), fail_span);
    let into_stage_error = match f.ret.error {
        Some(e) => quote_spanned!(fail_span=> <#e as #p_fail::StageFailure>::into_stage_error),
        None => quote_spanned!(fail_span=> #p_fail::StageFailure::into_stage_error),
    };
    let invoke = if fetchers.len() <= MAX_SHARED_CALL_ARITY {
        // The glue is one call of a shared function (one instance per signature), given the
        // stage function as a pointer and the argument fetchers and the conversions (one
        // instance per type): little code per stage for the compiler to check and generate.
        let n = fetchers.len();
        let (call, fail) = match f.ret.kind {
            RetKind::Plain => (format_ident!("call{}", n), None),
            RetKind::Opt => (format_ident!("call{}_opt", n), None),
            RetKind::Res => (format_ident!("call{}_res", n), Some(&into_stage_error)),
            RetKind::ResOpt => (format_ident!("call{}_res_opt", n), Some(&into_stage_error)),
        };
        let fail = fail.map(|fail| quote!(, #fail));
        quote!(|__args| #p::#call(__args, #fn_name, #(#fetchers,)* #write #fail))
    } else {
        // More parameters than the shared call functions take: the call written out.
        let ret_ty: &Type = f.ret.full.unwrap_or(&unit);
        let fail = quote_spanned!(fail_span=> #core::result::Result::Err(#into_stage_error(__e)));
        let convert = match f.ret.kind {
            RetKind::Plain => quote!(#write(__ret)),
            RetKind::Opt => quote! {
                match __ret {
                    #core::option::Option::Some(__v) => #write(__v),
                    #core::option::Option::None => #core::result::Result::Ok(#core::option::Option::None),
                }
            },
            RetKind::Res => quote! {
                match __ret {
                    #core::result::Result::Ok(__v) => #write(__v),
                    #core::result::Result::Err(__e) => #fail,
                }
            },
            RetKind::ResOpt => quote! {
                match __ret {
                    #core::result::Result::Ok(#core::option::Option::Some(__v)) => #write(__v),
                    #core::result::Result::Ok(#core::option::Option::None) => {
                        #core::result::Result::Ok(#core::option::Option::None)
                    }
                    #core::result::Result::Err(__e) => #fail,
                }
            },
        };
        quote! {
            |__args| {
                let __ret: #ret_ty = #fn_name(#(#call_args),*);
                #convert
            }
        }
    };

    let dependencies = args.dependencies.get().map(|deps| quote!(#(#deps),*));
    let config = match config {
        Some(c) => quote!(#core::option::Option::Some(#c)),
        None => quote!(#core::option::Option::None),
    };
    let parks = args.parks.get().is_some();
    let replaces = args.replace.get().is_some();

    let mut item: ItemFn = f.item.clone();
    ast::strip_param_attrs(&mut item);
    // Inputs are `&T` with `T` the stored type: a `&Vec<T>` input cannot be the `&[T]` clippy
    // asks for (a slice is not a state value).
    item.attrs.push(
        syn::parse_quote!(#[allow(clippy::ptr_arg, reason = "`#[stage]` binds inputs by their stored type")]),
    );
    // The stage's body is compiled once, as the function: never inlined into its call glue
    // (which would compile it a second time, for no gain: the glue is called through a
    // pointer). A function with an `#[inline]` attribute of its own keeps it.
    if !item.attrs.iter().any(|a| a.path().is_ident("inline")) {
        item.attrs.push(syn::parse_quote!(#[inline(never)]));
    }
    // The function as written: its body passed through unparsed when it was not parsed.
    let item = match body {
        Some(body) => {
            let (attrs, vis, sig) = (&item.attrs, &item.vis, &item.sig);
            quote!(#(#attrs)* #vis #sig #body)
        }
        None => quote!(#item),
    };
    let vis = &f.item.vis;
    let fn_span = fn_name.span();
    let location = quote_spanned! {fn_span=>
        #p::core::env!("CARGO_PKG_NAME"),
        #p::core::module_path!(),
        #p::core::file!(),
        #p::core::line!(),
    };

    quote! {
        #item

        #[doc(hidden)]
        #[allow(non_upper_case_globals, reason = "named after the stage function")]
        #[#p::linkme::distributed_slice(#p::STAGE_CORE_STAGE_REGISTRY)]
        #[linkme(crate = #p::linkme)]
        #vis static #static_name: #krate::StageMetadata = {
            // First, so that an output type that is not a state value is reported with
            // `StateValue`'s message (the later uses of the type, at the same span, are not).
            #(#state_value_checks)*
            // The slices are promoted to statics of their own by the compiler.
            let __outputs: &[#krate::OutputType] = &[#(#outputs),*];
            let __inputs: &[#krate::InputSpec] = &[#(#inputs),*];
            let __config: #core::option::Option<#krate::ConfigSpec> = #config;
            let __resources: &[#krate::ResourceSpec] = &[#(#resources),*];
            // After the descriptors, which report a bad type with the rule's own message.
            let __invoke: #p::InvokeFn = #invoke;
            #krate::StageMetadata::__from_macro(
                __outputs,
                __inputs,
                __config,
                __resources,
                __invoke,
                #stage_type,
                #description,
                #state_key,
                #may_skip,
                &[#dependencies],
                #version,
                #handler,
                #counter,
                #parks,
                #replaces,
                #location
            )
        };
    }
}

/// The name of the static holding a stage function's metadata.
pub(crate) fn static_name(fn_name: &Ident) -> Ident {
    format_ident!("__STAGE_CORE_REGISTRATION_{}", fn_name.to_string().trim_start_matches("r#"))
}

/// `registration!(path::to::stage_fn)`: a reference to that stage's metadata static.
pub(crate) fn registration(input: TokenStream) -> TokenStream {
    let mut path: syn::Path = match syn::parse2(input) {
        Ok(p) => p,
        Err(e) => {
            return syn::Error::new(
                e.span(),
                "expected the path of a `#[stage]` function: `registration!(my_crate::my_stage)`",
            )
            .to_compile_error()
        }
    };
    let last = path.segments.last_mut().expect("a path has a segment");
    last.ident = static_name(&last.ident);
    quote!(&#path)
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

fn path_string(path: &syn::Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}
