use clap::Parser;

fn main() {
    let cli = mailconf::cli::Cli::parse();
    if cli.command.writes_files() {
        mailconf::output::install_interrupt_handler();
    }
    if let Err(error) = mailconf::run(cli) {
        mailconf::diagnostic::say(&error);
        std::process::exit(error.exit_code());
    }
}
