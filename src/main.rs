//! `tapstack`: the command-line face of the stack. See `tapstack --help`.

mod cli;

fn main() {
    std::process::exit(cli::main(std::env::args().skip(1).collect()));
}
