//! `include/tapstack.h` is what cbindgen makes of `src/capi/mod.rs` today. Regenerate it with
//! `TAPSTACK_BLESS=1 cargo test --test c_header`.

use std::path::Path;

#[test]
fn committed_header_matches_a_fresh_generation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/capi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = root.join("include/tapstack.h");
    if std::env::var_os("TAPSTACK_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write include/tapstack.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/tapstack.h is out of date with src/capi/mod.rs; regenerate it with\n    \
         TAPSTACK_BLESS=1 cargo test --test c_header\nFresh generation:\n{}",
        String::from_utf8_lossy(&fresh)
    );
}
