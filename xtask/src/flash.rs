//! SD card images for a real Raspberry Pi 3: one FAT32 partition holding the
//! firmware, `config.txt` and `kernel8.img` (the kernel or the chainloader).
//! Built as a file with `mkfs.vfat` and `mcopy` (Debian `dosfstools`,
//! `mtools`): no root and no card needed. Writing a real card is a separate,
//! guarded step.

use std::fs;
use std::path::Path;
use std::process::Command;

/// Firmware files the Pi 3 boot ROM and GPU need on the card.
pub const FIRMWARE: &[&str] = &["bootcode.bin", "start.elf", "fixup.dat"];
/// Where to get them.
pub const FIRMWARE_URL: &str = "https://github.com/raspberrypi/firmware/tree/master/boot";

/// Image size and where the partition starts (1 MiB in, as card tools do).
const IMAGE_BYTES: u64 = 64 << 20;
const PART_START_LBA: u32 = 2048;
const SECTOR: u64 = 512;
/// MBR partition type: FAT32 with LBA addressing.
const TYPE_FAT32_LBA: u8 = 0x0C;

/// A master boot record with one bootable-looking FAT32 partition from
/// `start` for `sectors` sectors.
pub fn mbr(start: u32, sectors: u32) -> [u8; 512] {
    let mut m = [0u8; 512];
    let e = 446;
    m[e] = 0x00; // not "active": the Pi's ROM does not care
    m[e + 1..e + 4].copy_from_slice(&[0xFE, 0xFF, 0xFF]); // CHS: use LBA
    m[e + 4] = TYPE_FAT32_LBA;
    m[e + 5..e + 8].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    m[e + 8..e + 12].copy_from_slice(&start.to_le_bytes());
    m[e + 12..e + 16].copy_from_slice(&sectors.to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xAA;
    m
}

/// The firmware files from `dir`, or an error saying exactly what is missing and where to get it.
pub fn firmware(dir: Option<&Path>) -> Result<Vec<(String, Vec<u8>)>, String> {
    let missing_msg = |what: &str| {
        format!(
            "{what}\nThe Raspberry Pi firmware files {} are needed on the card. Download them from\n  {FIRMWARE_URL}\ninto a folder and pass it with --firmware DIR.",
            FIRMWARE.join(", ")
        )
    };
    let Some(dir) = dir else { return Err(missing_msg("no --firmware DIR given.")) };
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for name in FIRMWARE {
        match fs::read(dir.join(name)) {
            Ok(b) => out.push((name.to_string(), b)),
            Err(_) => missing.push(*name),
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing_msg(&format!("{} has no {}.", dir.display(), missing.join(", "))))
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Write an SD card image to `out` with `files` (name, contents) on its FAT32 partition.
pub fn make_image(out: &Path, files: &[(String, Vec<u8>)]) -> Result<(), String> {
    let sectors = (IMAGE_BYTES / SECTOR) as u32 - PART_START_LBA;
    {
        let f = fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
        f.set_len(IMAGE_BYTES).map_err(|e| e.to_string())?;
    }
    let mut bytes = fs::read(out).map_err(|e| e.to_string())?;
    bytes[..512].copy_from_slice(&mbr(PART_START_LBA, sectors));
    fs::write(out, &bytes).map_err(|e| e.to_string())?;
    run(
        Command::new("mkfs.vfat")
            .args(["-F", "32", "-n", "CHCORE", "--offset", &PART_START_LBA.to_string()])
            .arg(out)
            .arg(((sectors as u64 * SECTOR) / 1024).to_string()),
        "mkfs.vfat",
    )?;
    let target = format!("{}@@{}", out.display(), PART_START_LBA as u64 * SECTOR);
    let tmp = out.with_extension("staging");
    fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    for (name, data) in files {
        let p = tmp.join(name);
        fs::write(&p, data).map_err(|e| e.to_string())?;
        run(Command::new("mcopy").args(["-o", "-i", &target]).arg(&p).arg(format!("::{name}")), "mcopy")?;
    }
    let _ = fs::remove_dir_all(&tmp);
    Ok(())
}

/// The files on an image's partition (via `mdir`), upper-cased 8.3 names.
pub fn list_image(img: &Path) -> Result<String, String> {
    let target = format!("{}@@{}", img.display(), PART_START_LBA as u64 * SECTOR);
    let out =
        Command::new("mdir").args(["-b", "-i", &target, "::"]).output().map_err(|e| format!("cannot run mdir: {e}"))?;
    if !out.status.success() {
        return Err(format!("mdir failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// What we know about a block device before writing it.
#[derive(Debug, Clone)]
pub struct DeviceFacts {
    /// Whether the path is a block device.
    pub is_block: bool,
    /// `/sys/block/<dev>/removable`.
    pub removable: bool,
    /// Size in bytes.
    pub size: u64,
    /// Mount points of the device or its partitions.
    pub mounted_at: Vec<String>,
}

/// Refuse anything that looks like a system disk.
pub fn check_device(path: &str, f: &DeviceFacts) -> Result<(), String> {
    if !f.is_block {
        return Err(format!("{path} is not a block device"));
    }
    if let Some(m) = f
        .mounted_at
        .iter()
        .find(|m| m.as_str() == "/" || m.starts_with("/boot") || m.starts_with("/usr") || m.starts_with("/home"))
    {
        return Err(format!("{path} holds {m}: that is a system disk, not an SD card"));
    }
    if !f.mounted_at.is_empty() {
        return Err(format!("{path} is mounted at {}: unmount it first", f.mounted_at.join(", ")));
    }
    if !f.removable {
        return Err(format!("{path} is not a removable device; refusing to write it"));
    }
    if f.size > 256 << 30 {
        return Err(format!("{path} is {} GiB, larger than any SD card this is meant for", f.size >> 30));
    }
    Ok(())
}

/// Look up the facts for `path` on this machine.
pub fn device_facts(path: &str) -> DeviceFacts {
    use std::os::unix::fs::FileTypeExt;
    let is_block = fs::metadata(path).map(|m| m.file_type().is_block_device()).unwrap_or(false);
    let name = Path::new(path).file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let sys = Path::new("/sys/block").join(&name);
    let removable = fs::read_to_string(sys.join("removable")).map(|s| s.trim() == "1").unwrap_or(false);
    let size = fs::read_to_string(sys.join("size")).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0) * 512;
    let mounted_at = fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let dev = parts.next()?;
            let at = parts.next()?;
            dev.starts_with(path).then(|| at.to_string())
        })
        .collect();
    DeviceFacts { is_block, removable, size, mounted_at }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbr_layout() {
        let m = mbr(2048, 129024);
        assert_eq!(&m[510..], &[0x55, 0xAA]);
        assert_eq!(m[446 + 4], 0x0C);
        assert_eq!(u32::from_le_bytes(m[454..458].try_into().unwrap()), 2048);
        assert_eq!(u32::from_le_bytes(m[458..462].try_into().unwrap()), 129024);
    }

    #[test]
    fn refuses_system_disks() {
        let card = DeviceFacts { is_block: true, removable: true, size: 32 << 30, mounted_at: vec![] };
        assert!(check_device("/dev/sdb", &card).is_ok());
        let root = DeviceFacts { mounted_at: vec!["/".into()], ..card.clone() };
        assert!(check_device("/dev/sda", &root).unwrap_err().contains("system disk"));
        let mounted = DeviceFacts { mounted_at: vec!["/media/x".into()], ..card.clone() };
        assert!(check_device("/dev/sdb", &mounted).unwrap_err().contains("unmount"));
        let fixed = DeviceFacts { removable: false, ..card.clone() };
        assert!(check_device("/dev/sdb", &fixed).unwrap_err().contains("removable"));
        let huge = DeviceFacts { size: 1 << 40, ..card.clone() };
        assert!(check_device("/dev/sdb", &huge).is_err());
        let file = DeviceFacts { is_block: false, ..card };
        assert!(check_device("/tmp/x", &file).unwrap_err().contains("block device"));
    }

    #[test]
    fn missing_firmware_is_explained() {
        let e = firmware(None).unwrap_err();
        assert!(e.contains("bootcode.bin") && e.contains(FIRMWARE_URL));
        let e = firmware(Some(Path::new("/nonexistent"))).unwrap_err();
        assert!(e.contains("start.elf") && e.contains("--firmware"));
    }
}
