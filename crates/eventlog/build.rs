//! Compiles `proto/gridledger/v1/record.proto` (the stored record schema) with protox, so no system protoc is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../../proto";
    let record_proto = "../../proto/gridledger/v1/record.proto";
    println!("cargo:rerun-if-changed={record_proto}");
    let file_descriptors = protox::compile([record_proto], [proto_root])?;
    prost_build::Config::new().compile_fds(file_descriptors)?;
    Ok(())
}
