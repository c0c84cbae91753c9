//! Integration tests of the pure domain, as one test binary: the lifecycle table row by
//! row and as a matrix, the decider's further rules, a property test over random command
//! sequences, field limits, and the registry.

mod decide_rules;
mod fixtures;
mod lifecycle_table;
mod properties;
mod registry;
mod text_limits;
