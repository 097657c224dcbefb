//! The signed token printed as a QR code on every check-in notice:
//! `<prefix>.<base32 payload>.<base32 Ed25519 signature>`.
//!
//! The payload carries the notice id, the decision id, the signing key's id and an expiry.
//! Ed25519 lets anyone holding the public key verify a token; a signature stops forgery, not
//! photocopies, so the server still records each month's check-in once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use thiserror::Error;
use uuid::Uuid;

use super::ids::{DecisionId, KeyId};

/// First part of every token: names the format and its version. Upper case, like base32, so
/// the whole token fits the QR code's compact alphanumeric mode.
pub const TOKEN_PREFIX: &str = "BHTN1";

/// Domain separation of derived signing keys.
const DERIVATION_LABEL: &[u8] = b"benefit.checkin notice signing key v1\0";

/// Version byte at the head of the payload.
const PAYLOAD_VERSION: u8 = 1;

/// Why a scanned code is not a valid notice; each reason is shown to the kiosk user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TokenRefusal {
    /// Not in the token format at all.
    #[error("not a check-in notice code")]
    BadFormat,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// Signed with a key id nobody issued.
    #[error("signed with an unknown key")]
    UnknownKey,
    /// Signed with a retired key.
    #[error("signed with a retired key")]
    RetiredKey,
    /// Past its expiry.
    #[error("notice expired")]
    Expired,
    /// The notice id belongs to another decision than the payload claims.
    #[error("notice belongs to another decision")]
    OtherDecision,
    /// No notice with this id was ever issued.
    #[error("no such notice")]
    UnknownNotice,
}

/// What a token says, once its signature has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticePayload {
    /// The notice printed.
    pub notice_id: Uuid,
    /// The decision it is for.
    pub decision_id: DecisionId,
    /// The key that signed it.
    pub key_id: KeyId,
    /// When it stops being valid; whole seconds.
    pub expires_at: DateTime<Utc>,
}

