//! What the kernel needs from a flattened device tree, read once at boot.
//!
//! The device tree (Devicetree Specification v0.4) is the firmware's
//! description of the machine: RAM, CPUs, interrupt controller, console,
//! PSCI. We use the `fdt` crate to walk it, but only through lookups that
//! return `Option` (its convenience accessors such as `memory()` and
//! `cpus()` panic on a missing node), and decode raw properties ourselves
//! where the crate's helpers assume a cell layout.

use crate::mm::region::{Region, RegionSet, RegionsFull};
use fdt::node::FdtNode;
use fdt::Fdt;

/// CPUs we keep MPIDRs for (GICv2 addresses at most 8).
pub const MAX_CPUS: usize = 8;
/// Most memory or reserved ranges we track.
pub const MAX_REGIONS: usize = 16;
/// Longest kernel command line we keep.
pub const MAX_BOOTARGS: usize = 256;

/// `FDT_MAGIC` in the header, big-endian on the wire.
pub const FDT_MAGIC: u32 = 0xd00d_feed;

/// Why a device tree could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    /// Not a device tree: bad magic, or the buffer is shorter than its header says.
    BadHeader,
    /// The structure or strings block is malformed (a token, length, name
    /// or string out of bounds, or a name that is not UTF-8).
    Malformed,
    /// No `device_type = "memory"` node with a usable `reg`.
    NoMemory,
    /// More memory or reserved ranges than we track.
    TooManyRegions,
}

impl From<RegionsFull> for DtbError {
    fn from(_: RegionsFull) -> Self {
        DtbError::TooManyRegions
    }
}

/// How PSCI calls reach the firmware (the `/psci` node's `method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    /// `hvc #0`: the hypervisor (EL2) implements PSCI.
    Hvc,
    /// `smc #0`: the secure monitor (EL3) implements PSCI.
    Smc,
}

/// The interrupt controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gic {
    /// GICv2: distributor and CPU interface register frames.
    V2 {
        /// GICD base.
        dist: u64,
        /// GICC base.
        cpu: u64,
    },
    /// GICv3: distributor and redistributors (not supported by the kernel yet).
    V3 {
        /// GICD base.
        dist: u64,
        /// GICR base.
        redist: u64,
    },
}

/// The kernel command line (`/chosen/bootargs`).
#[derive(Clone, Copy)]
pub struct Bootargs {
    buf: [u8; MAX_BOOTARGS],
    len: usize,
}

impl Bootargs {
    /// No arguments.
    pub const EMPTY: Bootargs = Bootargs { buf: [0; MAX_BOOTARGS], len: 0 };

    /// From a string, truncated to [`MAX_BOOTARGS`] bytes at a character boundary.
    pub fn new(s: &str) -> Bootargs {
        let mut len = s.len().min(MAX_BOOTARGS);
        while !s.is_char_boundary(len) {
            len -= 1;
        }
        let mut buf = [0; MAX_BOOTARGS];
        buf[..len].copy_from_slice(&s.as_bytes()[..len]);
        Bootargs { buf, len }
    }

    /// The whole line.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// Value of `key=value`, or `Some("")` for a bare `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.as_str().split_ascii_whitespace().find_map(|w| match w.split_once('=') {
            Some((k, v)) if k == key => Some(v),
            None if w == key => Some(""),
            _ => None,
        })
    }
}

impl core::fmt::Debug for Bootargs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// Everything the kernel reads from the device tree.
#[derive(Clone, Debug)]
pub struct MachineInfo {
    /// RAM, merged and sorted.
    pub memory: RegionSet<MAX_REGIONS>,
    /// Ranges firmware asked us not to touch (`/memreserve/` and `/reserved-memory`).
    pub reserved: RegionSet<MAX_REGIONS>,
    /// MPIDR affinity values of the first [`MAX_CPUS`] CPUs, in tree order.
    pub cpu_ids: [u64; MAX_CPUS],
    /// CPUs described in the tree (may exceed [`MAX_CPUS`]).
    pub cpu_count: usize,
    /// PL011 console base address: `/chosen/stdout-path` if it names a PL011, else the first PL011.
    pub uart: Option<u64>,
    /// That PL011's interrupt (GIC INTID), for interrupt-driven input.
    pub uart_irq: Option<u32>,
    /// Interrupt controller.
    pub gic: Option<Gic>,
    /// Interrupt ID (GIC INTID) of the EL1 virtual timer.
    pub virt_timer_irq: Option<u32>,
    /// PSCI conduit, if firmware offers PSCI.
    pub psci: Option<PsciMethod>,
    /// Kernel command line.
    pub bootargs: Bootargs,
}

