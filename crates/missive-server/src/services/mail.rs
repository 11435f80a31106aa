//! Outgoing mail over SMTP (lettre, tokio, rustls): validation links,
//! password resets and invitations. Every mail is bilingual (French, then
//! English) with a text and an HTML part. Nothing of a mail's content
//! (which carries secrets: validation links) is logged, only that a mail
//! went to a recipient's domain.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use crate::error::{ApiError, ApiResult};

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// One mail, in both languages.
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The SMTP relay and the sender address. Cheap to clone (a shared pool).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold the relay's password: never printed.
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// A mailer for `url` (lettre's URL form) sending as `from`.
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("invalid SMTP URL: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("invalid sender address {from:?}: {e}"))?;
        Ok(Self { transport, from })
    }

    /// Sends `mail` to `to` (a canonical address).
    pub async fn send(&self, to: &str, mail: Mail) -> ApiResult<()> {
        let to_box = to
            .parse::<Mailbox>()
            .map_err(|_| ApiError::invalid_param("invalid e-mail address"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to_box)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|e| ApiError::Internal(format!("cannot build mail: {e}")))?;
        let domain = to.rsplit_once('@').map_or("", |(_, d)| d);
        match self.transport.send(message).await {
            Ok(_) => {
                tracing::info!(%domain, "mail sent");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(%domain, error = %e, "mail not sent");
                Err(ApiError::Internal("the mail could not be sent".into()))
            }
        }
    }
}

/// Escapes text for HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The mail asking to confirm an address: `purpose_fr`/`purpose_en` say
/// what the confirmation is for, `link` validates it.
pub fn validation_mail(server: &str, purpose_fr: &str, purpose_en: &str, link: &str) -> Mail {
    let subject = format!("[{server}] Confirmez votre adresse / Confirm your address");
    let text = format!(
        "Bonjour,\n\n{purpose_fr} Pour confirmer que cette adresse est bien la vôtre, \
         ouvrez ce lien (valable une heure) :\n\n{link}\n\n\
         Si vous n'êtes pas à l'origine de cette demande, ignorez ce message.\n\n\
         ---\n\nHello,\n\n{purpose_en} To confirm that this address is yours, open this \
         link (valid for an hour):\n\n{link}\n\n\
         If you did not ask for this, ignore this mail.\n"
    );
    let (pf, pe, l) = (
        escape_html(purpose_fr),
        escape_html(purpose_en),
        escape_html(link),
    );
    let html = format!(
        "<!DOCTYPE html><html><body>\
         <div lang=\"fr\"><p>Bonjour,</p><p>{pf} Pour confirmer que cette adresse est bien \
         la vôtre, ouvrez ce lien (valable une heure) :</p>\
         <p><a href=\"{l}\">Confirmer mon adresse</a></p>\
         <p>Si vous n'êtes pas à l'origine de cette demande, ignorez ce message.</p></div><hr>\
         <div lang=\"en\"><p>Hello,</p><p>{pe} To confirm that this address is yours, open \
         this link (valid for an hour):</p><p><a href=\"{l}\">Confirm my address</a></p>\
         <p>If you did not ask for this, ignore this mail.</p></div></body></html>"
    );
    Mail {
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_mails_are_bilingual_and_escaped() {
        let m = validation_mail(
            "gouv.fr",
            "Créer un compte.",
            "Create an account.",
            "https://x/?a=1&b=<2>",
        );
        assert!(m.text.contains("Bonjour") && m.text.contains("Hello"));
        assert!(m.text.contains("https://x/?a=1&b=<2>"));
        assert!(m.html.contains("https://x/?a=1&amp;b=&lt;2&gt;"));
        assert!(!m.html.contains("<2>"));
    }

    // The pooled transport starts its task on the runtime it is built in.
    #[tokio::test]
    async fn bad_urls_and_senders_are_refused() {
        assert!(Mailer::new("http://nope", "a@b.c").is_err());
        assert!(Mailer::new("smtp://127.0.0.1:25", "not an address").is_err());
    }

    #[tokio::test]
    async fn a_good_configuration_builds() {
        assert!(Mailer::new("smtp://127.0.0.1:2525", "Missive <noreply@localhost>").is_ok());
    }
}
