//! Fixed sets of names found in one step: a table built at compile time maps a cheap hash of a
//! name (its length and four of its bytes) to the name's index, checked with one comparison.

/// A set of at most 255 names, in a table of `N` slots.
pub(crate) struct Names<const N: usize> {
    names: &'static [&'static str],
    mult: [usize; 5],
    table: [u8; N],
}

const EMPTY: u8 = u8::MAX;

impl<const N: usize> Names<N> {
    /// The table of `names` for the hash with multipliers `mult`. Two names in one slot fail
    /// the build: pick other multipliers.
    pub(crate) const fn new(names: &'static [&'static str], mult: [usize; 5]) -> Self {
        assert!(names.len() < EMPTY as usize, "too many names");
        let mut table = [EMPTY; N];
        let mut i = 0;
        while i < names.len() {
            let h = hash::<N>(names[i].as_bytes(), mult);
            assert!(table[h] == EMPTY, "two names share a hash slot");
            table[h] = i as u8;
            i += 1;
        }
        Self { names, mult, table }
    }

    /// The index of `s` among the names.
    pub(crate) fn find(&self, s: &str) -> Option<u8> {
        let i = self.table[hash::<N>(s.as_bytes(), self.mult)];
        (i != EMPTY && self.names[usize::from(i)] == s).then_some(i)
    }

    /// The name at `i`.
    pub(crate) fn name(&self, i: u8) -> &'static str {
        self.names[usize::from(i)]
    }
}

const fn hash<const N: usize>(b: &[u8], m: [usize; 5]) -> usize {
    let n = b.len();
    if n == 0 {
        return 0;
    }
    (n * m[0]
        + b[0] as usize * m[1]
        + b[n - 1] as usize * m[2]
        + b[n / 2] as usize * m[3]
        + b[n / 3] as usize * m[4])
        % N
}
