//! The `tributary` binary: parse arguments, set up logging, run the command.

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRIBUTARY_LOG")
                .unwrap_or_else(|_| "warn,tributary=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
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
