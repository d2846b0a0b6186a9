//! djoser's e-mails: pure rendering (`templates`), composing a message for a user (`compose`),
//! and the sending adapter (`mailer`).

pub mod compose;
pub mod mailer;
pub mod templates;
