//! Link with the user program layout.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        println!("cargo:rustc-link-arg-bins=-T{dir}/../libchcore/user.ld");
        // Segments aligned to pages in the file, not to the linker's default
        // 64 KiB: each program would start with 64 KiB of padding, which the
        // ramdisk carries into every image.
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
        println!("cargo:rerun-if-changed={dir}/../libchcore/user.ld");
    }
}
