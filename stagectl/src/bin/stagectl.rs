//! The reference host: links the built-in stages and the example de-identification plugin.

// Linking a plugin crate is what registers its stages: name each once.
use deid_plugin as _;
use stages_builtin as _;

fn main() -> std::process::ExitCode {
    stagectl::main()
}
