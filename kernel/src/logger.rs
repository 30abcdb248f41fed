//! `log` on the console: `[INFO] message`, with the level from `loglevel=` on
//! the command line (default `info`).

use log::{LevelFilter, Log, Metadata, Record};

struct ConsoleLogger;

impl Log for ConsoleLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            println!("[{}] {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

static LOGGER: ConsoleLogger = ConsoleLogger;

/// Install the logger; `level` is the `loglevel=` boot argument, if any.
pub fn init(level: Option<&str>) {
    const LEVELS: [(&str, LevelFilter); 6] = [
        ("off", LevelFilter::Off),
        ("error", LevelFilter::Error),
        ("warn", LevelFilter::Warn),
        ("info", LevelFilter::Info),
        ("debug", LevelFilter::Debug),
        ("trace", LevelFilter::Trace),
    ];
    let filter = match level {
        None => LevelFilter::Info,
        Some(l) => match LEVELS.iter().find(|(name, _)| name.eq_ignore_ascii_case(l)) {
            Some(&(_, f)) => f,
            None => {
                println!("[WARN] unknown loglevel {l:?}, using info");
                LevelFilter::Info
            }
        },
    };
    // Only fails if a logger is already set, which would be a second call.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(filter);
}
