//! Framing of syslog over TCP (RFC 6587): octet counting (`LEN SP MSG`, §3.4.1) and
//! non-transparent framing (one message per line, §3.4.2), told apart at the start of every
//! frame, so a connection may use either (or switch): a frame that opens with digits and a
//! space is octet-counted; anything else, digits followed by another character included (a
//! timestamp without `<PRI>`), is a line. Line ends (`\n`, `\r\n`) between frames are
//! skipped.
//!
//! Frames are bounded by `max` bytes. A frame over it, a zero or overlong length, or an
//! octet-counted frame cut short by the end of the stream is a [`Rejection`], and the framer
//! moves on: past the announced length of an oversize counted frame, to the next line end
//! after a line too long or a length that cannot be read. It never buffers more than `max`
//! bytes plus what one `step` is given.
//!
//! The framer is synchronous and keeps its state between calls, so the connection can feed it
//! whatever arrived and stop at any point (a batch timer) without losing a byte.

use std::fmt;

/// Digits of a length at most: 10 already announce more than 4 GiB.
const MAX_LENGTH_DIGITS: usize = 10;

/// What one [`Framer::step`] completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// one syslog message, without its line end; line ends inside an octet-counted message
    /// are turned into spaces so that it stays one line for the syslog adapter
    Message(Vec<u8>),
    /// a frame dropped, and why
    Rejected(Rejection),
}

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// an octet-counted frame announced more than `max` bytes (skipped whole)
    FrameTooLong { len: u64, max: usize },
    /// a line longer than `max` bytes (skipped to its end)
    LineTooLong { max: usize },
    /// `0 `: an octet-counted frame of no bytes
    ZeroLength,
    /// a length of more than 10 digits (skipped to the next line end)
    LengthTooLong,
    /// the stream ended `missing` bytes before the end of an octet-counted frame
    Truncated { missing: usize },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::FrameTooLong { len, max } => {
                write!(
                    f,
                    "octet-counted frame of {len} bytes is over {max}; skipped"
                )
            }
            Rejection::LineTooLong { max } => {
                write!(f, "line longer than {max} bytes; skipped to its end")
            }
            Rejection::ZeroLength => f.write_str("octet-counted frame of length 0"),
            Rejection::LengthTooLong => write!(
                f,
                "frame length of more than {MAX_LENGTH_DIGITS} digits; skipped to the next line end"
            ),
            Rejection::Truncated { missing } => write!(
                f,
                "the connection ended {missing} bytes before the end of an octet-counted frame"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// between frames
    Start,
    /// reading the digits of a length (also kept in `message`, in case they open a line)
    Length(u64),
    /// inside an octet-counted message: bytes still to come
    Counted(usize),
    /// inside an oversize octet-counted frame: bytes still to drop
    Skip(u64),
    /// inside a line
    Line,
    /// dropping the rest of a line (too long, or after a length that cannot be read)
    DiscardLine,
}

/// Splits a TCP byte stream into syslog messages.
#[derive(Debug)]
pub(crate) struct Framer {
    max: usize,
    state: State,
    message: Vec<u8>,
}

impl Framer {
    /// A framer for messages of at most `max` bytes.
    pub(crate) fn new(max: usize) -> Framer {
        Framer {
            max,
            state: State::Start,
            message: Vec::new(),
        }
    }

