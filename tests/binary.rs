//! End-to-end against the built `gridledger` binary (placeholder until written).
