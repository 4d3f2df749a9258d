//! Request sequence numbers (section 3.2): one counter per direction, 1 … 2³¹ − 1, wrapping to 1;
//! 0 is reserved for errors answering requests whose number could not be read.

/// The highest sequence number.
pub const MAX_SEQUENCE_NUMBER: u32 = 2_147_483_647;

/// The counter of the requests one side sends on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceCounter {
    next: u32,
}

impl Default for SequenceCounter {
    /// A counter whose first number is 1 (a new connection starts there).
    fn default() -> Self {
        Self { next: 1 }
    }
}

impl SequenceCounter {
    /// A counter whose next number is `next` (out-of-range values start at 1).
    pub fn starting_at(next: u32) -> Self {
        Self {
            next: if (1..=MAX_SEQUENCE_NUMBER).contains(&next) {
                next
            } else {
                1
            },
        }
    }

    /// The number the next request gets, without taking it.
    pub const fn peek(&self) -> u32 {
        self.next
    }

    /// Takes the next number: each request gets the previous one plus 1, and 2³¹ − 1 is followed
    /// by 1.
    pub fn take(&mut self) -> u32 {
        let n = self.next;
        self.next = if n >= MAX_SEQUENCE_NUMBER { 1 } else { n + 1 };
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_by_one_and_wraps_to_one() {
        let mut counter = SequenceCounter::default();
        assert_eq!((counter.take(), counter.take()), (1, 2));
        let mut counter = SequenceCounter::starting_at(MAX_SEQUENCE_NUMBER - 1);
        assert_eq!(counter.take(), MAX_SEQUENCE_NUMBER - 1);
        assert_eq!(counter.take(), MAX_SEQUENCE_NUMBER);
        assert_eq!(counter.take(), 1, "never 0, never beyond 2^31 - 1");
        assert_eq!(SequenceCounter::starting_at(0).peek(), 1);
        assert_eq!(SequenceCounter::starting_at(u32::MAX).peek(), 1);
    }
}
