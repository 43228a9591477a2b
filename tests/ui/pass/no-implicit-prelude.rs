// The generated code names everything by absolute path: it compiles where the prelude is off.
#[no_implicit_prelude]
mod stages {
    /// Splits a text into words.
    #[::stage_core::stage(type = "split-words", state_key = ["words", "count"])]
    pub fn split_words(
        text: &::std::string::String,
    ) -> ::std::result::Result<
        ::std::option::Option<(::std::vec::Vec<::std::string::String>, ::std::vec::Vec<usize>)>,
        ::std::fmt::Error,
    > {
        let words: ::std::vec::Vec<::std::string::String> = ::std::iter::Iterator::collect(
            ::std::iter::Iterator::map(text.split_whitespace(), ::std::borrow::ToOwned::to_owned),
        );
        let n = words.len();
        ::std::result::Result::Ok(::std::option::Option::Some((words, ::std::vec![n])))
    }
}

fn main() {
    let meta = stage_core::StageRegistry::global().get_metadata("split-words").unwrap();
    assert_eq!(meta.state_key().keys(), ["words", "count"]);
    assert!(meta.may_skip());
    let _ = stages::split_words;
}
