//! How the event log keeps the frames its records carry. Most of a boot storm's frame bytes are
//! TFTP DATA blocks: the same bytes of the same boot file for every client, behind headers of
//! their own, once on each LAN a block crosses. The log keeps a large frame as its first
//! `HEAD_LEN` bytes (Ethernet, IPv4, UDP and TFTP headers) and a shared tail, one per distinct
//! content, so a file's blocks are held once per run rather than once per client and hop.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// The bytes a spliced frame keeps of its own: Ethernet (14), IPv4 (20 without options), UDP
/// (8) and TFTP (4) headers are 46, and whatever differs between clients lies in them.
pub const HEAD_LEN: usize = 64;
/// Shorter frames are kept whole. A DHCP frame (about 340 to 400 bytes here) differs from
/// every other past any fixed head (xid, chaddr, addresses), so splitting it would only add a
/// table entry; a TFTP DATA frame of a full block is 558 bytes or more (512-byte blocks).
const SPLICE_MIN: usize = 540;

/// A frame as a record holds it: its bytes, whole or as a head and a shared tail.
#[derive(Clone)]
pub struct Frame(Repr);

#[derive(Clone)]
enum Repr {
    Whole(Rc<[u8]>),
    Spliced(Rc<Spliced>),
}

struct Spliced {
    head: [u8; HEAD_LEN],
    tail: Rc<[u8]>,
}

impl Frame {
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Whole(bytes) => bytes.len(),
            Repr::Spliced(spliced) => HEAD_LEN + spliced.tail.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame's bytes: borrowed when it is kept whole, put together when it is spliced.
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match &self.0 {
            Repr::Whole(bytes) => Cow::Borrowed(bytes),
            Repr::Spliced(spliced) => {
                let mut bytes = Vec::with_capacity(self.len());
                bytes.extend_from_slice(&spliced.head);
                bytes.extend_from_slice(&spliced.tail);
                Cow::Owned(bytes)
            }
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes().into_owned()
    }

    /// The bytes as two slices, split at `HEAD_LEN` (the second empty for a short frame).
    fn parts(&self) -> (&[u8], &[u8]) {
        match &self.0 {
            Repr::Whole(bytes) => bytes.split_at(bytes.len().min(HEAD_LEN)),
            Repr::Spliced(spliced) => (&spliced.head, &spliced.tail),
        }
    }

    /// The frame as the world sent it, when it is that one allocation.
    pub(crate) fn whole(&self) -> Option<&Rc<[u8]>> {
        match &self.0 {
            Repr::Whole(bytes) => Some(bytes),
            Repr::Spliced(_) => None,
        }
    }

    /// The heap the frame holds, as (allocation, its bytes) pairs: a spliced frame's own
    /// allocation and its tail's, which other frames share.
    pub(crate) fn allocations(&self) -> [Option<(usize, usize)>; 2] {
        // An `Rc`'s allocation: two counts, then the value.
        const COUNTS: usize = 2 * std::mem::size_of::<usize>();
        match &self.0 {
            Repr::Whole(bytes) => [
                Some((
                    Rc::as_ptr(bytes) as *const u8 as usize,
                    COUNTS + bytes.len(),
                )),
                None,
            ],
            Repr::Spliced(spliced) => [
                Some((
                    Rc::as_ptr(spliced) as usize,
                    COUNTS + std::mem::size_of::<Spliced>(),
                )),
                Some((
                    Rc::as_ptr(&spliced.tail) as *const u8 as usize,
                    COUNTS + spliced.tail.len(),
                )),
            ],
        }
    }
}

impl From<Rc<[u8]>> for Frame {
    fn from(bytes: Rc<[u8]>) -> Frame {
        Frame(Repr::Whole(bytes))
    }
}

impl From<&[u8]> for Frame {
    fn from(bytes: &[u8]) -> Frame {
        Frame(Repr::Whole(Rc::from(bytes)))
    }
}

impl From<Vec<u8>> for Frame {
    fn from(bytes: Vec<u8>) -> Frame {
        Frame(Repr::Whole(Rc::from(bytes)))
    }
}

/// Frames are equal when their bytes are, however each is kept.
impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for Frame {}

/// Hashes the bytes as two writes split at `HEAD_LEN`, whole or spliced alike, so equal frames
/// hash equal under any hasher.
impl Hash for Frame {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (head, tail) = self.parts();
        state.write_usize(self.len());
        state.write(head);
        state.write(tail);
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (head, tail) = self.parts();
        f.debug_list().entries(head.iter().chain(tail)).finish()
    }
}

/// The tails a log has kept, by content, for `compact`.
#[derive(Default)]
pub(crate) struct Tails {
    by_hash: BTreeMap<u128, Rc<[u8]>>,
}

impl Tails {
    /// `frame` as the log keeps it: spliced, sharing a tail kept before where one has the
    /// same bytes, when it is large enough to be worth it; else as it is.
    pub(crate) fn compact(&mut self, frame: &Frame) -> Frame {
        let Some(bytes) = frame.whole() else {
            return frame.clone();
        };
        if bytes.len() < SPLICE_MIN {
            return frame.clone();
        }
        let (head_bytes, tail_bytes) = bytes.split_at(HEAD_LEN);
        let key = xxhash_rust::xxh3::xxh3_128(tail_bytes);
        let tail = match self.by_hash.get(&key) {
            Some(tail) if **tail == *tail_bytes => tail.clone(),
            // Two tails with one hash: keep this frame whole rather than share wrong bytes.
            Some(_) => return frame.clone(),
            None => {
                let tail: Rc<[u8]> = Rc::from(tail_bytes);
                self.by_hash.insert(key, tail.clone());
                tail
            }
        };
        let mut head = [0u8; HEAD_LEN];
        head.copy_from_slice(head_bytes);
        Frame(Repr::Spliced(Rc::new(Spliced { head, tail })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash(frame: &Frame) -> u64 {
        let mut state = DefaultHasher::new();
        frame.hash(&mut state);
        state.finish()
    }

    fn block(header: u8, data: u8) -> Vec<u8> {
        let mut bytes = vec![header; HEAD_LEN];
        bytes.extend(std::iter::repeat_n(data, 1400));
        bytes
    }

    #[test]
    fn a_spliced_frame_is_its_bytes_and_shares_its_tail() {
        let mut tails = Tails::default();
        let a = Frame::from(block(1, 7));
        let b = Frame::from(block(2, 7));
        let (a_kept, b_kept) = (tails.compact(&a), tails.compact(&b));
        assert!(a_kept.whole().is_none() && b_kept.whole().is_none());
        assert_eq!(a_kept.bytes(), a.bytes());
        assert_eq!(a_kept.len(), a.len());
        assert_eq!((&a_kept, hash(&a_kept)), (&a, hash(&a)));
        assert_ne!(a_kept, b_kept);
        // One tail for both.
        assert_eq!(a_kept.allocations()[1], b_kept.allocations()[1]);
        assert_eq!(tails.by_hash.len(), 1);
        let c = tails.compact(&Frame::from(block(1, 8)));
        assert_eq!(tails.by_hash.len(), 2);
        assert_ne!(c, a_kept);
        // Short frames are kept as they are.
        let short = Frame::from(vec![9u8; 342]);
        assert_eq!(tails.compact(&short).whole(), short.whole());
        assert_eq!(
            format!("{:?}", tails.compact(&a)),
            format!("{:?}", a.bytes())
        );
    }
}
