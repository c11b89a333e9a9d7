//! Sequence sets (`1:4,7,9:*`) built from numbers or ranges.

use std::fmt;

/// A set of message numbers or UIDs in IMAP syntax. Numbers are sorted and
/// merged into ranges, so a set of 10,000 consecutive UIDs is `1:10000`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SequenceSet {
    ranges: Vec<(u32, Option<u32>)>,
}

impl SequenceSet {
    /// `1:*`: every message.
    pub fn all() -> Self {
        SequenceSet {
            ranges: vec![(1, None)],
        }
    }

    /// `first:last`.
    pub fn range(first: u32, last: u32) -> Self {
        SequenceSet {
            ranges: vec![(first.min(last), Some(first.max(last)))],
        }
    }

    /// `first:*`.
    pub fn from(first: u32) -> Self {
        SequenceSet {
            ranges: vec![(first, None)],
        }
    }

    /// The given numbers, merged into ranges (0, which is no message
    /// number or UID, is left out).
    pub fn of(numbers: impl IntoIterator<Item = u32>) -> Self {
        let mut v: Vec<u32> = numbers.into_iter().filter(|&n| n > 0).collect();
        v.sort_unstable();
        v.dedup();
        let mut ranges: Vec<(u32, Option<u32>)> = Vec::new();
        for n in v {
            match ranges.last_mut() {
                Some((_, Some(last))) if last.checked_add(1) == Some(n) => *last = n,
                _ => ranges.push((n, Some(n))),
            }
        }
        SequenceSet { ranges }
    }

    /// Whether the set holds nothing (IMAP has no empty set: don't send it).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Splits a set into sets of at most `max` ranges, to keep command lines
    /// short on servers that limit them.
    pub fn chunks(&self, max: usize) -> Vec<SequenceSet> {
        self.ranges
            .chunks(max.max(1))
            .map(|c| SequenceSet { ranges: c.to_vec() })
            .collect()
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, (first, last)) in self.ranges.iter().enumerate() {
            if k > 0 {
                f.write_str(",")?;
            }
            match last {
                Some(l) if l == first => write!(f, "{first}")?,
                Some(l) => write!(f, "{first}:{l}")?,
                None => write!(f, "{first}:*")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::SequenceSet;

    #[test]
    fn merges_and_prints() {
        assert_eq!(SequenceSet::of([5, 1, 2, 3, 9, 10, 3]).to_string(), "1:3,5,9:10");
        assert_eq!(SequenceSet::all().to_string(), "1:*");
        assert_eq!(SequenceSet::range(7, 2).to_string(), "2:7");
        assert!(SequenceSet::of([]).is_empty());
        assert!(SequenceSet::of([0]).is_empty());
        assert_eq!(SequenceSet::of([1, 3, 5]).chunks(2).len(), 2);
        assert_eq!(
            SequenceSet::of([u32::MAX, u32::MAX - 1]).to_string(),
            "4294967294:4294967295"
        );
    }
}