    /// Takes bytes of `input` up to the end of the next frame: how many it took, and the
    /// frame that ended there, if one did. It takes at least one byte of a non-empty input.
    pub(crate) fn step(&mut self, input: &[u8]) -> (usize, Option<Frame>) {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Start => match input[i] {
                    b'\n' | b'\r' => i += 1,
                    d @ b'0'..=b'9' => {
                        self.message.push(d);
                        self.state = State::Length(u64::from(d - b'0'));
                        i += 1;
                    }
                    // the byte is the line's first: `Line` takes it
                    _ => self.state = State::Line,
                },
                State::Length(len) => match input[i] {
                    d @ b'0'..=b'9' => {
                        i += 1;
                        if self.message.len() >= MAX_LENGTH_DIGITS {
                            self.message.clear();
                            self.state = State::DiscardLine;
                            return (i, Some(Frame::Rejected(Rejection::LengthTooLong)));
                        }
                        self.message.push(d);
                        self.state = State::Length(len * 10 + u64::from(d - b'0'));
                    }
                    b' ' => {
                        i += 1;
                        self.message.clear();
                        let rejected = match usize::try_from(len) {
                            Ok(0) => {
                                self.state = State::Start;
                                Rejection::ZeroLength
                            }
                            Ok(n) if n <= self.max => {
                                self.state = State::Counted(n);
                                continue;
                            }
                            _ => {
                                self.state = State::Skip(len);
                                Rejection::FrameTooLong { len, max: self.max }
                            }
                        };
                        return (i, Some(Frame::Rejected(rejected)));
                    }
                    // not a length: a line that starts with digits (kept in `message`)
                    _ => self.state = State::Line,
                },
                State::Counted(missing) => {
                    let take = missing.min(input.len() - i);
                    self.message.extend_from_slice(&input[i..i + take]);
                    i += take;
                    if take < missing {
                        self.state = State::Counted(missing - take);
                        continue;
                    }
                    self.state = State::Start;
                    let message = one_line(std::mem::take(&mut self.message));
                    if !message.is_empty() {
                        return (i, Some(Frame::Message(message)));
                    }
                }
                State::Skip(left) => {
                    let take = left.min((input.len() - i) as u64);
                    // `take` is at most what is left of `input`, a usize
                    i += take as usize;
                    self.state = if take < left {
                        State::Skip(left - take)
                    } else {
                        State::Start
                    };
                }
                State::Line => {
                    let rest = &input[i..];
                    let end = rest.iter().position(|b| *b == b'\n');
                    let part = &rest[..end.unwrap_or(rest.len())];
                    self.message.extend_from_slice(part);
                    i += part.len();
                    if self.message.len() > self.max {
                        self.message.clear();
                        self.state = State::DiscardLine;
                        let max = self.max;
                        return (i, Some(Frame::Rejected(Rejection::LineTooLong { max })));
                    }
                    if end.is_some() {
                        i += 1; // the `\n`
                        self.state = State::Start;
                        return (i, self.take_line());
                    }
                }
                State::DiscardLine => match input[i..].iter().position(|b| *b == b'\n') {
                    Some(at) => {
                        i += at + 1;
                        self.state = State::Start;
                    }
                    None => i = input.len(),
                },
            }
        }
        (i, None)
    }

    /// The end of the stream: the frame it completes or cuts short, if any. The framer starts
    /// afresh.
    pub(crate) fn finish(&mut self) -> Option<Frame> {
        let state = std::mem::replace(&mut self.state, State::Start);
        match state {
            // a last line without its line end still counts (digits alone are a line too)
            State::Line | State::Length(_) => self.take_line(),
            State::Counted(missing) => {
                self.message.clear();
                Some(Frame::Rejected(Rejection::Truncated { missing }))
            }
            State::Start | State::Skip(_) | State::DiscardLine => {
                self.message.clear();
                None
            }
        }
    }

    /// The line in `message` (without a trailing `\r`), unless it is empty.
    fn take_line(&mut self) -> Option<Frame> {
        let mut line = std::mem::take(&mut self.message);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        (!line.is_empty()).then_some(Frame::Message(line))
    }
}

