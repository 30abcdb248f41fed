//! Link with the user program layout, at procmgr's own address.

/// Where procmgr's code starts (programs' starts at 0x400000).
const PROCMGR_BASE: u64 = 0x8000_0000;

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        println!("cargo:rustc-link-arg-bins=-T{dir}/../libchcore/user.ld");
        // Away from the programs' 0x400000 (see user.ld).
        println!("cargo:rustc-link-arg-bins=--defsym=__user_base={PROCMGR_BASE:#x}");
        println!("cargo:rerun-if-changed={dir}/../libchcore/user.ld");
    }
}
