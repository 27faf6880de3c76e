//! One batch's output: the replies to every complete request already received, written with
//! one write.

use std::time::Duration;

use super::handler::ReplyMark;
use super::{MAX_BATCH_MESSAGES, MAX_BATCH_REPLY_BYTES, MAX_KEPT_OUTPUT_BYTES};
use crate::frame;

/// Reply frames (and pongs, and a close echo) ready to be written as they are, and the
/// handler's mark of each reply.
pub(super) struct Batch<M> {
    pub(super) out: Vec<u8>,
    pub(super) replies: Vec<ReplyMark<M>>,
}

impl<M> Default for Batch<M> {
    fn default() -> Self {
        Self {
            out: Vec::new(),
            replies: Vec::new(),
        }
    }
}

impl<M> Batch<M> {
    /// Empties the batch for reuse, dropping an output buffer that large replies grew.
    pub(super) fn clear(&mut self) {
        if self.out.capacity() > MAX_KEPT_OUTPUT_BYTES {
            self.out = Vec::new();
        }
        self.out.clear();
        self.replies.clear();
    }

    /// Starts a reply frame; the reply's payload is appended to `out` after this.
    pub(super) fn begin_reply(&mut self) -> usize {
        frame::begin_text(&mut self.out)
    }

    /// Completes the reply frame begun at `at`, described by `mark`.
    pub(super) fn end_reply(&mut self, at: usize, mark: M, took: Option<Duration>) {
        frame::finish_text(&mut self.out, at);
        self.replies.push(ReplyMark { mark, took });
    }

    /// Whether the batch has reached either bound (replies, or output bytes).
    pub(super) fn is_full(&self) -> bool {
        self.replies.len() >= MAX_BATCH_MESSAGES || self.out.len() >= MAX_BATCH_REPLY_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_frames_replies_in_order() {
        let mut batch = Batch::default();
        let at = batch.begin_reply();
        batch.out.extend_from_slice(br#"{"A_RSP":{"st":1}}"#);
        batch.end_reply(at, 'a', None);
        let at = batch.begin_reply();
        let long = format!(r#"{{"B_RSP":{{"st":2,"v":"{}"}}}}"#, "x".repeat(200));
        batch.out.extend_from_slice(long.as_bytes());
        batch.end_reply(at, 'b', None);
        let mut expected = vec![0x81, 18];
        expected.extend_from_slice(br#"{"A_RSP":{"st":1}}"#);
        // 126..=255 bytes: the 16-bit length form.
        assert_eq!(long.len(), 225);
        expected.extend_from_slice(&[0x81, 126, 0, 225]);
        expected.extend_from_slice(long.as_bytes());
        assert_eq!(batch.out, expected);
        let marks: Vec<char> = batch.replies.iter().map(|r| r.mark).collect();
        assert_eq!(marks, ['a', 'b']);
        batch.clear();
        assert!(batch.out.is_empty() && batch.replies.is_empty());
    }

    #[test]
    fn batch_is_full_at_either_bound() {
        let mut batch = Batch::default();
        for _ in 0..MAX_BATCH_MESSAGES - 1 {
            let at = batch.begin_reply();
            batch.end_reply(at, (), None);
        }
        assert!(!batch.is_full());
        let at = batch.begin_reply();
        batch.end_reply(at, (), None);
        assert!(batch.is_full());
        let mut big = Batch::default();
        let at = big.begin_reply();
        big.out.resize(MAX_BATCH_REPLY_BYTES, b' ');
        big.end_reply(at, (), None);
        assert!(big.is_full());
    }

    #[test]
    fn a_grown_output_buffer_is_not_kept() {
        let mut batch: Batch<()> = Batch::default();
        batch.out.reserve(MAX_KEPT_OUTPUT_BYTES + 1);
        batch.clear();
        assert_eq!(batch.out.capacity(), 0);
    }
}
