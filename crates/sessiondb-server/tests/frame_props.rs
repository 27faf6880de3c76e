//! Property tests of the server's WebSocket frame reader (`sessiondb_server::frame`).
//!
//! Client frames are made by a reference encoder written here from RFC 6455 §5.2, independent
//! of the reader's own helpers, and fed to a `FrameReader` in reads of random sizes, the way a
//! slow or bursty socket delivers them.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use sessiondb_server::frame::{Event, FrameReader, ReadError};

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Limit used where the size limit is not what is tested.
const BIG_LIMIT: usize = 1 << 20;

/// An owned copy of an [`Event`], kept after the reader's buffer has moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Text(String),
    Binary,
    Ping(Vec<u8>),
    Pong,
    Close { code: Option<u16>, payload: Vec<u8> },
}

fn own(event: Event<'_>) -> Got {
    match event {
        Event::Text(text) => Got::Text(text.to_owned()),
        Event::Binary => Got::Binary,
        Event::Ping(payload) => Got::Ping(payload.to_vec()),
        Event::Pong => Got::Pong,
        Event::Close { code, payload } => Got::Close {
            code,
            payload: payload.to_vec(),
        },
    }
}

/// Appends one masked client frame (RFC 6455 §5.2): FIN and opcode, the MASK bit with the
/// shortest payload length encoding (7 bits, 16 bits after 126, 64 bits after 127), the masking
/// key, and the payload XORed with the key byte `i % 4` (§5.3).
fn encode(out: &mut Vec<u8>, fin: bool, opcode: u8, key: [u8; 4], payload: &[u8]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let len = payload.len();
    if let Some(short) = u8::try_from(len).ok().filter(|&n| n <= 125) {
        out.push(0x80 | short);
    } else if let Ok(medium) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&medium.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

/// How bytes reach the reader: its buffer size, how many bytes came with the upgrade request,
/// and the sizes of the reads that follow (used in turn, repeating).
#[derive(Debug, Clone)]
struct Feed {
    capacity: usize,
    /// Picks how much of the stream came with the upgrade request; `None`: nothing did.
    early: Option<Index>,
    reads: Vec<usize>,
}

fn feed() -> impl Strategy<Value = Feed> {
    let reads = prop_oneof![
        Just(vec![usize::MAX]),
        Just(vec![1]),
        vec(1usize..8, 1..16),
        vec(1usize..300, 1..16),
        vec(1usize..70_000, 1..4),
    ];
    let capacity = prop_oneof![0usize..64, Just(8 * 1024)];
    // Usually nothing arrives with the upgrade; sometimes a random prefix does.
    (capacity, proptest::option::of(any::<Index>()), reads).prop_map(|(capacity, early, reads)| {
        Feed {
            capacity,
            early,
            reads,
        }
    })
}

/// Feeds all of `bytes` to a fresh reader as `feed` says, taking every event after each read.
/// Returns the events and the error that stopped reading, if any (nothing is read after it).
fn run(bytes: &[u8], max_message: usize, feed: &Feed) -> (Vec<Got>, Option<ReadError>) {
    // `Index::index(n + 1)` can pick every prefix length from 0 to n.
    let early = feed.early.map_or(0, |e| e.index(bytes.len() + 1));
    let mut reader = FrameReader::new(feed.capacity, max_message, &bytes[..early]);
    let mut sent = early;
    let mut got = Vec::new();
    let mut reads = feed.reads.iter().cycle();
    loop {
        loop {
            match reader.next_event() {
                Ok(Some(event)) => got.push(own(event)),
                Ok(None) => break,
                Err(e) => return (got, Some(e)),
            }
        }
        if sent == bytes.len() {
            return (got, None);
        }
        let want = reads.next().copied().unwrap_or(usize::MAX);
        let spare = reader.spare();
        assert!(!spare.is_empty(), "spare() left no room to read into");
        let n = want.min(spare.len()).min(bytes.len() - sent);
        spare[..n].copy_from_slice(&bytes[sent..sent + n]);
        reader.filled(n);
        sent += n;
        assert!(reader.buffered() <= sent);
    }
}

/// A control frame sent between the fragments of a data message.
#[derive(Debug, Clone)]
enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

impl Control {
    fn encode(&self, out: &mut Vec<u8>, key: [u8; 4]) {
        match self {
            Control::Ping(p) => encode(out, true, OP_PING, key, p),
            Control::Pong(p) => encode(out, true, OP_PONG, key, p),
        }
    }

    fn expected(&self) -> Got {
        match self {
            Control::Ping(p) => Got::Ping(p.clone()),
            Control::Pong(_) => Got::Pong,
        }
    }
}

fn control() -> impl Strategy<Value = Control> {
    prop_oneof![
        vec(any::<u8>(), 0..=125).prop_map(Control::Ping),
        vec(any::<u8>(), 0..=125).prop_map(Control::Pong),
    ]
}

/// How a data message is cut into frames and what is sent between them.
#[derive(Debug, Clone)]
struct Split {
    /// Cut points (empty: one frame); repeated cuts make empty fragments, which are legal.
    cuts: Vec<Index>,
    /// `between[i]` goes after fragment `i`, when there is a fragment after it.
    between: Vec<Option<Control>>,
    /// Masking keys, used frame by frame in turn.
    keys: Vec<[u8; 4]>,
}

fn split() -> impl Strategy<Value = Split> {
    (
        prop_oneof![Just(Vec::new()), vec(any::<Index>(), 1..6)],
        vec(proptest::option::of(control()), 6),
        vec(any::<[u8; 4]>(), 1..4),
    )
        .prop_map(|(cuts, between, keys)| Split {
            cuts,
            between,
            keys,
        })
}

/// Appends a data message as `split` says; returns the events it must produce, in order
/// (the controls between fragments first, the message last).
fn encode_data(
    out: &mut Vec<u8>,
    opcode: u8,
    payload: &[u8],
    split: &Split,
    done: Got,
) -> Vec<Got> {
    let mut cuts: Vec<usize> = split
        .cuts
        .iter()
        .map(|c| c.index(payload.len() + 1))
        .collect();
    cuts.sort_unstable();
    cuts.push(payload.len());
    let mut keys = split.keys.iter().copied().cycle();
    let mut key = || keys.next().unwrap_or([0; 4]);
    let mut expected = Vec::new();
    let mut from = 0;
    for (i, &to) in cuts.iter().enumerate() {
        let last = i + 1 == cuts.len();
        let op = if i == 0 { opcode } else { OP_CONTINUATION };
        encode(out, last, op, key(), &payload[from..to]);
        from = to;
        if let Some(Some(c)) = split.between.get(i).filter(|_| !last) {
            c.encode(out, key());
            expected.push(c.expected());
        }
    }
    expected.push(done);
    expected
}

/// One message of a random conversation.
#[derive(Debug, Clone)]
enum Message {
    Text(String, Split),
    Binary(Vec<u8>, Split),
    Control(Control, [u8; 4]),
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        any::<String>(),
        vec(any::<char>(), 0..400).prop_map(String::from_iter),
        "[a-zé€😀]{0,200}",
    ]
}

