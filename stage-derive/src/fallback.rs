//! What to emit when the attribute is misused: the user's function, unchanged but for the
//! parameter markers, plus the errors. Editors keep seeing the function, and no second wave
//! of errors ("cannot find attribute `config`") hides the real ones.

use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn expand(input: TokenStream, errors: TokenStream) -> TokenStream {
    match syn::parse2::<syn::ItemFn>(input.clone()) {
        Ok(mut item) => {
            crate::ast::strip_param_attrs(&mut item);
            quote!(#item #errors)
        }
        Err(_) => quote!(#input #errors),
    }
}
