//! A missing or wrong ONNX Runtime library is a typed error naming the path, never a panic.
//! Its own test binary: ort can load a runtime only once per process, and these calls must
//! run before any succeeds.

use std::path::Path;

use tradecore::infer::init_onnxruntime;
use tradecore::CoreError;

#[test]
fn missing_and_bogus_libraries_are_typed_errors() {
    let err = init_onnxruntime(Some(Path::new("/nowhere/libonnxruntime.so.1.31.1"))).unwrap_err();
    let CoreError::OnnxRuntimeUnavailable { looked, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(looked, "/nowhere/libonnxruntime.so.1.31.1");
    // A file that exists but is no shared library: dlopen fails, still typed.
    let not_a_lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let err = init_onnxruntime(Some(&not_a_lib)).unwrap_err();
    assert!(
        matches!(err, CoreError::OnnxRuntimeUnavailable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("Cargo.toml"), "{err}");
    assert!(tradecore::infer::onnxruntime_path().is_none());
}
