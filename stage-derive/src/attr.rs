//! Parsing the attribute's arguments: one "set once" slot per argument.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{LitStr, Path, Token};

use crate::ctxt::Ctxt;
use crate::suggest;

pub(crate) const TYPE: &str = "type";
pub(crate) const STATE_KEY: &str = "state_key";
pub(crate) const DESCRIPTION: &str = "description";
pub(crate) const DEPENDENCIES: &str = "dependencies";
pub(crate) const VERSION: &str = "version";
pub(crate) const COUNTER: &str = "counter";
pub(crate) const HANDLER: &str = "handler";
pub(crate) const PARKS: &str = "parks";
pub(crate) const REPLACE: &str = "replace";
pub(crate) const TUPLE_VALUE: &str = "tuple_value";
pub(crate) const CRATE: &str = "crate";

const ALL: &[&str] = &[
    TYPE,
    STATE_KEY,
    DESCRIPTION,
    DEPENDENCIES,
    VERSION,
    COUNTER,
    HANDLER,
    PARKS,
    REPLACE,
    TUPLE_VALUE,
    CRATE,
];

/// An argument given at most once; the second occurrence is an error.
pub(crate) struct Slot<T> {
    name: &'static str,
    value: Option<(Span, T)>,
    /// Given, but its value was malformed (and reported): not "missing".
    invalid: bool,
}

impl<T> Slot<T> {
    fn new(name: &'static str) -> Self {
        Slot { name, value: None, invalid: false }
    }

    fn mark_invalid(&mut self) {
        self.invalid = true;
    }

    /// Whether the argument was written, even with a malformed value.
    pub(crate) fn is_given(&self) -> bool {
        self.value.is_some() || self.invalid
    }

    fn set(&mut self, cx: &mut Ctxt, span: Span, value: T) {
        if self.value.is_some() {
            cx.error_at(span, format_args!("duplicate argument `{}`: give it once", self.name));
        } else {
            self.value = Some((span, value));
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(_, v)| v)
    }

    /// Where the argument was written.
    pub(crate) fn span(&self) -> Option<Span> {
        self.value.as_ref().map(|(s, _)| *s)
    }
}

/// `state_key = "k"` or `state_key = ["a", "b"]`.
pub(crate) enum KeySpec {
    One(LitStr),
    Many { span: Span, keys: Vec<LitStr> },
}

pub(crate) struct Args {
    /// The whole argument list, to point at when an argument is missing.
    pub(crate) tokens: TokenStream,
    pub(crate) stage_type: Slot<LitStr>,
    pub(crate) state_key: Slot<KeySpec>,
    pub(crate) description: Slot<LitStr>,
    pub(crate) dependencies: Slot<Vec<LitStr>>,
    pub(crate) version: Slot<LitStr>,
    pub(crate) counter: Slot<Path>,
    pub(crate) handler: Slot<Path>,
    pub(crate) parks: Slot<()>,
    pub(crate) replace: Slot<()>,
    /// A one-key stage that returns a tuple writes it whole under its key (otherwise an error:
    /// a tuple is the shape of a several-key stage).
    pub(crate) tuple_value: Slot<()>,
    pub(crate) krate: Slot<Path>,
}

fn lit_str(input: ParseStream<'_>, example: &str) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        input.parse()
    } else {
        let tokens: TokenStream = parse_rest_of_value(input);
        Err(syn::Error::new_spanned(tokens, format!("expected a string literal: `{example}`")))
    }
}

fn str_list(input: ParseStream<'_>, example: &str) -> syn::Result<(Span, Vec<LitStr>)> {
    if input.peek(syn::token::Bracket) {
        let content;
        let bracket = syn::bracketed!(content in input);
        let mut items = Vec::new();
        while !content.is_empty() {
            if !content.peek(LitStr) {
                let tokens: TokenStream = parse_until_comma(&content);
                return Err(syn::Error::new_spanned(
                    tokens,
                    format!("expected a string literal in the list: `{example}`"),
                ));
            }
            items.push(content.parse::<LitStr>()?);
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
        Ok((bracket.span.join(), items))
    } else {
        let tokens = parse_rest_of_value(input);
        Err(syn::Error::new_spanned(tokens, format!("expected a list of string literals: `{example}`")))
    }
}

fn parse_until_comma(input: ParseStream<'_>) -> TokenStream {
    let mut out = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        match input.parse::<proc_macro2::TokenTree>() {
            Ok(tt) => out.extend(std::iter::once(tt)),
            Err(_) => break,
        }
    }
    out
}

fn parse_rest_of_value(input: ParseStream<'_>) -> TokenStream {
    parse_until_comma(input)
}

fn path_value(input: ParseStream<'_>, example: &str) -> syn::Result<Path> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Err(syn::Error::new_spanned(lit, format!("expected a path, not a string: `{example}`")));
    }
    let fork = input.fork();
    match fork.call(Path::parse_mod_style) {
        Ok(_) => input.call(Path::parse_mod_style),
        Err(_) => {
            let tokens = parse_rest_of_value(input);
            Err(syn::Error::new_spanned(tokens, format!("expected a path: `{example}`")))
        }
    }
}

/// `name = value`: the value's input, or an error at the argument's name saying how to write it.
fn value<'a>(meta: &'a ParseNestedMeta<'_>, example: &str) -> syn::Result<ParseStream<'a>> {
    if meta.input.peek(Token![=]) {
        meta.value()
    } else {
        Err(meta.error(format_args!("expected a value: `{example}`")))
    }
}

