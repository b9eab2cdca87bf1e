//! `copy`: the verify-and-copy step of a plugin image, and with `--check` the verify step (see
//! the library documentation).

use std::process::ExitCode;

use fbplugin_copy::{Command, USAGE, check, copy, parse};

fn main() -> ExitCode {
    // argv only: the environment is never read.
    let command = match parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(failure) => {
            eprintln!("{failure}");
            return ExitCode::from(failure.exit_code() as u8);
        }
    };
    let request = match command {
        Command::Help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("fbplugin-copy {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Copy(request) => request,
        Command::Check(request) => {
            return match check(&request) {
                Ok(done) => {
                    println!("fbplugin: {done}");
                    ExitCode::SUCCESS
                }
                Err(failure) => {
                    eprintln!("{failure}");
                    ExitCode::from(failure.exit_code() as u8)
                }
            };
        }
    };
    match copy(&request) {
        Ok(done) => {
            println!("fbplugin: {} {done}", request.from);
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.exit_code() as u8)
        }
    }
}
