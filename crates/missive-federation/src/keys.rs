//! Server key answers (`/_matrix/key/v2/server`): ours, signed with our
//! key, and other servers', whose self-signature is verified before any of
//! their keys is believed; notary answers countersign a verified one.

use std::{collections::BTreeMap, time::Duration};

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, MilliSecondsSinceUnixEpoch, OwnedServerSigningKeyId,
    ServerName,
    api::federation::discovery::{OldVerifyKey, ServerSigningKeys, VerifyKey},
    serde::{Base64, Raw},
    signatures::{Ed25519KeyPair, PublicKeyMap},
};

/// How long our answer says our key may be cached (Synapse's default).
pub const OWN_KEY_VALIDITY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("malformed key answer: {0}")]
    Malformed(String),
    #[error("key answer for {found}, not {expected}")]
    WrongServer { expected: String, found: String },
    #[error("key answer without keys")]
    NoKeys,
    #[error("key answer not signed by its key {0}: {1}")]
    BadSignature(String, String),
}

/// Our signed key answer, valid for [`OWN_KEY_VALIDITY`] from `now`.
/// `old_keys` are keys we used before (none until keys rotate).
pub fn own_key_answer(
    server_name: &ServerName,
    key: &Ed25519KeyPair,
    old_keys: BTreeMap<OwnedServerSigningKeyId, OldVerifyKey>,
    now: std::time::SystemTime,
) -> Result<Raw<ServerSigningKeys>, KeyError> {
    let valid_until = MilliSecondsSinceUnixEpoch::from_system_time(now + OWN_KEY_VALIDITY)
        .ok_or_else(|| KeyError::Malformed("time out of range".into()))?;
    let mut answer = ServerSigningKeys::new(server_name.to_owned(), valid_until);
    let key_id = format!("ed25519:{}", key.version());
    let key_id = OwnedServerSigningKeyId::try_from(key_id.as_str())
        .map_err(|e| KeyError::Malformed(e.to_string()))?;
    answer.verify_keys.insert(
        key_id,
        VerifyKey::new(Base64::new(key.public_key().to_vec())),
    );
    answer.old_verify_keys = old_keys;
    let mut object = to_object(&answer)?;
    sign(&mut object, server_name, key)?;
    to_raw(&object)
}

/// A verified key answer: its parsed keys and its JSON as signed.
pub struct VerifiedKeys {
    pub keys: ServerSigningKeys,
    pub json: String,
}

/// Checks that `answer` is `expected`'s, and signed by each of its current
/// keys (other servers' signatures, a notary's, are left alone).
pub fn verify_key_answer(
    answer: &Raw<ServerSigningKeys>,
    expected: &ServerName,
) -> Result<VerifiedKeys, KeyError> {
    let keys: ServerSigningKeys = answer
        .deserialize()
        .map_err(|e| KeyError::Malformed(e.to_string()))?;
    if keys.server_name != expected {
        return Err(KeyError::WrongServer {
            expected: expected.to_string(),
            found: keys.server_name.to_string(),
        });
    }
    if keys.verify_keys.is_empty() {
        return Err(KeyError::NoKeys);
    }
    let object: CanonicalJsonObject = serde_json::from_str(answer.json().get())
        .map_err(|e| KeyError::Malformed(e.to_string()))?;
    // Only the server's own signatures are checked here: `verify_json`
    // checks every entity that signed, and a notary's key is not ours to
    // know.
    let mut own = object.clone();
    if let Some(CanonicalJsonValue::Object(signatures)) = own.get_mut("signatures") {
        signatures.retain(|entity, _| entity == expected.as_str());
    }
    for (key_id, key) in &keys.verify_keys {
        let map: PublicKeyMap = BTreeMap::from([(
            expected.to_string(),
            BTreeMap::from([(key_id.to_string(), key.key.clone())]),
        )]);
        ruma::signatures::verify_json(&map, &own)
            .map_err(|e| KeyError::BadSignature(key_id.to_string(), e.to_string()))?;
    }
    Ok(VerifiedKeys {
        keys,
        json: answer.json().get().to_owned(),
    })
}

/// `answer` (a verified key answer's JSON) with our signature added, as a
/// notary serves it.
pub fn countersign(
    answer: &str,
    notary: &ServerName,
    key: &Ed25519KeyPair,
) -> Result<Raw<ServerSigningKeys>, KeyError> {
    let mut object: CanonicalJsonObject =
        serde_json::from_str(answer).map_err(|e| KeyError::Malformed(e.to_string()))?;
    sign(&mut object, notary, key)?;
    to_raw(&object)
}

fn sign(
    object: &mut CanonicalJsonObject,
    server_name: &ServerName,
    key: &Ed25519KeyPair,
) -> Result<(), KeyError> {
    ruma::signatures::sign_json(server_name.as_str(), key, object)
        .map_err(|e| KeyError::Malformed(e.to_string()))
}

fn to_object(answer: &ServerSigningKeys) -> Result<CanonicalJsonObject, KeyError> {
    match serde_json::to_value(answer).map(CanonicalJsonValue::try_from) {
        Ok(Ok(CanonicalJsonValue::Object(object))) => Ok(object),
        _ => Err(KeyError::Malformed("not an object".into())),
    }
}

fn to_raw(object: &CanonicalJsonObject) -> Result<Raw<ServerSigningKeys>, KeyError> {
    serde_json::value::to_raw_value(object)
        .map(Raw::from_json)
        .map_err(|e| KeyError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(version: &str) -> Ed25519KeyPair {
        let doc = Ed25519KeyPair::generate();
        Ed25519KeyPair::from_der(&doc, version.into()).unwrap()
    }

    #[test]
    fn our_answer_verifies_and_a_forged_one_does_not() {
        let name = ruma::server_name!("a.example");
        let k = key("one");
        let answer =
            own_key_answer(name, &k, BTreeMap::new(), std::time::SystemTime::now()).unwrap();
        let verified = verify_key_answer(&answer, name).unwrap();
        assert!(verified.keys.verify_keys.contains_key("ed25519:one"));

        // Not the server asked about.
        assert!(matches!(
            verify_key_answer(&answer, ruma::server_name!("b.example")),
            Err(KeyError::WrongServer { .. })
        ));

        // Signed by another key than the one it lists.
        let other = key("one");
        let mut forged: CanonicalJsonObject = serde_json::from_str(answer.json().get()).unwrap();
        forged.remove("signatures");
        sign(&mut forged, name, &other).unwrap();
        assert!(matches!(
            verify_key_answer(&to_raw(&forged).unwrap(), name),
            Err(KeyError::BadSignature(..))
        ));

        // A notary's countersignature leaves it valid.
        let notary = key("n");
        let countersigned = countersign(
            &verified.json,
            ruma::server_name!("notary.example"),
            &notary,
        )
        .unwrap();
        assert!(countersigned.json().get().contains("notary.example"));
        verify_key_answer(&countersigned, name).unwrap();
    }
}
