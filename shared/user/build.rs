//! Generates `$OUT_DIR/user.rs` from directories outside tailwatch's tree:
//! - `TAILWATCH_RUST_DETECTIONS`: every `*.rs` file becomes a module (`#[path]`), and its `RULE`
//!   an entry of `DETECTIONS`;
//! - `TAILWATCH_RULES`: every `*.toml` file is embedded in `TOML_RULES` (the detect Lambda has no
//!   access to the user's disk, so `make build` compiles the rules into it).
//!
//! Relative paths are relative to the directory `make` / `cargo` was started in (`PWD`).

use std::path::{Path, PathBuf};

fn files(var: &str, ext: &str) -> Vec<PathBuf> {
    println!("cargo:rerun-if-env-changed={var}");
    let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) else {
        return Vec::new();
    };
    let mut dir = PathBuf::from(dir);
    if dir.is_relative() {
        let base = std::env::var_os("PWD").map_or_else(|| PathBuf::from("."), PathBuf::from);
        dir = base.join(dir);
    }
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{var}={}: cannot read the directory: {e}", dir.display()));
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    for f in &out {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    out
}

fn module_name(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("user_{name}")
}

fn main() {
    let mut code = String::new();
    let rust = files("TAILWATCH_RUST_DETECTIONS", "rs");
    for f in &rust {
        code.push_str(&format!("#[path = {:?}]\npub mod {};\n", f.display().to_string(), module_name(f)));
    }
    code.push_str("/// The user's Rust detections (`TAILWATCH_RUST_DETECTIONS`).\npub const DETECTIONS: &[&dyn tailwatch_core::rule::Definition] = &[\n");
    for f in &rust {
        code.push_str(&format!("    &{}::RULE,\n", module_name(f)));
    }
    code.push_str("];\n/// The user's TOML rules (`TAILWATCH_RULES`), as (file name, text), for the detect function.\npub const TOML_RULES: &[(&str, &str)] = &[\n");
    for f in files("TAILWATCH_RULES", "toml") {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        code.push_str(&format!("    ({name:?}, include_str!({:?})),\n", f.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("user.rs");
    std::fs::write(out, code).expect("write user.rs");
}
