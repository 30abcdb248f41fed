//! `cat [FILE...]`: copy files (or, without arguments or for `-`, standard
//! input) to standard output.
#![no_std]
#![no_main]

use libchcore::fs::{self, Errno, O_RDONLY};

libchcore::entry!(main);

fn copy(fd: u64) -> Result<(), Errno> {
    let mut buf = [0u8; 4096];
    loop {
        let n = fs::read(fd, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        fs::write(1, &buf[..n])?;
    }
}

fn main() -> i32 {
    let args = libchcore::args();
    let names: &[_] = if args.len() <= 1 { &[] } else { &args[1..] };
    let mut status = 0;
    for name in names.iter().map(|s| s.as_str()).chain(names.is_empty().then_some("-")) {
        let fd = if name == "-" { Ok(0) } else { fs::open(name, O_RDONLY) };
        let result = fd.and_then(|fd| {
            let r = copy(fd);
            if fd != 0 {
                let _ = fs::close(fd);
            }
            r
        });
        if let Err(e) = result {
            libchcore::eprintln!("cat: {name}: {e}");
            status = 1;
        }
    }
    status
}
