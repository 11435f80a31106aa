//! Third-party identifiers and their validation sessions.

use super::*;

fn session(id: &str, secret: &str, address: &str, created_ts: i64) -> ThreepidSession {
    ThreepidSession {
        session_id: id.into(),
        medium: "email".into(),
        address: address.into(),
        client_secret: secret.into(),
        send_attempt: 1,
        token_hash: format!("hash-{id}"),
        token_expires_ts: created_ts + 1_000,
        created_ts,
        validated_ts: None,
    }
}

/// A session is found by its secret and address until validated, takes a
/// new token on a new send attempt, validates only with its current,
/// unexpired token, and expires.
pub async fn threepid_sessions_validate_once_with_their_token(store: SqlStore) {
    let s = session("s1", "secret", "a@example.org", 100);
    store.save_threepid_session(&s).await.unwrap();
    let found = store
        .pending_threepid_session("secret", "email", "a@example.org")
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&s));
    for (secret, address) in [("other", "a@example.org"), ("secret", "b@example.org")] {
        assert_eq!(
            store
                .pending_threepid_session(secret, "email", address)
                .await
                .unwrap(),
            None
        );
    }

    // A new attempt: new token and expiry, same session.
    let again = ThreepidSession {
        send_attempt: 2,
        token_hash: "hash-2".into(),
        token_expires_ts: 2_000,
        ..s.clone()
    };
    store.save_threepid_session(&again).await.unwrap();
    assert_eq!(
        store.threepid_session("s1").await.unwrap().as_ref(),
        Some(&again)
    );

    assert!(
        !store
            .validate_threepid_session("s1", "hash-s1", 150)
            .await
            .unwrap(),
        "the replaced token no longer validates"
    );
    assert!(
        !store
            .validate_threepid_session("s1", "hash-2", 2_000)
            .await
            .unwrap(),
        "an expired token does not validate"
    );
    assert!(
        store
            .validate_threepid_session("s1", "hash-2", 1_500)
            .await
            .unwrap()
    );
    assert!(
        store
            .validate_threepid_session("s1", "hash-2", 1_600)
            .await
            .unwrap(),
        "presenting the token again still says validated"
    );
    let validated = store.threepid_session("s1").await.unwrap().unwrap();
    assert_eq!(validated.validated_ts, Some(1_500));
    assert_eq!(
        store
            .pending_threepid_session("secret", "email", "a@example.org")
            .await
            .unwrap(),
        None,
        "a validated session is no longer pending"
    );
    assert!(
        !store
            .validate_threepid_session("nope", "hash-2", 1_500)
            .await
            .unwrap()
    );

    store
        .save_threepid_session(&session("s2", "secret", "b@example.org", 500))
        .await
        .unwrap();
    store.expire_threepid_sessions(200).await.unwrap();
    assert_eq!(store.threepid_session("s1").await.unwrap(), None);
    assert!(store.threepid_session("s2").await.unwrap().is_some());
}

