//! [`VisitAt`]: which members [`scan_visit`](super::scan_visit) reports.

/// Objects whose members [`scan_visit`](super::scan_visit) reports: those at `path` (as
/// [`Visit::path`](super::Visit::path): `&[]` is a record's top-level object), and of their
/// members those named in `names` (as written), or all (`None`).
///
/// A member not reported is only checked (no path kept, no [`Visit`](super::Visit)):
/// nothing below it is visited, so each key of a deeper path must be among
/// the `names` of the path above it.
#[derive(Debug, Clone, Copy)]
pub struct VisitAt<'p> {
    /// The keys leading to the objects.
    pub path: &'p [&'p [u8]],
    /// The members reported (`None`: all).
    pub names: Option<&'p [&'p [u8]]>,
    /// A bit per [`name_bit`] of `names`: most other members are told
    /// apart without comparing names.
    mask: u64,
    /// Per bit, the index in `names` of the one name with that bit
    /// ([`SHARED`] when several have it).
    slots: [u8; 64],
}

/// A bit of [`VisitAt`]'s mask that several names have.
const SHARED: u8 = u8::MAX;

impl<'p> VisitAt<'p> {
    /// Every member of the objects at `path`.
    pub const fn all(path: &'p [&'p [u8]]) -> VisitAt<'p> {
        VisitAt {
            path,
            names: None,
            mask: u64::MAX,
            slots: [SHARED; 64],
        }
    }

    /// The members named `names` of the objects at `path`.
    pub const fn only(path: &'p [&'p [u8]], names: &'p [&'p [u8]]) -> VisitAt<'p> {
        let mut mask = 0u64;
        let mut slots = [SHARED; 64];
        let mut i = 0;
        while i < names.len() {
            let bit = name_bit(names[i]);
            slots[bit as usize] = match mask & (1 << bit) {
                0 if i < SHARED as usize => i as u8,
                _ => SHARED,
            };
            mask |= 1 << bit;
            i += 1;
        }
        VisitAt {
            path,
            names: Some(names),
            mask,
            slots,
        }
    }

    #[inline(always)]
    pub(crate) fn wants(&self, name: &[u8]) -> Option<Option<usize>> {
        let bit = name_bit(name);
        if self.mask & (1 << bit) == 0 {
            return None;
        }
        let Some(names) = self.names else {
            return Some(None);
        };
        match self.slots[bit as usize] {
            SHARED => names.iter().position(|n| *n == name).map(Some),
            slot => {
                let slot = usize::from(slot);
                names
                    .get(slot)
                    .filter(|n| super::same(n, name))
                    .map(|_| Some(slot))
            }
        }
    }
}

/// A name's bit in [`VisitAt`]'s mask: of its length and last byte.
#[inline]
const fn name_bit(name: &[u8]) -> u32 {
    let last = match name.last() {
        Some(&b) => b as usize,
        None => 0,
    };
    ((name.len() * 11 + last) % 64) as u32
}
