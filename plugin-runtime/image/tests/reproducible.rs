//! What the image digest depends on, without a registry: the plugin bytes and the embedded copy
//! program, nothing about where or when the build ran.

use fbplugin_image::{COPY_PROGRAM, Image, PluginFile, layout};

fn wasm(extra: u8) -> PluginFile {
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.push(extra);
    PluginFile::from_bytes("filter_x.wasm".into(), bytes).expect("a wasm plugin")
}

#[test]
fn same_bytes_same_digest_layout_and_archive() {
    let a = Image::build(&wasm(0)).expect("build");
    let b = Image::build(&wasm(0)).expect("build");
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.manifest, b.manifest);
    assert_eq!(a.config, b.config);
    let name = Some("127.0.0.1:5000/x:1");
    assert_eq!(
        layout::files(&a, name).expect("files"),
        layout::files(&b, name).expect("files")
    );
    assert_eq!(
        layout::archive_bytes(&a, name).expect("archive"),
        layout::archive_bytes(&b, name).expect("archive")
    );
    let c = Image::build(&wasm(1)).expect("build");
    assert_ne!(a.digest(), c.digest());
    assert_eq!(a.layers[0], c.layers[0], "the copy program layer is shared");
}

#[test]
fn the_embedded_copy_program_holds_no_build_machine_path() {
    // build.rs remaps the workspace and CARGO_HOME, so the bytes (and every image digest) do not
    // depend on where the workspace is checked out or where cargo keeps its sources.
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace");
    let mut paths = vec![workspace.display().to_string()];
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        paths.push(std::path::PathBuf::from(home).display().to_string());
    }
    if let Some(home) = std::env::var_os("HOME") {
        paths.push(home.to_string_lossy().into_owned());
    }
    for path in paths.iter().filter(|p| p.len() > 1) {
        assert!(
            !COPY_PROGRAM
                .windows(path.len())
                .any(|w| w == path.as_bytes()),
            "the copy program contains {path}"
        );
    }
    // A static executable: no program interpreter (PT_INTERP would name a dynamic loader).
    assert!(COPY_PROGRAM.starts_with(b"\x7fELF"));
    assert!(
        !COPY_PROGRAM.windows(14).any(|w| w == b"ld-linux-x86-6"),
        "statically linked"
    );
}
