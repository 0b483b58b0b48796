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
    // Rust's runtime ignores SIGPIPE, so printing into a closed pipe (`tapstack --help | head`)
    // panicked. A command-line tool ends quietly there, as coreutils do. The service (`service`,
    // `up`) keeps it ignored: its readers may go at any time, and a write must fail, not kill it.
    if !matches!(args.first().map(String::as_str), Some("service" | "up")) {
        // SAFETY: setting a signal's disposition to its default, before any thread exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    std::process::exit(cli::main(args));
}
