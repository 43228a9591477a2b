//! The `#[stage]` attribute of `stage-core`. Depend on `stage-core` and use
//! `stage_core::stage`; this crate's paths are not stable on their own.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod suggest;
mod valid;

use proc_macro::TokenStream;

/// Declares a pipeline stage and registers it. See the `stage_core` crate documentation.
#[proc_macro_attribute]
pub fn stage(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::stage(args.into(), input.into()).into()
}

/// A reference to the metadata `#[stage]` generated for a function: for building a registry
/// from an explicit list. Documented on `stage_core::registration`.
#[proc_macro]
pub fn registration(input: TokenStream) -> TokenStream {
    expand::registration(input.into()).into()
}