impl MachineInfo {
    /// The usable CPU ids.
    pub fn cpus(&self) -> &[u64] {
        &self.cpu_ids[..self.cpu_count.min(MAX_CPUS)]
    }
}

/// Size the header claims, if `header` starts with a device tree header.
/// Lets the kernel learn how much memory to look at before parsing.
pub fn total_size(header: &[u8]) -> Option<usize> {
    let word = |i: usize| header.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if word(0)? != FDT_MAGIC {
        return None;
    }
    word(4).map(|s| s as usize)
}

/// Walk the structure block and check every token, name and property
/// against the bounds of the blob, before the `fdt` crate sees it: that
/// crate trusts the blob and panics (`expect`) on a property name that is
/// not UTF-8, among other things. Device Tree Specification v0.4, ch. 5.
fn validate(blob: &[u8]) -> Result<(), DtbError> {
    const BEGIN_NODE: u32 = 1;
    const END_NODE: u32 = 2;
    const PROP: u32 = 3;
    const NOP: u32 = 4;
    const END: u32 = 9;
    let word = |i: usize| blob.get(i..i.checked_add(4)?).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let field = |i: usize| word(i).map(|w| w as usize).ok_or(DtbError::BadHeader);
    let (total, off_struct, off_strings, off_rsv) = (field(4)?, field(8)?, field(12)?, field(16)?);
    let (size_strings, size_struct) = (field(32)?, field(36)?);
    let in_blob = |off: usize, len: usize| off.checked_add(len).is_some_and(|e| e <= total && e <= blob.len());
    if !in_blob(off_struct, size_struct) || !in_blob(off_strings, size_strings) || !in_blob(off_rsv, 16) {
        return Err(DtbError::BadHeader);
    }
    let strings = &blob[off_strings..off_strings + size_strings];
    let structure = &blob[off_struct..off_struct + size_struct];
    // A NUL-terminated UTF-8 string starting at `at` in `bytes`; its length.
    let c_str = |bytes: &[u8], at: usize| -> Result<usize, DtbError> {
        let rest = bytes.get(at..).ok_or(DtbError::Malformed)?;
        let len = rest.iter().position(|&b| b == 0).ok_or(DtbError::Malformed)?;
        core::str::from_utf8(&rest[..len]).map_err(|_| DtbError::Malformed)?;
        Ok(len)
    };
    let token = |at: usize| {
        structure.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok_or(DtbError::Malformed)
    };
    let align4 = |n: usize| n.checked_add(3).map(|n| n & !3).ok_or(DtbError::Malformed);
    // The grammar the `fdt` crate walks (and asserts): node := BEGIN_NODE
    // name PROP* node* NOP* END_NODE. `phase` per open node: 0 properties,
    // 1 children, 2 trailing NOPs. Nesting deeper than this is refused.
    let mut phase = [0u8; 32];
    let mut at = 0;
    let mut depth = 0usize;
    loop {
        match token(at)? {
            BEGIN_NODE => {
                if depth > 0 {
                    if phase[depth - 1] == 2 {
                        return Err(DtbError::Malformed);
                    }
                    phase[depth - 1] = 1;
                }
                if depth == phase.len() {
                    return Err(DtbError::Malformed);
                }
                let len = c_str(structure, at + 4)?;
                at = align4(at + 4 + len + 1)?;
                phase[depth] = 0;
                depth += 1;
            }
            END_NODE => {
                depth = depth.checked_sub(1).ok_or(DtbError::Malformed)?;
                at += 4;
            }
            PROP => {
                if depth == 0 || phase[depth - 1] != 0 {
                    return Err(DtbError::Malformed);
                }
                let len = token(at + 4)? as usize;
                let name_at = token(at + 8)? as usize;
                let name_len = c_str(strings, name_at)?;
                let name = &strings[name_at..name_at + name_len];
                // The crate reads these as a 32-bit cell with `expect`.
                if (name == b"#address-cells" || name == b"#size-cells") && len < 4 {
                    return Err(DtbError::Malformed);
                }
                let value_end = (at + 12).checked_add(len).ok_or(DtbError::Malformed)?;
                if value_end > structure.len() {
                    return Err(DtbError::Malformed);
                }
                at = align4(value_end)?;
            }
            NOP => {
                if depth > 0 {
                    phase[depth - 1] = 2;
                }
                at += 4;
            }
            END if depth == 0 => return Ok(()),
            _ => return Err(DtbError::Malformed),
        }
    }
}

