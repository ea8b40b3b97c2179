//! `berth`: docker's everyday verbs for machines without the docker CLI,
//! talking to berthd (or any Docker Engine API) at `BERTH_HOST`/`DOCKER_HOST`.

mod client;
mod commands;
mod streams;

fn main() {
    std::process::exit(commands::main());
}
