//! The `tributary` binary: parse arguments, set up logging, run the command.

use clap::Parser;

/// jemalloc for the whole process, librdkafka's C allocations included (its malloc and free
/// replace the C library's): librdkafka allocates every message on the producing thread and
/// frees it on its delivery-report thread, a pattern glibc's allocator serves slowly (1M
/// snapshot rows into tansu on 2 cores: user CPU 5.0-6.3 s with glibc, 3.1-4.3 s with jemalloc).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRIBUTARY_LOG")
                .unwrap_or_else(|_| "warn,tributary=info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or a collector gets plain lines.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Fail points configured by FAILPOINTS=name=action (fault-injection builds only).
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let cli = tributary::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(tributary::cli::main(cli));
    std::process::exit(code);
}
