//! `cksum [FILE...]`: the POSIX CRC and byte count of each FILE or of
//! standard input, printed as GNU cksum does (`chcore_proc::text::Cksum`).
#![no_std]
#![no_main]

use chcore_proc::text::{cksum_line, Cksum};
use libchcore::tool::{self, Input, Output, Tool};

libchcore::entry!(main);

fn main() -> i32 {
    let mut tool = Tool::new("cksum", "cksum [FILE...]");
    let options = match tool.options("") {
        Ok(o) => o,
        Err(status) => return status,
    };
    let mut out = Output::new();
    for name in tool::or_stdin(&options.operands) {
        let mut sum = Cksum::new();
        let read = Input::open(name).and_then(|mut input| {
            input.stream(|chunk| {
                sum.update(chunk);
                true
            })
        });
        if let Err(e) = read {
            tool.fail(name, e);
            continue;
        }
        let (crc, len) = sum.finish();
        let shown = (!options.operands.is_empty()).then_some(name);
        out.push(cksum_line(crc, len, shown).as_bytes());
        out.push(b"\n");
        out.flush();
    }
    tool.finish(out)
}