/// Decode the tree in `blob`.
pub fn parse(blob: &[u8]) -> Result<MachineInfo, DtbError> {
    let fdt = Fdt::new(blob).map_err(|_| DtbError::BadHeader)?;
    validate(blob)?;
    let mut info = MachineInfo {
        memory: RegionSet::new(),
        reserved: RegionSet::new(),
        cpu_ids: [0; MAX_CPUS],
        cpu_count: 0,
        uart: None,
        uart_irq: None,
        gic: None,
        virt_timer_irq: None,
        psci: None,
        bootargs: Bootargs::EMPTY,
    };

    for node in fdt.all_nodes() {
        // Secure-only RAM (QEMU virt with `secure=on`) is marked disabled for us.
        if prop_str(node, "device_type") == Some("memory") && is_enabled(node) {
            for r in node.reg().into_iter().flatten() {
                info.memory.insert(Region::new(r.starting_address as u64, r.size.unwrap_or(0) as u64))?;
            }
        }
    }
    if info.memory.is_empty() {
        return Err(DtbError::NoMemory);
    }

    for r in fdt.memory_reservations() {
        info.reserved.insert(Region::new(r.address() as u64, r.size() as u64))?;
    }
    if let Some(rm) = fdt.find_node("/reserved-memory") {
        for child in rm.children() {
            for r in child.reg().into_iter().flatten() {
                info.reserved.insert(Region::new(r.starting_address as u64, r.size.unwrap_or(0) as u64))?;
            }
        }
    }

    if let Some(cpus) = fdt.find_node("/cpus") {
        for cpu in cpus.children().filter(|c| prop_str(*c, "device_type") == Some("cpu")) {
            let Some(id) = cpu.reg().and_then(|mut r| r.next()) else { continue };
            if info.cpu_count < MAX_CPUS {
                info.cpu_ids[info.cpu_count] = id.starting_address as u64;
            }
            info.cpu_count += 1;
        }
    }

    let chosen = fdt.find_node("/chosen");
    if let Some(args) = chosen.and_then(|c| prop_str(c, "bootargs")) {
        info.bootargs = Bootargs::new(args);
    }
    let stdout = chosen
        .and_then(|c| prop_str(c, "stdout-path"))
        .map(|p| p.split(':').next().unwrap_or(p))
        .and_then(|p| fdt.find_node(p));
    let is_pl011 = |n: FdtNode| is_enabled(n) && n.compatible().is_some_and(|c| c.all().any(|s| s == "arm,pl011"));
    let uart = stdout.filter(|n| is_pl011(*n)).or_else(|| fdt.all_nodes().find(|n| is_pl011(*n)));
    info.uart = uart.and_then(first_reg).map(|r| r.start);
    // `interrupts = <type number flags>` for a GIC parent.
    if let Some(&[kind, num, _]) = uart
        .and_then(|u| prop_cells(u, "interrupts"))
        .as_ref()
        .and_then(|c| c.chunks_exact(3).next().map(|x| <&[u32; 3]>::try_from(x).ok()))
        .flatten()
    {
        info.uart_irq = gic_intid(kind, num);
    }

    if let Some(gic) =
        fdt.find_compatible(&["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic", "arm,cortex-a7-gic"])
    {
        let mut regs = gic.reg().into_iter().flatten();
        if let (Some(d), Some(c)) = (regs.next(), regs.next()) {
            info.gic = Some(Gic::V2 { dist: d.starting_address as u64, cpu: c.starting_address as u64 });
        }
    } else if let Some(gic) = fdt.find_compatible(&["arm,gic-v3"]) {
        let mut regs = gic.reg().into_iter().flatten();
        if let (Some(d), Some(r)) = (regs.next(), regs.next()) {
            info.gic = Some(Gic::V3 { dist: d.starting_address as u64, redist: r.starting_address as u64 });
        }
    }

    // The architected timer lists four interrupts (secure physical, non-secure
    // physical, virtual, hypervisor), each as <type number flags> for a GIC.
    if let Some(timer) = fdt.find_compatible(&["arm,armv8-timer", "arm,armv7-timer"]) {
        let cells = prop_cells(timer, "interrupts");
        if let Some(&[kind, num, _]) =
            cells.as_ref().and_then(|c| c.chunks_exact(3).nth(2).map(|x| <&[u32; 3]>::try_from(x).ok())).flatten()
        {
            info.virt_timer_irq = gic_intid(kind, num);
        }
    }

    if let Some(psci) = fdt.find_node("/psci") {
        info.psci = match prop_str(psci, "method") {
            Some("hvc") => Some(PsciMethod::Hvc),
            Some("smc") => Some(PsciMethod::Smc),
            _ => None,
        };
    }
    Ok(info)
}

