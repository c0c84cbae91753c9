//! Compiles `proto/gridledger/v1/events.proto` (the stored event bodies) with protox and prost-build: messages only, no gRPC.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../../proto";
    let events_proto = "../../proto/gridledger/v1/events.proto";
    println!("cargo:rerun-if-changed={events_proto}");
    let file_descriptors = protox::compile([events_proto], [proto_root])?;
    prost_build::Config::new().compile_fds(file_descriptors)?;
    Ok(())
}