fn binary() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        30 => vec(any::<u8>(), 0..1000),
        // Around the 16-bit/64-bit length encoding boundary.
        1 => (65_530usize..65_542, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        3 => (text(), split()).prop_map(|(t, s)| Message::Text(t, s)),
        2 => (binary(), split()).prop_map(|(b, s)| Message::Binary(b, s)),
        1 => (control(), any::<[u8; 4]>()).prop_map(|(c, k)| Message::Control(c, k)),
    ]
}

/// A close frame: empty, or a code with a UTF-8 reason that fits in 125 bytes.
fn close() -> impl Strategy<Value = Option<Vec<u8>>> {
    let reason = vec(any::<char>(), 0..60).prop_map(|chars| {
        let mut reason = String::new();
        for c in chars {
            if reason.len() + c.len_utf8() > 123 {
                break;
            }
            reason.push(c);
        }
        reason
    });
    proptest::option::of(prop_oneof![
        Just(Vec::new()),
        (any::<u16>(), reason).prop_map(|(code, reason)| {
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(reason.as_bytes());
            payload
        }),
    ])
}

/// Encodes a conversation; returns its bytes and the events it must produce.
fn conversation(messages: &[Message], close: Option<&[u8]>) -> (Vec<u8>, Vec<Got>) {
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    for m in messages {
        match m {
            Message::Text(t, s) => expected.extend(encode_data(
                &mut bytes,
                OP_TEXT,
                t.as_bytes(),
                s,
                Got::Text(t.clone()),
            )),
            Message::Binary(b, s) => {
                expected.extend(encode_data(&mut bytes, OP_BINARY, b, s, Got::Binary))
            }
            Message::Control(c, key) => {
                c.encode(&mut bytes, *key);
                expected.push(c.expected());
            }
        }
    }
    if let Some(payload) = close {
        encode(&mut bytes, true, OP_CLOSE, [1, 2, 3, 4], payload);
        let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
        expected.push(Got::Close {
            code,
            payload: payload.to_vec(),
        });
    }
    (bytes, expected)
}

