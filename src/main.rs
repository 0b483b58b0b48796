//! `tapstack`: the command-line face of the stack. See `tapstack --help`.

mod cli;

fn main() {
    // std::env::args would panic on an argument that is not UTF-8; say which one instead.
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(a) => args.push(a),
            Err(raw) => {
                eprintln!("tapstack: argument {raw:?} is not valid UTF-8");
                std::process::exit(2);
            }
        }
    }
    std::process::exit(cli::main(args));
}
