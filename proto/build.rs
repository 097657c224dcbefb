//! Compiles every `.proto` file under `benefit/` into Rust, with a vendored `protoc` so that a
//! build needs nothing installed beyond the Rust toolchain.

use std::error::Error;
use std::path::{Path, PathBuf};

/// Name of the encoded `FileDescriptorSet` in `OUT_DIR`, included by `src/lib.rs` for reflection.
const DESCRIPTOR_SET_FILE: &str = "benefit_descriptor.bin";

fn main() -> Result<(), Box<dyn Error>> {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let proto_dir = crate_dir.join("benefit");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);

    // Cargo scans a directory recursively, so one line covers new and edited files alike.
    println!("cargo::rerun-if-changed={}", proto_dir.display());
    println!("cargo::rerun-if-changed=build.rs");

    let mut protos = Vec::new();
    collect_protos(&proto_dir, &mut protos)?;
    // A stable order keeps the generated code and the descriptor set reproducible.
    protos.sort();

    // Setting PROTOC in the environment would need `unsafe` in edition 2024; the config takes the
    // path directly instead.
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);

    // The crate root makes imports read `benefit/<package>/v1/<file>.proto`; the vendored include
    // directory provides the well-known types such as `google/protobuf/timestamp.proto`.
    let includes = [crate_dir, protoc_bin_vendored::include_path()?];

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Services implement their RPCs one issue at a time; an RPC not yet written answers
        // UNIMPLEMENTED instead of blocking the build of the whole trait.
        .generate_default_stubs(true)
        .file_descriptor_set_path(out_dir.join(DESCRIPTOR_SET_FILE))
        .compile_with_config(config, &protos, &includes)?;
    Ok(())
}

/// Appends every `.proto` file below `dir` to `found`.
fn collect_protos(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, found)?;
        } else if path
            .extension()
            .is_some_and(|extension| extension == "proto")
        {
            found.push(path);
        }
    }
    Ok(())
}
