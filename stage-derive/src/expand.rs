//! Code generation: the metadata static, the call glue and the registration. Little is
//! generated: the glue is stage-core's traits.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Item, ItemFn, Type};

use crate::ast::{self, ParamKind, StageFn};
use crate::attr::Args;
use crate::ctxt::Ctxt;
use crate::{fallback, valid};

pub(crate) fn stage(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let parsed_args = Args::parse(&mut cx, args);
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
    generate(&parsed_args, &f)
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

fn generate(args: &Args, f: &StageFn<'_>) -> TokenStream {
    let krate: TokenStream = match args.krate.get() {
        Some(path) => quote!(#path),
        None => quote!(::stage_core),
    };
    let p = quote!(#krate::__private);
    let fn_name = &f.item.sig.ident;
    let static_name =
        format_ident!("__STAGE_CORE_REGISTRATION_{}", fn_name.to_string().trim_start_matches("r#"));

    let stage_type = args.stage_type.get().expect("validated").value();
    let description = match args.description.get() {
        Some(lit) => lit.value(),
        None => f.doc.clone().expect("validated"),
    };
    let version = match args.version.get() {
        Some(lit) => quote!(#lit),
        None => quote!(#p::core::env!("CARGO_PKG_VERSION")),
    };

    // Arguments, in parameter order, and the metadata describing them.
    let mut call_args = Vec::new();
    let mut inputs = Vec::new();
    let mut resources = Vec::new();
    let mut config = None;
    for param in &f.params {
        match &param.kind {
            ParamKind::Context => call_args.push(quote!(__args.context())),
            ParamKind::Input { key, ty, required } => {
                let i = inputs.len();
                let span = ty.span();
                let (spec, fetch) = if *required {
                    (quote!(required), quote!(input))
                } else {
                    (quote!(optional), quote!(optional_input))
                };
                inputs.push(quote_spanned!(span=> #krate::InputSpec::#spec::<#ty>(#key)));
                call_args.push(quote_spanned!(span=> __args.#fetch::<#ty>(#i)?));
            }
            ParamKind::Config { ty } => {
                let span = ty.span();
                config = Some(quote_spanned!(span=> .with_config(#krate::ConfigSpec::of::<#ty>())));
                call_args.push(quote_spanned!(span=> __args.config::<#ty>()?));
            }
            ParamKind::Resource { ty } => {
                let i = resources.len();
                let span = ty.span();
                resources.push(quote_spanned!(span=> #krate::ResourceSpec::of::<#ty>()));
                call_args.push(quote_spanned!(span=> __args.resource::<#ty>(#i)?));
            }
        }
    }

    // The return: its kind, the value written, and one output type per key.
    let unit: Type = syn::parse_quote!(());
    let ret_ty: &Type = f.ret.full.unwrap_or(&unit);
    let value_ty: &Type = f.ret.value.unwrap_or(&unit);
    let ret_span = f.ret.full.map(|t| t.span()).unwrap_or_else(|| fn_name.span());
    let kind = Ident::new(f.ret.kind.marker(), Span::call_site());
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
    let may_skip = f.ret.kind.may_skip();
    let state_key = match keys.as_slice() {
        [] => quote!(#krate::StateKey::None),
        [one] if matches!(args.state_key.get(), Some(crate::attr::KeySpec::One(_))) => {
            quote!(#krate::StateKey::One(#one))
        }
        many => quote!(#krate::StateKey::Many(&[#(#many),*])),
    };

    let handler = match (args.handler.get(), keys.len()) {
        (Some(path), _) => {
            let name = path_string(path);
            let span = path.span();
            quote_spanned! {span=>
                #krate::OutputHandler { name: #name, apply: {
                    fn __apply(
                        v: #krate::SharedValue, keys: &[&str], sink: &mut #krate::OutputSink,
                    ) -> #p::core::result::Result<(), #krate::StageError> {
                        #p::apply_with::<#value_ty>(v, keys, sink, #path)
                    }
                    __apply
                } }
            }
        }
        (None, 0) => quote!(#krate::OutputHandler { name: "none", apply: #p::apply_none }),
        (None, 1) if matches!(args.state_key.get(), Some(crate::attr::KeySpec::One(_))) => {
            quote!(#krate::OutputHandler { name: "default", apply: #p::apply_one })
        }
        (None, _) => {
            quote_spanned!(ret_span=> #krate::OutputHandler { name: "default", apply: #p::apply_split::<#value_ty> })
        }
    };
    let counter = match args.counter.get() {
        Some(path) => {
            let name = path_string(path);
            let span = path.span();
            quote_spanned! {span=>
                #krate::OutputCounter { name: #name, count: {
                    fn __count(v: &dyn #krate::StateValue) -> #p::core::result::Result<u64, ::std::string::String> {
                        #p::count_with::<#value_ty>(v, #path)
                    }
                    __count
                } }
            }
        }
        None => {
            quote_spanned!(ret_span=> #krate::OutputCounter { name: "default", count: #p::count_default::<#value_ty> })
        }
    };

    let dependencies = args.dependencies.get().map(|deps| quote!(.with_dependencies(&[#(#deps),*])));
    let parks = args.parks.get().is_some();
    let replaces = args.replace.get().is_some();
    let convert = quote_spanned! {ret_span=>
        <#ret_ty as #p::Returns<#p::kind::#kind>>::into_output(__ret)
    };

    let mut item: ItemFn = f.item.clone();
    ast::strip_param_attrs(&mut item);
    let fn_span = fn_name.span();
    let location = quote_spanned! {fn_span=>
        #krate::Location {
            crate_name: #p::core::env!("CARGO_PKG_NAME"),
            module_path: #p::core::module_path!(),
            file: #p::core::file!(),
            line: #p::core::line!(),
        }
    };

    quote! {
        #item

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        #[#p::linkme::distributed_slice(#p::STAGE_CORE_STAGE_REGISTRY)]
        #[linkme(crate = #p::linkme)]
        static #static_name: #krate::StageMetadata = {
            fn __invoke(__args: &#p::StageArgs<'_>) -> #p::InvokeResult {
                let __ret: #ret_ty = #fn_name(#(#call_args),*);
                #convert
            }
            const __INPUTS: &[#krate::InputSpec] = &[#(#inputs),*];
            const __OUTPUTS: &[#krate::OutputType] = &[#(#outputs),*];
            const __RESOURCES: &[#krate::ResourceSpec] = &[#(#resources),*];
            #krate::StageMetadata::new(#stage_type, #description, __invoke, #location)
                .with_state_key(#state_key)
                .with_inputs(__INPUTS)
                .with_outputs(__OUTPUTS, #may_skip)
                .with_resources(__RESOURCES)
                #config
                #dependencies
                .with_version(#version)
                .with_output_handler(#handler)
                .with_output_counter(#counter)
                .with_parks(#parks)
                .with_replaces(#replaces)
                .__macro_checked()
        };
    }
}

fn path_string(path: &syn::Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}
