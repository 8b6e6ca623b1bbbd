//! A Linux TAP device opened by name: raw Ethernet frames in and out, no packet-information
//! header, non-blocking.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Frames longer than this are not Ethernet frames of a 1500-byte MTU (plus a VLAN tag).
pub const FRAME_MAX: usize = 1522;

pub struct Tap {
    fd: OwnedFd,
    pub name: String,
}

#[derive(Debug)]
pub enum TapError {
    /// `/dev/net/tun` is missing (no TUN/TAP driver, or a container without the device).
    NoDevice(io::Error),
    /// Opening or attaching needs CAP_NET_ADMIN (or a TAP owned by this user).
    Permission {
        tap: String,
    },
    /// Another process holds the TAP, or the name is taken by another kind of interface.
    Busy {
        tap: String,
    },
    Other {
        tap: String,
        error: io::Error,
    },
}

impl fmt::Display for TapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TapError::NoDevice(error) => write!(
                f,
                "cannot open /dev/net/tun ({error}): this machine has no TUN/TAP driver (modprobe tun)"
            ),
            TapError::Permission { tap } => write!(
                f,
                "no permission for TAP `{tap}`: run as root, give pxelab CAP_NET_ADMIN, or create it for your user first (ip tuntap add {tap} mode tap user $USER)"
            ),
            TapError::Busy { tap } => write!(
                f,
                "TAP `{tap}` is busy: another process has it open, or `{tap}` is an interface of another kind"
            ),
            TapError::Other { tap, error } => write!(f, "TAP `{tap}`: {error}"),
        }
    }
}

impl std::error::Error for TapError {}

impl Tap {
    /// Attaches to TAP `name`, creating it (down) if it does not exist and the process may.
    pub fn open(name: &str) -> Result<Tap, TapError> {
        let path = c"/dev/net/tun";
        // SAFETY: a NUL-terminated path and plain flags; the result is checked.
        let raw = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(TapError::NoDevice(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a file descriptor we just opened and own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: `ifreq` is plain old data; all zeroes is a valid value.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= request.ifr_name.len() || bytes.contains(&0) {
            return Err(TapError::Other {
                tap: name.to_string(),
                error: io::Error::new(io::ErrorKind::InvalidInput, "not an interface name"),
            });
        }
        for (slot, byte) in request.ifr_name.iter_mut().zip(bytes) {
            *slot = *byte as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads an `ifreq` we own for the duration of the call.
        let status = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF as _, &mut request) };
        if status < 0 {
            let error = io::Error::last_os_error();
            let tap = name.to_string();
            return Err(match error.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => TapError::Permission { tap },
                Some(libc::EBUSY) | Some(libc::EINVAL) => TapError::Busy { tap },
                _ => TapError::Other { tap, error },
            });
        }
        // The kernel may have adjusted the name (a `%d` pattern): report the one it gave.
        // SAFETY: the kernel wrote a NUL-terminated name into `ifr_name`.
        let given = unsafe { CStr::from_ptr(request.ifr_name.as_ptr()) };
        Ok(Tap {
            fd,
            name: given.to_string_lossy().into_owned(),
        })
    }

    /// One frame if one is waiting: `Ok(None)` when there is none.
    pub fn read(&self, buffer: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: reads at most `buffer.len()` bytes into memory we own.
        let read = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
            )
        };
        if read >= 0 {
            return Ok(Some(read as usize));
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(error),
        }
    }

    /// Writes one frame; a full queue (the interface is down, say) drops it: `Ok(false)`.
    pub fn write(&self, frame: &[u8]) -> io::Result<bool> {
        // SAFETY: writes `frame.len()` bytes from memory we own.
        let written =
            unsafe { libc::write(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
        if written >= 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EIO) => Ok(false),
            _ => Err(error),
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Waits until one of `taps` has a frame or `timeout_ns` passed.
pub fn wait_readable(taps: &[&Tap], timeout_ns: u64) {
    let mut fds: Vec<libc::pollfd> = taps
        .iter()
        .map(|tap| libc::pollfd {
            fd: tap.raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // ppoll: a timeout in nanoseconds, where poll would round a 30 us wait up to 1 ms.
    let timeout = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `fds` is a live array of `fds.len()` pollfd structs, `timeout` a live timespec.
    unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &timeout,
            std::ptr::null(),
        );
    }
}