/// A frame with arbitrary header fields, valid or not, for the robustness property.
fn wild_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![4 => Just(0u8), 1 => 0u8..8],
        any::<bool>(),
        0u8..16,
        prop_oneof![8 => Just(true), 1 => Just(false)],
        prop_oneof![vec(any::<u8>(), 0..130), vec(any::<u8>(), 0..700)],
        any::<[u8; 4]>(),
    )
        .prop_map(|(rsv, fin, opcode, masked, payload, key)| {
            let mut out = Vec::new();
            encode(&mut out, fin, opcode, key, &payload);
            out[0] |= rsv << 4;
            if !masked {
                out[1] &= 0x7F;
            }
            out
        })
}

/// Byte streams for the robustness property: noise, wild frames, or a valid conversation
/// with some bytes corrupted.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..600),
        vec(wild_frame(), 0..8).prop_map(|frames| frames.concat()),
        (
            vec(message(), 0..4),
            close(),
            vec((any::<Index>(), 1u8..=255), 0..4)
        )
            .prop_map(|(messages, close, flips)| {
                let (mut bytes, _) = conversation(&messages, close.as_deref());
                if !bytes.is_empty() {
                    for (at, x) in flips {
                        let i = at.index(bytes.len());
                        bytes[i] ^= x;
                    }
                }
                bytes
            }),
    ]
}

/// A text message's bytes, valid UTF-8 or made invalid in one of the ways decoders get wrong.
fn maybe_utf8() -> impl Strategy<Value = Vec<u8>> {
    let damage = prop_oneof![
        Just(vec![0xFF]),
        Just(vec![0x80]),
        Just(vec![0xE2, 0x82]),
        Just(vec![0xC0, 0x80]),
        Just(vec![0xED, 0xA0, 0x80]),
        Just(vec![0xF4, 0x90, 0x80, 0x80]),
        Just(vec![0xF5]),
        // Removes the byte at the position instead: may cut a character.
        Just(Vec::new()),
    ];
    (text(), vec((any::<Index>(), damage), 0..3)).prop_map(|(t, damage)| {
        let mut bytes = t.into_bytes();
        for (at, insert) in damage {
            let i = at.index(bytes.len() + 1);
            if insert.is_empty() {
                if i < bytes.len() {
                    bytes.remove(i);
                }
            } else {
                bytes.splice(i..i, insert);
            }
        }
        bytes
    })
}

