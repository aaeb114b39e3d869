use std::process::ExitCode;

fn main() -> ExitCode {
    disinfox_server::cli::main()
}
