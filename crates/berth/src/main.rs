//! `berth`: docker's everyday verbs for machines without the docker CLI,
//! talking to berthd (or any Docker Engine API) at `BERTH_HOST`/`DOCKER_HOST`.

mod client;
mod commands;
mod streams;

fn main() {
    // Rust ignores SIGPIPE, which would turn `berth images | head` into a
    // panic; a command line should just stop, as docker does.
    let _ = berth_sys::reset_signals();
    std::process::exit(commands::main());
}
