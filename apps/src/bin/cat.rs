//! `cat [FILE...]`: copy files (or, without arguments, standard input) to
//! standard output.
#![no_std]
#![no_main]

use libchcore::process::{close, open, read, write};

libchcore::entry!(main);

fn copy(fd: u64) -> Result<(), libchcore::Error> {
    let mut buf = [0u8; 1024];
    loop {
        let n = read(fd, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        write(1, &buf[..n])?;
    }
}

fn main() -> i32 {
    let args = libchcore::args();
    if args.len() <= 1 {
        return match copy(0) {
            Ok(()) => 0,
            Err(e) => {
                libchcore::eprintln!("cat: {e:?}");
                1
            }
        };
    }
    let mut status = 0;
    for name in &args[1..] {
        match open(name) {
            Ok(fd) => {
                if let Err(e) = copy(fd) {
                    libchcore::eprintln!("cat: {name}: {e:?}");
                    status = 1;
                }
                let _ = close(fd);
            }
            Err(_) => {
                libchcore::eprintln!("cat: {name}: no such file");
                status = 1;
            }
        }
    }
    status
}
