//! Fuzz targets of the core's input parsers live in `tests/targets.rs` (bolero): the DBN
//! decoder, the book replay, the LOBSTER parser, the bar loaders, the JSON-Logic evaluator
//! and the config loaders. Under `cargo test` each target runs its committed corpus
//! (`tests/__fuzz__/<target>/corpus`) and a bounded number of random inputs on stable Rust;
//! `make fuzz` runs them longer (`BOLERO_RANDOM_ITERATIONS`). A crash found becomes a named
//! regression test beside the targets.