impl Args {
    pub(crate) fn parse(cx: &mut Ctxt, tokens: TokenStream) -> Args {
        let mut args = Args {
            tokens: tokens.clone(),
            stage_type: Slot::new(TYPE),
            state_key: Slot::new(STATE_KEY),
            description: Slot::new(DESCRIPTION),
            dependencies: Slot::new(DEPENDENCIES),
            version: Slot::new(VERSION),
            counter: Slot::new(COUNTER),
            handler: Slot::new(HANDLER),
            parks: Slot::new(PARKS),
            replace: Slot::new(REPLACE),
            tuple_value: Slot::new(TUPLE_VALUE),
            krate: Slot::new(CRATE),
        };
        let parser = syn::meta::parser(|meta| {
            let name = meta.path.to_token_stream().to_string().replace(' ', "");
            // A malformed value is reported and skipped, so the next arguments are still
            // checked and the argument does not also count as missing.
            if let Err(e) = args.parse_one(cx, &meta, &name) {
                cx.syn_error(e);
                let _ = parse_until_comma(meta.input);
                args.mark_invalid(&name);
            }
            Ok(())
        });
        if let Err(e) = syn::parse::Parser::parse2(parser, tokens) {
            cx.syn_error(e);
        }
        args
    }

    fn mark_invalid(&mut self, name: &str) {
        match name {
            TYPE => self.stage_type.mark_invalid(),
            STATE_KEY => self.state_key.mark_invalid(),
            DESCRIPTION => self.description.mark_invalid(),
            DEPENDENCIES => self.dependencies.mark_invalid(),
            VERSION => self.version.mark_invalid(),
            COUNTER => self.counter.mark_invalid(),
            HANDLER => self.handler.mark_invalid(),
            PARKS => self.parks.mark_invalid(),
            REPLACE => self.replace.mark_invalid(),
            TUPLE_VALUE => self.tuple_value.mark_invalid(),
            CRATE => self.krate.mark_invalid(),
            _ => {}
        }
    }

    fn parse_one(&mut self, cx: &mut Ctxt, meta: &ParseNestedMeta<'_>, name: &str) -> syn::Result<()> {
        let span = meta.path.span_or_tokens();
        match name {
            TYPE => {
                let example = "type = \"my-stage\"";
                let v = lit_str(value(meta, example)?, example)?;
                self.stage_type.set(cx, span, v);
            }
            STATE_KEY => {
                let example = "state_key = \"chunks\"` or `state_key = [\"entities\", \"claims\"]";
                let input = value(meta, example)?;
                let v = if input.peek(syn::token::Bracket) {
                    let (span, keys) = str_list(input, example)?;
                    KeySpec::Many { span, keys }
                } else if input.peek(LitStr) {
                    KeySpec::One(input.parse()?)
                } else {
                    let tokens = parse_rest_of_value(input);
                    return Err(syn::Error::new_spanned(
                        tokens,
                        format!("expected a string or a list of strings: `{example}`"),
                    ));
                };
                self.state_key.set(cx, span, v);
            }
            DESCRIPTION => {
                let example = "description = \"What the stage does.\"";
                let v = lit_str(value(meta, example)?, example)?;
                self.description.set(cx, span, v);
            }
            DEPENDENCIES => {
                let example = "dependencies = [\"extract\", \"@ledger\"]";
                let (_, v) = str_list(value(meta, example)?, example)?;
                self.dependencies.set(cx, span, v);
            }
            VERSION => {
                let example = "version = \"1.2.0\"";
                let v = lit_str(value(meta, example)?, example)?;
                self.version.set(cx, span, v);
            }
            COUNTER => {
                let example = "counter = my_module::count_items";
                let v = path_value(value(meta, example)?, example)?;
                self.counter.set(cx, span, v);
            }
            HANDLER => {
                let example = "handler = my_module::write_output";
                let v = path_value(value(meta, example)?, example)?;
                self.handler.set(cx, span, v);
            }
            PARKS | REPLACE | TUPLE_VALUE => {
                if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
                    let _eq: Option<Token![=]> = meta.input.parse()?;
                    let tokens = parse_rest_of_value(meta.input);
                    return Err(syn::Error::new_spanned(
                        tokens,
                        format!("`{name}` is a flag and takes no value: write `{name}` alone"),
                    ));
                }
                let slot = match name {
                    PARKS => &mut self.parks,
                    REPLACE => &mut self.replace,
                    _ => &mut self.tuple_value,
                };
                slot.set(cx, span, ());
            }
            CRATE => {
                let example = "crate = ::my_renamed_stage_core";
                let v = path_value(value(meta, example)?, example)?;
                self.krate.set(cx, span, v);
            }
            _ => {
                let hint = match suggest::nearest(name, ALL) {
                    Some(n) => format!("; did you mean `{n}`?"),
                    None => format!("; valid arguments: {}", ALL.join(", ")),
                };
                // Skip the value, if any, so the next arguments are still checked.
                let _ = parse_until_comma(meta.input);
                cx.error_at(span, format_args!("unknown argument `{name}`{hint}"));
            }
        }
        Ok(())
    }
}

trait SpanOrTokens {
    fn span_or_tokens(&self) -> Span;
}

impl SpanOrTokens for Path {
    fn span_or_tokens(&self) -> Span {
        syn::spanned::Spanned::span(self)
    }
}