/// GIC interrupt ID from a devicetree `<type number>` pair (0 = SPI, 1 = PPI).
fn gic_intid(kind: u32, num: u32) -> Option<u32> {
    match kind {
        0 => num.checked_add(32),
        1 => num.checked_add(16),
        _ => None,
    }
}

/// A node without `status`, or with `status = "okay"`, is usable.
fn is_enabled(node: FdtNode) -> bool {
    matches!(prop_str(node, "status"), None | Some("okay") | Some("ok"))
}

fn first_reg(node: FdtNode) -> Option<Region> {
    let r = node.reg()?.next()?;
    Some(Region::new(r.starting_address as u64, r.size.unwrap_or(0) as u64))
}

/// A string property without its terminating NUL.
fn prop_str<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a str> {
    let v = node.property(name)?.value;
    let v = v.strip_suffix(&[0]).unwrap_or(v);
    core::str::from_utf8(v).ok()
}

/// Up to 16 big-endian cells of a property.
fn prop_cells(node: FdtNode, name: &str) -> Option<CellBuf> {
    let v = node.property(name)?.value;
    let mut buf = CellBuf { cells: [0; 16], len: 0 };
    for c in v.chunks_exact(4).take(16) {
        buf.cells[buf.len] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        buf.len += 1;
    }
    Some(buf)
}

struct CellBuf {
    cells: [u32; 16],
    len: usize,
}