/// A payload of exactly `len` bytes: text is built from `seed` and padded with ASCII so it
/// stays valid UTF-8.
fn sized_payload(text: bool, seed: &str, len: usize) -> Vec<u8> {
    if !text {
        return (0..len).map(|i| i as u8).collect();
    }
    let mut out = String::new();
    for c in seed.chars() {
        if out.len() + c.len_utf8() > len {
            break;
        }
        out.push(c);
    }
    while out.len() < len {
        out.push('x');
    }
    out.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every message sent comes out exactly once, whole and in order, however it is
    /// fragmented and however the bytes are split into reads.
    #[test]
    fn decodes_what_was_sent(
        messages in vec(message(), 0..8),
        close in close(),
        feed in feed(),
    ) {
        let (bytes, expected) = conversation(&messages, close.as_deref());
        let (got, error) = run(&bytes, BIG_LIMIT, &feed);
        prop_assert_eq!(error, None);
        prop_assert_eq!(got, expected);
    }

    /// Arbitrary bytes never panic and never stall, and what comes out (events, then at most
    /// one error) does not depend on how the bytes were split into reads.
    #[test]
    fn arbitrary_bytes_are_handled_the_same_in_any_reads(
        bytes in hostile_bytes(),
        max_message in prop_oneof![1usize..300, Just(2048usize)],
        feed in feed(),
    ) {
        let whole = Feed { capacity: 8 * 1024, early: None, reads: vec![usize::MAX] };
        let at_once = run(&bytes, max_message, &whole);
        let in_reads = run(&bytes, max_message, &feed);
        prop_assert_eq!(at_once, in_reads);
    }

    /// A message of exactly `max_message` bytes (counted across fragments) is accepted and
    /// reading goes on; one byte more is refused with `TooBig`.
    #[test]
    fn size_limit_counts_the_whole_message(
        max_message in 1usize..400,
        over in any::<bool>(),
        is_text in any::<bool>(),
        seed in text(),
        split in split(),
        feed in feed(),
    ) {
        let len = max_message + usize::from(over);
        let payload = sized_payload(is_text, &seed, len);
        let (opcode, done) = if is_text {
            let text = String::from_utf8(payload.clone()).unwrap_or_default();
            (OP_TEXT, Got::Text(text))
        } else {
            (OP_BINARY, Got::Binary)
        };
        let mut bytes = Vec::new();
        let mut expected = encode_data(&mut bytes, opcode, &payload, &split, done);
        // A following message shows the reader is still in step.
        encode(&mut bytes, true, OP_TEXT, [9, 8, 7, 6], b"a");
        expected.push(Got::Text("a".to_owned()));
        let (got, error) = run(&bytes, max_message, &feed);
        if over {
            prop_assert_eq!(error, Some(ReadError::TooBig));
            // Only controls sent between earlier fragments may have come out.
            prop_assert!(got.len() < expected.len() - 1);
            prop_assert_eq!(&got[..], &expected[..got.len()]);
        } else {
            prop_assert_eq!(error, None);
            prop_assert_eq!(got, expected);
        }
    }

    /// A text message is refused with `InvalidUtf8` exactly when its bytes as a whole are not
    /// UTF-8; fragment boundaries (even inside a character) do not matter.
    #[test]
    fn utf8_is_judged_on_the_whole_message(
        payload in maybe_utf8(),
        split in split(),
        feed in feed(),
    ) {
        let valid = std::str::from_utf8(&payload).ok().map(str::to_owned);
        let done = Got::Text(valid.clone().unwrap_or_default());
        let mut bytes = Vec::new();
        let expected = encode_data(&mut bytes, OP_TEXT, &payload, &split, done);
        let (got, error) = run(&bytes, BIG_LIMIT, &feed);
        if valid.is_some() {
            prop_assert_eq!(error, None);
            prop_assert_eq!(got, expected);
        } else {
            prop_assert_eq!(error, Some(ReadError::InvalidUtf8));
            prop_assert!(got.len() < expected.len());
            prop_assert_eq!(&got[..], &expected[..got.len()]);
        }
    }
}
