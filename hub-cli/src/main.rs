//! `hub-cli`: the online companion of coldsign.

fn main() {
    eprintln!("hub-cli: not yet implemented");
    std::process::exit(2);
}
