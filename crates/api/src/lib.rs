//! The gRPC contract of gridledger (being written).
