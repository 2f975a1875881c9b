//! `signer`: the air-gapped signer of coldsign.

fn main() {
    eprintln!("signer: not yet implemented");
    std::process::exit(2);
}
