//! Picks the linker script and the platform's load address.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=link.ld");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    // Where the image sits in physical memory:
    // - virt: QEMU puts the device tree at the start of RAM (0x4000_0000) only
    //   if it fits below the lowest address of the ELF, so leave it 2 MiB.
    // - raspi3: the firmware (and QEMU's raspi3b) loads kernel8.img at 0x80000.
    let base: u64 = if env::var_os("CARGO_FEATURE_VIRT").is_some() {
        0x4020_0000
    } else if env::var_os("CARGO_FEATURE_RASPI3").is_some() {
        0x8_0000
    } else {
        panic!("kernel: build with --features virt or --features raspi3 (cargo xtask build does this)");
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out.join("platform.ld"), format!("PHYS_BASE = {base:#x};\n")).unwrap();
    // The root process is embedded with include_bytes!; it must be built
    // first, and a change to it must rebuild the kernel.
    println!("cargo:rerun-if-env-changed=CHCORE_PROCMGR_ELF");
    match env::var("CHCORE_PROCMGR_ELF") {
        Ok(p) if std::path::Path::new(&p).is_file() => println!("cargo:rerun-if-changed={p}"),
        Ok(p) => panic!("kernel: CHCORE_PROCMGR_ELF={p} is not a file; build with `cargo xtask build`"),
        Err(_) => {
            panic!("kernel: CHCORE_PROCMGR_ELF is not set; build with `cargo xtask build`, which builds procmgr first")
        }
    }
    println!("cargo:rerun-if-env-changed=CHCORE_RAMDISK");
    match env::var("CHCORE_RAMDISK") {
        Ok(p) if std::path::Path::new(&p).is_file() => println!("cargo:rerun-if-changed={p}"),
        _ => panic!("kernel: CHCORE_RAMDISK must name the ramdisk archive; build with `cargo xtask build`"),
    }
    let dir = env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
    // Pull the boot code's object out of its archive: nothing calls `_start`.
    println!("cargo:rustc-link-arg-bins=--undefined=_start");
}