impl core::ops::Deref for CellBuf {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        &self.cells[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn virt_memory_sizes() {
        for (name, size) in [
            ("virt-128M-smp1.dtb", 128 * MIB),
            ("virt-1G-smp4.dtb", 1024 * MIB),
            ("virt-3G-smp2.dtb", 3072 * MIB),
            ("virt-el2-512M.dtb", 512 * MIB),
            ("virt-el3-256M.dtb", 256 * MIB),
        ] {
            let info = parse(&fixture(name)).unwrap();
            assert_eq!(info.memory.total(), size, "{name}: secure-only memory is not ours");
            assert_eq!(info.memory.iter().next().unwrap().start, 0x4000_0000, "{name}");
        }
    }

    #[test]
    fn virt_devices() {
        let info = parse(&fixture("virt-128M-smp1.dtb")).unwrap();
        assert_eq!(info.uart, Some(0x0900_0000));
        assert_eq!(info.uart_irq, Some(33), "SPI 1");
        assert_eq!(info.gic, Some(Gic::V2 { dist: 0x0800_0000, cpu: 0x0801_0000 }));
        assert_eq!(info.virt_timer_irq, Some(27));
        assert_eq!(info.psci, Some(PsciMethod::Hvc));
        assert_eq!(info.cpus(), &[0]);
        assert!(info.reserved.is_empty());
    }

    #[test]
    fn virt_cpu_counts() {
        assert_eq!(parse(&fixture("virt-1G-smp4.dtb")).unwrap().cpus(), &[0, 1, 2, 3]);
        assert_eq!(parse(&fixture("virt-3G-smp2.dtb")).unwrap().cpus(), &[0, 1]);
    }

    #[test]
    fn secure_and_el2_variants() {
        // With EL3 present QEMU leaves PSCI to firmware: there is no /psci node.
        let el3 = parse(&fixture("virt-el3-256M.dtb")).unwrap();
        assert_eq!(el3.psci, None);
        assert_eq!(el3.uart, Some(0x0900_0000), "stdout-path names the non-secure UART");
        // With EL2 present PSCI goes to the secure monitor.
        assert_eq!(parse(&fixture("virt-el2-512M.dtb")).unwrap().psci, Some(PsciMethod::Smc));
    }

    #[test]
    fn gicv3_is_recognised() {
        let info = parse(&fixture("virt-gicv3.dtb")).unwrap();
        assert!(matches!(info.gic, Some(Gic::V3 { dist: 0x0800_0000, .. })));
    }

    #[test]
    fn bootargs() {
        let info = parse(&fixture("virt-bootargs.dtb")).unwrap();
        assert_eq!(info.bootargs.as_str(), "loglevel=debug selftest.fault=data");
        assert_eq!(info.bootargs.get("loglevel"), Some("debug"));
        assert_eq!(info.bootargs.get("selftest.fault"), Some("data"));
        assert_eq!(info.bootargs.get("log"), None);
        assert_eq!(Bootargs::new("quiet x=1").get("quiet"), Some(""));
        let long = "é".repeat(200);
        assert!(Bootargs::new(&long).as_str().len() <= MAX_BOOTARGS);
    }

    #[test]
    fn header_size() {
        let blob = fixture("virt-128M-smp1.dtb");
        assert_eq!(total_size(&blob), Some(blob.len()));
        assert_eq!(total_size(&[0; 8]), None);
        assert_eq!(total_size(&[0xd0, 0x0d]), None);
    }

    /// Random bytes flipped in real device trees (firmware input: a broken
    /// one must give an error, never a panic in the kernel's first steps).
    #[test]
    fn mutated_blobs_never_panic() {
        let mut rng = crate::testing::XorShift(0x2545_F491_4F6C_DD1D);
        let mut parsed = 0;
        for name in ["virt-128M-smp1.dtb", "virt-1G-smp4.dtb", "virt-gicv3.dtb", "virt-bootargs.dtb"] {
            let good = fixture(name);
            for _ in 0..1500 {
                let mut blob = good.clone();
                for _ in 0..1 + rng.next_u64() % 8 {
                    // Past the 40-byte header (mostly): that is where the
                    // structure, strings and reserved-memory blocks are.
                    let at = if rng.next_u64().is_multiple_of(8) {
                        rng.next_u64() as usize % blob.len()
                    } else {
                        40 + rng.next_u64() as usize % (blob.len() - 40)
                    };
                    blob[at] = rng.next_u64() as u8;
                }
                let r = std::panic::catch_unwind(|| parse(&blob).map(|i| i.cpus().len()));
                match r {
                    Ok(Ok(_)) => parsed += 1,
                    Ok(Err(_)) => {}
                    Err(_) => panic!("parse panicked on a mutation of {name}"),
                }
            }
        }
        assert!(parsed > 0, "some mutations should still parse");
    }

    #[test]
    fn bad_blobs_are_errors() {
        assert_eq!(parse(&[]).unwrap_err(), DtbError::BadHeader);
        assert_eq!(parse(&[0u8; 64]).unwrap_err(), DtbError::BadHeader);
        let blob = fixture("virt-128M-smp1.dtb");
        assert_eq!(parse(&blob[..blob.len() / 2]).unwrap_err(), DtbError::BadHeader, "truncated");
    }
}
