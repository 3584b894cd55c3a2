//! Compiles the demo's gRPC services from `proto/` with protox (pure Rust, no protoc): the
//! server code through tonic-prost-build, and the encoded descriptor set for reflection.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/speech.proto", "proto/llm.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("demo_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().build_client(false).compile_fds(fds)?;
    Ok(())
}
