//! Copying to and from user memory. A user pointer is an allegation: every
//! page is looked up in the caller's vmspace (mapped, with the access the
//! copy needs, faulting lazy pages in) before the kernel touches it through
//! its own linear map, so a bad pointer is an error code, never a kernel fault.

use crate::object::vmspace::VmSpace;
use chcore_abi::Error;
use kernel_core::mm::{phys_to_virt, PAGE_SIZE, USER_VA_END};

fn check(va: u64, len: usize) -> Result<(), Error> {
    match va.checked_add(len as u64) {
        Some(end) if end <= USER_VA_END => Ok(()),
        _ => Err(Error::BadAddress),
    }
}

/// Walk `[va, va + len)` page by page: `f(kernel pointer, range in the buffer)`.
fn chunks(
    vm: &VmSpace,
    va: u64,
    len: usize,
    write: bool,
    mut f: impl FnMut(*mut u8, core::ops::Range<usize>),
) -> Result<(), Error> {
    check(va, len)?;
    let mut done = 0;
    while done < len {
        let at = va + done as u64;
        let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(len - done);
        let pa = vm.resolve(at, write).map_err(|_| Error::BadAddress)?;
        f(phys_to_virt(pa) as *mut u8, done..done + n);
        done += n;
    }
    Ok(())
}

/// Fill `buf` from user address `va` in `vm`.
pub fn copy_from_user(vm: &VmSpace, va: u64, buf: &mut [u8]) -> Result<(), Error> {
    chunks(vm, va, buf.len(), false, |src, r| {
        // SAFETY: `src` is the linear-map address of a RAM page that `resolve`
        // found mapped readable in `vm`, with `r.len()` bytes left in the page.
        unsafe { core::ptr::copy_nonoverlapping(src, buf[r.clone()].as_mut_ptr(), r.len()) }
    })
}

/// Copy `data` to user address `va` in `vm`.
pub fn copy_to_user(vm: &VmSpace, va: u64, data: &[u8]) -> Result<(), Error> {
    chunks(vm, va, data.len(), true, |dst, r| {
        // SAFETY: `dst` is the linear-map address of a RAM page that `resolve`
        // found mapped writable in `vm`, with `r.len()` bytes left in the page.
        unsafe { core::ptr::copy_nonoverlapping(data[r.clone()].as_ptr(), dst, r.len()) }
    })
}
