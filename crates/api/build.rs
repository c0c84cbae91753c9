//! Compiles the gRPC contract in `proto/gridledger/v1/` with protox (no system protoc) and tonic-prost-build.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../../proto";
    let files = [
        "../../proto/gridledger/v1/gridledger.proto",
        "../../proto/gridledger/v1/events.proto",
        "../../proto/gridledger/v1/record.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let file_descriptors = protox::compile(files, [proto_root])?;
    // The descriptor set is also served by gRPC reflection.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("gridledger_descriptor.bin"),
        prost::Message::encode_to_vec(&file_descriptors),
    )?;
    tonic_prost_build::configure().compile_fds(file_descriptors)?;
    Ok(())
}