impl NoticePayload {
    /// The payload's bytes: version, notice id, expiry, then the key id and the decision id,
    /// each behind its length.
    fn encode(&self) -> Vec<u8> {
        let key = self.key_id.as_str().as_bytes();
        let decision = self.decision_id.as_str().as_bytes();
        let mut bytes = Vec::with_capacity(1 + 16 + 8 + 2 + key.len() + decision.len());
        bytes.push(PAYLOAD_VERSION);
        bytes.extend_from_slice(self.notice_id.as_bytes());
        bytes.extend_from_slice(&self.expires_at.timestamp().to_be_bytes());
        // Both lengths fit a byte: the id types cap them at 32 and 64.
        bytes.push(key.len() as u8);
        bytes.extend_from_slice(key);
        bytes.push(decision.len() as u8);
        bytes.extend_from_slice(decision);
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut reader = Reader(bytes);
        if reader.take(1)? != [PAYLOAD_VERSION] {
            return None;
        }
        let notice_id = Uuid::from_slice(reader.take(16)?).ok()?;
        let seconds = i64::from_be_bytes(reader.take(8)?.try_into().ok()?);
        let expires_at = DateTime::from_timestamp(seconds, 0)?;
        let key_len = usize::from(reader.take(1)?[0]);
        let key_id = KeyId::parse(std::str::from_utf8(reader.take(key_len)?).ok()?).ok()?;
        let decision_len = usize::from(reader.take(1)?[0]);
        let decision_id =
            DecisionId::parse(std::str::from_utf8(reader.take(decision_len)?).ok()?).ok()?;
        if !reader.0.is_empty() {
            return None;
        }
        Some(Self {
            notice_id,
            decision_id,
            key_id,
            expires_at,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.0.len() < count {
            return None;
        }
        let (head, rest) = self.0.split_at(count);
        self.0 = rest;
        Some(head)
    }
}

/// Signs notices with the current key.
pub struct NoticeSigner {
    key_id: KeyId,
    key: SigningKey,
}

impl std::fmt::Debug for NoticeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl NoticeSigner {
    /// A signer from a 32-byte Ed25519 seed; the same seed gives the same key on every start.
    pub fn from_seed(key_id: KeyId, seed: &[u8; 32]) -> Self {
        Self {
            key_id,
            key: SigningKey::from_bytes(seed),
        }
    }

    /// A signer for `key_id` whose seed is derived from this signer's seed (HMAC-SHA-256 over
    /// the key id). Rotated keys are derived this way, so no private key is ever stored: the
    /// configured secret and a key's id give its private half back on every start and instance.
    pub fn derive(&self, key_id: KeyId) -> Self {
        // HMAC pads a short key with zeros to the block size, so this is HMAC keyed by the seed.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.key.to_bytes());
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
        mac.update(DERIVATION_LABEL);
        mac.update(key_id.as_str().as_bytes());
        let seed: [u8; 32] = mac.finalize().into_bytes().into();
        Self::from_seed(key_id, &seed)
    }

    /// The key id written into every token this signer issues.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The public half, for the key ring and for kiosks.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Issues the token of notice `notice_id` of `decision_id`, valid until `expires_at`
    /// (truncated to the second).
    pub fn sign(
        &self,
        notice_id: Uuid,
        decision_id: DecisionId,
        expires_at: DateTime<Utc>,
    ) -> (NoticePayload, String) {
        let expires_at = DateTime::from_timestamp(expires_at.timestamp(), 0).unwrap_or(expires_at);
        let payload = NoticePayload {
            notice_id,
            decision_id,
            key_id: self.key_id.clone(),
            expires_at,
        };
        let signed = format!("{TOKEN_PREFIX}.{}", BASE32_NOPAD.encode(&payload.encode()));
        let signature = self.key.sign(signed.as_bytes());
        let token = format!("{signed}.{}", BASE32_NOPAD.encode(&signature.to_bytes()));
        (payload, token)
    }
}

/// Why a key ring could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyRingError {
    /// Two keys with one id.
    #[error("key id {0} is listed twice")]
    DuplicateKeyId(KeyId),
    /// Bytes that are not an Ed25519 public key.
    #[error("key {0} is not a valid Ed25519 public key")]
    InvalidPublicKey(KeyId),
}

#[derive(Debug, Clone)]
struct RingKey {
    public: VerifyingKey,
    retired: bool,
}

/// The public keys tokens are verified with, by key id: several at once, so keys can rotate
/// without invalidating notices already printed.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: BTreeMap<KeyId, RingKey>,
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a raw 32-byte public key; a retired key stays known so its tokens get their own
    /// reason.
    pub fn insert(
        &mut self,
        key_id: KeyId,
        public_key: &[u8; 32],
        retired: bool,
    ) -> Result<(), KeyRingError> {
        if self.keys.contains_key(&key_id) {
            return Err(KeyRingError::DuplicateKeyId(key_id));
        }
        let public = VerifyingKey::from_bytes(public_key)
            .map_err(|_| KeyRingError::InvalidPublicKey(key_id.clone()))?;
        self.keys.insert(key_id, RingKey { public, retired });
        Ok(())
    }

    /// True when `key_id` is in the ring and not retired.
    pub fn accepts(&self, key_id: &KeyId) -> bool {
        self.keys.get(key_id).is_some_and(|key| !key.retired)
    }

    /// Every key in the ring by id: its raw public key and whether it is retired.
    pub fn keys(&self) -> impl Iterator<Item = (&KeyId, [u8; 32], bool)> {
        self.keys
            .iter()
            .map(|(key_id, key)| (key_id, key.public.to_bytes(), key.retired))
    }

    /// Checks a scanned text and returns what it says.
    pub fn verify(&self, scanned: &str, now: DateTime<Utc>) -> Result<NoticePayload, TokenRefusal> {
        self.open(scanned)?.verify(now)
    }

    /// Checks everything about a scanned text but its signature: the format, the payload and
    /// the key. The signature is the costly part, so it is left to [`Sealed::verify`] or, for
    /// many tokens at once, [`verify_all`].
    ///
    /// Scanners may send the text in lower case or with a trailing newline; base32 does not
    /// care about case, so the text is trimmed and upper-cased before anything else.
    pub fn open(&self, scanned: &str) -> Result<Sealed, TokenRefusal> {
        let text = scanned.trim().to_ascii_uppercase();
        let mut parts = text.split('.');
        let (Some(prefix), Some(payload_text), Some(signature_text), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRefusal::BadFormat);
        };
        if prefix != TOKEN_PREFIX {
            return Err(TokenRefusal::BadFormat);
        }
        let payload_bytes = BASE32_NOPAD
            .decode(payload_text.as_bytes())
            .map_err(|_| TokenRefusal::BadFormat)?;
        let signature_bytes: [u8; 64] = BASE32_NOPAD
            .decode(signature_text.as_bytes())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(TokenRefusal::BadFormat)?;
        let payload = NoticePayload::decode(&payload_bytes).ok_or(TokenRefusal::BadFormat)?;
        let signed_length = prefix.len() + 1 + payload_text.len();

