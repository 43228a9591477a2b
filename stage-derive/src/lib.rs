//! The `#[stage]` attribute of `stage-core`. Depend on `stage-core` and use
//! `stage_core::stage`; this crate's paths are not stable on their own.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
// The naming rules are stage-core's own file, compiled here too (as serde_derive includes
// serde_derive_internals), so the macro and the runtime check the same rules; it uses only std.
#[path = "../../stage-core/src/naming.rs"]
#[expect(unreachable_pub, reason = "the shared file's items are `pub` in stage-core, crate-private here")]
mod naming;
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
