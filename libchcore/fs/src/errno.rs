//! POSIX error names with Linux's numbers: what the file-system protocol carries and what users read.
//!
//! The protocol sends [`Errno::number`]; a client turns it back with [`Errno::from_number`] and shows
//! [`Errno::name`] (the project's contract is that errors are shown by their POSIX names), optionally
//! followed by [`Errno::message`].

use core::fmt;

macro_rules! errnos {
    ($($(#[$doc:meta])* $name:ident = $num:literal, $msg:literal;)*) => {
        /// A POSIX error, numbered as on Linux (asm-generic/errno-base.h and errno.h).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(i32)]
        pub enum Errno {
            $($(#[$doc])* $name = $num,)*
        }

        impl Errno {
            /// Every error this crate knows, in number order.
            pub const ALL: &'static [Errno] = &[$(Errno::$name,)*];

            /// The POSIX name, e.g. `"ENOENT"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Errno::$name => stringify!($name),)*
                }
            }

            /// A short description of what the error means.
            pub const fn message(self) -> &'static str {
                match self {
                    $(Errno::$name => $msg,)*
                }
            }

            /// The error for a Linux errno number, if this crate knows it.
            pub const fn from_number(number: i32) -> Option<Errno> {
                match number {
                    $($num => Some(Errno::$name),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    /// The caller is not allowed to do this at all (not a matter of file permissions).
    EPERM = 1, "Operation not allowed";
    /// A path component does not exist.
    ENOENT = 2, "No such file or directory";
    /// A wait was given up because Ctrl-C was pressed.
    EINTR = 4, "Interrupted";
    /// The storage under the file system failed.
    EIO = 5, "Input/output failure";
    /// The handle is not open, is stale, or is not open for this kind of access.
    EBADF = 9, "Not an open file handle";
    /// A child to wait for does not exist.
    ECHILD = 10, "No child process";
    /// Nothing is ready yet; trying again later may work.
    EAGAIN = 11, "Try again";
    /// The server ran out of memory for its own bookkeeping.
    ENOMEM = 12, "Out of memory";
    /// Permissions forbid the access.
    EACCES = 13, "Access denied";
    /// A memory address given by the caller is not usable.
    EFAULT = 14, "Bad address";
    /// The object is in use in a way that forbids the change (e.g. removing `/`).
    EBUSY = 16, "Resource in use";
    /// The name to be created already exists.
    EEXIST = 17, "Already exists";
    /// A rename or link would cross from one file system to another.
    EXDEV = 18, "Cannot move across file systems";
    /// The object is not of the kind the call needs (a capability of another type).
    ENODEV = 19, "Wrong kind of object";
    /// A component used as a directory is not one.
    ENOTDIR = 20, "Not a directory";
    /// The operation needs a non-directory but found a directory.
    EISDIR = 21, "Is a directory";
    /// An argument is out of range or makes no sense.
    EINVAL = 22, "Invalid argument";
    /// The server's open-file table is full (it is shared by all of the server's clients).
    ENFILE = 23, "Open file table full";
    /// The process has no free descriptor.
    EMFILE = 24, "Too many open files";
    /// The file would grow past the file system's largest file size.
    EFBIG = 27, "File too large";
    /// The file system has no room for more data or files.
    ENOSPC = 28, "No space left on file system";
    /// The object cannot be seeked (a pipe, a console).
    ESPIPE = 29, "Cannot seek here";
    /// The file system is mounted read-only.
    EROFS = 30, "Read-only file system";
    /// An inode would get more links than its count can hold (a directory with too many subdirectories).
    EMLINK = 31, "Too many links";
    /// The other end of a pipe or connection is gone.
    EPIPE = 32, "Broken pipe";
    /// A name is longer than NAME_MAX or a path longer than PATH_MAX.
    ENAMETOOLONG = 36, "File name or path too long";
    /// The server does not know the request.
    ENOSYS = 38, "Operation not supported";
    /// The directory to remove or replace still has entries.
    ENOTEMPTY = 39, "Directory not empty";
    /// Too many symbolic links were followed while resolving a path.
    ELOOP = 40, "Too many levels of symbolic links";
    /// Nothing is mapped or stored there.
    ENODATA = 61, "No data";
    /// The descriptor is open, but not for this kind of use.
    EBADFD = 77, "File descriptor in bad state";
    /// A wait ran out of time.
    ETIMEDOUT = 110, "Timed out";
}

impl Errno {
    /// The Linux errno number (positive; the syscall convention returns its negation).
    pub const fn number(self) -> i32 {
        self as i32
    }

    /// How the error travels in a reply's return value: its number, negated.
    pub const fn to_result(self) -> i64 {
        -(self as i64)
    }

    /// The error a negative return value carries; `None` for a value that
    /// is not a negated known number (zero and positive values included).
    pub fn from_result(ret: i64) -> Option<Errno> {
        i32::try_from(ret.checked_neg()?).ok().and_then(Errno::from_number)
    }
}

impl fmt::Display for Errno {
    /// Just the name: the project's contract is that users see POSIX names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for &e in Errno::ALL {
            assert_eq!(Errno::from_number(e.number()), Some(e), "{}", e.name());
        }
    }

    #[test]
    fn results_round_trip() {
        for &e in Errno::ALL {
            assert_eq!(Errno::from_result(e.to_result()), Some(e), "{}", e.name());
        }
        for ret in [0, 1, 2, -3, i64::MIN, i64::MAX, -(1 << 40)] {
            assert_eq!(Errno::from_result(ret), None, "{ret}");
        }
    }

    #[test]
    fn unknown_numbers_are_none() {
        for n in [-1, 0, 3, 6, 41, 1000, i32::MIN, i32::MAX] {
            assert_eq!(Errno::from_number(n), None, "{n}");
        }
    }

    #[test]
    fn linux_numbers() {
        let expected = [
            (Errno::EPERM, 1),
            (Errno::ENOENT, 2),
            (Errno::EINTR, 4),
            (Errno::EIO, 5),
            (Errno::EBADF, 9),
            (Errno::ECHILD, 10),
            (Errno::EAGAIN, 11),
            (Errno::ENOMEM, 12),
            (Errno::EACCES, 13),
            (Errno::EFAULT, 14),
            (Errno::EBUSY, 16),
            (Errno::EEXIST, 17),
            (Errno::EXDEV, 18),
            (Errno::ENODEV, 19),
            (Errno::ENOTDIR, 20),
            (Errno::EISDIR, 21),
            (Errno::EINVAL, 22),
            (Errno::ENFILE, 23),
            (Errno::EMFILE, 24),
            (Errno::EFBIG, 27),
            (Errno::ENOSPC, 28),
            (Errno::ESPIPE, 29),
            (Errno::EROFS, 30),
            (Errno::EMLINK, 31),
            (Errno::EPIPE, 32),
            (Errno::ENAMETOOLONG, 36),
            (Errno::ENOSYS, 38),
            (Errno::ENOTEMPTY, 39),
            (Errno::ELOOP, 40),
            (Errno::ENODATA, 61),
            (Errno::EBADFD, 77),
            (Errno::ETIMEDOUT, 110),
        ];
        assert_eq!(expected.len(), Errno::ALL.len());
        for (e, n) in expected {
            assert_eq!(e.number(), n, "{}", e.name());
        }
    }

    #[test]
    fn names_and_messages() {
        assert_eq!(Errno::ENOENT.name(), "ENOENT");
        assert_eq!(Errno::ENOENT.message(), "No such file or directory");
        assert_eq!(alloc::format!("{}", Errno::ENOTEMPTY), "ENOTEMPTY");
        let mut names: alloc::vec::Vec<&str> = Errno::ALL.iter().map(|e| e.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Errno::ALL.len());
        for &e in Errno::ALL {
            assert!(e.name().starts_with('E'));
            assert!(!e.message().is_empty());
        }
    }

    #[test]
    fn all_is_in_number_order() {
        assert!(Errno::ALL.windows(2).all(|w| w[0].number() < w[1].number()));
    }
}