        let key = self
            .keys
            .get(&payload.key_id)
            .ok_or(TokenRefusal::UnknownKey)?;
        // A key is retired because it may be compromised, so its signature proves nothing
        // and is not even checked.
        if key.retired {
            return Err(TokenRefusal::RetiredKey);
        }
        Ok(Sealed {
            payload,
            text,
            signed_length,
            signature: Signature::from_bytes(&signature_bytes),
            key: key.public,
        })
    }
}

/// A token in the right format under a key in use, whose signature is still to be verified.
#[derive(Debug, Clone)]
pub struct Sealed {
    payload: NoticePayload,
    /// The token as scanned, trimmed and in upper case: the form in which it is issued.
    text: String,
    /// How much of `text` the signature covers.
    signed_length: usize,
    signature: Signature,
    key: VerifyingKey,
}

impl Sealed {
    /// The notice the token claims to be; nothing it says is proven before it verifies.
    pub fn claimed_notice(&self) -> Uuid {
        self.payload.notice_id
    }

    /// The token in the form it is issued in, to compare with the notice as stored.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The payload of a token that is, character for character, the one stored when its
    /// notice was issued: the service signed it then, so only its expiry is left to check.
    pub fn vouched(&self, now: DateTime<Utc>) -> Result<NoticePayload, TokenRefusal> {
        self.unexpired(now)
    }

    /// Verifies the signature, then the expiry: a forged token is refused as forged even when
    /// it also claims to have expired.
    pub fn verify(&self, now: DateTime<Utc>) -> Result<NoticePayload, TokenRefusal> {
        if !self.signature_verifies() {
            return Err(TokenRefusal::BadSignature);
        }
        self.unexpired(now)
    }

    fn signed(&self) -> &[u8] {
        &self.text.as_bytes()[..self.signed_length]
    }

    fn signature_verifies(&self) -> bool {
        self.key.verify(self.signed(), &self.signature).is_ok()
    }

    fn unexpired(&self, now: DateTime<Utc>) -> Result<NoticePayload, TokenRefusal> {
        if now >= self.payload.expires_at {
            return Err(TokenRefusal::Expired);
        }
        Ok(self.payload.clone())
    }
}

/// Signatures verified in one batch at most. Batch verification gains little per signature
/// beyond a few dozen, and a forgery then costs only its own group a closer look instead of
/// every scan waiting with it.
const GROUP: usize = 32;

/// Verifies many tokens, each at its own `now`, with the answers [`Sealed::verify`] gives one
/// by one, for about half the work.
///
/// Ed25519 batch verification checks one random linear combination of the signatures'
/// equations, so it says only whether every one of them verifies. The tokens are verified in
/// groups; a group that does not verify is halved until its forgeries are found, and each of
/// those gets the answer [`Sealed::verify`] gives it. The two ways differ only on signatures
/// built around points of small order, and none of those can be made for a payload without
/// the private key.
pub fn verify_all(tokens: &[(&Sealed, DateTime<Utc>)]) -> Vec<Result<NoticePayload, TokenRefusal>> {
    let sealed: Vec<&Sealed> = tokens.iter().map(|(token, _)| *token).collect();
    let mut verified = vec![false; sealed.len()];
    for (group, marks) in sealed.chunks(GROUP).zip(verified.chunks_mut(GROUP)) {
        mark_verified(group, marks, false);
    }
    tokens
        .iter()
        .zip(verified)
        .map(|((token, now), verified)| {
            if verified {
                token.unexpired(*now)
            } else {
                token.verify(*now)
            }
        })
        .collect()
}

/// Marks in `marks` the tokens whose signatures verify and says whether all of them do.
/// `fails` tells that the tokens are known not to verify together, which spares checking them
/// as a whole: when a failing group's first half verifies, the failure is in the second.
fn mark_verified(tokens: &[&Sealed], marks: &mut [bool], fails: bool) -> bool {
    let all = match tokens {
        [] => true,
        // A token known to fail is left to `Sealed::verify`, which says why.
        [_] if fails => false,
        [token] => token.signature_verifies(),
        _ if !fails && verify_together(tokens) => true,
        _ => {
            let middle = tokens.len() / 2;
            let (first, second) = tokens.split_at(middle);
            let (first_marks, second_marks) = marks.split_at_mut(middle);
            let first_verifies = mark_verified(first, first_marks, false);
            let second_verifies = mark_verified(second, second_marks, first_verifies);
            return first_verifies && second_verifies;
        }
    };
    if all {
        marks.fill(true);
    }
    all
}