/// An octet-counted message as one line: without trailing line ends, each run of inner ones
/// (`\n`, `\r\n`) as one space.
fn one_line(mut message: Vec<u8>) -> Vec<u8> {
    while matches!(message.last(), Some(b'\n' | b'\r')) {
        message.pop();
    }
    if !message.iter().any(|b| matches!(b, b'\n' | b'\r')) {
        return message;
    }
    let mut out = Vec::with_capacity(message.len());
    let mut in_break = false;
    for b in message {
        let is_break = matches!(b, b'\n' | b'\r');
        if !is_break {
            out.push(b);
        } else if !in_break {
            out.push(b' ');
        }
        in_break = is_break;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame of `input` fed `chunk` bytes at a time, then the end.
    fn frames(max: usize, input: &[u8], chunk: usize) -> Vec<Frame> {
        let mut framer = Framer::new(max);
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            let mut used = 0;
            while used < piece.len() {
                let (n, frame) = framer.step(&piece[used..]);
                assert!(n > 0, "no progress at {used} of {piece:?}");
                used += n;
                out.extend(frame);
            }
        }
        out.extend(framer.finish());
        out
    }

    fn msg(text: &str) -> Frame {
        Frame::Message(text.as_bytes().to_vec())
    }

    #[test]
    fn octet_counted_and_lf_framed_messages_mix_in_any_chunking() {
        let input = b"<13>1 - a lf line\r\n11 <13>counted\n5 <14>b\n<15>last without end";
        let want = vec![
            msg("<13>1 - a lf line"),
            msg("<13>counted"),
            msg("<14>b"),
            msg("<15>last without end"),
        ];
        for chunk in 1..=input.len() {
            assert_eq!(frames(64, input, chunk), want, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_counted_message_keeps_its_inner_line_ends_as_spaces() {
        assert_eq!(
            frames(64, b"15 <13>two\r\nlines\n", 3),
            vec![msg("<13>two lines")]
        );
    }

    #[test]
    fn digits_not_followed_by_a_space_open_a_line() {
        assert_eq!(
            frames(64, b"2026-11-25T10:00:00Z host x\n42\n", 2),
            vec![msg("2026-11-25T10:00:00Z host x"), msg("42")]
        );
        assert_eq!(frames(64, b"123", 1), vec![msg("123")], "digits at the end");
    }

    #[test]
    fn bad_frames_are_rejected_and_the_stream_goes_on() {
        let first = "<13>counted, no line end";
        let mut input = format!("{} {first}0 <13>after zero\n", first.len()).into_bytes();
        input.extend_from_slice(b"30 ");
        input.extend_from_slice(&[b'x'; 30]);
        input.extend_from_slice(b"<13>after oversize\n");
        input.extend_from_slice(&[b'y'; 40]);
        input.extend_from_slice(b"\n<13>after long line\n");
        input.extend_from_slice(b"12345678901 junk\n<13>after long length\n");
        input.extend_from_slice(b"9 <13>cut");
        let want = vec![
            msg(first),
            Frame::Rejected(Rejection::ZeroLength),
            msg("<13>after zero"),
            Frame::Rejected(Rejection::FrameTooLong { len: 30, max: 25 }),
            msg("<13>after oversize"),
            Frame::Rejected(Rejection::LineTooLong { max: 25 }),
            msg("<13>after long line"),
            Frame::Rejected(Rejection::LengthTooLong),
            msg("<13>after long length"),
            Frame::Rejected(Rejection::Truncated { missing: 2 }),
        ];
        for chunk in [1, 2, 7, input.len()] {
            assert_eq!(frames(25, &input, chunk), want, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_huge_announced_length_is_skipped_without_buffering() {
        let mut framer = Framer::new(16);
        assert_eq!(
            framer.step(b"9999999999 "),
            (
                11,
                Some(Frame::Rejected(Rejection::FrameTooLong {
                    len: 9_999_999_999,
                    max: 16
                }))
            )
        );
        assert_eq!(framer.step(&[0u8; 4096]), (4096, None));
        assert!(
            framer.message.capacity() <= 16,
            "nothing kept of a skipped frame"
        );
        assert_eq!(framer.finish(), None);
    }
}