/// An address is bound to one account at most; binding it again to the
/// same account is harmless; deletion is per user.
pub async fn threepids_belong_to_one_account(store: SqlStore) {
    let (alice, bob) = (user_id!("@alice:test"), user_id!("@bob:test"));
    let bind = |user: &str, address: &str, ts: i64| UserThreepid {
        medium: "email".into(),
        address: address.into(),
        user_id: user.into(),
        validated_ts: ts,
        added_ts: ts,
    };
    store
        .add_user_threepid(&bind("@alice:test", "a@example.org", 1))
        .await
        .unwrap();
    store
        .add_user_threepid(&bind("@alice:test", "a2@example.org", 2))
        .await
        .unwrap();
    store
        .add_user_threepid(&bind("@alice:test", "a@example.org", 3))
        .await
        .unwrap();
    let err = store
        .add_user_threepid(&bind("@bob:test", "a@example.org", 4))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err}");

    let listed = store.user_threepids(alice).await.unwrap();
    let addresses: Vec<&str> = listed.iter().map(|t| t.address.as_str()).collect();
    assert_eq!(addresses, ["a@example.org", "a2@example.org"]);
    assert_eq!(listed[0].validated_ts, 1);
    assert_eq!(
        store
            .threepid_user("email", "a@example.org")
            .await
            .unwrap()
            .as_deref(),
        Some("@alice:test")
    );
    assert_eq!(
        store
            .threepid_user("msisdn", "a@example.org")
            .await
            .unwrap(),
        None
    );

    assert!(
        !store
            .delete_user_threepid(bob, "email", "a@example.org")
            .await
            .unwrap(),
        "only the owner unbinds"
    );
    assert!(
        store
            .delete_user_threepid(alice, "email", "a@example.org")
            .await
            .unwrap()
    );
    store
        .add_user_threepid(&bind("@bob:test", "a@example.org", 5))
        .await
        .unwrap();
    // Nothing is found for discovery until its owner publishes it.
    assert!(store.all_email_threepids(10).await.unwrap().is_empty());
    assert_eq!(
        store
            .published_threepid_user("email", "a@example.org")
            .await
            .unwrap(),
        None
    );
    assert!(
        !store
            .set_threepid_published(alice, "email", "a@example.org", true)
            .await
            .unwrap(),
        "only the owner publishes"
    );
    for (who, address) in [(alice, "a2@example.org"), (bob, "a@example.org")] {
        assert!(
            store
                .set_threepid_published(who, "email", address, true)
                .await
                .unwrap()
        );
    }
    assert_eq!(
        store.all_email_threepids(10).await.unwrap(),
        [
            ("a2@example.org".to_owned(), "@alice:test".to_owned()),
            ("a@example.org".to_owned(), "@bob:test".to_owned()),
        ]
    );
    assert_eq!(
        store
            .published_threepid_user("email", "a@example.org")
            .await
            .unwrap()
            .as_deref(),
        Some("@bob:test")
    );
    store
        .set_threepid_published(bob, "email", "a@example.org", false)
        .await
        .unwrap();
    assert_eq!(store.all_email_threepids(10).await.unwrap().len(), 1);
    store.delete_user_threepids(alice).await.unwrap();
    assert!(store.user_threepids(alice).await.unwrap().is_empty());
    assert_eq!(store.user_threepids(bob).await.unwrap().len(), 1);
}

/// One identity key wins; ephemeral keys and identity tokens are found;
/// pending invites are listed per address, oldest first, and deleted.
pub async fn identity_keys_tokens_and_pending_invites(store: SqlStore) {
    assert_eq!(
        store
            .keep_identity_key("ed25519:0", "first", 1)
            .await
            .unwrap(),
        "first"
    );
    assert_eq!(
        store
            .keep_identity_key("ed25519:0", "second", 2)
            .await
            .unwrap(),
        "first",
        "a second process keeps the first key"
    );
    store.add_ephemeral_key("eph", 1).await.unwrap();
    store.add_ephemeral_key("eph", 2).await.unwrap();
    assert!(store.ephemeral_key_exists("eph").await.unwrap());
    assert!(!store.ephemeral_key_exists("other").await.unwrap());
    store.add_identity_token("h", "@a:test", 1).await.unwrap();
    assert_eq!(
        store.identity_token_user("h").await.unwrap().as_deref(),
        Some("@a:test")
    );
    assert_eq!(store.identity_token_user("x").await.unwrap(), None);
    store.add_identity_token("h2", "@b:test", 1).await.unwrap();
    store
        .delete_identity_tokens(user_id!("@a:test"))
        .await
        .unwrap();
    assert_eq!(store.identity_token_user("h").await.unwrap(), None);
    assert!(store.identity_token_user("h2").await.unwrap().is_some());

    let invite = |token: &str, address: &str, ts: i64| ThirdPartyInvite {
        token: token.into(),
        medium: "email".into(),
        address: address.into(),
        room_id: "!r:test".into(),
        sender: "@alice:test".into(),
        display_name: "a...@e...".into(),
        created_ts: ts,
    };
    store
        .add_third_party_invite(&invite("t2", "a@example.org", 2))
        .await
        .unwrap();
    store
        .add_third_party_invite(&invite("t1", "a@example.org", 1))
        .await
        .unwrap();
    store
        .add_third_party_invite(&invite("t3", "b@example.org", 3))
        .await
        .unwrap();
    let pending = store
        .third_party_invites_for("email", "a@example.org")
        .await
        .unwrap();
    assert_eq!(
        pending,
        [
            invite("t1", "a@example.org", 1),
            invite("t2", "a@example.org", 2)
        ]
    );
    store.delete_third_party_invite("t1").await.unwrap();
    let pending = store
        .third_party_invites_for("email", "a@example.org")
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].token, "t2");
}