fn verify_together(tokens: &[&Sealed]) -> bool {
    let messages: Vec<&[u8]> = tokens.iter().map(|token| token.signed()).collect();
    let signatures: Vec<Signature> = tokens.iter().map(|token| token.signature).collect();
    let keys: Vec<VerifyingKey> = tokens.iter().map(|token| token.key).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

/// Characters of a short code, without its dashes.
const SHORT_CODE_LEN: usize = 12;

/// The short code printed under the QR code for an officer to type when the scanner fails:
/// 12 base32 characters (60 bits) of a hash of the notice id, in groups of four. Long enough
/// that two of tens of millions of notices are unlikely to share one; the database refuses
/// the rare clash.
pub fn short_code(notice_id: Uuid) -> String {
    let digest = Sha256::digest(notice_id.as_bytes());
    let text = BASE32_NOPAD.encode(&digest);
    let code = &text[..SHORT_CODE_LEN];
    format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..])
}

/// The short code in a typed text, in its printed form, when the text is one: 12 base32
/// characters, dashes and spaces ignored, any case.
pub fn parse_short_code(text: &str) -> Option<String> {
    let compact: String = text
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = compact.len() == SHORT_CODE_LEN
        && compact
            .chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c));
    valid.then(|| format!("{}-{}-{}", &compact[..4], &compact[4..8], &compact[8..]))
}

