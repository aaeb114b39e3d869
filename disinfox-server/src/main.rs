use std::process::ExitCode;

/// mimalloc instead of glibc's allocator: building STIX objects allocates many small strings,
/// and with glibc's `malloc` about a fifth of an import's CPU went to the allocator (`perf`
/// of `disinfox-server import`, 10,000 CSV incidents: 5.35 s of user CPU with glibc, 3.7 s
/// with mimalloc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    disinfox_server::cli::main()
}
