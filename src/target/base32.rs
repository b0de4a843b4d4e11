//! Base32 (RFC 4648, lower-case alphabet, no padding), the text form of an onion address.
//! Decoding accepts either case and only canonical input: no padding, no stray characters, zero
//! leftover bits.

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Why text is not canonical base32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DecodeError {
    /// `out` does not have the length the text decodes to, or no input has this length.
    Length,
    /// The character at this byte index is not in the alphabet.
    Char(usize),
    /// The last character has bits set past the end of the data.
    TrailingBits,
}

/// The number of characters `len` bytes encode to.
pub(super) const fn encoded_len(len: usize) -> usize {
    (len * 8).div_ceil(5)
}

/// Writes the encoding of `data` to the start of `out`; returns the number of bytes written, or
/// `None` (writing nothing) when `out` is too short.
pub(super) fn encode(data: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = encoded_len(data.len());
    let out = out.get_mut(..len)?;
    let mut acc: u16 = 0;
    let mut bits = 0;
    let mut chars = out.iter_mut();
    for &byte in data {
        acc = (acc << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            *chars.next()? = ALPHABET[usize::from((acc >> bits) & 31)];
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        *chars.next()? = ALPHABET[usize::from((acc << (5 - bits)) & 31)];
    }
    Some(len)
}

fn value(c: u8) -> Option<u8> {
    match c {
        b'a'..=b'z' => Some(c - b'a'),
        b'A'..=b'Z' => Some(c - b'A'),
        b'2'..=b'7' => Some(c - b'2' + 26),
        _ => None,
    }
}

/// Decodes `text` (either case) into exactly `out`.
pub(super) fn decode(text: &[u8], out: &mut [u8]) -> Result<(), DecodeError> {
    if encoded_len(out.len()) != text.len() {
        return Err(DecodeError::Length);
    }
    let mut acc: u16 = 0;
    let mut bits = 0;
    let mut bytes = out.iter_mut();
    for (i, &c) in text.iter().enumerate() {
        acc = (acc << 5) | u16::from(value(c).ok_or(DecodeError::Char(i))?);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *bytes.next().ok_or(DecodeError::Length)? = (acc >> bits) as u8;
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        return Err(DecodeError::TrailingBits);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 section 10, lower-cased and without padding.
    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "my"),
        ("fo", "mzxq"),
        ("foo", "mzxw6"),
        ("foob", "mzxw6yq"),
        ("fooba", "mzxw6ytb"),
        ("foobar", "mzxw6ytboi"),
    ];

    #[test]
    fn rfc_4648_vectors() {
        for (data, text) in VECTORS {
            let mut out = [0_u8; 16];
            assert_eq!(encode(data.as_bytes(), &mut out), Some(text.len()), "{data}");
            assert_eq!(&out[..text.len()], text.as_bytes(), "{data}");
            let mut back = vec![0_u8; data.len()];
            assert_eq!(decode(text.as_bytes(), &mut back), Ok(()), "{text}");
            assert_eq!(back, data.as_bytes());
            assert_eq!(decode(text.to_uppercase().as_bytes(), &mut back), Ok(()), "upper case {text}");
            assert_eq!(back, data.as_bytes());
        }
    }

    #[test]
    fn rejects_what_is_not_canonical() {
        let mut out = [0_u8; 3];
        assert_eq!(decode(b"mzxw6", &mut out[..2]), Err(DecodeError::Length));
        assert_eq!(decode(b"mzxw1", &mut out), Err(DecodeError::Char(4)), "1 is not in the alphabet");
        assert_eq!(decode(b"mz=w6", &mut out), Err(DecodeError::Char(2)));
        // "my" is "f"; "mz" sets a bit past the end of the byte.
        assert_eq!(decode(b"mz", &mut out[..1]), Err(DecodeError::TrailingBits));
        assert_eq!(encode(b"foo", &mut [0; 4]), None, "too short an output");
    }

    #[test]
    fn round_trips_every_byte_value() {
        let data: Vec<u8> = (0..=255).collect();
        let mut text = vec![0_u8; encoded_len(data.len())];
        assert_eq!(encode(&data, &mut text), Some(text.len()));
        assert!(text.iter().all(|c| ALPHABET.contains(c)));
        let mut back = vec![0_u8; data.len()];
        decode(&text, &mut back).unwrap();
        assert_eq!(back, data);
    }
}