/// Checks a verified payload against the notice issued under its id: a validly signed token
/// whose notice was issued for another decision has been tampered with.
pub fn check_issued(
    payload: &NoticePayload,
    issued_for: Option<&DecisionId>,
) -> Result<(), TokenRefusal> {
    match issued_for {
        None => Err(TokenRefusal::UnknownNotice),
        Some(decision) if *decision != payload.decision_id => Err(TokenRefusal::OtherDecision),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn key_id(id: &str) -> KeyId {
        KeyId::parse(id).unwrap()
    }

    fn decision(id: &str) -> DecisionId {
        DecisionId::parse(id).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 1, 3, 0, 0).unwrap()
    }

    fn signer(id: &str, seed: u8) -> NoticeSigner {
        NoticeSigner::from_seed(key_id(id), &[seed; 32])
    }

    fn ring_of(signers: &[(&NoticeSigner, bool)]) -> KeyRing {
        let mut ring = KeyRing::new();
        for (signer, retired) in signers {
            ring.insert(
                signer.key_id().clone(),
                &signer.public_key().to_bytes(),
                *retired,
            )
            .unwrap();
        }
        ring
    }

    fn issue(signer: &NoticeSigner) -> (NoticePayload, String) {
        signer.sign(
            Uuid::from_u128(7),
            decision("D-1"),
            now() + Duration::days(200),
        )
    }

    #[test]
    fn a_token_signed_with_an_active_key_verifies_to_its_payload() {
        let current = signer("k2", 2);
        let ring = ring_of(&[(&signer("k1", 1), false), (&current, false)]);
        let (payload, token) = issue(&current);

        assert!(token.starts_with("BHTN1."));
        assert_eq!(ring.verify(&token, now()), Ok(payload));
    }

    #[test]
    fn a_token_survives_lower_case_and_a_trailing_newline_from_the_scanner() {
        let current = signer("k1", 1);
        let ring = ring_of(&[(&current, false)]);
        let (payload, token) = issue(&current);

        let scanned = format!("{}\r\n", token.to_ascii_lowercase());

        assert_eq!(ring.verify(&scanned, now()), Ok(payload));
    }

    #[test]
    fn the_same_seed_gives_the_same_key_on_every_start() {
        assert_eq!(signer("k1", 9).public_key(), signer("k1", 9).public_key());
    }

    #[test]
    fn a_derived_key_is_stable_per_id_and_differs_from_its_master_and_siblings() {
        let master = signer("k1", 9);
        let derived = master.derive(key_id("k2"));

        assert_eq!(derived.key_id(), &key_id("k2"));
        assert_eq!(
            derived.public_key(),
            signer("k1", 9).derive(key_id("k2")).public_key()
        );
        assert_ne!(derived.public_key(), master.public_key());
        assert_ne!(
            derived.public_key(),
            master.derive(key_id("k3")).public_key()
        );
        assert_ne!(
            derived.public_key(),
            signer("k1", 8).derive(key_id("k2")).public_key()
        );
    }

    #[test]
    fn text_that_is_not_a_token_is_a_bad_format() {
        let ring = ring_of(&[(&signer("k1", 1), false)]);
        for text in [
            "",
            "hello",
            "BHTN1.AAAA",
            "XXXX1.AAAA.BBBB",
            "BHTN1.!!!!.BBBB",
            "BHTN1.AAAA.BBBB.CCCC",
        ] {
            assert_eq!(
                ring.verify(text, now()),
                Err(TokenRefusal::BadFormat),
                "{text}"
            );
        }
    }

    #[test]
    fn a_payload_changed_after_signing_fails_the_signature() {
        let current = signer("k1", 1);
        let ring = ring_of(&[(&current, false)]);
        let (mut payload, token) = issue(&current);
        let signature = token.rsplit('.').next().unwrap();
        payload.decision_id = decision("D-2");
        let forged = format!(
            "{TOKEN_PREFIX}.{}.{signature}",
            BASE32_NOPAD.encode(&payload.encode())
        );

        assert_eq!(ring.verify(&forged, now()), Err(TokenRefusal::BadSignature));
    }

    #[test]
    fn a_token_signed_by_a_stranger_under_a_known_key_id_fails_the_signature() {
        let ring = ring_of(&[(&signer("k1", 1), false)]);
        let (_, forged) = issue(&signer("k1", 66));

        assert_eq!(ring.verify(&forged, now()), Err(TokenRefusal::BadSignature));
    }

    #[test]
    fn a_token_under_a_key_id_nobody_issued_is_refused_as_unknown_key() {
        let ring = ring_of(&[(&signer("k1", 1), false)]);
        let (_, token) = issue(&signer("k9", 9));

        assert_eq!(ring.verify(&token, now()), Err(TokenRefusal::UnknownKey));
    }

    #[test]
    fn a_token_of_a_retired_key_is_refused_as_retired() {
        let old = signer("k1", 1);
        let ring = ring_of(&[(&old, true), (&signer("k2", 2), false)]);
        let (_, token) = issue(&old);

        assert_eq!(ring.verify(&token, now()), Err(TokenRefusal::RetiredKey));
        assert!(!ring.accepts(old.key_id()));
    }

    #[test]
    fn a_token_past_its_expiry_is_refused_as_expired() {
        let current = signer("k1", 1);
        let ring = ring_of(&[(&current, false)]);
        let (payload, token) = issue(&current);

        assert!(
            ring.verify(&token, payload.expires_at - Duration::seconds(1))
                .is_ok()
        );
        assert_eq!(
            ring.verify(&token, payload.expires_at),
            Err(TokenRefusal::Expired)
        );
    }

    #[test]
    fn a_notice_issued_for_another_decision_is_refused_as_other_decision() {
        let (payload, _) = issue(&signer("k1", 1));

        assert_eq!(check_issued(&payload, Some(&decision("D-1"))), Ok(()));
        assert_eq!(
            check_issued(&payload, Some(&decision("D-2"))),
            Err(TokenRefusal::OtherDecision)
        );
        assert_eq!(
            check_issued(&payload, None),
            Err(TokenRefusal::UnknownNotice)
        );
    }

    #[test]
    fn a_short_code_is_typed_back_in_any_case_with_or_without_dashes() {
        let code = short_code(Uuid::from_u128(7));

        assert_eq!(code.len(), 14);
        assert_eq!(parse_short_code(&code), Some(code.clone()));
        assert_eq!(
            parse_short_code(&code.replace('-', " ").to_ascii_lowercase()),
            Some(code.clone())
        );
        assert_ne!(short_code(Uuid::from_u128(8)), code);
        assert_eq!(parse_short_code("BHTN1.AAAA.BBBB"), None);
        assert_eq!(parse_short_code("ABCD-EFGH-IJK1"), None);
    }

    #[test]
    fn a_key_id_listed_twice_is_refused() {
        let one = signer("k1", 1);
        let mut ring = ring_of(&[(&one, false)]);

        assert_eq!(
            ring.insert(key_id("k1"), &one.public_key().to_bytes(), false),
            Err(KeyRingError::DuplicateKeyId(key_id("k1")))
        );
    }

    /// Tokens of notices 1..=count under `signer`, expiring `days` from now.
    fn batch_of(signer: &NoticeSigner, count: u128, days: i64) -> Vec<(NoticePayload, String)> {
        (1..=count)
            .map(|notice| {
                signer.sign(
                    Uuid::from_u128(notice),
                    decision(&format!("D-{notice}")),
                    now() + Duration::days(days),
                )
            })
            .collect()
    }

    fn verify_batch_of(
        ring: &KeyRing,
        tokens: &[String],
    ) -> Vec<Result<NoticePayload, TokenRefusal>> {
        let sealed: Vec<Sealed> = tokens
            .iter()
            .map(|token| ring.open(token).unwrap())
            .collect();
        let batch: Vec<(&Sealed, DateTime<Utc>)> =
            sealed.iter().map(|token| (token, now())).collect();
        verify_all(&batch)
    }

    /// Asserts that the tokens at `forged` were refused as forged and every other one verified
    /// to the payload it was issued with.
    fn assert_only_forgeries_refused(
        verified: Vec<Result<NoticePayload, TokenRefusal>>,
        issued: Vec<(NoticePayload, String)>,
        forged: &[usize],
    ) {
        for (index, (verdict, (payload, _))) in verified.into_iter().zip(issued).enumerate() {
            if forged.contains(&index) {
                assert_eq!(verdict, Err(TokenRefusal::BadSignature), "token {index}");
            } else {
                assert_eq!(verdict, Ok(payload), "token {index}");
            }
        }
    }

    #[test]
    fn a_batch_of_genuine_tokens_under_two_keys_verifies_to_their_payloads() {
        let (old, current) = (signer("k1", 1), signer("k2", 2));
        let ring = ring_of(&[(&old, false), (&current, false)]);
        let mut issued = batch_of(&old, 3, 200);
        issued.extend(batch_of(&current, 5, 200));
        let tokens: Vec<String> = issued.iter().map(|(_, token)| token.clone()).collect();

        let verified = verify_batch_of(&ring, &tokens);

        let payloads: Vec<Result<NoticePayload, TokenRefusal>> =
            issued.into_iter().map(|(payload, _)| Ok(payload)).collect();
        assert_eq!(verified, payloads);
    }

    #[test]
    fn a_forged_token_in_a_batch_is_refused_alone() {
        let current = signer("k1", 1);
        let ring = ring_of(&[(&current, false)]);
        let issued = batch_of(&current, 6, 200);
        let mut tokens: Vec<String> = issued.iter().map(|(_, token)| token.clone()).collect();
        // A stranger's signature under the ring's key id, in the middle of the batch.
        tokens[3] = issue(&signer("k1", 66)).1;

        let verified = verify_batch_of(&ring, &tokens);

        assert_only_forgeries_refused(verified, issued, &[3]);
    }

    #[test]
    fn forgeries_anywhere_in_a_batch_of_several_groups_are_each_refused_alone() {
        let current = signer("k1", 1);
        let ring = ring_of(&[(&current, false)]);
        let issued = batch_of(&current, 100, 200);
        let mut tokens: Vec<String> = issued.iter().map(|(_, token)| token.clone()).collect();
        // First and last of the batch, both ends of a group, two side by side, and a group
        // (the last, of four tokens) that is all forgeries but one.
        let forged = [0, 31, 32, 50, 51, 96, 97, 99];
        for (stranger, index) in forged.iter().enumerate() {
            tokens[*index] = issue(&signer("k1", 60 + stranger as u8)).1;
        }

        let verified = verify_batch_of(&ring, &tokens);

        assert_eq!(verified.len(), 100);
        assert_only_forgeries_refused(verified, issued, &forged);
    }

    #[test]
    fn a_batch_refuses_an_expired_token_as_expired_and_a_forged_expired_one_as_forged() {
        let current = signer("k1", 1);
        let ring = ring_of(&[(&current, false)]);
        let mut tokens: Vec<String> = batch_of(&current, 2, 200)
            .into_iter()
            .map(|(_, token)| token)
            .collect();
        let expired = batch_of(&current, 1, -1).remove(0).1;
        tokens.push(expired.clone());

        let verified = verify_batch_of(&ring, &tokens);
        assert!(verified[0].is_ok() && verified[1].is_ok());
        assert_eq!(verified[2], Err(TokenRefusal::Expired));

        // The same expired payload under a signature that does not verify.
        let forged_signature = issue(&signer("k1", 66)).1;
        let (head, _) = expired.rsplit_once('.').unwrap();
        let (_, signature) = forged_signature.rsplit_once('.').unwrap();
        tokens[2] = format!("{head}.{signature}");
        assert_eq!(
            verify_batch_of(&ring, &tokens)[2],
            Err(TokenRefusal::BadSignature)
        );
    }
}
